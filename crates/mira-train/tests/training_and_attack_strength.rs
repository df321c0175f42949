//! Training learns the phantom, and on the trained model APGD >= PGD >= i-FGSM >= FGSM and
//! MI-FGSM > FGSM in damage.

use mira_attack::{
    ApgdConfig, Attack, AttackSpec, Bounds, Goal, IfgsmConfig, LpBall, MiFgsmConfig, Norm,
    Objective, PgdConfig, segmentation_objective,
};
use mira_data::BrainPhantomConfig;
use mira_nn::{
    UNetConfig, autodiff_device, default_device, images_to_tensor, one_hot, tensor_to_vec,
};
use mira_train::{TrainConfig, train_segmentation, validation_dice};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn trained_toy_unet_learns_and_stronger_attacks_do_more_damage() {
    let phantom = BrainPhantomConfig {
        size: 48,
        ..Default::default()
    };
    let train = phantom.generate(1, 0, 64).unwrap();
    let val = phantom.generate(1, 1000, 8).unwrap();
    let model = UNetConfig::new()
        .with_base_width(8)
        .with_depth(2)
        .init_seeded(4, &autodiff_device())
        .unwrap();
    let cfg = TrainConfig {
        epochs: 10,
        batch_size: 8,
        learning_rate: 5e-3,
        dice_weight: 1.0,
    };
    let (model, report) = train_segmentation(model, &train, &val, &cfg, 4, &mut |_| {}).unwrap();
    // A toy budget (80 steps of a width-8 UNet on 48x48) learns the large oedema label; the
    // small core and rim need the full-size models of the S1 protocol.
    let (per_label, mean) = validation_dice(&model, &val, 8).unwrap();
    assert!(
        per_label[1].unwrap() > 0.7,
        "validation Dice {per_label:?} after {report:?}"
    );
    // The returned model is the best epoch's, BatchNorm statistics included: it reproduces
    // that epoch's validation Dice exactly (a clone of the training model would share running
    // statistics that later epochs update).
    let best = report
        .epochs
        .iter()
        .find(|e| e.epoch == report.best_epoch)
        .and_then(|e| e.val_dice_mean)
        .unwrap();
    assert_eq!(mean.unwrap(), best, "{report:?}");

    let dev = default_device();
    let refs: Vec<_> = val.items.iter().collect();
    let x0 = images_to_tensor(&refs, &dev).unwrap();
    let maps: Vec<&[u8]> = val.items.iter().map(|s| s.labels.as_slice()).collect();
    let truth = one_hot(&maps, 4, 48, 48, &dev).unwrap();
    let f = segmentation_objective(&model, Goal::Untargeted { truth }, 1.0);
    let ball = LpBall::new(Norm::Linf, 0.03, Bounds::default()).unwrap();
    let damage = |spec: AttackSpec| {
        let adv = spec
            .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(9))
            .unwrap();
        tensor_to_vec(f.value(adv))
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
    };
    let fgsm = damage(AttackSpec::Fgsm(mira_attack::FgsmConfig));
    let ifgsm = damage(AttackSpec::Ifgsm(IfgsmConfig {
        steps: 10,
        rel_step: 0.25,
    }));
    let pgd = damage(AttackSpec::Pgd(PgdConfig {
        steps: 20,
        rel_step: 0.125,
        restarts: 2,
    }));
    let clean = tensor_to_vec(f.value(x0.clone()))
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>();
    assert!(fgsm > clean, "FGSM {fgsm} vs clean {clean}");
    assert!(ifgsm >= fgsm, "i-FGSM {ifgsm} < FGSM {fgsm}");
    assert!(pgd >= ifgsm * 0.98, "PGD {pgd} < i-FGSM {ifgsm}");
    // Issue 13: APGD at the same number of gradients is at least as strong as PGD, and the
    // momentum iterative FGSM beats single-step FGSM.
    let apgd = damage(AttackSpec::Apgd(ApgdConfig {
        steps: 20,
        restarts: 2,
        ..Default::default()
    }));
    let mifgsm = damage(AttackSpec::MiFgsm(MiFgsmConfig::default()));
    eprintln!(
        "summed CE: clean {clean:.4} fgsm {fgsm:.4} mifgsm {mifgsm:.4} ifgsm {ifgsm:.4} pgd {pgd:.4} apgd {apgd:.4}"
    );
    assert!(apgd >= pgd * 0.99, "APGD {apgd} < PGD {pgd}");
    assert!(mifgsm > fgsm, "MI-FGSM {mifgsm} <= FGSM {fgsm}");
}
