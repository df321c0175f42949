//! The defences put what they promise into training batches: adversarial examples within the
//! configured (warmed-up) budget, and for distillation the teacher's soft labels at T. The
//! cheaper adversarial trainings too: early-stopped inner attacks stop a case as soon as it is
//! broken (and spend fewer gradient passes), free training perturbs within the scheduled
//! budget with no inner attack at all.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use mira_attack::Norm;
use mira_data::BrainPhantomConfig;
use mira_nn::{UNetConfig, autodiff_device, default_device, images_to_tensor, tensor_to_vec};
use mira_train::{AdvAttack, BatchMaker, Defence, TrainBatch, TrainConfig, train_defended};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn data() -> mira_data::SegDataset {
    BrainPhantomConfig {
        size: 16,
        ..Default::default()
    }
    .generate(3, 0, 8)
    .unwrap()
}

fn arch() -> UNetConfig {
    UNetConfig::new().with_base_width(4).with_depth(2)
}

#[test]
fn adversarial_batches_stay_within_the_scheduled_budget() {
    let ds = data();
    let items: Vec<_> = ds.items.iter().collect();
    let model = arch().init_seeded(1, &autodiff_device()).unwrap();
    let clean = tensor_to_vec(images_to_tensor(&items, &default_device()).unwrap());
    for (attack, ratio, epoch, eps) in [
        (AdvAttack::Pgd, 0.5, 1, 0.01), // warm-up: epoch 1 of 4 → ε/4
        (AdvAttack::Pgd, 0.5, 6, 0.04),
        (AdvAttack::Fgsm, 1.0, 6, 0.04), // Madry-style: every sample adversarial
        (AdvAttack::Fgsm, 0.0, 6, 0.04), // ratio 0: clean batches
    ] {
        let defence = Defence::Adversarial {
            attack,
            epsilon: 0.04,
            norm: Norm::Linf,
            ratio,
            warmup_epochs: 4,
            steps: 3,
            rel_step: 0.5,
            replays: 4,
            stop_dice: None,
        };
        let maker = BatchMaker::new(&defence).unwrap();
        let b = maker
            .make(&model, &items, 4, epoch, &mut StdRng::seed_from_u64(9))
            .unwrap();
        let n_adv = (ratio * items.len() as f32).round() as usize;
        assert_eq!(b.adversarial.iter().filter(|a| **a).count(), n_adv);
        assert!(b.soft_targets.is_none() && b.temperature == 1.0);
        let per = clean.len() / items.len();
        for (i, is_adv) in b.adversarial.iter().enumerate() {
            let (a, c) = (
                &b.images[i * per..(i + 1) * per],
                &clean[i * per..(i + 1) * per],
            );
            let linf = a
                .iter()
                .zip(c)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
            if *is_adv {
                assert!(
                    linf <= eps * (1.0 + 1e-5) + 1e-6,
                    "{attack:?} ε={eps}: {linf}"
                );
                assert!(linf > 0.5 * eps, "the example was perturbed: {linf}");
            } else {
                assert_eq!(linf, 0.0, "clean samples stay clean");
            }
        }
        if n_adv > 0 {
            assert_eq!(b.epsilon, eps);
        }
    }
}

#[test]
fn distillation_student_learns_from_soft_labels_at_temperature() {
    let ds = data();
    let items: Vec<_> = ds.items.iter().collect();
    let t = 20.0;
    let defence = Defence::Distillation { temperature: t };
    let teacher = arch().init_seeded(2, &autodiff_device()).unwrap();
    let student = arch().init_seeded(3, &autodiff_device()).unwrap();
    let maker = BatchMaker::student(&defence, &teacher, t);
    let b = maker
        .make(&student, &items, 4, 1, &mut StdRng::seed_from_u64(1))
        .unwrap();
    // The student trains g = z / T, so its loss is at temperature 1 on g (= T on z).
    assert_eq!(b.temperature, 1.0);
    assert!(b.adversarial.iter().all(|a| !a));
    let soft = b.soft_targets.expect("soft targets");
    // Exactly softmax(teacher logits / T), computed independently.
    let x = images_to_tensor(&items, &default_device()).unwrap();
    let expect = tensor_to_vec(softmax(teacher.valid().logits(x) / t, 1));
    assert_eq!(soft.len(), expect.len());
    for (a, e) in soft.iter().zip(&expect) {
        assert!((a - e).abs() < 1e-6);
    }
    // Soft, not hard: no value is 0 or 1, and each pixel's 4 classes sum to 1.
    assert!(soft.iter().all(|v| *v > 0.0 && *v < 1.0));
    let hw = 16 * 16;
    for p in 0..hw {
        let s: f32 = (0..4).map(|k| soft[k * hw + p]).sum();
        assert!((s - 1.0).abs() < 1e-5);
    }
    assert!(
        BatchMaker::new(&defence).is_err(),
        "a student needs its teacher"
    );
}

