//! The synthesis checks: a larger requested Dice drop must not reach a smaller mean drop
//! (`non-monotone`, per model and method), and the probes of every segmenter with L∞ APGD at
//! `checks.epsilon`: the per-image search and the learned attacker climb the same gradients,
//! so a segmenter with masked gradients would look robust to them for the wrong reason.

use mira_attack::{ApgdConfig, AttackSpec, Norm};
use mira_report::SynthRecord;

use crate::checks::{AttackFacts, Metric, ProbePlan, check_records};
use crate::tasks::segmentation::probe_segmenter;
use crate::tasks::synthesis::{LEARNED, PER_IMAGE, SynthExperiment, SynthReady};
use crate::{Result, Warning};

/// The mean drop reached, per requested drop, must not fall as the request rises.
pub(crate) fn synth_record_checks(exp: &SynthExperiment, records: &[SynthRecord]) -> Vec<Warning> {
    let facts: Vec<AttackFacts> = [PER_IMAGE, LEARNED]
        .iter()
        .map(|m| AttackFacts {
            name: m.to_string(),
            monotone: true,
            single_step: false,
            iterative: false,
            group: String::new(),
        })
        .collect();
    let tolerance = exp.checks.monotone_tolerance;
    let metric = Metric::new("mean Dice drop reached", true, 3, tolerance).budget("Δ");
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    check_records(records, &names, &facts, &metric, |r| Some(r.drop))
}

/// The probes of every segmenter.
pub(crate) fn probes(exp: &SynthExperiment, ready: &SynthReady) -> Result<Vec<Warning>> {
    let c = &exp.checks;
    let spec = AttackSpec::Apgd(ApgdConfig {
        steps: 20,
        ..Default::default()
    });
    let reference = ("apgd (probe)".to_string(), spec);
    let plan = ProbePlan::new(reference, Norm::Linf, c.epsilon, &c.probes, exp.seed);
    let tolerance = c.probes.tolerance.unwrap_or(0.02);
    let cfg = (c.probes.sample, 1.0, tolerance, 0.2);
    let n = ready.names.len().min(ready.models.len());
    crate::checks::probe_models(n, |mi| {
        let setup = plan.setup(&ready.names[mi], mi);
        probe_segmenter(&ready.models[mi], &ready.test, &setup, cfg)
    })
}
