//! `mira train`: train a segmentation UNet on the S1 phantom and save a checkpoint.

use std::path::PathBuf;

use anyhow::Result;
use mira_data::BrainPhantomConfig;
use mira_nn::UNetConfig;
use mira_nn::checkpoint::{self, CheckpointMeta};
use mira_train::{AdvAttack, Defence, TrainConfig, train_defended};

use crate::InvalidInput;
use crate::progress::Progress;

/// Arguments of `mira train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint folder to write (model.json + weights.bpk).
    #[arg(long)]
    pub out: PathBuf,
    /// Master seed (data, weights, shuffling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Side of the phantom slices in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Training slices.
    #[arg(long, default_value_t = 128)]
    pub train: usize,
    /// Validation slices.
    #[arg(long, default_value_t = 16)]
    pub val: usize,
    /// Epochs.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Channels of the first UNet level.
    #[arg(long, default_value_t = 16)]
    pub base_width: usize,
    /// Down-samplings.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Residual blocks.
    #[arg(long)]
    pub residual: bool,
    /// Training-time defence: none, distillation or adversarial.
    #[arg(long, default_value = "none")]
    pub defence: String,
    /// Distillation: softmax temperature of teacher and student.
    #[arg(long, default_value_t = 50.0)]
    pub temperature: f32,
    /// Adversarial training: fgsm, pgd or free (free adversarial training, Shafahi et al. 2019).
    #[arg(long, default_value = "fgsm")]
    pub adv_attack: String,
    /// Adversarial training: L∞ budget in [0, 1] intensity units.
    #[arg(long, default_value_t = 0.02)]
    pub adv_eps: f32,
    /// Adversarial training: fraction of each batch made adversarial (1 = Madry-style).
    #[arg(long, default_value_t = 0.5)]
    pub adv_ratio: f32,
    /// Adversarial training: epochs of linear ε warm-up.
    #[arg(long, default_value_t = 0)]
    pub adv_warmup: usize,
    /// Adversarial training: PGD steps.
    #[arg(long, default_value_t = 5)]
    pub adv_steps: usize,
    /// Adversarial training: PGD or free-training step relative to the budget (default: 0.4
    /// for PGD, 1 for free training, the papers' steps).
    #[arg(long)]
    pub adv_rel_step: Option<f32>,
    /// Free adversarial training: replays of each batch.
    #[arg(long, default_value_t = 4)]
    pub adv_replays: usize,
    /// PGD adversarial training: stop a slice's inner attack once its mean foreground Dice
    /// is below this (early-stopped inner attacks).
    #[arg(long)]
    pub adv_stop_dice: Option<f32>,
}

fn defence(a: &Args) -> Result<Defence> {
    let d = match a.defence.as_str() {
        "none" => Defence::None,
        "distillation" => Defence::Distillation {
            temperature: a.temperature,
        },
        "adversarial" => Defence::Adversarial {
            attack: match a.adv_attack.as_str() {
                "fgsm" => AdvAttack::Fgsm,
                "pgd" => AdvAttack::Pgd,
                "free" => AdvAttack::Free,
                other => {
                    return Err(InvalidInput(format!(
                        "--adv-attack {other}: expected fgsm, pgd or free"
                    ))
                    .into());
                }
            },
            epsilon: a.adv_eps,
            norm: mira_attack::Norm::Linf,
            ratio: a.adv_ratio,
            warmup_epochs: a.adv_warmup,
            steps: a.adv_steps,
            rel_step: a
                .adv_rel_step
                .unwrap_or(if a.adv_attack == "free" { 1.0 } else { 0.4 }),
            replays: a.adv_replays,
            stop_dice: a.adv_stop_dice,
        },
        other => {
            return Err(InvalidInput(format!(
                "--defence {other}: expected none, distillation or adversarial"
            ))
            .into());
        }
    };
    d.validate().map_err(|e| InvalidInput(e.to_string()))?;
    Ok(d)
}

pub fn main(a: Args) -> Result<()> {
    let phantom = BrainPhantomConfig {
        size: a.size,
        ..Default::default()
    };
    phantom
        .validate()
        .map_err(|e| InvalidInput(e.to_string()))?;
    if !a.size.is_multiple_of(1 << a.depth.min(16)) {
        return Err(InvalidInput(format!(
            "--size {} is not divisible by 2^{}",
            a.size, a.depth
        ))
        .into());
    }
    let cfg = TrainConfig {
        epochs: a.epochs,
        learning_rate: a.lr,
        ..Default::default()
    };
    cfg.validate().map_err(|e| InvalidInput(e.to_string()))?;
    let defence = defence(&a)?;
    let unet = UNetConfig::new()
        .with_base_width(a.base_width)
        .with_depth(a.depth)
        .with_residual(a.residual);
    unet.validate().map_err(|e| InvalidInput(e.to_string()))?;
    let train = phantom.generate(a.seed, 0, a.train)?;
    let val = phantom.generate(a.seed, 1_000_000, a.val)?;
    let mut progress = Progress::default();
    let (model, report) = train_defended(&unet, &defence, &train, &val, &cfg, a.seed, &mut |e| {
        progress.train("unet", e)
    })?;
    let best = &report.epochs[report.best_epoch - 1];
    let meta = CheckpointMeta {
        format: checkpoint::FORMAT.into(),
        unet,
        channel_names: train.channel_names.clone(),
        label_names: train.label_names.clone(),
        training: serde_json::json!({ "config": cfg, "report": report, "data": phantom, "seed": a.seed }),
    };
    checkpoint::save(&a.out, &model, &meta)?;
    let dice: Vec<String> = best
        .val_dice
        .iter()
        .map(|d| d.map_or("-".into(), |d| format!("{d:.3}")))
        .collect();
    println!(
        "saved {} (defence {}, epoch {} of {}): validation Dice core/edema/enhancing = {}",
        a.out.display(),
        defence.describe(),
        report.best_epoch,
        a.epochs,
        dice.join(" / ")
    );
    Ok(())
}
