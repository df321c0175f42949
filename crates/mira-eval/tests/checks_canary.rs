//! The sanity checks flag a deliberately gradient-masked model (the canary: a trained UNet
//! behind an input quantiser, whose gradient is zero almost everywhere) and stay silent on the
//! same UNet without the quantiser.

use burn::prelude::*;
use mira_attack::{AttackSpec, IfgsmConfig, Norm};
use mira_data::BrainPhantomConfig;
use mira_eval::{ChecksConfig, ProbeSetup, probe_model, record_checks};
use mira_nn::{Forward, UNet, UNetConfig, autodiff_device};
use mira_train::{TrainConfig, train_segmentation};

/// Rounds inputs to 8 grey levels before the UNet: the classic obfuscated-gradient "defence".
#[derive(Module, Debug)]
struct Quantised {
    inner: UNet,
}

impl Forward<4, 4> for Quantised {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.inner.logits((x * 8.0).round() / 8.0)
    }
}

#[test]
fn canary_is_flagged_and_the_trained_unet_is_not() {
    let phantom = BrainPhantomConfig {
        size: 32,
        ..Default::default()
    };
    let train = phantom.generate(4, 0, 48).unwrap();
    let val = phantom.generate(4, 1000, 8).unwrap();
    let test = phantom.generate(4, 2000, 8).unwrap();
    let init = UNetConfig::new()
        .with_base_width(8)
        .with_depth(2)
        .init_seeded(3, &autodiff_device())
        .unwrap();
    let cfg = TrainConfig {
        epochs: 8,
        batch_size: 8,
        learning_rate: 5e-3,
        dice_weight: 1.0,
    };
    let (unet, _) = train_segmentation(init, &train, &val, &cfg, 3, &mut |_| {}).unwrap();
    let checks = ChecksConfig::default();
    let setup = |model: &'static str| ProbeSetup {
        model,
        attack: "i-fgsm",
        spec: AttackSpec::Ifgsm(IfgsmConfig::default()),
        temperature: 1.0,
        norm: Norm::Linf,
        epsilon: 0.08,
        cfg: &checks,
        seed: 1,
    };
    let normal = probe_model(&unet, &test, &setup("unet")).unwrap();
    assert!(
        normal.is_empty(),
        "false alarms on a normal model: {normal:#?}"
    );

    let canary = Quantised { inner: unet };
    let flagged = probe_model(&canary, &test, &setup("canary")).unwrap();
    let ids: Vec<&str> = flagged.iter().map(|w| w.check.as_str()).collect();
    for id in [
        "zero-gradient",
        "gradient-free-stronger",
        "weaker-than-noise",
        "no-collapse",
    ] {
        assert!(ids.contains(&id), "{id} not raised: {flagged:#?}");
    }
    assert!(flagged.iter().all(|w| w.model == "canary"));
}

#[test]
fn record_checks_flag_non_monotone_curves_and_weak_iterations() {
    use mira_report::SegRecord;
    let rec = |attack: &str, eps: f64, case: usize, adv: f64| SegRecord {
        model: "m".into(),
        attack: attack.into(),
        goal: "untargeted".into(),
        norm: "linf".into(),
        epsilon: eps,
        case,
        labels: vec!["a".into()],
        clean_dice: vec![Some(0.9)],
        adv_dice: vec![Some(adv)],
        clean_target_dice: None,
        adv_target_dice: None,
        clean_target_match: None,
        adv_target_match: None,
        linf: eps,
        l2: 0.0,
        min_norm: None,
        member: None,
        stopped_at: None,
    };
    // FGSM: 0.9, 0.6, 0.7 (rises at 0.04: non-monotone); i-FGSM: 0.9, 0.7, 0.5 (weaker than
    // FGSM at 0.02 by 0.1).
    let mut records = Vec::new();
    for (i, (f, it)) in [(0.9, 0.9), (0.6, 0.7), (0.7, 0.5)].iter().enumerate() {
        let eps = [0.0, 0.02, 0.04][i];
        for case in 0..3 {
            records.push(rec("fgsm", eps, case, *f));
            records.push(rec("ifgsm", eps, case, *it));
        }
    }
    let text = r#"
[[a]]
name = "fgsm"
kind = "fgsm"
[[a]]
name = "ifgsm"
kind = "ifgsm"
"#;
    #[derive(serde::Deserialize)]
    struct A {
        a: Vec<mira_eval::AttackEntry>,
    }
    let attacks = toml::from_str::<A>(text).unwrap().a;
    let w = record_checks(&records, &["m".into()], &attacks, 0.02);
    assert_eq!(w.len(), 2, "{w:#?}");
    assert_eq!(
        (w[0].check.as_str(), w[0].attack.as_deref()),
        ("non-monotone", Some("fgsm"))
    );
    assert_eq!(
        (w[1].check.as_str(), w[1].attack.as_deref()),
        ("iterative-weaker", Some("ifgsm"))
    );
    assert!(w[1].message.contains("ε = 0.02"), "{}", w[1].message);
}
