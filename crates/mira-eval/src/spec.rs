//! The experiment file: what to train, what to attack, with which budgets.
//!
//! Unknown keys are rejected, every range is checked up front, and every error names the
//! field (`attacks[1].kind`, `sweep.epsilons[2]`, `models[0].checkpoint`).

use std::path::{Path, PathBuf};

use mira_attack::{
    ApgdConfig, AttackSpec, IfgsmConfig, MiFgsmConfig, Norm, PgdConfig, SquareConfig,
};
use mira_data::BrainPhantomConfig;
use mira_nn::UNetConfig;
use mira_train::{Defence, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
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
    /// The budgets.
    pub sweep: SweepSpec,
    /// Evaluation sanity checks run at the end (docs/checks.md).
    #[serde(default)]
    pub checks: crate::ChecksConfig,
}

/// Where the cases come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Data source; `brain_mr_phantom` is the S1 phantom, `brain_mr_mni` the same tumour model
    /// drawn into axial slices of the MNI152 template.
    pub source: DataSource,
    /// `brain_mr_mni`: folder of the MNI ICBM152 2009a files (relative paths are relative to
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
    /// Training-time defence (`kind = "none" | "distillation" | "adversarial"`).
    #[serde(default)]
    pub defence: Defence,
    /// PyTorch weights (safetensors, names of the reference UNet2d; `scripts/export_weights.py`)
    /// for the architecture given by `base_width` (plain, depth 3). Nothing is trained.
    #[serde(default)]
    pub torch_weights: Option<PathBuf>,
}

impl ModelEntry {
    /// The comparison group: models of one architecture (trained here) are compared with
    /// each other; checkpoints form one group.
    pub fn group(&self) -> String {
        if self.checkpoint.is_some() {
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

/// Attack kinds as written in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// FGSM.
    Fgsm,
    /// i-FGSM / BIM.
    Ifgsm,
    /// PGD.
    Pgd,
    /// PGD with an Adamax update (the S4 study's variant).
    #[serde(rename = "pgd_adamax")]
    PgdAdamax,
    /// MI-FGSM (momentum iterative FGSM).
    Mifgsm,
    /// APGD (Auto-PGD, step-size free).
    Apgd,
    /// Square Attack (score-based, L∞).
    Square,
    /// SPSA (score-based gradient estimate, L∞ or L2).
    Spsa,
    /// AutoAttack-like composite: APGD then (L∞) Square, per-case worst kept.
    Auto,
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

/// One attack entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackEntry {
    /// Name in records and tables.
    pub name: String,
    /// `per-image` (default: each case attacked at every budget of the sweep) or `min-norm`
    /// (per case, the smallest perturbation up to the sweep's largest ε that breaks it:
    /// `sweep.break_dice`).
    #[serde(default)]
    pub scope: AttackScope,
    /// Which attack (per-image scope; default `apgd`, the strong default). Not given for
    /// `min-norm`, which has its own search.
    #[serde(default)]
    pub kind: Option<AttackKind>,
    /// Steps (iterative attacks; min-norm: search steps).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Step size relative to ε (i-FGSM, PGD).
    #[serde(default)]
    pub rel_step: Option<f32>,
    /// Restarts (PGD, APGD).
    #[serde(default)]
    pub restarts: Option<usize>,
    /// Query budget (Square, SPSA).
    #[serde(default)]
    pub queries: Option<usize>,
    /// The adversary's goal.
    #[serde(default)]
    pub goal: GoalSpec,
    /// The attack loss uses logits divided by this temperature (default 1). Set it to a
    /// distilled model's training temperature to undo softmax saturation.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// The loss the attack maximises: `ce` (pixel-wise cross-entropy, default) or `margin`
    /// (per-pixel `max_{j≠y} z_j − z_y`, which does not saturate with the softmax).
    #[serde(default)]
    pub loss: AttackLoss,
    /// Early stopping (FGSM, i-FGSM, PGD with one restart): every this many steps (and
    /// at the starting point) the cases already broken by the sweep's rule (`break_dice`,
    /// `break_match`) stop and leave the batch. Saves the steps of cases that break early;
    /// their damage is then measured where they broke, not at the full attack's end, so
    /// read broken shares, not mean Dice (the `early-stop` check says so in the summary).
    #[serde(default)]
    pub early_stop: Option<usize>,
}

/// The loss of a segmentation attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttackLoss {
    /// Pixel-wise cross-entropy (at `temperature`).
    #[default]
    Ce,
    /// Per-pixel logit margin (Carlini & Wagner).
    Margin,
}

/// How an attack uses the sweep's budgets (segmentation and registration files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AttackScope {
    /// Every case attacked at every budget.
    #[default]
    PerImage,
    /// Per case, the smallest budget (up to the sweep's largest ε) that breaks it.
    MinNorm,
}

