//! The disk-shape checks: in-distribution damage (mean MRSE) monotone in ε, FGSM against the
//! iterative attacks of its norm, and the model probes with the strongest in-distribution
//! gradient attack at its largest ε.

use mira_report::ShapeRecord;

use crate::checks::{AttackFacts, Metric, ProbePlan, check_records, probe, reference_attack};
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
            AttackFacts::entry(
                &a.name,
                ind,
                a.attack().kind(),
                ind,
                format!("{:?}", a.norm),
            )
        })
        .collect();
    let metric = Metric::new("mean MRSE (px)", true, 2, exp.checks.monotone_tolerance_px);
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    check_records(records, &names, &facts, &metric, |r| Some(r.adv_mrse))
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
    let plan = ProbePlan::new((attack, spec), norm, epsilon, c, exp.seed);
    crate::checks::probe_models(exp.models.len(), |mi| {
        let (model, mrse) = (&ready.models[mi], exp.sweep.break_mrse);
        let target = ShapeProbe::new(model, &ready.test, c.sample, mrse, tolerance)?;
        probe(&target, &plan.setup(&exp.models[mi].name, mi))
    })
}
