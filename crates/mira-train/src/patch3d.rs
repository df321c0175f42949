//! Training of the 3D UNet on random patches of whole volumes, nnU-Net style.
//!
//! Each step draws `batch_size` patches of `patch` voxels; the last
//! `round(batch_size · foreground)` of them (nnU-Net's `oversample_foreground_percent`, 0.33:
//! one in three, the last of a batch of two) are centred on a random voxel of a random
//! foreground class present in the volume, the others placed uniformly. Loss: cross-entropy +
//! `dice_weight` · soft Dice, Adam; validation Dice on the whole validation volumes after
//! every epoch (`steps_per_epoch` steps), best epoch kept. No data augmentation (nnU-Net's
//! rotations, scaling, mirroring and intensity transforms are not reproduced).

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use mira_data::{SegDataset, SegSlice};
use mira_nn::segmentation::{cross_entropy, dice_scores, soft_dice_loss};
use mira_nn::{
    SlidingWindow, UNet3d, UNet3dConfig, argmax_labels, autodiff_device, default_device, one_hot,
};
use mira_stats::mean_defined;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::train_loop::{Schedule, TrainEvent, Validated, train_loop};
use crate::{Defence, EpochStats, Result, TrainConfig, TrainError, TrainReport};

/// How patches are drawn (`[training.patch]` of a volumetric experiment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSpec {
    /// Patch size `[D, H, W]` (each a multiple of `2^depth` of the UNet).
    pub size: [usize; 3],
    /// Optimisation steps per epoch (nnU-Net: 250).
    #[serde(default = "default_steps")]
    pub steps_per_epoch: usize,
    /// Share of each batch centred on foreground (nnU-Net: 0.33).
    #[serde(default = "default_foreground")]
    pub foreground: f64,
}

fn default_steps() -> usize {
    50
}

fn default_foreground() -> f64 {
    0.33
}

impl PatchSpec {
    /// Checks ranges against volumes of `dims` and a UNet that halves `depth` times.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] naming the field.
    pub fn validate(&self, dims: [usize; 3], depth: usize) -> Result<()> {
        let bad = |field, reason: String| Err(TrainError::InvalidConfig { field, reason });
        let m = 1usize << depth;
        if self
            .size
            .iter()
            .zip(&dims)
            .any(|(p, d)| *p == 0 || p > d || p % m != 0)
        {
            return bad(
                "patch.size",
                format!(
                    "{:?} must fit in the volumes {dims:?} and be multiples of {m} (2^depth)",
                    self.size
                ),
            );
        }
        if !(1..=100_000).contains(&self.steps_per_epoch) {
            return bad("patch.steps_per_epoch", "must be in 1..=100000".into());
        }
        if !(0.0..=1.0).contains(&self.foreground) {
            return bad("patch.foreground", "must be in [0, 1]".into());
        }
        Ok(())
    }
}

/// A volume stored as a tall slice `[C, D·H, W]`, with its depth.
struct Vol<'a> {
    item: &'a SegSlice,
    dims: [usize; 3],
}

impl Vol<'_> {
    /// The patch at `start`: image `[C, p]` and labels, C order.
    fn patch(&self, start: [usize; 3], p: [usize; 3]) -> (Vec<f32>, Vec<u8>) {
        let [_, h, w] = self.dims;
        let n = self.dims.iter().product::<usize>();
        let mut img = Vec::with_capacity(self.item.channels * p.iter().product::<usize>());
        let mut lab = Vec::with_capacity(p.iter().product());
        for c in 0..self.item.channels {
            for d in start[0]..start[0] + p[0] {
                for r in start[1]..start[1] + p[1] {
                    let at = c * n + (d * h + r) * w + start[2];
                    img.extend_from_slice(&self.item.image[at..at + p[2]]);
                    if c == 0 {
                        let at = (d * h + r) * w + start[2];
                        lab.extend_from_slice(&self.item.labels[at..at + p[2]]);
                    }
                }
            }
        }
        (img, lab)
    }

    /// A uniform start, or one centring the patch on a random voxel of a random foreground
    /// class present (uniform when there is none).
    fn start(&self, p: [usize; 3], foreground: bool, rng: &mut StdRng) -> [usize; 3] {
        let uniform =
            |rng: &mut StdRng| std::array::from_fn(|i| rng.random_range(0..=self.dims[i] - p[i]));
        if !foreground {
            return uniform(rng);
        }
        let mut present: Vec<u8> = self
            .item
            .labels
            .iter()
            .copied()
            .filter(|&l| l > 0)
            .collect();
        present.sort_unstable();
        present.dedup();
        if present.is_empty() {
            return uniform(rng);
        }
        let class = present[rng.random_range(0..present.len())];
        let voxels: Vec<usize> = (0..self.item.labels.len())
            .filter(|&i| self.item.labels[i] == class)
            .collect();
        let v = voxels[rng.random_range(0..voxels.len())];
        let [_, h, w] = self.dims;
        let at = [v / (h * w), (v / w) % h, v % w];
        std::array::from_fn(|i| at[i].saturating_sub(p[i] / 2).min(self.dims[i] - p[i]))
    }
}

