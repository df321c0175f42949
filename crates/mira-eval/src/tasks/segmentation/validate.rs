//! The checks of a segmentation experiment that serde cannot make: ranges, files that must
//! exist, checkpoints that must fit the data, attack parameters that must fit their kind.

use mira_train::Defence;

use crate::Result;
use crate::spec::{AttackScope, check_early_stop, inv};
use crate::tasks::segmentation::{AttackLoss, DataSource, GoalSpec, SegExperiment, SweepSpec};

impl SegExperiment {
    /// Checks every value that serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        crate::spec::check_name("name", &self.name)?;
        self.data
            .phantom
            .validate()
            .map_err(|e| inv("data.phantom", e.to_string()))?;
        match (&self.data.source, &self.data.folder) {
            (DataSource::Folder, Some(f)) => {
                f.validate()?;
                if !f.path.join(&f.images).is_dir() {
                    return Err(inv(
                        "data.folder.path",
                        format!("{} is not a folder", f.path.join(&f.images).display()),
                    ));
                }
            }
            (DataSource::Folder, None) => {
                return Err(inv(
                    "data.folder",
                    "source = \"folder\" needs a [data.folder] table",
                ));
            }
            (_, Some(_)) => {
                return Err(inv("data.folder", "only used with source = \"folder\""));
            }
            _ => {}
        }
        let (n_channels, n_classes) = self.data.counts();
        if matches!(
            self.data.source,
            DataSource::BrainMrMni | DataSource::BrainMrMni3d
        ) {
            crate::anatomy::check_mni_dir(&self.data.mni_dir())?;
        } else if self.data.anatomy_dir.is_some() {
            return Err(inv(
                "data.anatomy_dir",
                "only used with source = \"brain_mr_mni\" or \"brain_mr_mni_3d\"",
            ));
        }
        self.validate_volume_keys()?;
        if self.data.test == 0 || self.data.test > 100_000 {
            return Err(inv("data.test", "must be in 1..=100000"));
        }
        let needs_training = self
            .models
            .iter()
            .any(|m| m.checkpoint.is_none() && m.torch_weights.is_none() && m.onnx.is_none());
        if needs_training && (self.data.train == 0 || self.data.val == 0) {
            return Err(inv(
                "data.train",
                "models without a checkpoint need train >= 1 and val >= 1",
            ));
        }
        crate::spec::check_training(needs_training, || self.training.validate())?;
        let names: Vec<&str> = self.models.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("models", &names)?;
        for (i, m) in self.models.iter().enumerate() {
            let f = format!("models[{i}]");
            m.defence
                .validate()
                .map_err(|e| inv(format!("{f}.defence"), e.to_string()))?;
            if let Some(o) = &m.onnx {
                let others = m.checkpoint.is_some() || m.torch_weights.is_some();
                let arch = m.base_width.is_some()
                    || m.depth.is_some()
                    || m.residual.is_some()
                    || m.norm.is_some();
                if others || arch || m.defence != Defence::None {
                    return Err(inv(
                        format!("{f}.onnx"),
                        "an ONNX model is used as it is: no checkpoint, torch_weights, \
                         architecture keys or defence",
                    ));
                }
                if !o.is_file() {
                    return Err(inv(
                        format!("{f}.onnx"),
                        format!("{} not found", o.display()),
                    ));
                }
            }
            if m.output.is_some() && m.onnx.is_none() {
                return Err(inv(
                    format!("{f}.output"),
                    "applies to an `onnx` model only",
                ));
            }
            if self.volumetric() {
                self.validate_volume_model(&f, m, (n_channels, n_classes))?;
                continue;
            }
            if let Some(w) = &m.torch_weights {
                if m.checkpoint.is_some() || m.defence != Defence::None {
                    return Err(inv(
                        format!("{f}.torch_weights"),
                        "give either torch_weights or checkpoint, without a defence",
                    ));
                }
                if m.depth.unwrap_or(3) != 3 || m.residual == Some(true) {
                    return Err(inv(
                        format!("{f}.torch_weights"),
                        "PyTorch import maps the reference UNet2d: plain blocks, depth 3",
                    ));
                }
                if !w.is_file() {
                    return Err(inv(
                        format!("{f}.torch_weights"),
                        format!("{} not found", w.display()),
                    ));
                }
            }
            match &m.checkpoint {
                Some(c) => {
                    if m.defence != Defence::None {
                        return Err(inv(
                            format!("{f}.defence"),
                            "a checkpoint is already trained; defences apply to models trained here",
                        ));
                    }
                    if m.base_width.is_some() || m.depth.is_some() || m.residual.is_some() {
                        return Err(inv(
                            f.as_str(),
                            "give either `checkpoint` or architecture keys, not both",
                        ));
                    }
                    if mira_nn::read_unet3d_meta(c).is_ok() {
                        return Err(inv(
                            format!("{f}.checkpoint"),
                            "a 3D UNet on 2D slices: use volumes (source = \"brain_mr_mni_3d\") \
                             or attack volume files with `mira attack --model DIR --input DIR`",
                        ));
                    }
                    let meta = mira_nn::checkpoint::read_meta(c)
                        .map_err(|e| inv(format!("{f}.checkpoint"), e.to_string()))?;
                    let channels = n_channels;
                    if meta.unet.in_channels != channels {
                        return Err(inv(
                            format!("{f}.checkpoint"),
                            format!(
                                "model expects {} input channels, the data has {channels}",
                                meta.unet.in_channels
                            ),
                        ));
                    }
                    if meta.unet.classes != n_classes {
                        return Err(inv(
                            format!("{f}.checkpoint"),
                            format!(
                                "model has {} classes, the data {n_classes}",
                                meta.unet.classes
                            ),
                        ));
                    }
                }
                None => m
                    .unet(n_channels, n_classes)
                    .validate()
                    .map_err(|e| inv(f.as_str(), e.to_string()))?,
            }
            let depth = m.depth.unwrap_or(3);
            if let Some((h, w)) = self.data.side()
                && m.checkpoint.is_none()
                && !(h.is_multiple_of(1 << depth) && w.is_multiple_of(1 << depth))
            {
                return Err(inv(
                    format!("{f}.depth"),
                    format!("image size {h}x{w} is not divisible by 2^{depth}"),
                ));
            }
        }
        let names: Vec<&str> = self.attacks.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("attacks", &names)?;
        crate::spec::validate_corruptions(&self.corruptions, &names, self.hu_per_unit())?;
        for (i, a) in self.attacks.iter().enumerate() {
            let f = format!("attacks[{i}]");
            a.spec(&f)?;
            if let Some(t) = a.temperature
                && !(t.is_finite() && t > 0.0 && t <= 1000.0)
            {
                return Err(inv(
                    format!("{f}.temperature"),
                    format!("{t} must be in (0, 1000]"),
                ));
            }
            if a.scope == AttackScope::MinNorm {
                crate::spec::check_min_norm_reach(&f, &self.sweep.epsilons)?;
            }
            if let Some(every) = a.early_stop {
                check_early_stop(&f, a.spec(&f)?.as_ref(), every)?;
            }
            let losses = a.losses.clone().unwrap_or_else(|| vec![a.loss]);
            if a.temperature.is_some() && !losses.iter().any(|l| l.uses_temperature()) {
                return Err(inv(
                    format!("{f}.temperature"),
                    "applies to the cross-entropy losses (ce, segpgd, cospgd); margin and dice \
                     do not saturate with the softmax",
                ));
            }
            if let Some(ls) = &a.losses {
                if a.kind() != "auto" || a.scope != AttackScope::PerImage {
                    return Err(inv(
                        format!("{f}.losses"),
                        "belongs to a per-image `auto` entry (its worst-over-losses cascade); \
                         other attacks take one `loss`",
                    ));
                }
                if a.loss != AttackLoss::Ce {
                    return Err(inv(
                        format!("{f}.losses"),
                        "give `loss` or `losses`, not both",
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                if ls.is_empty() || !ls.iter().all(|l| seen.insert(*l)) {
                    return Err(inv(
                        format!("{f}.losses"),
                        "needs at least one loss, each at most once",
                    ));
                }
            }
            if let GoalSpec::Relabel { from, to } = a.goal
                && (from as usize >= n_classes || to as usize >= n_classes || from == to)
            {
                return Err(inv(
                    format!("{f}.goal"),
                    format!("relabel needs two different labels in 0..{n_classes}"),
                ));
            }
        }
        let c = &self.checks;
        if c.sample > 10_000 || !(c.tolerance.is_finite() && c.tolerance >= 0.0) {
            return Err(inv("checks", "sample must be <= 10000 and tolerance >= 0"));
        }
        if !(c.large_epsilon.is_finite() && c.large_epsilon > 0.0 && c.large_epsilon <= 1.0) {
            return Err(inv("checks.large_epsilon", "must be in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&c.collapse_dice) || !(1..=100_000).contains(&c.random_queries) {
            return Err(inv(
                "checks",
                "collapse_dice must be in [0, 1] and random_queries in 1..=100000",
            ));
        }
        self.sweep.validate()
    }
}

impl SweepSpec {
    /// Checks the budgets and the batch size.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        if self.epsilons.is_empty() {
            return Err(inv("sweep.epsilons", "at least one budget is needed"));
        }
        for (i, e) in self.epsilons.iter().enumerate() {
            if !e.is_finite() || *e < 0.0 {
                return Err(inv(
                    format!("sweep.epsilons[{i}]"),
                    format!("{e} must be finite and >= 0"),
                ));
            }
            if self.epsilons[..i].contains(e) {
                return Err(inv(
                    format!("sweep.epsilons[{i}]"),
                    format!("duplicate budget {e}"),
                ));
            }
        }
        if !(1..=1024).contains(&self.batch_size) {
            return Err(inv("sweep.batch_size", "must be in 1..=1024"));
        }
        for (name, v) in [
            ("break_dice", self.break_dice),
            ("break_match", self.break_match),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(inv(
                    format!("sweep.{name}"),
                    format!("{v} must be in (0, 1]"),
                ));
            }
        }
        if let Some(bins) = &self.size_bins
            && (bins.is_empty() || bins[0] == 0 || bins.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err(inv(
                "sweep.size_bins",
                "needs at least one edge, all > 0 and strictly increasing (pixels or voxels)",
            ));
        }
        Ok(())
    }
}
