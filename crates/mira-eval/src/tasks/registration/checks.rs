//! The registration checks beside the passing-rate monotonicity check (`outputs.rs`): FGSM
//! against the iterative attacks on the same image(s), on mean TRE, and the model probes with
//! the experiment's strongest gradient attack at the sweep's largest ε.

use mira_report::RegRecord;

use crate::checks::{AttackFacts, Metric, ProbePlan, check_records, probe, reference_attack};
use crate::spec::AttackScope;
use crate::tasks::registration::{RegExperiment, RegProbe, RegReady};
use crate::{Result, Warning};

/// An iterative attack that leaves a lower mean TRE than FGSM on the same image(s).
pub(crate) fn iterative_weaker(exp: &RegExperiment, records: &[RegRecord]) -> Vec<Warning> {
    let facts: Vec<AttackFacts> = exp
        .attacks
        .iter()
        .map(|a| {
            let per_image = a.scope == AttackScope::PerImage && a.early_stop.is_none();
            let group = a.image.describe().to_string();
            AttackFacts::entry(&a.name, per_image, a.kind(), false, group)
        })
        .collect();
    let mut out = Vec::new();
    for m in &exp.models {
        let metric = Metric::new("mean TRE", true, 2, 0.1 * m.tolerance());
        let mine: Vec<RegRecord> = records
            .iter()
            .filter(|r| r.model == m.name)
            .cloned()
            .collect();
        let names = std::slice::from_ref(&m.name);
        out.extend(check_records(&mine, names, &facts, &metric, |r| {
            Some(r.adv_tre)
        }));
    }
    out
}

/// The probes of every model with the strongest per-image gradient attack, on its image(s).
pub(crate) fn probes(exp: &RegExperiment, ready: &RegReady) -> Result<Vec<Warning>> {
    let eligible = exp.attacks.iter().filter_map(|a| {
        let spec = a.spec("attack").ok().flatten()?;
        Some((a.name.clone(), spec))
    });
    let (attack, spec) = reference_attack(eligible);
    let image = exp
        .attacks
        .iter()
        .find(|a| a.name == attack)
        .map(|a| a.image)
        .unwrap_or_default();
    let epsilon = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    let c = &exp.checks.probes;
    let plan = ProbePlan::new((attack, spec), exp.sweep.norm, epsilon, c, exp.seed);
    crate::checks::probe_models(exp.models.len(), |mi| {
        let entry = &exp.models[mi];
        let spacing = entry.spacing_mm(&exp.data);
        let unit = if spacing.is_some() { "mm" } else { "px" };
        let tolerance = entry.tolerance();
        let noise = c.tolerance.unwrap_or(0.1 * tolerance);
        let target = RegProbe::new(
            &ready.models[mi],
            ready.test(exp, mi)?,
            c.sample,
            (spacing.unwrap_or(1.0), unit, tolerance),
            image,
            noise,
        )?;
        probe(&target, &plan.setup(&entry.name, mi))
    })
}
