//! Training of the S0 registration network: Adam on the mean squared error of the rigid
//! parameters in units of the network's scales (degrees and pixels made comparable), on pairs
//! drawn afresh every step (new transforms, crops, intensities and noise: the augmentation),
//! with dropout in the head; validation TRE at intervals, the best weights kept.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use mira_data::{RegPair, RegPairConfig, RegSource, Rigid2d, make_pairs, tre, tre_grid};
use mira_nn::{Forward, PairNet, PairNetConfig, autodiff_device, default_device, tensor_to_vec};
use serde::{Deserialize, Serialize};

use crate::train_loop::{Schedule, TrainEvent, Validated, cosine_lr, train_loop};
use crate::{Result, TrainError};

/// Settings of [`train_registration`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegTrainConfig {
    /// Optimisation steps (each on a fresh batch of pairs).
    pub steps: usize,
    /// Pairs per step.
    pub batch_size: usize,
    /// Adam learning rate (decayed ten-fold, cosine, over the run).
    pub learning_rate: f64,
    /// Gaussian noise (standard deviation) added to training images.
    pub noise: f32,
    /// Affine augmentation of training pairs (see `RegPairConfig::affine_jitter`).
    pub affine_jitter: f64,
    /// Steps between validations.
    pub validate_every: usize,
    /// Random flips and transposition of training content (see `RegPairConfig::flips`).
    pub flips: bool,
}

impl Default for RegTrainConfig {
    fn default() -> Self {
        Self {
            steps: 3000,
            batch_size: 32,
            learning_rate: 2e-3,
            noise: 0.03,
            affine_jitter: 0.08,
            validate_every: 250,
            flips: true,
        }
    }
}

impl RegTrainConfig {
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
        if !(1..=1_000_000).contains(&self.steps) {
            return bad("steps", "must be in 1..=1000000");
        }
        if !(1..=4096).contains(&self.batch_size) {
            return bad("batch_size", "must be in 1..=4096");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad("learning_rate", "must be in (0, 1)");
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return bad("noise", "must be in [0, 0.5]");
        }
        if !(0.0..=0.3).contains(&self.affine_jitter) {
            return bad("affine_jitter", "must be in [0, 0.3]");
        }
        if self.validate_every == 0 {
            return bad("validate_every", "must be >= 1");
        }
        Ok(())
    }
}

/// One validation of a registration training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegValidation {
    /// Steps done.
    pub step: usize,
    /// Mean training loss since the previous validation.
    pub train_loss: f64,
    /// Mean TRE on the validation pairs, pixels.
    pub val_tre_px: f64,
    /// Share of validation pairs with TRE within the tolerance.
    pub val_pass: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegTrainReport {
    /// Validations in order.
    pub validations: Vec<RegValidation>,
    /// The step whose weights were kept (lowest validation TRE).
    pub best_step: usize,
    /// The seed.
    pub seed: u64,
}

/// The `[B, 2, n, n]` input of a set of pairs (channel 0 fixed, 1 moving).
///
/// # Errors
/// Pairs of different sizes.
pub fn pairs_tensor(pairs: &[&RegPair], size: usize, device: &Device) -> Result<Tensor<4>> {
    let nn = size * size;
    let mut v = Vec::with_capacity(pairs.len() * 2 * nn);
    for p in pairs {
        if p.fixed.len() != nn || p.moving.len() != nn {
            return Err(TrainError::Data(format!(
                "pair images of {}/{} pixels, expected {size}x{size}",
                p.fixed.len(),
                p.moving.len()
            )));
        }
        v.extend_from_slice(&p.fixed);
        v.extend_from_slice(&p.moving);
    }
    Ok(Tensor::from_data(
        TensorData::new(v, [pairs.len(), 2, size, size]),
        device,
    ))
}

/// `[B, 3]` (degrees, px, px) of transforms.
pub fn rigid_tensor(t: &[Rigid2d], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = t
        .iter()
        .flat_map(|r| [r.theta_deg as f32, r.tx as f32, r.ty as f32])
        .collect();
    Tensor::from_data(TensorData::new(v, [t.len(), 3]), device)
}

