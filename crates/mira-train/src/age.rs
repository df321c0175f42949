//! Training of the S3 brain-age networks: Adam on the squared age error in units of the
//! network's age spread, minibatches drawn from the training subjects with augmentation
//! (left-right flips, a small global intensity scale) and dropout; validation MAE at
//! intervals, the best weights kept. The hybrid's tissue model and feature statistics are
//! fitted on the training subjects first ([`fit_tissue_model`], [`feature_stats`]).

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use mira_data::AgeSubject;
use mira_nn::tissue_features::{TISSUE_FEATURES, tissue_features};
use mira_nn::{
    AgeNet, AgeNetConfig, Forward, TissueMode, TissueModel, autodiff_device, default_device,
    tensor_to_vec,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::train_loop::{Schedule, TrainEvent, Validated, cosine_lr, train_loop};
use crate::{Result, TrainError};

/// Settings of [`train_age`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeTrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Subjects per step.
    pub batch_size: usize,
    /// Adam learning rate (decayed ten-fold, cosine, over the run).
    pub learning_rate: f64,
    /// Steps between validations.
    pub validate_every: usize,
    /// Random left-right flips.
    pub flips: bool,
    /// Global intensity scale drawn from `1 ± this`.
    pub intensity_jitter: f32,
}

impl Default for AgeTrainConfig {
    fn default() -> Self {
        Self {
            steps: 1200,
            batch_size: 8,
            learning_rate: 1e-3,
            validate_every: 100,
            flips: true,
            intensity_jitter: 0.05,
        }
    }
}

impl AgeTrainConfig {
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
        if !(1..=1024).contains(&self.batch_size) {
            return bad("batch_size", "must be in 1..=1024");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad("learning_rate", "must be in (0, 1)");
        }
        if self.validate_every == 0 {
            return bad("validate_every", "must be >= 1");
        }
        if !(0.0..=0.5).contains(&self.intensity_jitter) {
            return bad("intensity_jitter", "must be in [0, 0.5]");
        }
        Ok(())
    }
}

/// One validation of a brain-age training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeValidation {
    /// Steps done.
    pub step: usize,
    /// Mean training loss since the previous validation (squared error / age_sd²).
    pub train_loss: f64,
    /// Mean absolute error on the validation subjects, years.
    pub val_mae: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeTrainReport {
    /// Validations in order.
    pub validations: Vec<AgeValidation>,
    /// The step whose weights were kept (lowest validation MAE).
    pub best_step: usize,
    /// The seed.
    pub seed: u64,
}

/// The `[B, 1, S, S, S]` input of subjects.
///
/// # Errors
/// Subjects of different sizes, or no subject.
pub fn volumes_tensor(subjects: &[&AgeSubject], device: &Device) -> Result<Tensor<5>> {
    let s = subjects
        .first()
        .ok_or_else(|| TrainError::Data("no subjects".into()))?
        .size;
    let mut v = Vec::with_capacity(subjects.len() * s * s * s);
    for sub in subjects {
        if sub.size != s || sub.t1.len() != s * s * s {
            return Err(TrainError::Data(format!(
                "subject volumes of different sizes ({}³ and {s}³)",
                sub.size
            )));
        }
        v.extend_from_slice(&sub.t1);
    }
    Ok(Tensor::from_data(
        TensorData::new(v, [subjects.len(), 1, s, s, s]),
        device,
    ))
}

