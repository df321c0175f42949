//! Volumetric segmentation experiments (`source = "brain_mr_mni_3d"`): the tumour phantom drawn
//! in 3D into the MNI152 anatomy, 3D UNets trained here on patches (or 3D checkpoints and ONNX
//! graphs), every volume predicted whole or through a sliding window, attacked through the
//! blended prediction, the tiles, or both.
//!
//! A volume travels through the slice pipeline as one tall slice `[C, D·H, W]` (see
//! `seg_net.rs`); this file holds what only volumes need: the window keys, the patch spec, the
//! 3D model checks, and training.

use std::path::Path;

use mira_data::SegDataset;
use mira_nn::{SlidingWindow, UNet3dConfig, UNet3dMeta};
use mira_train::{PatchSpec, TrainConfig};

use crate::Result;
use crate::spec::inv;
use crate::tasks::segmentation::{
    DataSource, ModelEntry, SegExperiment, SegNet, WindowAttack, Windowing,
};

impl SegExperiment {
    /// Whether the cases are volumes.
    pub fn volumetric(&self) -> bool {
        self.data.source == DataSource::BrainMrMni3d
    }

    /// `[D, H, W]` of every volume, for volumetric data.
    pub fn volume_dims(&self) -> Option<[usize; 3]> {
        self.volumetric().then_some([self.data.phantom.size; 3])
    }

    /// The CT window's width (HU per model unit) of folder data normalised with one.
    pub fn hu_per_unit(&self) -> Option<f32> {
        match self.data.folder.as_ref()?.normalise {
            crate::tasks::segmentation::folder::Normalise::CtWindow { width, .. } => Some(width),
            _ => None,
        }
    }

    /// The sliding window of `roi`, `overlap`, `blend` and `window_attack`, if any.
    pub fn windowing(&self) -> Option<Windowing> {
        let roi = self.roi?;
        Some(Windowing {
            window: SlidingWindow {
                overlap: self.overlap.unwrap_or(0.5),
                blend: self.blend.unwrap_or_default(),
                ..SlidingWindow::new(roi)
            },
            attack: self.window_attack.unwrap_or_default(),
        })
    }

    /// What each attack entry's cells differentiate: one mode, or blended and tiles for
    /// `window_attack = "both"`.
    pub fn window_modes(&self) -> Vec<WindowAttack> {
        self.windowing()
            .map_or(vec![WindowAttack::Blended], |w| w.attack.modes())
    }

    /// How 3D UNets trained here draw patches.
    pub fn patch_spec(&self) -> PatchSpec {
        self.patch.clone().unwrap_or(PatchSpec {
            size: self.roi.unwrap_or([self.data.phantom.size; 3]),
            steps_per_epoch: 50,
            foreground: 0.33,
        })
    }

    /// The 3D UNet an entry without a checkpoint trains.
    pub fn unet3d(&self, m: &ModelEntry, in_channels: usize, classes: usize) -> UNet3dConfig {
        UNet3dConfig {
            residual: m.residual.unwrap_or(false),
            norm: m.norm.unwrap_or_default(),
            ..UNet3dConfig::new(
                in_channels,
                classes,
                m.base_width.unwrap_or(8),
                m.depth.unwrap_or(3),
            )
        }
    }

