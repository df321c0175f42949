//! The brain-age experiment file (study S3): `task = "brain_age"`, synthetic subjects,
//! CNN and hybrid networks, per-image and universal attacks with their own norms and budgets.

use std::path::{Path, PathBuf};

use mira_attack::{AttackSpec, Norm, UniversalConfig};
use mira_data::AgePhantomConfig;
use mira_nn::TissueMode;
use mira_train::AgeTrainConfig;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checks::ProbeConfig;
use crate::spec::{HasAttack, attack_entry, inv, min_norm_config, relative_all};

/// The task tag of brain-age experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeTask {
    /// Age regression from 3D T1 volumes.
    BrainAge,
}

/// A whole brain-age experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeExperiment {
    /// Always `brain_age`.
    pub task: AgeTask,
    /// Name, used for the default output folder.
    pub name: String,
    /// Master seed.
    #[serde(default)]
    pub seed: u64,
    /// Subjects.
    #[serde(default)]
    pub data: AgeDataSpec,
    /// How models without a checkpoint are trained.
    #[serde(default)]
    pub training: AgeTrainConfig,
    /// The networks; the first is the reference of the paired comparisons.
    pub models: Vec<AgeModelEntry>,
    /// The attacks.
    pub attacks: Vec<AgeAttackEntry>,
    /// Scanner artefacts and natural corruptions evaluated beside the attacks
    /// (`[[corruptions]]`; docs/corruptions.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// Attack batches, fooling threshold.
    #[serde(default)]
    pub sweep: AgeSweep,
    /// Sanity checks and pictures.
    #[serde(default)]
    pub checks: AgeChecks,
}

/// Synthetic subjects per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeDataSpec {
    /// The phantom (size, age range, biological-age gap, noise, bias).
    #[serde(flatten)]
    pub phantom: AgePhantomConfig,
    /// Training subjects.
    pub train_subjects: usize,
    /// Validation subjects (model selection).
    pub val_subjects: usize,
    /// Test subjects (the attacked cases).
    pub test_subjects: usize,
    /// Training subjects a universal perturbation is fitted on (the first ones).
    pub universal_fit_subjects: usize,
    /// `synthetic` (the embedded phantom) or `mni` (the MNI152 template of `../shared/data`,
    /// warped and aged).
    pub anatomy: AgeAnatomy,
    /// The template folder for `mni` (default `../shared/data/mni_icbm152_2009a_sym`;
    /// relative paths: relative to the experiment file).
    pub anatomy_dir: Option<PathBuf>,
}

/// Where subjects' anatomy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgeAnatomy {
    /// The embedded ageing phantom.
    #[default]
    Synthetic,
    /// The MNI152 template, warped and aged per subject.
    Mni,
}

impl Default for AgeDataSpec {
    fn default() -> Self {
        Self {
            phantom: AgePhantomConfig::default(),
            train_subjects: 320,
            val_subjects: 48,
            test_subjects: 40,
            universal_fit_subjects: 32,
            anatomy: AgeAnatomy::Synthetic,
            anatomy_dir: None,
        }
    }
}

impl AgeDataSpec {
    /// The MNI152 folder used by `anatomy = "mni"`.
    pub fn template_dir(&self) -> PathBuf {
        self.anatomy_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_MNI_DIR))
    }
}

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgeModelKind {
    /// The 3D CNN regressor (and any ONNX model).
    #[default]
    Cnn,
    /// CNN plus regional tissue-fraction features.
    Hybrid,
}

/// One brain-age network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeModelEntry {
    /// Name in records and tables.
    pub name: String,
    /// `cnn` (default) or `hybrid`.
    #[serde(default)]
    pub kind: AgeModelKind,
    /// Hybrid only: `soft` (differentiable) or `hard` (argmax) tissue maps.
    #[serde(default)]
    pub features: Option<TissueMode>,
    /// Width of the first convolution (default 8).
    #[serde(default)]
    pub width: Option<usize>,
    /// Width of the CNN's dense layer (default 64).
    #[serde(default)]
    pub hidden: Option<usize>,
    /// Hybrid only: width of the feature embedding (default 32).
    #[serde(default)]
    pub embed: Option<usize>,
    /// Dropout during training (default 0.2).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// A checkpoint folder written by an earlier run (`models/NAME`); nothing is trained.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// An ONNX brain-age regressor: `[B, 1, S, S, S]` (the data's size, values in [0, 1]) in,
    /// `[B, 1]` ages in years out (docs/models.md). Nothing is trained; no other keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
}

/// Per-image (each subject its own δ) or universal (one δ for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgeScope {
    /// Each subject attacked separately.
    #[default]
    PerImage,
    /// One perturbation fitted on training subjects, applied to every test subject.
    Universal,
    /// Per subject, the smallest perturbation (up to the one ε given) that makes the error
    /// exceed `sweep.threshold_years` (for `older` / `younger`: in that direction; for
    /// `target`: that brings the prediction within the threshold of the target).
    MinNorm,
}