#[test]
fn distillation_trains_teacher_then_student() {
    let ds = data();
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 4,
        ..Default::default()
    };
    let defence = Defence::Distillation { temperature: 30.0 };
    let mut stages = Vec::new();
    let (_, report) = train_defended(&arch(), &defence, &ds, &ds, &cfg, 5, &mut |e| {
        if let mira_train::TrainEvent::Stage(s) = e {
            stages.push(s)
        }
    })
    .unwrap();
    assert_eq!(stages, ["teacher", "student"]);
    // Deployed at T = 1, its logits are T times the trained ones: far sharper than the
    // trained softmax(z / T).
    let (model, _) = train_defended(&arch(), &defence, &ds, &ds, &cfg, 5, &mut |_| {}).unwrap();
    let items: Vec<_> = ds.items.iter().collect();
    let x = images_to_tensor(&items, &default_device()).unwrap();
    let z = model.valid().logits(x);
    let mean_max = |p: Vec<f32>| {
        let hw = 16 * 16;
        let n = items.len() * hw;
        (0..n)
            .map(|i| {
                let (s, px) = (i / hw, i % hw);
                (0..4)
                    .map(|k| p[(s * 4 + k) * hw + px])
                    .fold(0.0f32, f32::max)
            })
            .sum::<f32>()
            / n as f32
    };
    let deployed = mean_max(tensor_to_vec(softmax(z.clone(), 1)));
    let trained = mean_max(tensor_to_vec(softmax(z / 30.0, 1)));
    assert!(
        deployed > 1.5 * trained,
        "mean max-probability {deployed} vs {trained}"
    );
    assert_eq!(report.teacher.as_ref().map(Vec::len), Some(2));
    assert_eq!(report.defence, defence);
    assert!(
        train_defended(
            &arch(),
            &Defence::Distillation { temperature: -1.0 },
            &ds,
            &ds,
            &cfg,
            5,
            &mut |_| {}
        )
        .is_err()
    );
}

fn adversarial(attack: AdvAttack, stop_dice: Option<f32>, replays: usize) -> Defence {
    Defence::Adversarial {
        attack,
        epsilon: 0.04,
        norm: Norm::Linf,
        ratio: 0.5,
        warmup_epochs: 0,
        steps: 4,
        rel_step: 0.5,
        replays,
        stop_dice,
    }
}

/// The epoch-1 training batch `d` makes of `items` for `model` (seed 4).
fn batch(model: &mira_nn::UNet, items: &[&mira_data::SegSlice], d: &Defence) -> TrainBatch {
    BatchMaker::new(d)
        .unwrap()
        .make(model, items, 4, 1, &mut StdRng::seed_from_u64(4))
        .unwrap()
}

