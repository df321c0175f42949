//! The disk-shape experiment file (study S4): `task = "shape"`, spine phantom slices, shape
//! networks trained on sets of different shape variation (with or without adversarial
//! training), in-distribution PGD and out-of-distribution output-matching attacks.

use std::path::{Path, PathBuf};

use mira_attack::{AttackSpec, Norm};
use mira_train::ShapeTrainConfig;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checks::ProbeConfig;
use crate::spec::{HasAttack, attack_entry, inv, min_norm_config, relative_all};

/// The task tag of shape experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeTask {
    /// Contour regression.
    Shape,
}

/// A whole shape experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeExperiment {
    /// Always `shape`.
    pub task: ShapeTask,
    /// Name, used for the default output folder.
    pub name: String,
    /// Master seed.
    #[serde(default)]
    pub seed: u64,
    /// Slices.
    #[serde(default)]
    pub data: ShapeDataSpec,
    /// Training; `adv_*` apply to models with `adversarial = true` only.
    #[serde(default)]
    pub training: ShapeTrainConfig,
    /// The networks; the first is the reference.
    pub models: Vec<ShapeModelEntry>,
    /// The attacks.
    pub attacks: Vec<ShapeAttackEntry>,
    /// Scanner artefacts and natural corruptions evaluated beside the attacks
    /// (`[[corruptions]]`, in distribution; docs/corruptions.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// Attack batches.
    #[serde(default)]
    pub sweep: ShapeSweep,
    /// Sanity checks.
    #[serde(default)]
    pub checks: ShapeChecks,
}

/// Sanity checks of a shape run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapeChecks {
    /// Warn when an in-distribution attack's mean MRSE falls with ε (or an iterative attack's
    /// stays below FGSM's) by more than this many pixels.
    pub monotone_tolerance_px: f64,
    /// The model probes (`[checks.probes]`; tolerance in pixels, default
    /// `monotone_tolerance_px`).
    pub probes: ProbeConfig,
}

impl Default for ShapeChecks {
    fn default() -> Self {
        Self {
            monotone_tolerance_px: 0.5,
            probes: ProbeConfig::default(),
        }
    }
}

/// Slices per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapeDataSpec {
    /// Side of the slices (a multiple of 16).
    pub size: usize,
    /// Gaussian noise.
    pub noise: f32,
    /// Bias-field strength.
    pub bias: f32,
    /// Training slices per model (a model may say otherwise).
    pub train_slices: usize,
    /// Validation slices per model (its own shape variation).
    pub val_slices: usize,
    /// Test slices, shared by all models, full shape variation (10 modes).
    pub test_slices: usize,
}

impl Default for ShapeDataSpec {
    fn default() -> Self {
        Self {
            size: 128,
            noise: 0.03,
            bias: 1.0,
            train_slices: 400,
            val_slices: 48,
            test_slices: 32,
        }
    }
}

/// One shape network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeModelEntry {
    /// Name in records and tables.
    pub name: String,
    /// Shape-model modes that vary in its training set (3, 5, 10: the P3 / P5 / P10 sets).
    pub modes: usize,
    /// Adversarial training with `training.adv_*`.
    #[serde(default)]
    pub adversarial: bool,
    /// Training slices (default `data.train_slices`).
    #[serde(default)]
    pub train_slices: Option<usize>,
    /// Stem width (default 8).
    #[serde(default)]
    pub width: Option<usize>,
    /// A checkpoint folder written by an earlier run; nothing is trained.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// An ONNX shape network with Mira's three heads: `[B, 1, S, S]` in [0, 1] → points
    /// `[B, 352]` (176 contour points, x then y, pixels), mask logits `[B, 1, S, S]` and
    /// reconstruction `[B, 1, S, S]`, as three outputs in that order (docs/models.md).
    /// Nothing is trained; no checkpoint, adversarial, train_slices or width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
}

/// In distribution (perturb the slice) or out of distribution (start elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ShapeScope {
    /// Push the point error up around each test slice.
    #[default]
    Ind,
    /// From an out-of-distribution image, match the model's outputs on a test slice.
    Ood,
    /// In distribution, per slice the smallest perturbation (up to the entry's largest ε) that
    /// pushes the MRSE above `sweep.break_mrse`.
    #[serde(rename = "min-norm")]
    MinNorm,
}

/// Where out-of-distribution attacks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OodSource {
    /// Uniform noise.
    Noise,
    /// The CT slice of `../shared/data` (abdominal window), or a procedural CT stand-in.
    Ct,
    /// A crop of the chest radiograph of `../shared/data`, or the X-ray phantom.
    Xray,
}

attack_entry! {
    /// One attack of a shape experiment.
    pub struct ShapeAttackEntry(scope: ShapeScope, default "pgd") {
        /// OOD only: the starting images.
        #[serde(default)]
        pub source: Option<OodSource>,
        /// `linf` or `l2`.
        pub norm: Norm,
        /// Budgets (`[0, 1]` units; L2 over the whole slice).
        pub epsilons: Vec<f32>,
    }
}

