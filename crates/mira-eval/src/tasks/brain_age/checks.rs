//! The brain-age checks beside the MAE monotonicity check (`outputs.rs`): FGSM against the
//! iterative per-image attacks of its goal, norm and gradient, on MAE, and the model probes
//! with the strongest untargeted per-image attack at its largest ε.

use mira_attack::Norm;
use mira_report::AgeRecord;

use crate::checks::{AttackFacts, Metric, ProbePlan, check_records, probe, reference_attack};
use crate::spec::HasAttack;
use crate::tasks::brain_age::{AgeExperiment, AgeGoal, AgeGradient, AgeProbe, AgeReady, AgeScope};
use crate::{Result, Warning};

/// An iterative attack that leaves a lower MAE than FGSM with the same goal, norm and
/// gradient.
pub(crate) fn iterative_weaker(exp: &AgeExperiment, records: &[AgeRecord]) -> Vec<Warning> {
    let facts: Vec<AttackFacts> = exp
        .attacks
        .iter()
        .map(|a| {
            let per_image = a.scope == AgeScope::PerImage;
            let group = format!("{:?} {:?} {:?}", a.goal, a.norm, a.gradient);
            AttackFacts::entry(&a.name, per_image, a.attack().kind(), false, group)
        })
        .collect();
    let metric = Metric::new("MAE (y)", true, 2, exp.checks.monotone_tolerance_years);
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    check_records(records, &names, &facts, &metric, |r| {
        Some((r.adv_pred - r.age).abs())
    })
}

/// The probes of every model with the strongest untargeted per-image plain-gradient attack, at
/// its norm and largest ε (APGD at the largest L∞ budget of the file when there is none).
pub(crate) fn probes(exp: &AgeExperiment, ready: &AgeReady) -> Result<Vec<Warning>> {
    let eligible: Vec<_> = exp
        .attacks
        .iter()
        .filter(|a| a.goal == AgeGoal::Error && a.gradient == AgeGradient::Plain)
        .filter_map(|a| Some((a.name.clone(), a.spec("attack").ok().flatten()?)))
        .collect();
    let (attack, spec) = reference_attack(eligible);
    let (norm, epsilon) = match exp.attacks.iter().find(|a| a.name == attack) {
        Some(a) => (a.norm, a.epsilons.iter().copied().fold(0.0f32, f32::max)),
        None => {
            let linf = exp.attacks.iter().filter(|a| a.norm == Norm::Linf);
            let largest = linf
                .flat_map(|a| a.epsilons.iter().copied())
                .fold(0.0, f32::max);
            (Norm::Linf, if largest > 0.0 { largest } else { 0.02 })
        }
    };
    let c = &exp.checks.probes;
    let tolerance = c.tolerance.unwrap_or(exp.checks.monotone_tolerance_years);
    let plan = ProbePlan::new((attack, spec), norm, epsilon, c, exp.seed);
    crate::checks::probe_models(exp.models.len(), |mi| {
        let threshold = exp.sweep.threshold_years;
        let target = AgeProbe::new(
            &ready.models[mi],
            &ready.test,
            c.sample,
            threshold,
            tolerance,
        )?;
        probe(&target, &plan.setup(&exp.models[mi].name, mi))
    })
}