impl AttackEntry {
    /// The kind of a per-image attack: the one given, or APGD.
    pub fn kind(&self) -> AttackKind {
        self.kind.unwrap_or(AttackKind::Apgd)
    }

    /// The engine-level attack (`None` for `min-norm` entries), rejecting parameters the kind
    /// does not have.
    ///
    /// # Errors
    /// A parameter that does not belong to the kind, or an out-of-range value; `field` is the
    /// prefix used in messages (`attacks[2]`).
    pub fn spec(&self, field: &str) -> Result<Option<AttackSpec>> {
        scoped_spec(
            self.scope,
            self.kind,
            self.steps,
            self.rel_step,
            self.restarts,
            self.queries,
            field,
        )
    }

    /// The minimum-norm search of a `min-norm` entry (`None` otherwise).
    pub fn min_norm(&self) -> Option<mira_attack::MinNormConfig> {
        min_norm_config(self.scope, self.steps, self.rel_step)
    }
}

/// The search of a `min-norm` entry with its optional `steps` / `rel_step` (`None` for other
/// scopes).
pub(crate) fn min_norm_config(
    scope: AttackScope,
    steps: Option<usize>,
    rel_step: Option<f32>,
) -> Option<mira_attack::MinNormConfig> {
    (scope == AttackScope::MinNorm).then(|| {
        let d = mira_attack::MinNormConfig::default();
        mira_attack::MinNormConfig {
            steps: steps.unwrap_or(d.steps),
            rel_step: rel_step.unwrap_or(d.rel_step),
            ..d
        }
    })
}

/// Checks an entry's `early_stop = every` (`field`: the entry, e.g. `attacks[2]`): a
/// per-image projected-gradient attack with one restart, checked every 1..=100000 steps.
///
/// # Errors
/// [`EvalError::InvalidInput`]-style errors naming `FIELD.early_stop`.
pub(crate) fn check_early_stop(field: &str, spec: Option<&AttackSpec>, every: usize) -> Result<()> {
    let engine = spec.and_then(|s| s.engine());
    if engine.is_none_or(|e| e.restarts != 1) {
        return Err(EvalError::invalid(
            format!("{field}.early_stop"),
            "applies to per-image fgsm, ifgsm and pgd with one restart",
        ));
    }
    if every == 0 || every > 100_000 {
        return Err(EvalError::invalid(
            format!("{field}.early_stop"),
            "checks every N steps: N must be in 1..=100000",
        ));
    }
    Ok(())
}

/// The engine-level attack of an entry of any task (`None` for `min-norm` entries, whose
/// search is [`min_norm_config`]); a per-image entry without a kind gets APGD. Rejects
/// parameters the kind (or the search) does not have; `field` prefixes messages.
pub(crate) fn scoped_spec(
    scope: AttackScope,
    kind: Option<AttackKind>,
    steps: Option<usize>,
    rel_step: Option<f32>,
    restarts: Option<usize>,
    queries: Option<usize>,
    field: &str,
) -> Result<Option<AttackSpec>> {
    if scope == AttackScope::MinNorm {
        let bad = |name: &str, present: bool| {
            if present {
                Err(EvalError::invalid(
                    format!("{field}.{name}"),
                    "not a parameter of the min-norm search",
                ))
            } else {
                Ok(())
            }
        };
        bad("kind", kind.is_some())?;
        bad("restarts", restarts.is_some())?;
        bad("queries", queries.is_some())?;
        min_norm_config(scope, steps, rel_step)
            .expect("min-norm scope")
            .validate()
            .map_err(|e| EvalError::invalid(field, e.to_string()))?;
        return Ok(None);
    }
    engine_spec(
        kind.unwrap_or(AttackKind::Apgd),
        steps,
        rel_step,
        restarts,
        queries,
        field,
    )
    .map(Some)
}

