//! Training the learned synthesis attacker of study S2 ([`DeformGenerator`]) against a frozen
//! segmentation network, so that one forward pass turns an unseen image and a requested Dice
//! drop Δ into deformation and bias-field parameters.
//!
//! Each step draws a batch of training slices and a target Δ per slice (from `targets`), maps
//! the generator's `(-1, 1)` outputs onto the threat model's bounds (so it can never leave
//! them), synthesises the images with the differentiable warp, and judges the frozen model's
//! soft Dice on the synthesised image against the equally warped one-hot truth. The loss is
//! `mean(relu(Δ + margin − drop)²) + size_weight · mean(|u| / u_max + |b| / b_max) / 2`, where
//! `drop` is the soft-Dice drop from the clean image: reach the target, with the smallest
//! parameters that do. The model is an evaluation copy on the plain device: its weights are
//! constants and only the generator learns.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use mira_attack::{Synthesis, warp_bilinear};
use mira_data::SegDataset;
use mira_nn::segmentation::soft_dice_loss;
use mira_nn::{
    DeformGenerator, DeformGeneratorConfig, Forward, UNet, autodiff_device, images_to_tensor,
    one_hot,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::train_loop::{Schedule, TrainEvent, train_loop};
use crate::{Result, TrainError};

/// Settings of [`train_generator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorTrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Slices per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Weight of the parameter-size penalty.
    pub size_weight: f32,
    /// Extra soft-Dice drop aimed for beyond the target (hard Dice decides "met").
    pub margin: f32,
    /// First-layer width of the generator.
    pub width: usize,
}

impl Default for GeneratorTrainConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            batch_size: 8,
            learning_rate: 1e-3,
            size_weight: 0.05,
            margin: 0.03,
            width: 8,
        }
    }
}

impl GeneratorTrainConfig {
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
        if !(1..=100_000).contains(&self.steps) {
            return bad("steps", "must be in 1..=100000");
        }
        if !(1..=1024).contains(&self.batch_size) {
            return bad("batch_size", "must be in 1..=1024");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad("learning_rate", "must be in (0, 1)");
        }
        if !(self.size_weight.is_finite() && self.size_weight >= 0.0) {
            return bad("size_weight", "must be >= 0");
        }
        if !(self.margin.is_finite() && (0.0..=0.5).contains(&self.margin)) {
            return bad("margin", "must be in 0..=0.5");
        }
        if !(1..=64).contains(&self.width) {
            return bad("width", "must be in 1..=64");
        }
        Ok(())
    }
}

/// Mean soft-Dice drop and loss of the last tenth of training, for the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratorReport {
    /// Loss per step.
    pub losses: Vec<f32>,
    /// Mean soft-Dice drop reached per step.
    pub drops: Vec<f32>,
    /// The seed.
    pub seed: u64,
}