/// What the adversary wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgeGoal {
    /// Push the squared error up (untargeted).
    #[default]
    Error,
    /// Push predictions up.
    Older,
    /// Push predictions down.
    Younger,
    /// Pull predictions toward `target_age`.
    Target,
}

/// How gradients pass hard tissue maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgeGradient {
    /// The model's own gradient (zero through hard maps: a non-adaptive attack).
    #[default]
    Plain,
    /// Straight-through through hard maps (BPDA, adaptive); run against hard-feature models only.
    Bpda,
}

attack_entry! {
    /// One attack of a brain-age experiment.
    pub struct AgeAttackEntry(scope: AgeScope, default "pgd") {
        /// `linf` or `l2`.
        pub norm: Norm,
        /// Budgets, in `[0, 1]` intensity units (L2: of the whole volume).
        pub epsilons: Vec<f32>,
        /// `error` (default), `older`, `younger` or `target`.
        #[serde(default)]
        pub goal: AgeGoal,
        /// The age `target` pulls toward, years.
        #[serde(default)]
        pub target_age: Option<f64>,
        /// `plain` (default) or `bpda`.
        #[serde(default)]
        pub gradient: AgeGradient,
    }
}

impl AgeAttackEntry {
    /// The per-image attack (`None` for universal and min-norm entries).
    ///
    /// # Errors
    /// A parameter the attack does not take, or an out-of-range value.
    pub fn spec(&self, field: &str) -> Result<Option<AttackSpec>> {
        if self.scope != AgeScope::PerImage {
            return Ok(None);
        }
        self.attack().spec(field).map(Some)
    }

    /// The minimum-norm search (`None` for other scopes).
    pub fn min_norm(&self) -> Option<mira_attack::MinNormConfig> {
        (self.scope == AgeScope::MinNorm).then(|| min_norm_config(self.steps, self.rel_step))
    }

    /// The universal fit (`None` for per-image entries).
    pub fn universal(&self) -> Option<UniversalConfig> {
        (self.scope == AgeScope::Universal).then(|| {
            let d = UniversalConfig::default();
            UniversalConfig {
                steps: self.steps.unwrap_or(d.steps),
                rel_step: self.rel_step.unwrap_or(d.rel_step),
            }
        })
    }
}

/// Attack batches and the fooling threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeSweep {
    /// Volumes per attack batch.
    pub batch_size: usize,
    /// A subject is fooled when its |error| exceeds this many years.
    pub threshold_years: f64,
}

impl Default for AgeSweep {
    fn default() -> Self {
        Self {
            batch_size: 4,
            threshold_years: 5.0,
        }
    }
}

/// Checks and pictures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeChecks {
    /// Warn when an error-goal attack's MAE falls with ε by more than this many years.
    pub monotone_tolerance_years: f64,
    /// Write mid-slice pictures of the first test subject at each attack's largest ε.
    pub examples: bool,
    /// The model probes (`[checks.probes]`; tolerance in years, default
    /// `monotone_tolerance_years`).
    pub probes: ProbeConfig,
}

impl Default for AgeChecks {
    fn default() -> Self {
        Self {
            monotone_tolerance_years: 0.5,
            examples: true,
            probes: ProbeConfig::default(),
        }
    }
}