impl ShapeAttackEntry {
    /// The attack, with the S4 protocol's defaults for PGD (100 steps of ε/5, random start);
    /// a min-norm entry's search parameters are checked here too.
    ///
    /// # Errors
    /// A parameter the attack (or the search) does not take, or an out-of-range value.
    pub fn spec(&self, field: &str) -> Result<AttackSpec> {
        if self.scope == ShapeScope::MinNorm {
            self.attack().min_norm(field)?;
        }
        let mut attack = self.attack();
        if attack.kind() == "pgd" {
            let p = &mut attack.params;
            p.steps = p.steps.or(Some(100));
            p.rel_step = p.rel_step.or(Some(0.2));
        }
        attack.spec(field)
    }

    /// The minimum-norm search of a `min-norm` entry (`None` otherwise).
    pub fn min_norm(&self) -> Option<mira_attack::MinNormConfig> {
        (self.scope == ShapeScope::MinNorm).then(|| min_norm_config(self.steps, self.rel_step))
    }
}

/// Attack batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapeSweep {
    /// Slices per attack batch.
    pub batch_size: usize,
    /// A slice counts as broken when its MRSE exceeds this many pixels (the min-norm search's
    /// criterion and the composite's break rule).
    pub break_mrse: f64,
}

impl Default for ShapeSweep {
    fn default() -> Self {
        Self {
            batch_size: 8,
            break_mrse: 5.0,
        }
    }
}

impl ShapeExperiment {
    /// Relative checkpoint paths are relative to the file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        relative_all(
            base,
            self.models
                .iter_mut()
                .flat_map(|m| m.checkpoint.as_mut().into_iter().chain(m.onnx.as_mut())),
        );
    }

    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        crate::spec::check_name("name", &self.name)?;
        let d = &self.data;
        mira_data::SpinePhantomConfig {
            size: d.size,
            modes: 10,
            noise: d.noise,
            bias: d.bias,
        }
        .validate()
        .map_err(|e| inv("data", e.to_string()))?;
        if !d.size.is_multiple_of(16) {
            return Err(inv("data.size", "must be a multiple of 16"));
        }
        if d.train_slices < 2 || d.val_slices == 0 || d.test_slices == 0 {
            return Err(inv(
                "data",
                "need >= 2 training, >= 1 validation and >= 1 test slices",
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
            if m.modes > mira_data::SHAPE_MODES {
                return Err(inv(format!("{f}.modes"), "must be in 0..=10"));
            }
            if let Some(o) = &m.onnx {
                let others = m.checkpoint.is_some()
                    || m.adversarial
                    || m.train_slices.is_some()
                    || m.width.is_some();
                if others {
                    return Err(inv(
                        format!("{f}.onnx"),
                        "an ONNX model is used as it is: no checkpoint, adversarial, \
                         train_slices or width",
                    ));
                }
                if !o.is_file() {
                    return Err(inv(
                        format!("{f}.onnx"),
                        format!("{} not found", o.display()),
                    ));
                }
            }
            if m.train_slices.is_some_and(|n| n < 2) {
                return Err(inv(format!("{f}.train_slices"), "must be >= 2"));
            }
            if m.adversarial && self.training.adv_epsilon <= 0.0 {
                return Err(inv(
                    format!("{f}.adversarial"),
                    "adversarial training needs training.adv_epsilon > 0",
                ));
            }
        }
        let names: Vec<&str> = self.attacks.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("attacks", &names)?;
        crate::spec::validate_corruptions(&self.corruptions, &names, None)?;
        for (i, a) in self.attacks.iter().enumerate() {
            let f = format!("attacks[{i}]");
            crate::spec::check_budgets(&format!("{f}.epsilons"), &a.epsilons)?;
            match (a.scope, a.source) {
                (ShapeScope::Ood, None) => {
                    return Err(inv(
                        format!("{f}.source"),
                        "ood attacks need source = \"noise\" | \"ct\" | \"xray\"",
                    ));
                }
                (ShapeScope::Ind | ShapeScope::MinNorm, Some(_)) => {
                    return Err(inv(format!("{f}.source"), "only ood attacks have a source"));
                }
                _ => {}
            }
            a.spec(&f)?;
        }
        if !(1..=256).contains(&self.sweep.batch_size) {
            return Err(inv("sweep.batch_size", "must be in 1..=256"));
        }
        if !(self.sweep.break_mrse.is_finite() && self.sweep.break_mrse > 0.0) {
            return Err(inv(
                "sweep.break_mrse",
                "must be a finite number of pixels > 0",
            ));
        }
        let tol = self.checks.monotone_tolerance_px;
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(inv("checks.monotone_tolerance_px", "must be >= 0"));
        }
        self.checks.probes.validate("checks.probes")?;
        Ok(())
    }
}
