//! The cheaper adversarial trainings do what they promise: early-stopped inner attacks stop
//! a case as soon as it is broken (and spend fewer gradient passes), free training perturbs
//! within the scheduled budget with no inner attack at all, and every training step of it
//! moves δ along the step's own input gradient.

use burn::prelude::*;
use mira_attack::Norm;
use mira_data::BrainPhantomConfig;
use mira_nn::{UNetConfig, autodiff_device, default_device, images_to_tensor, tensor_to_vec};
use mira_train::{AdvAttack, BatchMaker, Defence, TrainConfig, train_defended};
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
    let make = |d: &Defence| {
        BatchMaker::new(d)
            .unwrap()
            .make(&model, &items, 4, 1, &mut StdRng::seed_from_u64(4))
            .unwrap()
    };
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
    let make = |d: &Defence| {
        BatchMaker::new(d)
            .unwrap()
            .make(&model, &items, 4, 1, &mut StdRng::seed_from_u64(4))
            .unwrap()
    };
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
