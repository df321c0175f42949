//! Training of the S4 disk-shape network: Adam on the paper's combined loss (point MSE in
//! units of the network's point scale, plus soft-Dice + BCE on the mask head, plus the
//! reconstruction MSE), minibatches drawn from the training slices with small intensity
//! jitter; optionally **adversarial training** (Madry): each batch is replaced by L∞ PGD
//! examples on the point loss (`adv_steps` steps of `adv_step`, random start), with ε ramped
//! linearly from 0 to `adv_epsilon` over the first `adv_ramp` share of the steps. Validation
//! MRSE (mean point distance, px) at intervals; the best weights are kept.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use mira_attack::{Attack, Bounds, Judge, LpBall, Norm, ProjectedGradient};
use mira_data::{ShapeSample, mean_point_distance};
use mira_nn::{ShapeNet, ShapeNetConfig, autodiff_device, default_device, tensor_to_vec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::shape_stop::MrseStop;
use crate::train_loop::{Schedule, TrainEvent, Validated, cosine_lr, train_loop};
use crate::{Result, TrainError};

/// Settings of [`train_shape`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapeTrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Slices per step.
    pub batch_size: usize,
    /// Adam learning rate (decayed ten-fold, cosine).
    pub learning_rate: f64,
    /// Steps between validations.
    pub validate_every: usize,
    /// Weight of the mask loss (soft Dice + BCE).
    pub mask_weight: f32,
    /// Weight of the reconstruction MSE.
    pub recon_weight: f32,
    /// Adversarial training budget (L∞, `[0, 1]` units; 0 = plain training).
    pub adv_epsilon: f32,
    /// PGD steps per adversarial batch.
    pub adv_steps: usize,
    /// PGD step size, absolute.
    pub adv_step: f32,
    /// Share of the run over which ε ramps up linearly from 0.
    pub adv_ramp: f32,
    /// Early-stopped inner attacks: a slice leaves the PGD once its MRSE exceeds this many
    /// px (`None`: every slice runs every step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adv_stop_px: Option<f64>,
}

impl Default for ShapeTrainConfig {
    fn default() -> Self {
        Self {
            steps: 1500,
            batch_size: 16,
            learning_rate: 1e-3,
            validate_every: 100,
            mask_weight: 1.0,
            recon_weight: 1.0,
            adv_epsilon: 0.0,
            adv_steps: 20,
            adv_step: 0.01,
            adv_ramp: 0.5,
            adv_stop_px: None,
        }
    }
}

impl ShapeTrainConfig {
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
        if !(1..=1_000_000).contains(&self.steps) || self.validate_every == 0 {
            return bad("steps", "steps in 1..=1000000 and validate_every >= 1");
        }
        if !(1..=1024).contains(&self.batch_size) {
            return bad("batch_size", "must be in 1..=1024");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return bad("learning_rate", "must be in (0, 1)");
        }
        if !(self.mask_weight >= 0.0 && self.recon_weight >= 0.0) {
            return bad("mask_weight", "loss weights must be >= 0");
        }
        if !(0.0..=1.0).contains(&self.adv_epsilon) || !(0.0..=1.0).contains(&self.adv_ramp) {
            return bad("adv_epsilon", "adv_epsilon and adv_ramp must be in [0, 1]");
        }
        if self.adv_epsilon > 0.0
            && (self.adv_steps == 0 || self.adv_step.is_nan() || self.adv_step <= 0.0)
        {
            return bad(
                "adv_steps",
                "adversarial training needs adv_steps >= 1 and adv_step > 0",
            );
        }
        if let Some(px) = self.adv_stop_px
            && !(px.is_finite() && px > 0.0)
        {
            return bad("adv_stop_px", "must be a distance > 0 px");
        }
        Ok(())
    }

    /// PGD's step relative to `eps`: `adv_step / eps`, at most 2 (while ε ramps up from 0 the
    /// absolute step would otherwise be many times ε).
    pub fn rel_step_at(&self, eps: f32) -> f32 {
        (self.adv_step / eps.max(1e-12)).min(2.0)
    }

    /// The adversarial-training ε at `step` of the run (linear ramp, then constant).
    pub fn epsilon_at(&self, step: usize) -> f32 {
        let ramp = (self.adv_ramp * self.steps as f32).max(1.0);
        self.adv_epsilon * (step as f32 / ramp).min(1.0)
    }
}