/// Fits the hybrid's tissue model on labelled subjects: the mean intensity of each class
/// (outside, CSF with ventricles, grey, white) and the pooled within-class standard
/// deviation of the brain classes (clamped to `[0.02, 0.2]`).
///
/// # Errors
/// No subjects, or a class with no voxel.
pub fn fit_tissue_model(subjects: &[AgeSubject]) -> Result<TissueModel> {
    let mut sum = [0.0f64; 4];
    let mut sq = [0.0f64; 4];
    let mut n = [0usize; 4];
    for s in subjects {
        for (&v, &l) in s.t1.iter().zip(&s.labels) {
            let c = match l {
                0 => 0,
                1 | 4 => 1,
                2 => 2,
                _ => 3,
            };
            sum[c] += v as f64;
            sq[c] += (v as f64).powi(2);
            n[c] += 1;
        }
    }
    if n.contains(&0) {
        return Err(TrainError::Data(
            "tissue model: a tissue class has no voxel in the training subjects".into(),
        ));
    }
    let means = [0, 1, 2, 3].map(|c| (sum[c] / n[c] as f64) as f32);
    let (ss, nn) = (1..4).fold((0.0, 0usize), |(ss, nn), c| {
        (ss + sq[c] - sum[c] * sum[c] / n[c] as f64, nn + n[c])
    });
    let sigma = ((ss / nn as f64).sqrt() as f32).clamp(0.02, 0.2);
    Ok(TissueModel { means, sigma })
}

/// Mean and standard deviation (floored at 1e-4) of each raw tissue feature over subjects.
///
/// # Errors
/// No subjects or mismatched sizes.
pub fn feature_stats(
    tissue: &TissueModel,
    mode: TissueMode,
    subjects: &[AgeSubject],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let dev = default_device();
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for chunk in subjects.chunks(16) {
        let refs: Vec<&AgeSubject> = chunk.iter().collect();
        let f = tensor_to_vec(tissue_features(
            volumes_tensor(&refs, &dev)?,
            tissue,
            mode,
            false,
        ));
        rows.extend(f.chunks(TISSUE_FEATURES).map(<[f32]>::to_vec));
    }
    let n = rows.len() as f64;
    let mut mean = vec![0.0f32; TISSUE_FEATURES];
    let mut sd = vec![0.0f32; TISSUE_FEATURES];
    for j in 0..TISSUE_FEATURES {
        let m = rows.iter().map(|r| r[j] as f64).sum::<f64>() / n;
        let v = rows.iter().map(|r| (r[j] as f64 - m).powi(2)).sum::<f64>() / n;
        mean[j] = m as f32;
        sd[j] = (v.sqrt() as f32).max(1e-4);
    }
    Ok((mean, sd))
}

/// The model's ages for `subjects`, in batches (evaluation mode).
///
/// # Errors
/// Mismatched sizes.
pub fn predict_age<M: Forward<5, 2> + burn::module::Module>(
    model: &M,
    subjects: &[AgeSubject],
    batch: usize,
) -> Result<Vec<f64>> {
    let eval = model.valid();
    let dev = default_device();
    let mut out = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(batch.max(1)) {
        let refs: Vec<&AgeSubject> = chunk.iter().collect();
        let y = eval.forward(volumes_tensor(&refs, &dev)?);
        out.extend(tensor_to_vec(y).into_iter().map(f64::from));
    }
    Ok(out)
}

