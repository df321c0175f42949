//! The experiment of the files task: the model, the input folder, how its files become model
//! units, the attack and its budgets. `mira attack --input` builds one from its flags; an
//! experiment file says `task = "files"`.

use std::path::{Path, PathBuf};

use mira_attack::Norm;
use serde::{Deserialize, Serialize};

use crate::checks::ChecksConfig;
use crate::spec::AttackScope;
use crate::tasks::segmentation::folder::Normalise;
use crate::tasks::segmentation::{AttackEntry, AttackLoss, GoalSpec};
use crate::{EvalError, Result};

/// A files experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesExperiment {
    /// `"files"`.
    #[serde(default)]
    pub task: Option<String>,
    /// Name (default output folder `runs/NAME`).
    pub name: String,
    /// Seed of the attacks' random starts (each case has its own stream).
    #[serde(default)]
    pub seed: u64,
    /// The segmentation model: a UNet checkpoint folder (`mira train`, `mira run`) or an `.onnx`
    /// file with input `[B, C, H, W]` and logits `[B, K, H, W]` (attacked slice by slice), or
    /// `[B, C, D, H, W]` and `[B, K, D, H, W]` (attacked a whole volume at a time).
    pub model: PathBuf,
    /// The folder of image files: NIfTI, DICOM files or series folders, PNG/JPEG.
    pub input: PathBuf,
    /// Label maps with the same file stems (Dice against them; without, against the model's
    /// clean prediction).
    #[serde(default)]
    pub labels: Option<PathBuf>,
    /// Channel names; a case's channel `c` is `<case>_<c>.<ext>`, or one file holds every
    /// channel (default: the checkpoint's channels).
    #[serde(default)]
    pub channels: Vec<String>,
    /// The value of each class in the label files (default `0, 1, …`).
    #[serde(default)]
    pub label_values: Vec<i64>,
    /// Normalisation of each case and channel to `[0, 1]` model units: it must be the one the
    /// model was trained with.
    #[serde(default)]
    pub normalise: Normalise,
    /// A 2D model attacks volumes slice by slice across this axis (0, 1 or 2).
    #[serde(default = "default_axis")]
    pub slice_axis: usize,
    /// A 3D model gets volumes as `[z, y, x]` (`zyx`, the file's order, SimpleITK's and
    /// nnU-Net's) or `[x, y, z]` (`xyz`, nibabel's and MONAI's).
    #[serde(default)]
    pub axes: crate::tasks::segmentation::folder::VolumeAxes,
    /// What an ONNX model outputs: `"auto"` (probabilities when the graph ends in a Softmax
    /// over the classes), `"logits"` or `"probabilities"` (their log is attacked).
    #[serde(default)]
    pub output: crate::tasks::segmentation::OutputKind,
    /// A 3D model predicts each volume through a sliding window of this size (`[D, H, W]` in
    /// the model's axis order), MONAI's `sliding_window_inference`; absent: the whole volume
    /// at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<[usize; 3]>,
    /// With `roi`: the windows' overlap in [0, 1).
    #[serde(default = "default_overlap")]
    pub overlap: f32,
    /// With `roi`: `"gaussian"` (σ = roi / 8) or `"constant"` blending.
    #[serde(default)]
    pub blend: mira_nn::Blend,
    /// With `roi`: what the attack differentiates, `"blended"` (the prediction as deployed)
    /// or `"tiles"` (each non-overlapping tile on its own, the published protocol); both are
    /// evaluated with the blended prediction.
    #[serde(default)]
    pub window_attack: crate::tasks::segmentation::WindowAttack,
    /// The attack: a per-image, untargeted cross-entropy entry (`[attack]`).
    pub attack: AttackEntry,
    /// Norm of the budgets.
    #[serde(default = "default_norm")]
    pub norm: Norm,
    /// Budgets in `[0, 1]` model units; each is written to `eps_<ε>/` (ε in model units).
    /// Or, instead, `epsilons_hu` or `epsilons_percent`.
    #[serde(default)]
    pub epsilons: Vec<f32>,
    /// Budgets in HU, for a CT window (`normalise = ct_window`): ε = HU / window width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilons_hu: Option<Vec<f32>>,
    /// Budgets as a percentage of each case's and channel's normalisation range: ε = % / 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilons_percent: Option<Vec<f32>>,
    /// Scanner artefacts and natural corruptions (`[[corruptions]]`; docs/corruptions.md):
    /// each case corrupted in file units before the normalisation, written to
    /// `corrupt_<name>_s<severity>/` and scored as the attacks are (random draws; the worst case
    /// within a family runs in the experiment tasks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// Slices per forward pass.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// The sanity checks (`[checks]`, as for segmentation; the probes use the first case).
    #[serde(default)]
    pub checks: ChecksConfig,
}

fn default_axis() -> usize {
    2
}

fn default_overlap() -> f32 {
    0.5
}

fn default_norm() -> Norm {
    Norm::Linf
}

fn default_batch() -> usize {
    8
}

/// The channel, class and label-value names of a run: the file's, else the checkpoint's.
pub(crate) struct ModelNames {
    pub channels: Vec<String>,
    pub label_names: Vec<String>,
    pub label_values: Vec<i64>,
}