/// One validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeValidation {
    /// Steps done.
    pub step: usize,
    /// Mean training loss since the previous validation.
    pub train_loss: f64,
    /// Mean point distance on the validation slices, px.
    pub val_mrse: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeTrainReport {
    /// Validations in order.
    pub validations: Vec<ShapeValidation>,
    /// The step whose weights were kept.
    pub best_step: usize,
    /// The seed.
    pub seed: u64,
    /// Adversarial training: gradient passes of the inner attacks, summed over slices.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attack_gradients: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `[B, 1, S, S]` images of slices.
///
/// # Errors
/// No slices or slices of different sizes.
pub fn slices_tensor(samples: &[&ShapeSample], device: &Device) -> Result<Tensor<4>> {
    let s = samples
        .first()
        .ok_or_else(|| TrainError::Data("no slices".into()))?
        .size;
    let mut v = Vec::with_capacity(samples.len() * s * s);
    for x in samples {
        if x.size != s || x.image.len() != s * s {
            return Err(TrainError::Data("slices of different sizes".into()));
        }
        v.extend_from_slice(&x.image);
    }
    Ok(Tensor::from_data(
        TensorData::new(v, [samples.len(), 1, s, s]),
        device,
    ))
}

/// `[B, 2·points]` contour targets (x, y per point).
pub fn points_tensor(samples: &[&ShapeSample], device: &Device) -> Tensor<2> {
    let p = samples.first().map_or(0, |s| s.points.len());
    let v: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|q| [q[0] as f32, q[1] as f32]))
        .collect();
    Tensor::from_data(TensorData::new(v, [samples.len(), 2 * p]), device)
}

/// The mean contour of `samples`, `[x0, y0, …]` (the point head's anchor).
pub fn mean_contour(samples: &[ShapeSample]) -> Vec<f32> {
    let p = samples.first().map_or(0, |s| s.points.len());
    let mut m = vec![0.0f64; 2 * p];
    for s in samples {
        for (k, q) in s.points.iter().enumerate() {
            m[2 * k] += q[0];
            m[2 * k + 1] += q[1];
        }
    }
    m.iter()
        .map(|v| (v / samples.len().max(1) as f64) as f32)
        .collect()
}

/// Predicted contours, in batches (evaluation mode).
///
/// # Errors
/// Mismatched sizes.
pub fn predict_points(
    model: &ShapeNet,
    samples: &[ShapeSample],
    batch: usize,
) -> Result<Vec<Vec<[f64; 2]>>> {
    let eval = model.valid();
    let dev = default_device();
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(batch.max(1)) {
        let refs: Vec<&ShapeSample> = chunk.iter().collect();
        let y = tensor_to_vec(mira_nn::Forward::forward(
            &eval,
            slices_tensor(&refs, &dev)?,
        ));
        let per = y.len() / chunk.len();
        out.extend(
            y.chunks(per)
                .map(|c| c.chunks(2).map(|q| [q[0] as f64, q[1] as f64]).collect()),
        );
    }
    Ok(out)
}