    /// The checks of the volume keys (window, patch; `norm` of models) against the data.
    pub(crate) fn validate_volume_keys(&self) -> Result<()> {
        if !self.volumetric() {
            let set = [
                ("roi", self.roi.is_some()),
                ("overlap", self.overlap.is_some()),
                ("blend", self.blend.is_some()),
                ("window_attack", self.window_attack.is_some()),
                ("patch", self.patch.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
                return Err(inv(
                    *key,
                    "applies to volumes (source = \"brain_mr_mni_3d\")",
                ));
            }
            if let Some(i) = self.models.iter().position(|m| m.norm.is_some()) {
                return Err(inv(format!("models[{i}].norm"), "applies to 3D UNets"));
            }
            return Ok(());
        }
        let dims = self.volume_dims().unwrap_or_default();
        if let Some(roi) = self.roi
            && roi.iter().any(|&r| r == 0 || r > 512)
        {
            return Err(inv("roi", format!("{roi:?}: sides must be in 1..=512")));
        }
        if self.roi.is_none() {
            for (key, set) in [
                ("overlap", self.overlap.is_some()),
                ("blend", self.blend.is_some()),
                ("window_attack", self.window_attack.is_some()),
            ] {
                if set {
                    return Err(inv(key, "applies with a sliding window (`roi`)"));
                }
            }
        }
        if let Some(o) = self.overlap
            && !(o.is_finite() && (0.0..1.0).contains(&o))
        {
            return Err(inv("overlap", format!("{o} must be in [0, 1)")));
        }
        let trained = self
            .models
            .iter()
            .filter(|m| m.checkpoint.is_none() && m.onnx.is_none())
            .map(|m| m.depth.unwrap_or(3))
            .max();
        if let Some(depth) = trained {
            self.patch_spec()
                .validate(dims, depth)
                .map_err(|e| inv("patch", e.to_string()))?;
        }
        Ok(())
    }

    /// The checks of a model entry on volumes (`f` names it): no defence or PyTorch import, a
    /// 3D checkpoint that fits the data, a window (or volume) the UNet can halve.
    pub(crate) fn validate_volume_model(
        &self,
        f: &str,
        m: &ModelEntry,
        (channels, classes): (usize, usize),
    ) -> Result<()> {
        if m.defence != mira_train::Defence::None {
            return Err(inv(
                format!("{f}.defence"),
                "defences train 2D UNets; 3D UNets are trained plain",
            ));
        }
        if m.torch_weights.is_some() {
            return Err(inv(
                format!("{f}.torch_weights"),
                "PyTorch import maps the 2D reference UNet; export a 3D model to ONNX",
            ));
        }
        let (depth, counts) = match &m.checkpoint {
            Some(c) => {
                if m.base_width.is_some() || m.depth.is_some() || m.residual.is_some() {
                    return Err(inv(f, "give either `checkpoint` or architecture keys"));
                }
                let meta: UNet3dMeta = mira_nn::read_unet3d_meta(c)
                    .map_err(|e| inv(format!("{f}.checkpoint"), e.to_string()))?;
                (meta.unet.depth, (meta.unet.in_channels, meta.unet.classes))
            }
            None if m.onnx.is_some() => return Ok(()),
            None => {
                let cfg = self.unet3d(m, channels, classes);
                cfg.validate().map_err(|e| inv(f, e.to_string()))?;
                (cfg.depth, (channels, classes))
            }
        };
        if counts != (channels, classes) {
            return Err(inv(
                format!("{f}.checkpoint"),
                format!(
                    "the model maps {} channels to {} classes; the data has {channels} and \
                     {classes}",
                    counts.0, counts.1
                ),
            ));
        }
        let sides = self.roi.or(self.volume_dims()).unwrap_or_default();
        if sides.iter().any(|s| s % (1 << depth) != 0) {
            return Err(inv(
                format!("{f}.depth"),
                format!(
                    "{} of {sides:?} cannot be halved {depth} times",
                    if self.roi.is_some() {
                        "windows"
                    } else {
                        "volumes"
                    }
                ),
            ));
        }
        Ok(())
    }
}

/// What [`train_and_save_unet3d`] trains.
pub(crate) struct Unet3dTraining<'a> {
    pub arch: UNet3dConfig,
    pub cfg: &'a TrainConfig,
    pub patch: PatchSpec,
    /// The sliding window validation predicts through (as the run will).
    pub window: Option<SlidingWindow>,
    pub depth: usize,
    pub seed: u64,
}

