//! The brain-age checks beside the MAE monotonicity check (`outputs.rs`): FGSM against the
//! iterative per-image attacks of its goal, norm and gradient, on MAE, and the model probes
//! with the strongest untargeted per-image attack at its largest ε.

use mira_attack::Norm;
use mira_report::AgeRecord;

use crate::checks::{AttackFacts, Metric, ProbeSetup, probe, record_checks, reference_attack};
use crate::run::mix;
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
            let fgsm = a.attack().kind() == "fgsm";
            AttackFacts {
                name: a.name.clone(),
                monotone: false,
                single_step: per_image && fgsm,
                iterative: per_image && !fgsm,
                group: format!("{:?} {:?} {:?}", a.goal, a.norm, a.gradient),
            }
        })
        .collect();
    let metric = Metric {
        name: "MAE (y)".into(),
        higher_is_worse: true,
        decimals: 2,
        collapse: 0.0,
        collapse_goal: String::new(),
        tolerance: exp.checks.monotone_tolerance_years,
        budget: "ε",
    };
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    record_checks(
        records,
        &names,
        &facts,
        |r| Some((r.adv_pred - r.age).abs()),
        &metric,
        &|_, _| None,
    )
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
    let mut out = Vec::new();
    for (mi, entry) in exp.models.iter().enumerate() {
        let target = AgeProbe::new(
            &ready.models[mi],
            &ready.test,
            c.sample,
            exp.sweep.threshold_years,
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