impl AgeExperiment {
    /// Relative paths of the file (checkpoints, anatomy) are relative to its folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let checkpoints = self
            .models
            .iter_mut()
            .flat_map(|m| m.checkpoint.as_mut().into_iter().chain(m.onnx.as_mut()));
        relative_all(base, checkpoints.chain(self.data.anatomy_dir.as_mut()));
    }

    /// Whether attack `a` runs against model `m` (BPDA only against hard-feature hybrids).
    pub fn applies(&self, m: usize, a: usize) -> bool {
        self.attacks[a].gradient == AgeGradient::Plain
            || (self.models[m].kind == AgeModelKind::Hybrid
                && self.models[m].features == Some(TissueMode::Hard))
    }

    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        crate::spec::check_name("name", &self.name)?;
        let d = &self.data;
        d.phantom
            .validate()
            .map_err(|e| inv("data", e.to_string()))?;
        if !(2..=100_000).contains(&d.train_subjects)
            || !(1..=100_000).contains(&d.val_subjects)
            || !(1..=100_000).contains(&d.test_subjects)
        {
            return Err(inv(
                "data",
                "train_subjects (>= 2), val_subjects and test_subjects (>= 1) must be at most 100000",
            ));
        }
        if d.anatomy == AgeAnatomy::Mni {
            crate::anatomy::check_mni_dir(&d.template_dir())?;
        } else if d.anatomy_dir.is_some() {
            return Err(inv(
                "data.anatomy_dir",
                "only anatomy = \"mni\" takes a folder",
            ));
        }
        if !(1..=d.train_subjects).contains(&d.universal_fit_subjects) {
            return Err(inv(
                "data.universal_fit_subjects",
                "must be in 1..=train_subjects",
            ));
        }
        let names: Vec<&str> = self.models.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("models", &names)?;
        let trains = self
            .models
            .iter()
            .any(|m| m.checkpoint.is_none() && m.onnx.is_none());
        crate::spec::check_training(trains, || self.training.validate())?;
        for (i, m) in self.models.iter().enumerate() {
            let f = format!("models[{i}]");
            match (m.kind, m.features, m.embed) {
                (AgeModelKind::Cnn, Some(_), _) | (AgeModelKind::Cnn, _, Some(_)) => {
                    return Err(inv(
                        format!("{f}.features"),
                        "only hybrid models have features / embed",
                    ));
                }
                _ => {}
            }
            if let Some(o) = &m.onnx {
                let others = m.checkpoint.is_some()
                    || m.kind != AgeModelKind::Cnn
                    || m.features.is_some()
                    || m.width.is_some()
                    || m.hidden.is_some()
                    || m.embed.is_some()
                    || m.dropout.is_some();
                if others {
                    return Err(inv(
                        format!("{f}.onnx"),
                        "an ONNX model is used as it is: no checkpoint, kind, features, width, \
                         hidden, embed or dropout",
                    ));
                }
                if !o.is_file() {
                    return Err(inv(
                        format!("{f}.onnx"),
                        format!("{} not found", o.display()),
                    ));
                }
            }
            if let Some(c) = &m.checkpoint {
                let meta = mira_nn::read_age_meta(c)
                    .map_err(|e| inv(format!("{f}.checkpoint"), e.to_string()))?;
                if meta.net.size != d.phantom.size {
                    return Err(inv(
                        format!("{f}.checkpoint"),
                        format!(
                            "model takes {}³ volumes, the data has {}³",
                            meta.net.size, d.phantom.size
                        ),
                    ));
                }
            }
        }
        let names: Vec<&str> = self.attacks.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("attacks", &names)?;
        crate::spec::validate_corruptions(&self.corruptions, &names, None)?;
        for (i, a) in self.attacks.iter().enumerate() {
            let f = format!("attacks[{i}]");
            crate::spec::check_budgets(&format!("{f}.epsilons"), &a.epsilons)?;
            match (a.goal, a.target_age) {
                (AgeGoal::Target, Some(t)) if t.is_finite() && (0.0..=150.0).contains(&t) => {}
                (AgeGoal::Target, _) => {
                    return Err(inv(
                        format!("{f}.target_age"),
                        "goal = \"target\" needs target_age in [0, 150]",
                    ));
                }
                (_, Some(_)) => {
                    return Err(inv(
                        format!("{f}.target_age"),
                        "only goal = \"target\" takes a target_age",
                    ));
                }
                _ => {}
            }
            match a.scope {
                AgeScope::PerImage => {
                    a.spec(&f)?;
                }
                AgeScope::Universal | AgeScope::MinNorm => {
                    if a.kind.is_some() || a.restarts.is_some() || a.queries.is_some() {
                        return Err(inv(
                            format!("{f}.kind"),
                            "universal and min-norm attacks take steps and rel_step only",
                        ));
                    }
                    let checked = match a.universal() {
                        Some(u) => u.validate(),
                        None => a.min_norm().expect("min-norm").validate(),
                    };
                    checked.map_err(|e| inv(f.as_str(), e.to_string()))?;
                }
            }
            if a.scope == AgeScope::MinNorm && a.epsilons.len() != 1 {
                return Err(inv(
                    format!("{f}.epsilons"),
                    "a min-norm attack takes one ε: the largest budget searched",
                ));
            }
            if !(0..self.models.len()).any(|m| self.applies(m, i)) {
                return Err(inv(
                    format!("{f}.gradient"),
                    "bpda attacks need a hybrid model with features = \"hard\"",
                ));
            }
        }
        let s = &self.sweep;
        if !(1..=256).contains(&s.batch_size) {
            return Err(inv("sweep.batch_size", "must be in 1..=256"));
        }
        if !(s.threshold_years.is_finite() && s.threshold_years > 0.0) {
            return Err(inv("sweep.threshold_years", "must be > 0"));
        }
        let tol = self.checks.monotone_tolerance_years;
        if tol.is_nan() || tol < 0.0 {
            return Err(inv("checks.monotone_tolerance_years", "must be >= 0"));
        }
        self.checks.probes.validate("checks.probes")
    }
}