/// Builds a [`UNet3d`] of `arch` from `seed` and trains it on patches of the volumes of
/// `train` (tall slices of depth `depth`), validating on the volumes of `val` predicted as they
/// will be deployed: through `window` (a sliding window), or whole.
///
/// # Errors
/// Invalid settings, volumes that do not match the model or the patch, a diverging loss.
#[allow(clippy::too_many_arguments)]
pub fn train_unet3d(
    arch: &UNet3dConfig,
    (train, val): (&SegDataset, &SegDataset),
    depth: usize,
    cfg: &TrainConfig,
    patch: &PatchSpec,
    window: Option<&SlidingWindow>,
    seed: u64,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<(UNet3d, TrainReport)> {
    cfg.validate()?;
    for (what, d) in [("training set", train), ("validation set", val)] {
        d.validate()
            .map_err(|e| TrainError::Data(format!("{what}: {e}")))?;
    }
    let first = &train.items[0];
    if depth == 0 || first.height % depth != 0 {
        return Err(TrainError::Data(format!(
            "volumes of {} rows are not of depth {depth}",
            first.height
        )));
    }
    let dims = [depth, first.height / depth, first.width];
    patch.validate(dims, arch.depth)?;
    let vols: Vec<Vol<'_>> = train.items.iter().map(|item| Vol { item, dims }).collect();
    let dev = autodiff_device();
    let (k, c, p) = (train.n_labels(), train.channels(), patch.size);
    let model = arch.init_seeded(seed, &dev)?;
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed);
    let b = cfg.batch_size;
    let random = (b as f64 * (1.0 - patch.foreground)).round() as usize;
    let mut step = |_: usize, model: UNet3d| {
        let (mut images, mut maps) = (Vec::new(), Vec::new());
        for i in 0..b {
            let v = &vols[rng.random_range(0..vols.len())];
            let start = v.start(p, i >= random, &mut rng);
            let (img, lab) = v.patch(start, p);
            images.extend(img);
            maps.push(lab);
        }
        let x = Tensor::<5>::from_data(TensorData::new(images, [b, c, p[0], p[1], p[2]]), &dev);
        let refs: Vec<&[u8]> = maps.iter().map(Vec::as_slice).collect();
        let t = one_hot(&refs, k, p[0] * p[1], p[2], &dev)?;
        let logits = model.logits(x).reshape([b, k, p[0] * p[1], p[2]]);
        let loss = (cross_entropy(logits.clone(), t.clone(), 1.0)
            + soft_dice_loss(logits, t) * cfg.dice_weight)
            .mean();
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok((optim.step(cfg.learning_rate, model, grads), value))
    };
    let steps = patch.steps_per_epoch;
    let mut validate = |s: usize, train_loss: f64, model: &UNet3d| {
        let (val_dice, val_dice_mean) = volume_dice(model, val, dims, window)?;
        let dice = val_dice_mean.map_or("-".into(), |d| format!("{d:.3}"));
        Ok(Validated {
            score: -val_dice_mean.unwrap_or(0.0),
            record: EpochStats {
                epoch: s / steps,
                train_loss,
                val_dice,
                val_dice_mean,
            },
            summary: format!("validation Dice {dice}"),
        })
    };
    let schedule = Schedule {
        steps: steps * cfg.epochs,
        validate_every: Some(steps),
        steps_per_unit: steps,
    };
    let trained = train_loop(model, schedule, &mut step, &mut validate, progress)?;
    Ok((
        trained.model,
        TrainReport {
            epochs: trained.validations,
            best_epoch: trained.best,
            seed,
            defence: Defence::None,
            teacher: None,
            adversarial_examples: 0,
            attack_gradients: 0,
        },
    ))
}