/// The names of a run, checked against the model (channel and class counts).
///
/// # Errors
/// A channel list or label-value list whose length is not the model's.
pub(crate) fn model_names(
    exp: &FilesExperiment,
    meta: &crate::tasks::segmentation::SegNetInfo,
) -> Result<ModelNames> {
    let (inputs, classes) = (meta.in_channels, meta.classes);
    let channels = match (exp.channels.is_empty(), meta.channel_names.is_empty()) {
        (false, _) => exp.channels.clone(),
        (true, false) => meta.channel_names.clone(),
        (true, true) if inputs == 1 => vec!["image".into()],
        (true, true) => {
            return Err(EvalError::invalid(
                "channels",
                format!("the model takes {inputs} channels: name them (`--channels a,b,...`)"),
            ));
        }
    };
    if channels.len() != inputs {
        return Err(EvalError::invalid(
            "channels",
            format!(
                "{} channel(s) named; the model takes {inputs}",
                channels.len()
            ),
        ));
    }
    let label_values = if exp.label_values.is_empty() {
        (0..classes as i64).collect()
    } else {
        exp.label_values.clone()
    };
    if label_values.len() != classes {
        return Err(EvalError::invalid(
            "label_values",
            format!(
                "{} values; the model has {classes} classes",
                label_values.len()
            ),
        ));
    }
    let label_names = if meta.label_names.len() == classes {
        meta.label_names.clone()
    } else {
        (0..classes).map(|c| format!("class{c}")).collect()
    };
    Ok(ModelNames {
        channels,
        label_names,
        label_values,
    })
}

impl FilesExperiment {
    /// The model's name in records: its checkpoint folder's name, or the ONNX file's stem.
    pub fn model_name(&self) -> &str {
        let onnx = mira_onnx::is_onnx_path(&self.model);
        if onnx {
            self.model.file_stem()
        } else {
            self.model.file_name()
        }
        .and_then(|n| n.to_str())
        .unwrap_or("model")
    }

    /// The sliding window of `roi`, `overlap` and `blend`, if any.
    pub fn windowing(&self) -> Option<crate::tasks::segmentation::Windowing> {
        let roi = self.roi?;
        Some(crate::tasks::segmentation::Windowing {
            window: mira_nn::SlidingWindow {
                overlap: self.overlap,
                blend: self.blend,
                ..mira_nn::SlidingWindow::new(roi)
            },
            attack: self.window_attack,
        })
    }

    /// The CT window's width (HU per model unit) under `normalise = ct_window`.
    pub fn hu_per_unit(&self) -> Option<f32> {
        match self.normalise {
            Normalise::CtWindow { width, .. } => Some(width),
            _ => None,
        }
    }

    /// Relative paths of the file are relative to its folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let paths = [&mut self.model, &mut self.input];
        crate::spec::relative_all(base, paths.into_iter().chain(self.labels.as_mut()));
    }

    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        crate::spec::check_name("name", &self.name)?;
        if self.task.as_deref().is_some_and(|t| t != "files") {
            return Err(EvalError::invalid("task", "must be \"files\""));
        }
        if self.slice_axis > 2 {
            return Err(EvalError::invalid("slice_axis", "must be 0, 1 or 2"));
        }
        if let Some(w) = self.windowing() {
            w.window
                .validate()
                .map_err(|e| EvalError::invalid("roi", e.to_string()))?;
        } else if self.window_attack != crate::tasks::segmentation::WindowAttack::Blended {
            return Err(EvalError::invalid(
                "window_attack",
                "needs a sliding window (`roi`)",
            ));
        }
        if !(1..=4096).contains(&self.batch_size) {
            return Err(EvalError::invalid("batch_size", "must be in 1..=4096"));
        }
        self.normalise.validate("normalise")?;
        let a = &self.attack;
        crate::spec::check_name("attack.name", &a.name)?;
        if a.scope != AttackScope::PerImage
            || a.goal != GoalSpec::Untargeted
            || a.temperature.is_some()
            || a.early_stop.is_some()
        {
            return Err(EvalError::invalid(
                "attack",
                "files take a per-image, untargeted attack (no goal, temperature, early_stop \
                 or min-norm scope)",
            ));
        }
        if let Some(ls) = &a.losses {
            let mut seen = std::collections::HashSet::new();
            if a.kind() != "auto" || a.loss != AttackLoss::Ce || ls.is_empty() {
                return Err(EvalError::invalid(
                    "attack.losses",
                    "several losses belong to `auto` (its worst-over-losses cascade)",
                ));
            }
            if !ls.iter().all(|l| seen.insert(*l)) {
                return Err(EvalError::invalid(
                    "attack.losses",
                    "each loss at most once",
                ));
            }
        }
        a.spec("attack")?;
        use crate::tasks::segmentation::WindowAttack;
        let names = [WindowAttack::Blended, WindowAttack::Tiles]
            .map(|m| crate::tasks::files::attack_name(self, m));
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        crate::spec::validate_corruptions(&self.corruptions, &names, self.hu_per_unit())?;
        if let Some(i) = self.corruptions.iter().position(|c| c.worst) {
            return Err(EvalError::invalid(
                format!("corruptions[{i}].worst"),
                "files take random draws, corrupted in file units; the worst case within a \
                 family is searched in the experiment tasks (segmentation on a folder)",
            ));
        }
        let field = self.budget_field();
        let eps: Vec<f32> = self.budgets()?.iter().map(|b| b.model).collect();
        if eps.is_empty() || eps.iter().any(|e| !(e.is_finite() && *e >= 0.0)) {
            return Err(EvalError::invalid(
                field,
                "need at least one finite budget >= 0",
            ));
        }
        if eps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(EvalError::invalid(field, "must be strictly increasing"));
        }
        if eps.iter().any(|&e| e > 1.0) {
            return Err(EvalError::invalid(
                field,
                "a budget above the whole normalisation range (1 model unit) changes nothing \
                 more: check the unit",
            ));
        }
        Ok(())
    }
}