/// Trains a generator against `model` (any device; an evaluation copy is used) on `train`
/// within the bounds of `synth`, for the Dice-drop `targets`.
///
/// # Errors
/// Invalid settings or data, no targets, or a diverging loss.
pub fn train_generator(
    synth: &Synthesis,
    model: &UNet,
    train: &SegDataset,
    targets: &[f32],
    cfg: &GeneratorTrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(DeformGenerator, GeneratorReport)> {
    cfg.validate()?;
    train
        .validate()
        .map_err(|e| TrainError::Data(format!("training set: {e}")))?;
    if targets.is_empty()
        || targets
            .iter()
            .any(|t| !(t.is_finite() && *t > 0.0 && *t < 1.0))
    {
        return Err(TrainError::InvalidConfig {
            field: "targets",
            reason: "need at least one target Dice drop in (0, 1)".into(),
        });
    }
    let ad = autodiff_device();
    let sc = synth.config();
    let gen_cfg = DeformGeneratorConfig {
        in_channels: train.channels(),
        width: cfg.width,
        grid: sc.grid,
        bias_grid: sc.bias_grid,
    };
    let generator = gen_cfg.init_seeded(seed, &ad)?;
    let eval = model.valid();
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed);
    let (k, h, w) = (
        train.n_labels(),
        train.items[0].height,
        train.items[0].width,
    );
    let (u_max, b_max) = (sc.max_disp_px, (1.0 + sc.max_bias).ln());
    let mut report = GeneratorReport {
        losses: Vec::with_capacity(cfg.steps),
        drops: Vec::with_capacity(cfg.steps),
        seed,
    };
    let mut step = |_: usize, generator: DeformGenerator| {
        let idx: Vec<usize> = (0..cfg.batch_size)
            .map(|_| rng.random_range(0..train.items.len()))
            .collect();
        let t: Vec<f32> = idx
            .iter()
            .map(|_| targets[rng.random_range(0..targets.len())])
            .collect();
        let items: Vec<_> = idx.iter().map(|&i| &train.items[i]).collect();
        let maps: Vec<&[u8]> = items.iter().map(|s| s.labels.as_slice()).collect();
        let x0 = images_to_tensor(&items, &ad)?;
        let truth = one_hot(&maps, k, h, w, &ad)?;
        let b = idx.len();
        let target = Tensor::<1>::from_floats(t.as_slice(), &ad);
        let clean =
            soft_dice_loss(eval.forward(x0.clone().inner()), truth.clone().inner()).autodiff();
        let (d, lb) = generator.forward(x0.clone(), target.clone());
        let additive = Tensor::<4>::zeros(x0.dims(), &ad);
        let (x, dense) = synth.render_tensors(x0, d.clone() * u_max, lb.clone() * b_max, additive);
        let adv = soft_dice_loss(eval.forward(x), warp_bilinear(truth, dense));
        let drop = adv - clean;
        let short = (target + cfg.margin - drop.clone()).clamp_min(0.0);
        let size = (d.abs().mean() + lb.abs().mean()) / 2.0;
        let loss = short.powi_scalar(2).mean() + size * cfg.size_weight;
        let value = loss.clone().into_scalar::<f32>();
        report.losses.push(value);
        report
            .drops
            .push(drop.inner().sum().into_scalar::<f32>() / b as f32);
        let grads = GradientsParams::from_grads(loss.backward(), &generator);
        Ok((optim.step(cfg.learning_rate, generator, grads), value))
    };
    let schedule = Schedule {
        steps: cfg.steps,
        validate_every: None,
        steps_per_unit: 1,
    };
    let trained = train_loop::<_, ()>(
        generator,
        schedule,
        &mut step,
        &mut |_, _, _| Err(TrainError::Data("the generator has no validation".into())),
        progress,
    )?;
    Ok((trained.model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_attack::{Bounds, SynthesisConfig};
    use mira_data::AbdomenPhantomConfig;
    use mira_nn::{UNetConfig, default_device, tensor_to_vec};

    #[test]
    fn generator_training_is_deterministic_and_stays_in_bounds() {
        let data = AbdomenPhantomConfig {
            size: 64,
            ..Default::default()
        }
        .generate(3, 0, 6)
        .unwrap();
        let model = UNetConfig::new()
            .with_in_channels(1)
            .with_classes(6)
            .with_base_width(4)
            .with_depth(2)
            .init_seeded(1, &default_device())
            .unwrap();
        let synth = Synthesis::new(
            SynthesisConfig {
                max_disp_px: 2.0,
                ..Default::default()
            },
            1,
            64,
            64,
            Bounds::default(),
        )
        .unwrap();
        let cfg = GeneratorTrainConfig {
            steps: 3,
            batch_size: 2,
            width: 2,
            ..Default::default()
        };
        let run = || train_generator(&synth, &model, &data, &[0.1, 0.2], &cfg, 9, &mut |_| {});
        let (g, r) = run().unwrap();
        let (_, r2) = run().unwrap();
        assert_eq!(r.losses.len(), 3);
        assert_eq!(r.losses, r2.losses);
        assert!(r.losses.iter().all(|l| l.is_finite() && *l >= 0.0));
        let x = images_to_tensor(&[&data.items[0]], &default_device()).unwrap();
        let (d, b) = g.forward(x, Tensor::from_floats([0.2], &default_device()));
        assert!(
            tensor_to_vec(d)
                .iter()
                .chain(&tensor_to_vec(b))
                .all(|v| v.abs() < 1.0)
        );
        assert!(train_generator(&synth, &model, &data, &[], &cfg, 9, &mut |_| {}).is_err());
    }
}
