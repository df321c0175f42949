//! Supervised training of a segmentation UNet: Adam on cross-entropy + soft Dice, validation
//! Dice after every epoch, the best epoch's weights kept. One loop ([`fit`]) serves plain
//! training and every defence; a [`BatchMaker`] decides what each batch contains.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use mira_data::SegDataset;
use mira_nn::segmentation::{cross_entropy, soft_dice_loss};
use mira_nn::{UNet, UNetConfig, autodiff_device, one_hot};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::adversarial_fast::FreePerturbation;
use crate::train_loop::{Schedule, TrainEvent, Validated, train_loop};
use crate::{BatchMaker, Defence, Result, TrainError, validation_dice};

/// Settings of [`train_segmentation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Slices per optimisation step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Weight of the soft Dice term added to the cross-entropy.
    pub dice_weight: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 8,
            learning_rate: 2e-3,
            dice_weight: 1.0,
        }
    }
}

impl TrainConfig {
    /// Checks ranges.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(TrainError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if !(1..=10_000).contains(&self.epochs) {
            return bad("epochs", "must be in 1..=10000");
        }
        if !(1..=4096).contains(&self.batch_size) {
            return bad("batch_size", "must be in 1..=4096");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad("learning_rate", "must be in (0, 1)");
        }
        if !(self.dice_weight.is_finite() && self.dice_weight >= 0.0) {
            return bad("dice_weight", "must be >= 0");
        }
        Ok(())
    }
}

/// What one epoch achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean validation Dice per foreground label.
    pub val_dice: Vec<Option<f64>>,
    /// Mean of `val_dice`.
    pub val_dice_mean: Option<f64>,
}

/// The history of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
    /// The epoch whose weights were kept (highest mean validation Dice).
    pub best_epoch: usize,
    /// The seed of the run.
    pub seed: u64,
    /// The defence the model was trained with.
    pub defence: Defence,
    /// Distillation: the teacher's history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Vec<EpochStats>>,
    /// Adversarial training: examples replaced by adversarial ones, over the whole run.
    pub adversarial_examples: usize,
    /// Adversarial training: gradient passes of the inner attack, summed over its cases
    /// (free training: none beyond the training steps' own).
    #[serde(skip_serializing_if = "is_zero")]
    pub attack_gradients: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Trains `model` (on the autodiff device, e.g. from `UNetConfig::init_seeded`) on `train`,
