//! The experiment file: what to train, what to attack, with which budgets.
//!
//! Unknown keys are rejected, every range is checked up front, and every error names the
//! field (`attacks[1].kind`, `sweep.epsilons[2]`, `models[0].checkpoint`).

use std::path::{Path, PathBuf};

use mira_attack::Norm;
use mira_data::BrainPhantomConfig;
use mira_nn::UNetConfig;
use mira_train::{Defence, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::spec::{attack_entry, parse_toml, relative_to};

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegExperiment {
    /// `segmentation`, or absent (segmentation files need no task tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<SegTaskTag>,
    /// Name, used for the default output folder.
    pub name: String,
    /// Master seed: data, weights, shuffling and random starts derive from it.
    #[serde(default)]
    pub seed: u64,
    /// The data.
    pub data: DataSpec,
    /// How models without a checkpoint are trained.
    #[serde(default)]
    pub training: TrainConfig,
    /// The models to attack.
    pub models: Vec<ModelEntry>,
    /// The attacks.
    pub attacks: Vec<AttackEntry>,
    /// Scanner artefacts and natural corruptions evaluated beside the attacks
    /// (`[[corruptions]]`: `kind`, `severities`; docs/corruptions.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// The budgets.
    pub sweep: SweepSpec,
    /// Evaluation sanity checks run at the end (docs/checks.md).
    #[serde(default)]
    pub checks: crate::checks::ChecksConfig,
    /// Volumes (`brain_mr_mni_3d`): every network predicts each volume through a sliding
    /// window of this size `[D, H, W]` (MONAI's `sliding_window_inference`); absent: whole
    /// volumes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<[usize; 3]>,
    /// With `roi`: the windows' overlap in [0, 1) (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<f32>,
    /// With `roi`: `"gaussian"` (σ = roi / 8, default) or `"constant"` blending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<mira_nn::Blend>,
    /// With `roi`: what attacks differentiate, `"blended"` (default), `"tiles"` (the published
    /// protocol) or `"both"` (each attack twice; the tile cells are named `<attack>-tiles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_attack: Option<crate::tasks::segmentation::WindowAttack>,
    /// Volumes: how 3D UNets trained here draw their training patches (default: patches of
    /// the `roi`, else whole volumes; 50 steps per epoch; a third on foreground).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<mira_train::PatchSpec>,
}

/// The task tag of segmentation experiments (optional in files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegTaskTag {
    /// Segmentation of 2D slices.
    Segmentation,
}

/// Where the cases come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Data source; `brain_mr_phantom` is the S1 phantom, `brain_mr_mni` the same tumour model
    /// drawn into axial slices of the MNI152 template, `brain_mr_mni_3d` into volumes of it
    /// (`phantom.size`³ voxels each, segmented by 3D networks).
    pub source: DataSource,
    /// `brain_mr_mni`, `brain_mr_mni_3d`: folder of the MNI ICBM152 2009a files (relative paths are relative to
    /// the experiment file). Default: `mni_icbm152_2009a_sym` in the shared data folder
    /// (`$MIRA_SHARED_DATA`, or `../shared/data` found upwards from the working directory).
    #[serde(default)]
    pub anatomy_dir: Option<std::path::PathBuf>,
    /// Training slices (for models that are trained).
    #[serde(default = "default_train")]
    pub train: usize,
    /// Validation slices.
    #[serde(default = "default_val")]
    pub val: usize,
    /// Test slices that are attacked.
    pub test: usize,
    /// Phantom settings.
    #[serde(default)]
    pub phantom: BrainPhantomConfig,
    /// `folder`: the dataset folder and how to read it.
    #[serde(default)]
    pub folder: Option<crate::FolderSpec>,
}

impl DataSpec {
    /// The MNI152 folder for `brain_mr_mni`.
    pub fn mni_dir(&self) -> std::path::PathBuf {
        self.anatomy_dir.clone().unwrap_or_else(|| {
            mira_io::shared_data_dir()
                .map(|d| d.join("mni_icbm152_2009a_sym"))
                .unwrap_or_else(|| crate::anatomy::DEFAULT_MNI_DIR.into())
        })
    }

