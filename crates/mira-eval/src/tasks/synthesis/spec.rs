//! The synthesis experiment file (study S2): `task = "synthesis"`, abdominal CT phantom slices,
//! several segmenters, the deformation + bias threat model, Dice-drop targets, the per-image
//! budget search and the learned attacker.

use std::path::{Path, PathBuf};

use mira_attack::SynthesisConfig;
use mira_data::AbdomenPhantomConfig;
use mira_train::{GeneratorTrainConfig, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checks::ProbeConfig;
use crate::spec::inv;

/// The task tag of synthesis experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthTask {
    /// Deformation + appearance synthesis attacks on segmentation.
    Synthesis,
}

/// A whole synthesis experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthExperiment {
    /// Always `synthesis`.
    pub task: SynthTask,
    /// Name, used for the default output folder.
    pub name: String,
    /// Master seed.
    #[serde(default)]
    pub seed: u64,
    /// Slices.
    #[serde(default)]
    pub data: SynthDataSpec,
    /// Segmenter training (shared by all models).
    #[serde(default)]
    pub training: TrainConfig,
    /// The segmenters; each is attacked, and every attack is also tried on the others.
    pub models: Vec<SynthModelEntry>,
    /// The threat model.
    #[serde(default)]
    pub threat: ThreatSpec,
    /// The per-image Dice-targeted search.
    #[serde(default)]
    pub search: SearchSpec,
    /// The learned attacker.
    #[serde(default)]
    pub generator: GeneratorSpec,
    /// Scanner artefacts and natural corruptions judged beside the synthesis attacks
    /// (`[[corruptions]]`; the CT families in HU through the phantom's window;
    /// docs/corruptions.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// Sanity checks.
    #[serde(default)]
    pub checks: SynthChecks,
}

/// Sanity checks of a synthesis run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthChecks {
    /// Warn when the mean Dice drop reached falls as the requested drop rises by more than
    /// this.
    pub monotone_tolerance: f64,
    /// L∞ budget of the segmenters' probes (the synthesis search climbs the same gradients).
    pub epsilon: f32,
    /// The model probes (`[checks.probes]`; tolerance in mean Dice, default 0.02).
    pub probes: ProbeConfig,
}

impl Default for SynthChecks {
    fn default() -> Self {
        Self {
            monotone_tolerance: 0.02,
            epsilon: 0.03,
            probes: ProbeConfig::default(),
        }
    }
}

/// Phantom settings and slices per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthDataSpec {
    /// The abdominal CT phantom (size, pixel spacing, noise, window).
    #[serde(flatten)]
    pub phantom: AbdomenPhantomConfig,
    /// Training slices (segmenters and the learned attacker).
    pub train_slices: usize,
    /// Validation slices.
    pub val_slices: usize,
    /// Test slices, attacked.
    pub test_slices: usize,
    /// Test cases drawn as pictures per (model, method, target).
    pub examples: usize,
}

impl Default for SynthDataSpec {
    fn default() -> Self {
        Self {
            phantom: AbdomenPhantomConfig::default(),
            train_slices: 240,
            val_slices: 32,
            test_slices: 32,
            examples: 2,
        }
    }
}

/// One segmenter (a UNet variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthModelEntry {
    /// Name in records and tables.
    pub name: String,
    /// Channels of the first level.
    #[serde(default = "default_width")]
    pub base_width: usize,
    /// Down-samplings.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Residual blocks (a ResUNet) instead of plain ones.
    #[serde(default)]
    pub residual: bool,
    /// A checkpoint folder written by an earlier run; nothing is trained.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
}

fn default_width() -> usize {
    16
}

fn default_depth() -> usize {
    3
}

/// The threat model in physical units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreatSpec {
    /// Deformation control points per side.
    pub grid: usize,
    /// Largest displacement, mm.
    pub max_disp_mm: f32,
    /// Bias control points per side.
    pub bias_grid: usize,
    /// Largest bias change (fraction).
    pub max_bias: f32,
    /// L∞ bound of the additive term (`[0, 1]` units; 0 = none).
    pub additive_eps: f32,
    /// Ascent steps per budget.
    pub steps: usize,
    /// Step as a fraction of each bound.
    pub rel_step: f32,
    /// Membrane-energy penalty weight.
    pub smoothness: f32,
}

impl Default for ThreatSpec {
    fn default() -> Self {
        Self {
            grid: 6,
            max_disp_mm: 10.0,
            bias_grid: 4,
            max_bias: 0.2,
            additive_eps: 0.0,
            steps: 15,
            rel_step: 0.15,
            smoothness: 0.01,
        }
    }
}

impl ThreatSpec {
    /// The attack's configuration at pixel spacing `spacing_mm`.
    pub fn config(&self, spacing_mm: f32) -> SynthesisConfig {
        SynthesisConfig {
            grid: self.grid,
            max_disp_px: self.max_disp_mm / spacing_mm,
            bias_grid: self.bias_grid,
            max_bias: self.max_bias,
            additive_eps: self.additive_eps,
            steps: self.steps,
            rel_step: self.rel_step,
            smoothness: self.smoothness,
        }
    }
}