/// Mean Dice per foreground label of the predictions (through `window`, or whole volumes),
/// and their mean.
fn volume_dice(
    model: &UNet3d,
    data: &SegDataset,
    [d, h, w]: [usize; 3],
    window: Option<&SlidingWindow>,
) -> Result<(Vec<Option<f64>>, Option<f64>)> {
    let eval = model.valid();
    let dev = default_device();
    let k = data.n_labels();
    let mut pred = Vec::with_capacity(data.items.len());
    for item in &data.items {
        let x = Tensor::<1>::from_floats(item.image.as_slice(), &dev).reshape([
            1,
            item.channels,
            d,
            h,
            w,
        ]);
        let y = match window {
            Some(win) => win.plan([d, h, w]).forward(x, &|x| Ok(eval.logits(x)))?,
            None => eval.logits(x),
        };
        pred.extend(argmax_labels(y.reshape([1, k, d * h, w])));
    }
    let truth: Vec<&[u8]> = data.items.iter().map(|s| s.labels.as_slice()).collect();
    let scores = dice_scores(&pred, &truth, k)?;
    let per_label: Vec<Option<f64>> = (0..k - 1)
        .map(|l| mean_defined(&scores.iter().map(|s| s[l]).collect::<Vec<_>>()))
        .collect();
    let overall = mean_defined(&per_label);
    Ok((per_label, overall))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_volumes(n: usize, seed: u64) -> SegDataset {
        // 8³ volumes, one channel: a bright cube (label 1) at a random place.
        let mut rng = StdRng::seed_from_u64(seed);
        let items = (0..n)
            .map(|_| {
                let o: [usize; 3] = std::array::from_fn(|_| rng.random_range(0..5));
                let mut image = vec![0.1f32; 512];
                let mut labels = vec![0u8; 512];
                for i in 0..512 {
                    let (d, r, c) = (i / 64, (i / 8) % 8, i % 8);
                    if (o[0]..o[0] + 3).contains(&d)
                        && (o[1]..o[1] + 3).contains(&r)
                        && (o[2]..o[2] + 3).contains(&c)
                    {
                        image[i] = 0.9;
                        labels[i] = 1;
                    }
                }
                SegSlice {
                    image,
                    labels,
                    channels: 1,
                    height: 64,
                    width: 8,
                }
            })
            .collect();
        SegDataset {
            items,
            channel_names: vec!["x".into()],
            label_names: vec!["bg".into(), "cube".into()],
        }
    }

    #[test]
    fn foreground_patches_contain_foreground_and_patches_are_cut_in_place() {
        let ds = toy_volumes(1, 3);
        let v = Vol {
            item: &ds.items[0],
            dims: [8, 8, 8],
        };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            let s = v.start([4, 4, 4], true, &mut rng);
            let (img, lab) = v.patch(s, [4, 4, 4]);
            assert!(
                lab.contains(&1),
                "a foreground patch without foreground at {s:?}"
            );
            // The patch's first voxel is the volume's voxel at `start`.
            assert_eq!(img[0], ds.items[0].image[(s[0] * 8 + s[1]) * 8 + s[2]]);
        }
    }

    #[test]
    fn a_small_unet_learns_the_cube_from_patches() {
        let (train, val) = (toy_volumes(6, 1), toy_volumes(2, 2));
        let arch = UNet3dConfig::new(1, 2, 4, 1);
        let cfg = TrainConfig {
            epochs: 10,
            batch_size: 2,
            learning_rate: 1e-2,
            dice_weight: 1.0,
        };
        let patch = PatchSpec {
            size: [4, 4, 4],
            steps_per_epoch: 20,
            foreground: 0.5,
        };
        let (model, report) =
            train_unet3d(&arch, (&train, &val), 8, &cfg, &patch, None, 7, &mut |_| {}).unwrap();
        let (_, dice) = volume_dice(&model, &val, [8, 8, 8], None).unwrap();
        // Through a window of the patch's size, as deployed: as good.
        let win = SlidingWindow::new([4, 4, 4]);
        let (_, windowed) = volume_dice(&model, &val, [8, 8, 8], Some(&win)).unwrap();
        assert!(windowed.unwrap() > 0.8, "{windowed:?}");
        assert!(dice.unwrap() > 0.8, "{:?}", report.epochs);
        let bad = PatchSpec {
            size: [3, 4, 4],
            ..patch
        };
        let e = train_unet3d(&arch, (&train, &val), 8, &cfg, &bad, None, 7, &mut |_| {});
        assert!(e.unwrap_err().to_string().contains("patch.size"));
    }
}