/// validating on `val` after every epoch, and returns the weights of the best epoch.
///
/// # Errors
/// Invalid settings, data that does not match the model, or a diverging loss.
pub fn train_segmentation(
    model: UNet,
    train: &SegDataset,
    val: &SegDataset,
    cfg: &TrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(UNet, TrainReport)> {
    fit(
        model,
        train,
        val,
        cfg,
        seed,
        &BatchMaker::new(&Defence::None)?,
        progress,
    )
}

/// Builds and trains a UNet of architecture `arch` with `defence`: plain, adversarial
/// training, or distillation (a teacher at `T`, then the returned student on its soft labels
/// at `T`, deployed at `T = 1`).
/// The teacher is initialised from a seed derived from `seed`, the student from `seed`.
///
/// # Errors
/// As [`train_segmentation`], and an invalid defence.
pub fn train_defended(
    arch: &UNetConfig,
    defence: &Defence,
    train: &SegDataset,
    val: &SegDataset,
    cfg: &TrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(UNet, TrainReport)> {
    defence.validate()?;
    let dev = autodiff_device();
    match *defence {
        Defence::Distillation { temperature } => {
            // Trained in the scaled parameterisation g = z / T (plain training of g is training
            // of z at temperature T), then deployed as z = T g by scaling the 1x1 head: the
            // same objective as Papernot et al., without having to grow the logits T-fold
            // by gradient steps (which 10 epochs of Adam do not manage).
            progress(TrainEvent::Stage("teacher".into()));
            let tseed = seed ^ 0x7EAC_4E12_D15C_0001;
            let teacher = arch.init_seeded(tseed, &dev)?;
            let plain = BatchMaker::new(&Defence::None)?;
            let (teacher, t_report) = fit(teacher, train, val, cfg, tseed, &plain, progress)?;
            let teacher = teacher.scale_logits(temperature);
            progress(TrainEvent::Stage("student".into()));
            let student = arch.init_seeded(seed, &dev)?;
            let maker = BatchMaker::student(defence, &teacher, temperature);
            let (student, mut report) = fit(student, train, val, cfg, seed, &maker, progress)?;
            report.teacher = Some(t_report.epochs);
            Ok((student.scale_logits(temperature), report))
        }
        _ => {
            let model = arch.init_seeded(seed, &dev)?;
            fit(
                model,
                train,
                val,
                cfg,
                seed,
                &BatchMaker::new(defence)?,
                progress,
            )
        }
    }
}

/// The training loop: Adam on `CE(z / T, target) + dice_weight · softDice(z / T, target)` over
/// the batches `maker` makes, validation Dice after every epoch, best epoch kept.
///
/// Free adversarial training replays each batch `replays` times, perturbing its adversarial
/// rows by the δ that every step's own input gradient moves; an epoch stays `steps_per_epoch`
/// optimiser steps, so the data is seen `epochs / replays` times.
///
/// # Errors
/// Invalid settings, data that does not match the model, or a diverging loss.
pub fn fit(
    model: UNet,
    train: &SegDataset,
    val: &SegDataset,
    cfg: &TrainConfig,
    seed: u64,
    maker: &BatchMaker<'_>,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(UNet, TrainReport)> {
    cfg.validate()?;
    train
        .validate()
        .map_err(|e| TrainError::Data(format!("training set: {e}")))?;
    val.validate()
        .map_err(|e| TrainError::Data(format!("validation set: {e}")))?;
    let dev = autodiff_device();
    let k = train.n_labels();
    let (h, w) = (train.items[0].height, train.items[0].width);
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.items.len()).collect();
    let steps_per_epoch = order.len().div_ceil(cfg.batch_size);
    let mut adversarial_examples = 0;
    let mut attack_gradients = 0;
    let replays = maker.defence().replays();
    let mut free = FreePerturbation::default();
    let mut step = |step: usize, model: UNet| {
        let epoch = (step - 1) / steps_per_epoch + 1;
        let (draw, replay) = ((step - 1) / replays, (step - 1) % replays);
        let batch = draw % steps_per_epoch;
        if batch == 0 && replay == 0 {
            order.shuffle(&mut rng);
        }
        let idx = order
            .chunks(cfg.batch_size)
            .nth(batch)
            .ok_or_else(|| TrainError::Data("no batch".into()))?;
        let items: Vec<_> = idx.iter().map(|&i| &train.items[i]).collect();
        let mut b = maker.make(&model, &items, k, epoch, &mut rng)?;
        let free_rows = maker.free_rows(&mut b, epoch)?;
        adversarial_examples += b.adversarial.iter().filter(|a| **a).count();
        attack_gradients += b.attack_gradients;
        let free_pair = match &free_rows {
            Some((ball, n)) => Some(free.apply_rows(&mut b.images, b.shape, *n, ball)),
            None => None,
        };
        let x = Tensor::<4>::from_data(TensorData::new(b.images, b.shape), &dev);
        let x = if free_pair.is_some() {
            x.require_grad()
        } else {
            x
        };
        let t = match b.soft_targets {
            Some(soft) => {
                Tensor::<4>::from_data(TensorData::new(soft, [b.shape[0], k, h, w]), &dev)
            }
            None => {
                let maps: Vec<&[u8]> = items.iter().map(|s| s.labels.as_slice()).collect();
                one_hot(&maps, k, h, w, &dev)?
            }
        };
        let logits = model.logits(x.clone());
        let loss = (cross_entropy(logits.clone(), t.clone(), b.temperature)
            + soft_dice_loss(logits / b.temperature, t) * cfg.dice_weight)
            .mean();
        let value = loss.clone().into_scalar::<f32>();
        let grads = loss.backward();
        if let (Some((x0, xa)), Some((ball, n))) = (free_pair, &free_rows) {
            let g = x
                .grad(&grads)
                .ok_or_else(|| TrainError::Data("free training: no input gradient".into()))?
                .slice(0..*n);
            free.update(&x0, xa, g, ball, maker.free_step(ball.epsilon));
        }
        let grads = GradientsParams::from_grads(grads, &model);
        Ok((optim.step(cfg.learning_rate, model, grads), value))
    };
    let mut validate = |step: usize, train_loss: f64, model: &UNet| {
        let (val_dice, val_dice_mean) = validation_dice(model, val, cfg.batch_size)?;
        let dice = val_dice_mean.map_or("-".into(), |d| format!("{d:.3}"));
        Ok(Validated {
            score: -val_dice_mean.unwrap_or(0.0),
            record: EpochStats {
                epoch: step / steps_per_epoch,
                train_loss,
                val_dice,
                val_dice_mean,
            },
            summary: format!("validation Dice {dice}"),
        })
    };
    let schedule = Schedule {
        steps: steps_per_epoch * cfg.epochs,
        validate_every: Some(steps_per_epoch),
        steps_per_unit: steps_per_epoch,
    };
    let trained = train_loop(model, schedule, &mut step, &mut validate, progress)?;
    let report = TrainReport {
        epochs: trained.validations,
        best_epoch: trained.best,
        seed,
        defence: maker.defence().clone(),
        teacher: None,
        adversarial_examples,
        attack_gradients,
    };
    Ok((trained.model, report))
}
