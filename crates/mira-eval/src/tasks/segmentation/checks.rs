//! The segmentation checks: record checks on mean foreground Dice (monotone in ε, iterative at
//! least as strong as single-step FGSM) and the model probes with the experiment's strongest
//! untargeted gradient attack.

use mira_attack::AttackSpec;
use mira_data::SegDataset;
use mira_report::SegRecord;
use mira_stats::mean_defined;

use crate::checks::early_stop_warning;
use crate::run::mix;
use crate::spec::{AttackKind, AttackScope};
use crate::tasks::segmentation::{AttackEntry, AttackLoss, GoalSpec, SegExperiment};
use crate::{ProbeSetup, Result, Warning, probe_model};

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

/// Record checks over the whole run, then the model probes of every model with the
/// experiment's strongest untargeted gradient attack at the largest budget.
pub(crate) fn run_checks(
    exp: &SegExperiment,
    models: &[mira_nn::UNet],
    test: &SegDataset,
    records: &[SegRecord],
) -> Result<Vec<Warning>> {
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    let mut warnings = record_checks(records, &names, &exp.attacks, exp.checks.tolerance);
    let mut reference: Option<(String, AttackSpec, f32)> = None;
    for (i, a) in exp.attacks.iter().enumerate() {
        let Some(spec) = a.spec(&format!("attacks[{i}]"))? else {
            continue;
        };
        // The attack with the most gradient evaluations; on a tie APGD, the strong default.
        let better = reference.as_ref().is_none_or(|(_, r, _)| {
            let (n, m) = (spec.gradient_evaluations(), r.gradient_evaluations());
            n > m
                || (n == m
                    && matches!(spec, AttackSpec::Apgd(_))
                    && !matches!(r, AttackSpec::Apgd(_)))
        });
        // The probes need a gradient attack; score-based attacks (Square) never serve.
        let gradient = spec.gradient_evaluations() > 0;
        if a.goal == GoalSpec::Untargeted && a.loss == AttackLoss::Ce && better && gradient {
            reference = Some((a.name.clone(), spec, a.temperature.unwrap_or(1.0)));
        }
    }
    let (attack, spec, temperature) = reference.unwrap_or_else(|| {
        (
            "apgd (probe)".into(),
            AttackSpec::Apgd(mira_attack::ApgdConfig {
                steps: 20,
                ..Default::default()
            }),
            1.0,
        )
    });
    let epsilon = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    for (mi, (entry, model)) in exp.models.iter().zip(models).enumerate() {
        let setup = ProbeSetup {
            model: &entry.name,
            attack: &attack,
            spec: spec.clone(),
            temperature,
            norm: exp.sweep.norm,
            epsilon,
            cfg: &exp.checks,
            seed: mix(exp.seed, 77_000 + mi as u64),
        };
        warnings.extend(probe_model(model, test, &setup)?);
    }
    Ok(warnings)
}