/// Largest |a − b| over row `i` of two `[B, …]` host batches with `per` values per row.
fn row_linf(a: &[f32], b: &[f32], i: usize, per: usize) -> f32 {
    a[i * per..(i + 1) * per]
        .iter()
        .zip(&b[i * per..(i + 1) * per])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn early_stopped_inner_attacks_stop_broken_cases_and_spend_less() {
    let ds = data();
    let items: Vec<_> = ds.items.iter().collect();
    let model = arch().init_seeded(1, &autodiff_device()).unwrap();
    let clean = tensor_to_vec(images_to_tensor(&items, &default_device()).unwrap());
    let per = clean.len() / items.len();
    let make = |d: &Defence| batch(&model, &items, d);
    // Full PGD: 4 steps on each of the 4 adversarial cases.
    let full = make(&adversarial(AdvAttack::Pgd, None, 4));
    assert_eq!(full.attack_gradients, 16);
    // An untrained network's Dice is below 1 on every case: each is broken at its random
    // start, judged from the first step's own pass (one gradient each), and keeps that start.
    let stopped = make(&adversarial(AdvAttack::Pgd, Some(1.0), 4));
    assert_eq!(stopped.attack_gradients, 4);
    assert_eq!(stopped.adversarial.iter().filter(|a| **a).count(), 4);
    for i in 0..items.len() {
        let d = row_linf(&stopped.images, &clean, i, per);
        if i < 4 {
            assert!(d <= 0.04 * (1.0 + 1e-5) && d > 0.02, "row {i}: {d}");
            // The random start, not the full attack's end point.
            assert!(row_linf(&stopped.images, &full.images, i, per) > 0.0);
        } else {
            assert_eq!(d, 0.0, "clean rows stay clean");
        }
    }
    // A trained network and a threshold no case reaches: the full attack, step for step.
    let cfg = TrainConfig {
        epochs: 6,
        batch_size: 4,
        ..Default::default()
    };
    let (model, _) =
        train_defended(&arch(), &Defence::None, &ds, &ds, &cfg, 5, &mut |_| {}).unwrap();
    let make = |d: &Defence| batch(&model, &items, d);
    let full = make(&adversarial(AdvAttack::Pgd, None, 4));
    let never = make(&adversarial(AdvAttack::Pgd, Some(1e-9), 4));
    assert_eq!(never.attack_gradients, 16);
    let d = (0..items.len())
        .map(|i| row_linf(&never.images, &full.images, i, per))
        .fold(0.0, f32::max);
    assert!(d == 0.0, "{d}");
}

#[test]
fn free_training_perturbs_within_budget_without_an_inner_attack() {
    let ds = data();
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 4,
        ..Default::default()
    };
    let free = adversarial(AdvAttack::Free, None, 3);
    let (model, report) = train_defended(&arch(), &free, &ds, &ds, &cfg, 5, &mut |_| {}).unwrap();
    // Same optimiser steps as plain training (2 epochs × 2 batches), half of each batch
    // adversarial, no gradient pass beyond the training steps'.
    assert_eq!(report.epochs.len(), 2);
    assert_eq!(report.adversarial_examples, 4 * 2);
    assert_eq!(report.attack_gradients, 0);
    assert_eq!(
        report.defence.describe(),
        "adversarial(free×3, ε=0.04, 50%)"
    );
    // The perturbation moved the weights: not the plainly trained network.
    let (plain, _) =
        train_defended(&arch(), &Defence::None, &ds, &ds, &cfg, 5, &mut |_| {}).unwrap();
    let items: Vec<_> = ds.items.iter().collect();
    let x = images_to_tensor(&items, &default_device()).unwrap();
    let (a, b) = (
        tensor_to_vec(model.valid().logits(x.clone())),
        tensor_to_vec(plain.valid().logits(x)),
    );
    assert!(a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-4));
    // Replays of 1: the data order of plain training, δ still applied.
    let once = adversarial(AdvAttack::Free, None, 1);
    let (_, r1) = train_defended(&arch(), &once, &ds, &ds, &cfg, 5, &mut |_| {}).unwrap();
    assert_eq!(r1.adversarial_examples, 4 * 2);
}

#[test]
fn fast_variants_are_validated() {
    let bad = [
        adversarial(AdvAttack::Fgsm, Some(0.5), 4),
        adversarial(AdvAttack::Free, Some(0.5), 4),
        adversarial(AdvAttack::Pgd, Some(1.5), 4),
        adversarial(AdvAttack::Free, None, 0),
    ];
    for d in bad {
        assert!(d.validate().is_err(), "{d:?}");
    }
    let ok = adversarial(AdvAttack::Pgd, Some(0.5), 4);
    ok.validate().unwrap();
    assert_eq!(ok.describe(), "adversarial(pgd stop@0.5, ε=0.04, 50%)");
    let parsed: Defence = toml::from_str(
        "kind = \"adversarial\"\nattack = \"free\"\nepsilon = 0.04\nreplays = 6\nrel_step = 1.0",
    )
    .unwrap();
    assert_eq!(parsed.replays(), 6);
    assert_eq!(Defence::None.replays(), 1);
}