/// The engine-level attack of a kind and its optional parameters, rejecting parameters the
/// kind does not have; `field` prefixes messages (`attacks[2]`).
pub(crate) fn engine_spec(
    kind: AttackKind,
    steps: Option<usize>,
    rel_step: Option<f32>,
    restarts: Option<usize>,
    queries: Option<usize>,
    field: &str,
) -> Result<AttackSpec> {
    let reject = |name: &str, present: bool| {
        if present {
            Err(EvalError::invalid(
                format!("{field}.{name}"),
                format!("not a parameter of {kind:?}"),
            ))
        } else {
            Ok(())
        }
    };
    if !matches!(
        kind,
        AttackKind::Square | AttackKind::Spsa | AttackKind::Auto
    ) {
        reject("queries", queries.is_some())?;
    }
    let spec = match kind {
        AttackKind::Fgsm => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            AttackSpec::Fgsm
        }
        AttackKind::Ifgsm => {
            reject("restarts", restarts.is_some())?;
            let d = IfgsmConfig::default();
            AttackSpec::Ifgsm(IfgsmConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
            })
        }
        AttackKind::Pgd => {
            let d = PgdConfig::default();
            AttackSpec::Pgd(PgdConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                restarts: restarts.unwrap_or(d.restarts),
            })
        }
        AttackKind::PgdAdamax => {
            let d = mira_attack::PgdAdamaxConfig::default();
            AttackSpec::PgdAdamax(mira_attack::PgdAdamaxConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                restarts: restarts.unwrap_or(d.restarts),
                ..d
            })
        }
        AttackKind::Mifgsm => {
            reject("restarts", restarts.is_some())?;
            let d = MiFgsmConfig::default();
            AttackSpec::MiFgsm(MiFgsmConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                decay: d.decay,
            })
        }
        AttackKind::Square => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            let d = SquareConfig::default();
            AttackSpec::Square(SquareConfig {
                queries: queries.unwrap_or(d.queries),
                ..d
            })
        }
        AttackKind::Auto => {
            reject("rel_step", rel_step.is_some())?;
            let d = mira_attack::AutoConfig::default();
            AttackSpec::Auto(mira_attack::AutoConfig {
                apgd_steps: steps.unwrap_or(d.apgd_steps),
                restarts: restarts.unwrap_or(d.restarts),
                square_queries: queries.unwrap_or(d.square_queries),
            })
        }
        AttackKind::Spsa => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            let d = mira_attack::SpsaConfig::default();
            AttackSpec::Spsa(mira_attack::SpsaConfig {
                queries: queries.unwrap_or(d.queries),
                ..d
            })
        }
        AttackKind::Apgd => {
            reject("rel_step", rel_step.is_some())?;
            let d = ApgdConfig::default();
            AttackSpec::Apgd(ApgdConfig {
                steps: steps.unwrap_or(d.steps),
                restarts: restarts.unwrap_or(d.restarts),
                ..d
            })
        }
    };
    spec.validate()
        .map_err(|e| EvalError::invalid(field, e.to_string()))?;
    Ok(spec)
}

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

