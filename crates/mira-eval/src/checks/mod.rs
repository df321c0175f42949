//! Evaluation sanity checks: symptoms of an attack that is too weak to trust (Carlini et al.
//! 2019, "On Evaluating Adversarial Robustness"; Athalye et al. 2018, "Obfuscated Gradients";
//! AutoAttack's checks). Each check returns warnings, never prints; docs/checks.md says when
//! each is raised and what it means.
//!
//! Record checks read the records of a finished run (each task's on its own metric); model
//! probes (`probes.rs`) re-attack a small sample of cases.

mod probes;
mod records;

pub use probes::{Alternative, Metric, ProbeConfig, ProbePlan, ProbeSetup, ProbeTarget, probe};
pub(crate) use probes::{probe_models, reference_attack};
pub use records::{AttackFacts, check_records, record_checks};

use serde::{Deserialize, Serialize};

/// Settings of the checks (`[checks]` in experiment files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Run the checks at the end of every run.
    pub enabled: bool,
    /// Test cases the model probes re-attack (the first `sample` of the test split).
    pub sample: usize,
    /// Mean-Dice tolerance of the comparisons.
    pub tolerance: f64,
    /// L∞ budget (L2: per-voxel RMS budget) of the "very large ε" probe.
    pub large_epsilon: f32,
    /// A model whose mean Dice stays above this at the large ε has not collapsed.
    pub collapse_dice: f64,
    /// Objective queries of the gradient-free random search.
    pub random_queries: usize,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sample: 8,
            tolerance: 0.02,
            large_epsilon: 0.5,
            collapse_dice: 0.2,
            random_queries: 200,
        }
    }
}

impl ChecksConfig {
    /// The probe settings of segmentation's flat `[checks]` keys.
    pub fn probes(&self) -> ProbeConfig {
        ProbeConfig {
            enabled: self.enabled,
            sample: self.sample,
            tolerance: Some(self.tolerance),
            large_epsilon: self.large_epsilon,
            random_queries: self.random_queries,
        }
    }
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// Check id, as in docs/checks.md (e.g. `non-monotone`).
    pub check: String,
    /// Model concerned.
    pub model: String,
    /// Attack concerned, when the check is about one.
    pub attack: Option<String>,
    /// What was seen, with numbers.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.attack {
            Some(a) => write!(f, "[{}] {} / {a}: {}", self.check, self.model, self.message),
            None => write!(f, "[{}] {}: {}", self.check, self.model, self.message),
        }
    }
}

/// The `early-stop` notice of any task from the `stopped_at` of an entry's attacked cases
/// (ε > 0): how many stopped (and how many at their starting point), the gradient passes spent
/// against a full run's, what the checks cost, and `read` (which numbers to trust). `free`:
/// the checks read each step's own forward pass, so a case stopped at `s` ran `s + 1` passes;
/// otherwise it ran `s`, and each check (at 0, N, 2N, ... up to where it stopped, or below
/// `steps`) was a forward pass of its own.
pub(crate) fn early_stop_warning(
    model: &str,
    attack: &str,
    (steps, every): (usize, usize),
    free: bool,
    stopped: &[Option<usize>],
    read: &str,
) -> Option<Warning> {
    if stopped.is_empty() || steps == 0 {
        return None;
    }
    let every = every.max(1);
    let n_stopped = stopped.iter().filter(|s| s.is_some()).count();
    let at_start = stopped.iter().filter(|s| **s == Some(0)).count();
    let full = steps * stopped.len();
    let spent: usize = stopped
        .iter()
        .map(|s| s.map_or(steps, |s| s + usize::from(free)))
        .sum();
    let checks: usize = stopped
        .iter()
        .map(|s| s.map_or((steps - 1) / every + 1, |s| s / every + 1))
        .sum();
    let cost = if free {
        "the checks read each step's own forward pass".to_string()
    } else {
        format!("plus {checks} judge passes (a forward pass each, about half a gradient pass)")
    };
    Some(Warning {
        check: "early-stop".into(),
        model: model.to_string(),
        attack: Some(attack.to_string()),
        message: format!(
            "{n_stopped} of {} attacked cases (ε > 0) stopped once broken ({at_start} at their \
             starting point, not attacked); {spent} of {full} gradient passes spent ({:.0}% \
             saved), {cost}. {read}",
            stopped.len(),
            100.0 * (full - spent) as f64 / full as f64
        ),
    })
}