/// Trains a fresh network of `net` on `train`, validating on `val`, and returns the best
/// weights (plain device).
///
/// # Errors
/// Invalid settings, empty sets, mismatched sizes, or a diverging loss.
pub fn train_age(
    net: &AgeNetConfig,
    train: &[AgeSubject],
    val: &[AgeSubject],
    cfg: &AgeTrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(AgeNet, AgeTrainReport)> {
    cfg.validate()?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Data(
            "no training or validation subjects".into(),
        ));
    }
    if train.iter().chain(val).any(|s| s.size != net.size) {
        return Err(TrainError::Data(format!(
            "the network takes {0}³ volumes; a subject has another size",
            net.size
        )));
    }
    let dev = autodiff_device();
    let model = net.init_seeded(seed, &dev)?;
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0A6E_7EA1);
    let s = net.size;
    let mut step = |step: usize, model: AgeNet| {
        let mut x = Vec::with_capacity(cfg.batch_size * s * s * s);
        let mut ages = Vec::with_capacity(cfg.batch_size);
        for _ in 0..cfg.batch_size {
            let sub = &train[rng.random_range(0..train.len())];
            let flip = cfg.flips && rng.random::<bool>();
            let gain = 1.0 + cfg.intensity_jitter * rng.random_range(-1.0f32..=1.0);
            for row in sub.t1.chunks(s) {
                if flip {
                    x.extend(row.iter().rev().map(|v| (v * gain).clamp(0.0, 1.0)));
                } else {
                    x.extend(row.iter().map(|v| (v * gain).clamp(0.0, 1.0)));
                }
            }
            ages.push(sub.age as f32);
        }
        let x = Tensor::<5>::from_data(TensorData::new(x, [cfg.batch_size, 1, s, s, s]), &dev);
        let t = Tensor::<1>::from_floats(ages.as_slice(), &dev).reshape([cfg.batch_size, 1]);
        let loss = (model.forward(x) - t)
            .div_scalar(net.age_sd)
            .powi_scalar(2)
            .mean();
        let value = loss.clone().into_scalar::<f32>();
        let lr = cosine_lr(cfg.learning_rate, step, cfg.steps);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok((optim.step(lr, model, grads), value))
    };
    let mut validate = |step: usize, train_loss: f64, model: &AgeNet| {
        let pred = predict_age(model, val, 16)?;
        let ages: Vec<f64> = val.iter().map(|v| v.age).collect();
        let mae = mira_stats::mean_absolute_error(&pred, &ages);
        Ok(Validated {
            score: mae,
            record: AgeValidation {
                step,
                train_loss,
                val_mae: mae,
            },
            summary: format!("validation MAE {mae:.2} y"),
        })
    };
    let trained = train_loop(
        model,
        Schedule::every(cfg.steps, cfg.validate_every),
        &mut step,
        &mut validate,
        progress,
    )?;
    let report = AgeTrainReport {
        validations: trained.validations,
        best_step: trained.best,
        seed,
    };
    Ok((trained.model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_data::AgePhantomConfig;

    #[test]
    fn tissue_model_orders_the_classes_and_a_short_training_beats_the_mean() {
        let data = AgePhantomConfig {
            size: 16,
            ..Default::default()
        };
        let train = data.generate(3, 0, 48, 2).unwrap();
        let val = data.generate(3, 48, 16, 2).unwrap();
        let tissue = fit_tissue_model(&train).unwrap();
        let m = tissue.means;
        assert!(m[0] < m[1] && m[1] < m[2] && m[2] < m[3], "{m:?}");
        let (mean, sd) = feature_stats(&tissue, TissueMode::Soft, &train).unwrap();
        assert_eq!((mean.len(), sd.len()), (27, 27));
        let net = AgeNetConfig {
            features: Some(mira_nn::AgeFeatureConfig {
                tissue,
                mode: TissueMode::Soft,
                mean,
                sd,
                embed: 16,
            }),
            ..AgeNetConfig::cnn(16, 55.0, 20.0)
        };
        let cfg = AgeTrainConfig {
            steps: 150,
            learning_rate: 3e-3,
            validate_every: 50,
            ..Default::default()
        };
        let (model, report) = train_age(&net, &train, &val, &cfg, 1, &mut |_| {}).unwrap();
        // Predicting the mean age of the training set scores about 17 years on U(20, 90).
        let mean_age = train.iter().map(|s| s.age).sum::<f64>() / train.len() as f64;
        let baseline = val.iter().map(|s| (s.age - mean_age).abs()).sum::<f64>() / 16.0;
        let best = report
            .validations
            .iter()
            .map(|v| v.val_mae)
            .fold(f64::MAX, f64::min);
        assert!(best < 0.7 * baseline, "MAE {best} vs baseline {baseline}");
        let p = predict_age(&model, &val, 5).unwrap();
        let mae = p
            .iter()
            .zip(&val)
            .map(|(p, v)| (p - v.age).abs())
            .sum::<f64>()
            / 16.0;
        assert!((mae - best).abs() < 1e-3, "kept weights are the best ones");
        let short = train_age(&net, &[], &val, &cfg, 1, &mut |_| {});
        assert!(short.is_err());
    }
}