impl Experiment {
    /// Parses and validates an experiment file. Relative checkpoint paths are resolved against
    /// the file's folder.
    ///
    /// # Errors
    /// Parse errors with the field path and line, or the first invalid value.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let mut exp = Self::from_toml(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(f) = &mut exp.data.folder
            && f.path.is_relative()
        {
            f.path = base.join(&f.path);
        }
        for m in &mut exp.models {
            if let Some(c) = &m.checkpoint
                && c.is_relative()
            {
                m.checkpoint = Some(base.join(c));
            }
        }
        for m in &mut exp.models {
            if let Some(w) = &m.torch_weights
                && w.is_relative()
            {
                m.torch_weights = Some(base.join(w));
            }
        }
        if let Some(d) = &exp.data.anatomy_dir
            && d.is_relative()
        {
            exp.data.anatomy_dir = Some(base.join(d));
        }
        exp.validate()?;
        Ok(exp)
    }

    /// Parses TOML text (not yet validated). `file` names the source in messages.
    ///
    /// # Errors
    /// [`EvalError::Parse`] with the path of the offending field and its line.
    pub fn from_toml(text: &str, file: &str) -> Result<Self> {
        parse_toml(text, file)
    }

    /// Checks every value that serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        fn inv(field: impl Into<String>, reason: impl Into<String>) -> EvalError {
            EvalError::invalid(field, reason)
        }
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
        if self.data.source == DataSource::BrainMrMni {
            crate::anatomy::check_mni_dir(&self.data.mni_dir())?;
        } else if self.data.anatomy_dir.is_some() {
            return Err(inv(
                "data.anatomy_dir",
                "only used with source = \"brain_mr_mni\"",
            ));
        }
        if self.data.test == 0 || self.data.test > 100_000 {
            return Err(inv("data.test", "must be in 1..=100000"));
        }
        let needs_training = self
            .models
            .iter()
            .any(|m| m.checkpoint.is_none() && m.torch_weights.is_none());
        if needs_training {
            if self.data.train == 0 || self.data.val == 0 {
                return Err(inv(
                    "data.train",
                    "models without a checkpoint need train >= 1 and val >= 1",
                ));
            }
            self.training
                .validate()
                .map_err(|e| inv("training", e.to_string()))?;
        }
        if self.models.is_empty() {
            return Err(inv("models", "at least one model is needed"));
        }
        if self.attacks.is_empty() {
            return Err(inv("attacks", "at least one attack is needed"));
        }
        let names: Vec<&str> = self.models.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_unique_names("models", &names)?;
        for (i, m) in self.models.iter().enumerate() {
            let f = format!("models[{i}]");
            m.defence
                .validate()
                .map_err(|e| inv(format!("{f}.defence"), e.to_string()))?;
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
        crate::spec::check_unique_names("attacks", &names)?;
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
            if a.scope == AttackScope::MinNorm && !self.sweep.epsilons.iter().any(|e| *e > 0.0) {
                return Err(inv(
                    format!("{f}.scope"),
                    "min-norm searches up to the sweep's largest ε, which must be > 0",
                ));
            }
            if let Some(every) = a.early_stop {
                check_early_stop(&f, a.spec(&f)?.as_ref(), every)?;
            }
            if a.temperature.is_some() && a.loss == AttackLoss::Margin {
                return Err(inv(
                    format!("{f}.temperature"),
                    "applies to the cross-entropy loss; the margin loss does not saturate",
                ));
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
        fn inv(field: impl Into<String>, reason: impl Into<String>) -> EvalError {
            EvalError::invalid(field, reason)
        }
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
        Ok(())
    }
}

/// Deserialises TOML text into `T`, naming the offending field and its line on failure.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let at = line.map_or(String::new(), |l| format!(" (line {l})"));
        let field = if path == "." {
            String::new()
        } else {
            format!("`{path}`{at}: ")
        };
        EvalError::Parse {
            file: file.into(),
            message: format!("{field}{}", inner.message().trim()),
        }
    })
}

/// A name used in folders and tables: non-empty, without slashes.
pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains(['/', '\\']) {
        return Err(EvalError::invalid(
            field,
            "must be a non-empty name without slashes",
        ));
    }
    Ok(())
}

/// Every name valid ([`check_name`]) and none repeated; fields are `{list}[i].name`.
pub(crate) fn check_unique_names(list: &str, names: &[&str]) -> Result<()> {
    for (i, name) in names.iter().enumerate() {
        let field = format!("{list}[{i}].name");
        check_name(&field, name)?;
        if names[..i].contains(name) {
            return Err(EvalError::invalid(
                field,
                format!("duplicate name `{name}`"),
            ));
        }
    }
    Ok(())
}
