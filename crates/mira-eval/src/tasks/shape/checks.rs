//! The disk-shape checks: in-distribution damage (mean MRSE) monotone in ε, FGSM against the
//! iterative attacks of its norm, and the model probes with the strongest in-distribution
//! gradient attack at its largest ε.

use mira_report::ShapeRecord;

use crate::checks::{AttackFacts, Metric, ProbeSetup, probe, record_checks, reference_attack};
use crate::run::mix;
use crate::spec::HasAttack;
use crate::tasks::shape::{ShapeExperiment, ShapeProbe, ShapeReady, ShapeScope};
use crate::{Result, Warning};

/// Record checks on the in-distribution attacks' mean MRSE.
pub(crate) fn shape_record_checks(exp: &ShapeExperiment, records: &[ShapeRecord]) -> Vec<Warning> {
    let facts: Vec<AttackFacts> = exp
        .attacks
        .iter()
        .map(|a| {
            let ind = a.scope == ShapeScope::Ind;
            let fgsm = a.attack().kind() == "fgsm";
            AttackFacts {
                name: a.name.clone(),
                monotone: ind,
                single_step: ind && fgsm,
                iterative: ind && !fgsm,
                group: format!("{:?}", a.norm),
            }
        })
        .collect();
    let metric = Metric {
        name: "mean MRSE (px)".into(),
        higher_is_worse: true,
        decimals: 2,
        collapse: 0.0,
        collapse_goal: String::new(),
        tolerance: exp.checks.monotone_tolerance_px,
        budget: "ε",
    };
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    record_checks(
        records,
        &names,
        &facts,
        |r| Some(r.adv_mrse),
        &metric,
        &|_, _| None,
    )
}

/// The probes of every model with the strongest in-distribution gradient attack.
pub(crate) fn probes(exp: &ShapeExperiment, ready: &ShapeReady) -> Result<Vec<Warning>> {
    let eligible: Vec<_> = exp
        .attacks
        .iter()
        .zip(&ready.specs)
        .filter(|(a, _)| a.scope == ShapeScope::Ind)
        .map(|(a, s)| (a.name.clone(), s.clone()))
        .collect();
    let (attack, spec) = reference_attack(eligible);
    let (norm, epsilon) = match exp.attacks.iter().find(|a| a.name == attack) {
        Some(a) => (a.norm, a.epsilons.iter().copied().fold(0.0f32, f32::max)),
        None => (mira_attack::Norm::Linf, 0.05),
    };
    let c = &exp.checks.probes;
    let tolerance = c.tolerance.unwrap_or(exp.checks.monotone_tolerance_px);
    let mut out = Vec::new();
    for (mi, entry) in exp.models.iter().enumerate() {
        let target = ShapeProbe::new(
            &ready.models[mi],
            &ready.test,
            c.sample,
            exp.sweep.break_mrse,
            tolerance,
        )?;
        let setup = ProbeSetup {
            model: &entry.name,
            attack: &attack,
            spec: spec.clone(),
            norm,
            epsilon,
            large_epsilon: c.large_epsilon,
            random_queries: c.random_queries,
            seed: mix(exp.seed, 77_000 + mi as u64),
        };
        out.extend(probe(&target, &setup)?);
    }
    Ok(out)
}