    /// Input channels and classes of the data: the brain phantoms' 4 and 4, or a folder's.
    pub fn counts(&self) -> (usize, usize) {
        match (&self.source, &self.folder) {
            (DataSource::Folder, Some(f)) => (f.channels.len(), f.label_names.len()),
            _ => (
                mira_data::BRAIN_MR_CHANNELS.len(),
                mira_data::BRAIN_TUMOUR_LABELS.len(),
            ),
        }
    }

    /// The slice side the models see, when known before reading files.
    pub fn side(&self) -> Option<(usize, usize)> {
        match (&self.source, &self.folder) {
            (DataSource::Folder, Some(f)) => f.size.map(|[h, w]| (h, w)),
            _ => Some((self.phantom.size, self.phantom.size)),
        }
    }
}

fn default_train() -> usize {
    128
}

fn default_val() -> usize {
    16
}

/// Data sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// Seeded 4-channel brain MR tumour phantom.
    BrainMrPhantom,
    /// The same phantom tumours on real anatomy: slices of the MNI152 T1 and tissue labels.
    BrainMrMni,
    /// The tumours drawn in 3D into volumes of the MNI152 anatomy.
    #[serde(rename = "brain_mr_mni_3d")]
    BrainMrMni3d,
    /// A user's folder of image/label pairs (`[data.folder]`).
    Folder,
}

/// One model: a checkpoint to load, or an architecture to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Name in records and tables.
    pub name: String,
    /// A checkpoint folder written by `mira train`; when set, the architecture keys must be
    /// absent and nothing is trained.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// Width of the first level.
    #[serde(default)]
    pub base_width: Option<usize>,
    /// Number of down-samplings.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Residual blocks.
    #[serde(default)]
    pub residual: Option<bool>,
    /// 3D UNets: `"instance"` (default, nnU-Net's) or `"batch"` norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<mira_nn::NormKind>,
    /// Training-time defence (`kind = "none" | "distillation" | "adversarial"`).
    #[serde(default)]
    pub defence: Defence,
    /// PyTorch weights (safetensors, names of the reference UNet2d; `scripts/export_weights.py`)
    /// for the architecture given by `base_width` (plain, depth 3). Nothing is trained.
    #[serde(default)]
    pub torch_weights: Option<PathBuf>,
    /// An ONNX segmentation model (`[B, C, H, W]` in, logits `[B, K, H, W]` out, C and K
    /// declared; docs/models.md). Nothing is trained; no architecture keys or defence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
    /// With `onnx`: what the model outputs, `"logits"`, `"probabilities"` (their log is
    /// attacked) or `"auto"` (probabilities when the graph ends in a Softmax over the classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<crate::tasks::segmentation::OutputKind>,
}

impl ModelEntry {
    /// The comparison group: models of one architecture (trained here) are compared with
    /// each other; checkpoints form one group.
    pub fn group(&self) -> String {
        if self.checkpoint.is_some() || self.onnx.is_some() {
            return "checkpoints".into();
        }
        let d = UNetConfig::new();
        format!(
            "{}unet-w{}-d{}",
            if self.residual.unwrap_or(d.residual) {
                "res-"
            } else {
                ""
            },
            self.base_width.unwrap_or(d.base_width),
            self.depth.unwrap_or(d.depth)
        )
    }

    /// The architecture to train, for entries without a checkpoint.
    pub fn unet(&self, in_channels: usize, classes: usize) -> UNetConfig {
        let d = UNetConfig::new();
        UNetConfig::new()
            .with_in_channels(in_channels)
            .with_classes(classes)
            .with_base_width(self.base_width.unwrap_or(d.base_width))
            .with_depth(self.depth.unwrap_or(d.depth))
            .with_residual(self.residual.unwrap_or(d.residual))
    }
}

/// What a segmentation adversary wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GoalSpec {
    /// Away from the ground truth.
    #[default]
    Untargeted,
    /// Towards the ground truth with every tumour label set to background.
    RemoveTumour,
    /// Towards the ground truth with label `from` replaced by `to`.
    Relabel {
        /// Label to replace.
        from: u8,
        /// Label to put instead.
        to: u8,
    },
}

impl GoalSpec {
    /// Short text for records.
    pub fn describe(&self) -> String {
        match self {
            GoalSpec::Untargeted => "untargeted".into(),
            GoalSpec::RemoveTumour => "remove_tumour".into(),
            GoalSpec::Relabel { from, to } => format!("relabel {from}->{to}"),
        }
    }