/// Rows of a `[B, 3]` parameter tensor as transforms.
pub fn tensor_rigids(t: Tensor<2>) -> Vec<Rigid2d> {
    tensor_to_vec(t)
        .chunks(3)
        .map(|c| Rigid2d {
            theta_deg: c[0] as f64,
            tx: c[1] as f64,
            ty: c[2] as f64,
        })
        .collect()
}

/// The model's transforms for `pairs`, in batches (evaluation mode).
///
/// # Errors
/// Pairs of the wrong size.
pub fn predict_rigid<M: Forward<4, 2> + burn::module::Module>(
    model: &M,
    pairs: &[RegPair],
    batch: usize,
) -> Result<Vec<Rigid2d>> {
    let eval = model.valid();
    let dev = default_device();
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(batch.max(1)) {
        let refs: Vec<&RegPair> = chunk.iter().collect();
        let size = (chunk[0].fixed.len() as f64).sqrt() as usize;
        out.extend(tensor_rigids(
            eval.forward(pairs_tensor(&refs, size, &dev)?),
        ));
    }
    Ok(out)
}

/// Trains a fresh network for pairs of `pair_cfg` cut from `train` sources, validating on
/// `val` pairs with TRE `tolerance_px`, and returns the best weights (plain device).
///
/// # Errors
/// Invalid settings, sources too small for the pairs, or a diverging loss.
#[allow(clippy::too_many_arguments)]
pub fn train_registration(
    net: &PairNetConfig,
    train: &[RegSource],
    val: &[RegPair],
    pair_cfg: &RegPairConfig,
    tolerance_px: f64,
    cfg: &RegTrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(PairNet, RegTrainReport)> {
    cfg.validate()?;
    if val.is_empty() {
        return Err(TrainError::Data("no validation pairs".into()));
    }
    let dev = autodiff_device();
    let model = net.init_seeded(seed, &dev)?;
    let scales = net.scales;
    let inv_scale = Tensor::<1>::from_floats(scales.map(|s| 1.0 / s), &dev).unsqueeze::<2>();
    let train_cfg = RegPairConfig {
        noise: cfg.noise,
        affine_jitter: cfg.affine_jitter,
        flips: cfg.flips,
        ..pair_cfg.clone()
    };
    let grid = tre_grid(pair_cfg.size, 8);
    let mut optim = AdamConfig::new().init();
    let mut step = |step: usize, model: PairNet| {
        let pairs = make_pairs(
            train,
            &train_cfg,
            seed ^ 0x7261_696E,
            (step - 1) * cfg.batch_size,
            cfg.batch_size,
        )
        .map_err(|e| TrainError::Data(e.to_string()))?;
        let refs: Vec<&RegPair> = pairs.iter().collect();
        let x = pairs_tensor(&refs, pair_cfg.size, &dev)?;
        let truths: Vec<Rigid2d> = pairs.iter().map(|p| p.truth).collect();
        let t = rigid_tensor(&truths, &dev) * inv_scale.clone();
        let loss = (model.raw(x) - t).powi_scalar(2).mean();
        let value = loss.clone().into_scalar::<f32>();
        let lr = cosine_lr(cfg.learning_rate, step, cfg.steps);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok((optim.step(lr, model, grads), value))
    };
    let mut validate = |step: usize, train_loss: f64, model: &PairNet| {
        let pred = predict_rigid(model, val, 64)?;
        let tres: Vec<f64> = pred
            .iter()
            .zip(val)
            .map(|(p, v)| tre(p, &v.truth, &grid))
            .collect();
        let mean = tres.iter().sum::<f64>() / tres.len() as f64;
        let pass = tres.iter().filter(|t| **t <= tolerance_px).count() as f64 / tres.len() as f64;
        Ok(Validated {
            score: mean,
            record: RegValidation {
                step,
                train_loss,
                val_tre_px: mean,
                val_pass: pass,
            },
            summary: format!("validation TRE {mean:.2} px, passing {:.1}%", 100.0 * pass),
        })
    };
    let trained = train_loop(
        model,
        Schedule::every(cfg.steps, cfg.validate_every),
        &mut step,
        &mut validate,
        progress,
    )?;
    let report = RegTrainReport {
        validations: trained.validations,
        best_step: trained.best,
        seed,
    };
    Ok((trained.model, report))
}
