//! Evaluation sanity checks: symptoms of an attack that is too weak to trust (Carlini et al.
//! 2019, "On Evaluating Adversarial Robustness"; Athalye et al. 2018, "Obfuscated Gradients";
//! AutoAttack's checks). Each check returns warnings, never prints; docs/checks.md says when
//! each is raised and what it means.
//!
//! Record checks (this file) read the records of a finished run; model probes
//! (`probes.rs`) re-attack a small sample of cases.

use serde::{Deserialize, Serialize};

use mira_report::SegRecord;
use mira_stats::mean_defined;

use crate::spec::{AttackKind, AttackLoss, AttackScope};
use crate::{AttackEntry, GoalSpec};

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

/// Mean over cases of the per-case mean foreground Dice under attack.
fn mean_adv(rs: &[&SegRecord]) -> Option<f64> {
    let v: Vec<f64> = rs
        .iter()
        .filter_map(|r| mean_defined(&r.adv_dice))
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Checks on the records of a run: damage not monotone in ε; an iterative attack weaker than
/// single-step FGSM with the same goal and loss on the same cases.
pub fn record_checks(
    records: &[SegRecord],
    models: &[String],
    attacks: &[AttackEntry],
    tolerance: f64,
) -> Vec<Warning> {
    let mut out = Vec::new();
    let cell = |m: &str, a: &str, e: f64| -> Vec<&SegRecord> {
        records
            .iter()
            .filter(|r| r.model == m && r.attack == a && r.epsilon == e)
            .collect()
    };
    let mut eps: Vec<f64> = records.iter().map(|r| r.epsilon).collect();
    eps.sort_by(f64::total_cmp);
    eps.dedup();
    for m in models {
        for a in attacks {
            if a.early_stop.is_some() {
                out.extend(early_stop_notice(m, a, records));
            }
            // Untargeted damage must not shrink as ε grows (targeted goals move Dice both ways);
            // early-stopped cases keep the input that broke them, not the worst one.
            if a.goal != GoalSpec::Untargeted || a.early_stop.is_some() {
                continue;
            }
            let curve: Vec<(f64, f64)> = eps
                .iter()
                .filter_map(|&e| Some((e, mean_adv(&cell(m, &a.name, e))?)))
                .collect();
            for w in curve.windows(2) {
                if w[1].1 > w[0].1 + tolerance {
                    out.push(Warning {
                        check: "non-monotone".into(),
                        model: m.clone(),
                        attack: Some(a.name.clone()),
                        message: format!(
                            "mean Dice rises from {:.3} at ε = {} to {:.3} at ε = {}: the attack \
                             is not finding the worst case at the larger budget",
                            w[0].1, w[0].0, w[1].1, w[1].0
                        ),
                    });
                }
            }
        }
        for single in attacks.iter().filter(|a| {
            a.scope == AttackScope::PerImage
                && a.kind() == AttackKind::Fgsm
                && a.early_stop.is_none()
        }) {
            for iter in attacks.iter().filter(|a| {
                a.scope == AttackScope::PerImage
                    && a.early_stop.is_none()
                    && a.kind() != AttackKind::Fgsm
                    && a.goal == single.goal
                    && a.temperature == single.temperature
                    && a.loss == single.loss
            }) {
                for &e in eps.iter().filter(|e| **e > 0.0) {
                    let (s, i) = (cell(m, &single.name, e), cell(m, &iter.name, e));
                    if let (Some(ds), Some(di)) = (mean_adv(&s), mean_adv(&i))
                        && di > ds + tolerance
                    {
                        out.push(Warning {
                            check: "iterative-weaker".into(),
                            model: m.clone(),
                            attack: Some(iter.name.clone()),
                            message: format!(
                                "at ε = {e} it leaves mean Dice {di:.3}, single-step {} leaves \
                                 {ds:.3}: too few steps, too small steps, or masked gradients",
                                single.name
                            ),
                        });
                    }
                }
            }
        }
    }
    out
}

/// The `early-stop` notice of an early-stopped segmentation attack on model `m`.
fn early_stop_notice(m: &str, a: &AttackEntry, records: &[SegRecord]) -> Option<Warning> {
    let steps = a.spec("attack").ok().flatten()?.steps();
    let stopped: Vec<Option<usize>> = records
        .iter()
        .filter(|r| r.model == m && r.attack == a.name && r.epsilon > 0.0)
        .map(|r| r.stopped_at)
        .collect();
    let every = a.early_stop.unwrap_or(1);
    let read = "Their Dice is measured where they broke, not at the full attack: read broken \
                shares, not mean Dice";
    early_stop_warning(
        m,
        &a.name,
        (steps, every),
        a.loss == AttackLoss::Ce,
        &stopped,
        read,
    )
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