    /// The target label map for a truth map (`None` for untargeted goals).
    pub fn target(&self, truth: &[u8]) -> Option<Vec<u8>> {
        match *self {
            GoalSpec::Untargeted => None,
            GoalSpec::RemoveTumour => Some(vec![0; truth.len()]),
            GoalSpec::Relabel { from, to } => Some(
                truth
                    .iter()
                    .map(|&l| if l == from { to } else { l })
                    .collect(),
            ),
        }
    }
}

attack_entry! {
    /// One attack entry.
    pub struct AttackEntry(scope: AttackScope, default "apgd") {
        /// The adversary's goal.
        #[serde(default)]
        pub goal: GoalSpec,
        /// The attack loss uses logits divided by this temperature (default 1). Set it to a
        /// distilled model's training temperature to undo softmax saturation.
        #[serde(default)]
        pub temperature: Option<f32>,
        /// The loss the attack maximises: `ce` (pixel-wise cross-entropy, default), `margin`
        /// (per-pixel `max_{j≠y} z_j − z_y`, which does not saturate with the softmax),
        /// `segpgd` (SegPGD's scheduled weighting of right and wrong pixels), `cospgd`
        /// (CosPGD's cosine weighting) or `dice` (soft Dice over the foreground).
        #[serde(default)]
        pub loss: AttackLoss,
        /// `auto` only: the losses of a worst-over-losses cascade (SEA-style): APGD once per
        /// loss on every case, then the Square Attack on the cases still unbroken; each case
        /// keeps its most damaging input by the sweep's break rule. Instead of `loss`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub losses: Option<Vec<AttackLoss>>,
        /// Early stopping (FGSM, i-FGSM, PGD with one restart): every this many steps (and
        /// at the starting point) the cases already broken by the sweep's rule (`break_dice`,
        /// `break_match`) stop and leave the batch. Saves the steps of cases that break early;
        /// their damage is then measured where they broke, not at the full attack's end, so
        /// read broken shares, not mean Dice (the `early-stop` check says so in the summary).
        #[serde(default)]
        pub early_stop: Option<usize>,
    }
}

/// The loss of a segmentation attack (`ce`, `margin`, `segpgd`, `cospgd`, `dice`; see
/// [`mira_attack::SegLoss`]).
pub use mira_attack::SegLoss as AttackLoss;

/// The budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Norm of the budget.
    #[serde(default = "default_norm")]
    pub norm: Norm,
    /// Budgets in model-input units (`[0, 1]` intensities).
    pub epsilons: Vec<f32>,
    /// Cases per attack batch.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// A case counts as broken when its attacked mean foreground Dice falls below this
    /// (untargeted goals): the min-norm criterion, and the cases `auto` stops attacking.
    #[serde(default = "default_break_dice")]
    pub break_dice: f64,
    /// Targeted goals: a case counts as broken when at least this share of the pixels the goal
    /// changes is predicted as the target.
    #[serde(default = "default_break_match")]
    pub break_match: f64,
    /// Per-structure results: each record lists every connected component of the truth per
    /// label with its size and its lesion-wise Dice clean and attacked, and the summary bins
    /// them by size at these edges, in pixels (voxels for volumes): `[50, 500]` gives
    /// small (< 50), medium (50–499) and large (≥ 500). Absent: not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bins: Option<Vec<usize>>,
}

fn default_break_dice() -> f64 {
    0.5
}

fn default_break_match() -> f64 {
    0.5
}

fn default_norm() -> Norm {
    Norm::Linf
}

fn default_batch() -> usize {
    8
}

impl SegExperiment {
    /// Relative paths of the file (folder, checkpoints, PyTorch weights, anatomy) are relative
    /// to its folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let Some(f) = &mut self.data.folder {
            relative_to(base, &mut f.path);
        }
        for m in &mut self.models {
            for p in [&mut m.checkpoint, &mut m.torch_weights, &mut m.onnx]
                .into_iter()
                .flatten()
            {
                relative_to(base, p);
            }
        }
        if let Some(d) = &mut self.data.anatomy_dir {
            relative_to(base, d);
        }
    }

    /// Parses TOML text (not yet validated). `file` names the source in messages.
    ///
    /// # Errors
    /// [`EvalError::Parse`] with the path of the offending field and its line.
    pub fn from_toml(text: &str, file: &str) -> Result<Self> {
        parse_toml(text, file)
    }
}