/// Trains a 3D UNet on patches, saves it as a checkpoint under `dir` with its training history
/// and returns it as a segmentation network.
///
/// # Errors
/// Training or saving fails.
pub(crate) fn train_and_save_unet3d(
    t: &Unet3dTraining<'_>,
    (train, val): (&SegDataset, &SegDataset),
    dir: &Path,
    events: &mut dyn FnMut(mira_train::TrainEvent),
) -> Result<SegNet> {
    let (model, report) = mira_train::train_unet3d(
        &t.arch,
        (train, val),
        t.depth,
        t.cfg,
        &t.patch,
        t.window.as_ref(),
        t.seed,
        events,
    )?;
    let meta = UNet3dMeta {
        format: mira_nn::UNET3D_FORMAT.into(),
        unet: t.arch.clone(),
        channel_names: train.channel_names.clone(),
        label_names: train.label_names.clone(),
        training: serde_json::json!({
            "config": t.cfg,
            "patch": t.patch,
            "validation_window": t.window.as_ref().map(|w| (w.roi, w.overlap)),
            "report": report,
        }),
    };
    mira_nn::save_unet3d(dir, &model, &meta)?;
    Ok(SegNet::unet3d(model, t.arch.classes))
}

impl crate::run::SavedModel for SegNet {
    fn load(dir: &Path) -> Result<Self> {
        Ok(SegNet::load(dir)?.0)
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use burn::tensor::activation::log_softmax;
    use mira_nn::{
        Forward, NormKind, UNet3dConfig, autodiff_device, default_device, tensor_to_vec,
    };

    use super::*;

    /// The built-in 3D UNet attacked through its sliding window: the loss and input gradient
    /// of the two-pass computation (`Forward::attack_value_and_grad`) equal direct autodiff
    /// through the blended output (every window's graph kept) on a volume small enough for
    /// the latter, within 1e-5 of the gradient's range.
    #[test]
    fn the_windowed_3d_unet_gradient_equals_direct_autodiff_through_the_blend() {
        let cfg = UNet3dConfig {
            residual: true,
            norm: NormKind::Instance,
            ..UNet3dConfig::new(2, 3, 2, 1)
        };
        let unet = cfg.init_seeded(9, &default_device()).unwrap();
        let window = SlidingWindow {
            overlap: 0.5,
            ..SlidingWindow::new([4, 4, 4])
        };
        let (d, h, w) = (6, 8, 6);
        let net = SegNet::unet3d(unet.clone(), 3)
            .for_depth(d)
            .with_window(Some(Windowing {
                window: window.clone(),
                attack: WindowAttack::Blended,
            }));
        let n = 2 * d * h * w;
        let xs: Vec<f32> = (0..n).map(|i| ((i * 29 % 97) as f32) / 97.0).collect();
        let labels: Vec<i64> = (0..d * h * w).map(|i| (i % 3) as i64).collect();
        let loss = |y: Tensor<4>| {
            let dev = y.device();
            let t = Tensor::<1, Int>::from_ints(labels.as_slice(), &dev).reshape([1, 1, d * h, w]);
            -log_softmax(y, 1)
                .gather(1, t)
                .reshape([1, d * h * w])
                .mean_dim(1)
                .reshape([1])
        };
        let x =
            Tensor::<1>::from_floats(xs.as_slice(), &default_device()).reshape([1, 2, d * h, w]);
        let (v, g) = net
            .attack_value_and_grad(x, &loss)
            .expect("a windowed network");
        let (v, g) = (tensor_to_vec(v), tensor_to_vec(g));

        let ad = autodiff_device();
        let xa = Tensor::<1>::from_floats(xs.as_slice(), &ad)
            .reshape([1, 2, d, h, w])
            .require_grad();
        let y = window
            .plan([d, h, w])
            .blend(xa.clone(), &|x| Ok(unet.logits(x)))
            .unwrap();
        let direct_v = loss(y.reshape([1, 3, d * h, w]));
        let direct_g = tensor_to_vec(xa.grad(&direct_v.clone().backward()).unwrap());
        assert!((v[0] - tensor_to_vec(direct_v)[0]).abs() < 1e-5);
        let range = direct_g.iter().fold(0f32, |m, x| m.max(x.abs()));
        let e = g
            .iter()
            .zip(&direct_g)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / range;
        assert!(
            e < 1e-5,
            "two-pass gradient differs by {e:.1e} of its range"
        );
    }
}