/// The per-image search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSpec {
    /// Requested Dice drops Δ (mean Dice over the organs).
    pub targets: Vec<f32>,
    /// Bisection steps over the budget scale.
    pub bisections: usize,
    /// Slices per batch.
    pub batch_size: usize,
}

impl Default for SearchSpec {
    fn default() -> Self {
        Self {
            targets: vec![0.1, 0.2, 0.3],
            bisections: 4,
            batch_size: 16,
        }
    }
}

/// The learned attacker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorSpec {
    /// Train and evaluate a generator per model.
    pub enabled: bool,
    /// Its training.
    #[serde(flatten)]
    pub train: GeneratorTrainConfig,
}

impl Default for GeneratorSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            train: GeneratorTrainConfig::default(),
        }
    }
}

impl SynthExperiment {
    /// Relative checkpoint paths are relative to the file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let checkpoints = self.models.iter_mut().filter_map(|m| m.checkpoint.as_mut());
        crate::spec::relative_all(base, checkpoints);
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
        if !d.phantom.size.is_multiple_of(16) {
            return Err(inv("data.size", "must be a multiple of 16"));
        }
        if d.train_slices < 2 || d.val_slices == 0 || d.test_slices == 0 {
            return Err(inv(
                "data",
                "need >= 2 training, >= 1 validation and >= 1 test slices",
            ));
        }
        if d.examples > d.test_slices {
            return Err(inv("data.examples", "cannot exceed data.test_slices"));
        }
        let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
        crate::spec::check_list("models", &names)?;
        crate::spec::check_training(self.models.iter().any(|m| m.checkpoint.is_none()), || {
            self.training.validate()
        })?;
        for (i, m) in self.models.iter().enumerate() {
            let depth_ok =
                (1..=4).contains(&m.depth) && d.phantom.size.is_multiple_of(1 << m.depth);
            if !depth_ok {
                return Err(inv(format!("models[{i}].depth"), "must be in 1..=4"));
            }
            if !(1..=64).contains(&m.base_width) {
                return Err(inv(format!("models[{i}].base_width"), "must be in 1..=64"));
            }
        }
        self.threat
            .config(d.phantom.spacing_mm())
            .validate(d.phantom.size, d.phantom.size)
            .map_err(|e| inv("threat", e.to_string()))?;
        let s = &self.search;
        if s.targets.is_empty()
            || s.targets
                .iter()
                .any(|t| !(t.is_finite() && *t > 0.0 && *t < 1.0))
        {
            return Err(inv("search.targets", "need Dice drops in (0, 1)"));
        }
        if s.targets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(inv("search.targets", "must be strictly increasing"));
        }
        if s.bisections > 12 {
            return Err(inv("search.bisections", "must be in 0..=12"));
        }
        if !(1..=256).contains(&s.batch_size) {
            return Err(inv("search.batch_size", "must be in 1..=256"));
        }
        crate::spec::validate_corruptions(
            &self.corruptions,
            &[super::PER_IMAGE, super::LEARNED],
            Some(d.phantom.window[1]),
        )?;
        if self.generator.enabled {
            self.generator
                .train
                .validate()
                .map_err(|e| inv("generator", e.to_string()))?;
        }
        let c = &self.checks;
        if !(c.monotone_tolerance.is_finite() && c.monotone_tolerance >= 0.0) {
            return Err(inv("checks.monotone_tolerance", "must be >= 0"));
        }
        if !(c.epsilon.is_finite() && c.epsilon > 0.0 && c.epsilon <= 1.0) {
            return Err(inv("checks.epsilon", "must be in (0, 1]"));
        }
        c.probes.validate("checks.probes")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SynthExperiment> {
        let exp: SynthExperiment = crate::spec::parse_toml(text, "test.toml")?;
        exp.validate()?;
        Ok(exp)
    }

    const MINIMAL: &str = "task = \"synthesis\"\nname = \"s2\"\n[[models]]\nname = \"unet\"\n";

    #[test]
    fn defaults_and_physical_units() {
        let exp = parse(MINIMAL).unwrap();
        assert_eq!(exp.search.targets, vec![0.1, 0.2, 0.3]);
        // 10 mm at 2.8 mm per pixel.
        let cfg = exp.threat.config(exp.data.phantom.spacing_mm());
        assert!((cfg.max_disp_px - 10.0 / 2.8).abs() < 1e-5);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (extra, field) in [
            ("[search]\ntargets = [0.2, 0.1]\n", "search.targets"),
            ("[search]\ntargets = [1.5]\n", "search.targets"),
            ("[threat]\nmax_disp_mm = 60.0\n", "threat"),
            ("[data]\nsize = 100\n", "data.size"),
            ("[[models]]\nname = \"unet\"\n", "models"),
            ("[generator]\nsteps = 0\n", "generator"),
        ] {
            let err = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(err.contains(field), "{extra}: {err}");
        }
        let err = parse(&format!("{MINIMAL}[threat]\nwhatever = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("whatever"), "{err}");
    }
}