/// Trains a fresh network of `net` on `train`, validating on `val`; the best weights (plain
/// device) come back.
///
/// # Errors
/// Invalid settings, empty or mismatched data, a failing attack, or a diverging loss.
pub fn train_shape(
    net: &ShapeNetConfig,
    train: &[ShapeSample],
    val: &[ShapeSample],
    cfg: &ShapeTrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(ShapeNet, ShapeTrainReport)> {
    cfg.validate()?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Data("no training or validation slices".into()));
    }
    if train
        .iter()
        .chain(val)
        .any(|s| s.size != net.size || 2 * s.points.len() != net.mean_points.len())
    {
        return Err(TrainError::Data(
            "slices do not match the network's size or points".into(),
        ));
    }
    let ad = autodiff_device();
    let plain = default_device();
    let model = net.init_seeded(seed, &ad)?;
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x54A9_E000);
    let scale2 = net.point_scale * net.point_scale;
    let mut attack_gradients = 0;
    let mut step = |step: usize, model: ShapeNet| {
        let batch: Vec<&ShapeSample> = (0..cfg.batch_size)
            .map(|_| &train[rng.random_range(0..train.len())])
            .collect();
        let gain = 1.0 + 0.05 * rng.random_range(-1.0f32..=1.0);
        let clean = (slices_tensor(&batch, &plain)? * gain).clamp(0.0, 1.0);
        let target_plain = points_tensor(&batch, &plain);
        let eps = cfg.epsilon_at(step);
        let x = if eps > 0.0 {
            let ball = LpBall::new(Norm::Linf, eps, Bounds::default())
                .map_err(|e| TrainError::Data(e.to_string()))?;
            let pgd = ProjectedGradient {
                steps: cfg.adv_steps,
                rel_step: cfg.rel_step_at(eps),
                random_start: true,
                restarts: 1,
                step: mira_attack::StepRule::Sign,
                best_iterate: false,
            };
            let fail = |e: mira_attack::AttackError| {
                TrainError::Data(format!("adversarial training: {e}"))
            };
            let judge = MrseStop {
                model: &model,
                samples: batch.clone(),
                stop_px: cfg.adv_stop_px.unwrap_or(f64::INFINITY),
                last: Default::default(),
            };
            if cfg.adv_stop_px.is_some() {
                let s = pgd
                    .perturb_until_broken(&judge, clean.clone(), &ball, &mut rng, 1)
                    .map_err(fail)?;
                attack_gradients += s.gradients;
                s.adv
            } else {
                attack_gradients += cfg.adv_steps * batch.len();
                let rows: Vec<usize> = (0..batch.len()).collect();
                let f = judge.objective(&rows).map_err(fail)?;
                pgd.perturb(f.as_ref(), clean.clone(), &ball, &mut rng)
                    .map_err(fail)?
            }
        } else {
            clean.clone()
        };
        let x = Tensor::<4>::from_data(x.into_data(), &ad);
        let target = Tensor::<2>::from_data(target_plain.into_data(), &ad);
        let masks: Vec<f32> = batch
            .iter()
            .flat_map(|s| s.mask.iter().map(|&m| f32::from(m)))
            .collect();
        let s = net.size;
        let mask = Tensor::<4>::from_data(TensorData::new(masks, [batch.len(), 1, s, s]), &ad);
        let out = model.heads(x);
        let point_loss = (out.points - target)
            .powi_scalar(2)
            .mean()
            .div_scalar(scale2);
        let p = sigmoid(out.mask_logits.clone());
        let inter = (p.clone() * mask.clone()).sum();
        let dice =
            inter.mul_scalar(2.0).add_scalar(1.0) / (p.sum() + mask.clone().sum()).add_scalar(1.0);
        let bce = (out.mask_logits.clone().clamp_min(0.0) - out.mask_logits.clone() * mask
            + (out.mask_logits.abs().neg().exp() + 1.0).log())
        .mean();
        let clean_ad = Tensor::<4>::from_data(clean.into_data(), &ad);
        let recon = (out.recon - clean_ad).powi_scalar(2).mean();
        let loss = point_loss
            + (bce + dice.neg().add_scalar(1.0)) * cfg.mask_weight
            + recon * cfg.recon_weight;
        let value = loss.clone().into_scalar::<f32>();
        let lr = cosine_lr(cfg.learning_rate, step, cfg.steps);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok((optim.step(lr, model, grads), value))
    };
    let mut validate = |step: usize, train_loss: f64, model: &ShapeNet| {
        let pred = predict_points(model, val, 32)?;
        let mrse = pred
            .iter()
            .zip(val)
            .map(|(p, v)| mean_point_distance(p, &v.points))
            .sum::<f64>()
            / val.len() as f64;
        Ok(Validated {
            score: mrse,
            record: ShapeValidation {
                step,
                train_loss,
                val_mrse: mrse,
            },
            summary: format!("validation MRSE {mrse:.2} px"),
        })
    };
    let trained = train_loop(
        model,
        Schedule::every(cfg.steps, cfg.validate_every),
        &mut step,
        &mut validate,
        progress,
    )?;
    let report = ShapeTrainReport {
        validations: trained.validations,
        best_step: trained.best,
        seed,
        attack_gradients,
    };
    Ok((trained.model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_data::SpinePhantomConfig;

    #[test]
    fn a_short_training_lowers_the_loss_keeps_its_best_weights_and_adversarial_training_runs() {
        let data = SpinePhantomConfig {
            size: 64,
            modes: 5,
            ..Default::default()
        };
        let train = data.generate(1, 0, 48).unwrap();
        let val = data.generate(1, 48, 12).unwrap();
        let mean = mean_contour(&train);
        let net = ShapeNetConfig {
            size: 64,
            width: 4,
            points: 176,
            point_scale: 5.0,
            mean_points: mean.clone(),
        };
        let cfg = ShapeTrainConfig {
            steps: 200,
            batch_size: 8,
            learning_rate: 3e-3,
            validate_every: 50,
            ..Default::default()
        };
        let (model, report) = train_shape(&net, &train, &val, &cfg, 2, &mut |_| {}).unwrap();
        // Predicting the mean contour for every slice: the baseline to beat.
        let mean_pts: Vec<[f64; 2]> = mean.chunks(2).map(|q| [q[0] as f64, q[1] as f64]).collect();
        let baseline = val
            .iter()
            .map(|v| mean_point_distance(&mean_pts, &v.points))
            .sum::<f64>()
            / 12.0;
        let best = report
            .validations
            .iter()
            .map(|v| v.val_mrse)
            .fold(f64::MAX, f64::min);
        // 200 steps at 64² only start to place the contour (the best validation MRSE was 1.8 to
        // 2.2 px against 2.23 px for the mean shape, depending on how rayon's reductions round
        // under load), so the test asks for the loss to fall and the contour to be no worse than
        // the mean shape; docs/s4.md has the full-size results.
        let (first, last) = (&report.validations[0], report.validations.last().unwrap());
        assert!(
            last.train_loss < 0.6 * first.train_loss,
            "loss {} → {}",
            first.train_loss,
            last.train_loss
        );
        assert!(
            best < 1.05 * baseline,
            "MRSE {best} vs mean-shape {baseline}"
        );
        let pred = predict_points(&model, &val, 5).unwrap();
        let mrse = pred
            .iter()
            .zip(&val)
            .map(|(p, v)| mean_point_distance(p, &v.points))
            .sum::<f64>()
            / 12.0;
        assert!((mrse - best).abs() < 1e-3);
        // Adversarial training: the ramp and a few PGD-trained steps.
        let adv = ShapeTrainConfig {
            steps: 4,
            adv_epsilon: 0.07,
            adv_steps: 2,
            adv_ramp: 0.5,
            validate_every: 2,
            ..cfg
        };
        assert_eq!(
            (adv.epsilon_at(0), adv.epsilon_at(1), adv.epsilon_at(3)),
            (0.0, 0.035, 0.07)
        );
        // Early in a long ramp ε is tiny: the relative step is capped (an S4 run stopped at
        // step 1 with rel_step 171).
        let long = ShapeTrainConfig {
            steps: 800,
            adv_step: 0.03,
            ..adv.clone()
        };
        assert_eq!(long.rel_step_at(long.epsilon_at(1)), 2.0);
        assert_eq!(long.rel_step_at(0.06), 0.5);
        let (_, full) = train_shape(&net, &train, &val, &adv, 3, &mut |_| {}).unwrap();
        assert_eq!(
            full.attack_gradients,
            4 * 2 * 8,
            "4 steps × 2 PGD steps × 8 slices"
        );
        // Early-stopped inner attacks: every slice is beyond 1e-3 px at its random start, so
        // each spends the one pass that judged it; a threshold nothing reaches is full PGD.
        let stop = |px| ShapeTrainConfig {
            adv_stop_px: Some(px),
            ..adv.clone()
        };
        let (_, stopped) = train_shape(&net, &train, &val, &stop(1e-3), 3, &mut |_| {}).unwrap();
        assert_eq!(stopped.attack_gradients, 4 * 8);
        let (_, never) = train_shape(&net, &train, &val, &stop(1e9), 3, &mut |_| {}).unwrap();
        assert_eq!(never.attack_gradients, full.attack_gradients);
        assert_eq!(
            never.validations, full.validations,
            "the same trajectory as full PGD"
        );
        assert!(stop(0.0).validate().is_err());
        assert!(
            ShapeTrainConfig {
                adv_epsilon: 2.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
