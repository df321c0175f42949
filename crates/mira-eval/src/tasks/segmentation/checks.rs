//! The segmentation checks: record checks on mean foreground Dice (monotone in ε, iterative at
//! least as strong as single-step FGSM) and the model probes with the experiment's strongest
//! untargeted gradient attack.

use mira_data::SegDataset;
use mira_report::SegRecord;
use mira_stats::mean_defined;

use crate::checks::early_stop_warning;
use crate::checks::{self, AttackFacts, Metric, ProbePlan, reference_attack};
use crate::spec::AttackScope;
use crate::tasks::segmentation::probe_segmenter;
use crate::tasks::segmentation::{AttackEntry, AttackLoss, GoalSpec, SegExperiment};
use crate::{Result, Warning};

/// What the record checks know of the experiment's attacks: untargeted, not early-stopped
/// entries should do more damage at larger ε; FGSM is compared with the iterative entries of
/// its goal, temperature and loss.
fn facts(attacks: &[AttackEntry]) -> Vec<AttackFacts> {
    attacks
        .iter()
        .map(|a| {
            let per_image = a.scope == AttackScope::PerImage && a.early_stop.is_none();
            let monotone = a.goal == GoalSpec::Untargeted && a.early_stop.is_none();
            let group = format!("{:?} {:?} {:?}", a.goal, a.temperature, a.loss);
            AttackFacts::entry(&a.name, per_image, a.kind(), monotone, group)
        })
        .collect()
}

/// Checks on the records of a run (on mean foreground Dice): damage not monotone in ε; an
/// iterative attack weaker than single-step FGSM with the same goal and loss on the same cases;
/// the `early-stop` notice of early-stopped attacks.
pub fn record_checks(
    records: &[SegRecord],
    models: &[String],
    attacks: &[AttackEntry],
    tolerance: f64,
) -> Vec<Warning> {
    let metric = Metric::new("mean Dice", false, 3, tolerance);
    let notice = |m: &str, f: &AttackFacts| {
        let a = attacks.iter().find(|a| a.name == f.name)?;
        a.early_stop.and_then(|_| early_stop_notice(m, a, records))
    };
    checks::record_checks(
        records,
        models,
        &facts(attacks),
        |r| mean_defined(&r.adv_dice),
        &metric,
        &notice,
    )
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
    early_stop_warning(m, &a.name, (steps, every), true, &stopped, read)
}

/// The model probes of every model with the experiment's strongest untargeted gradient attack
/// at the largest budget.
pub(crate) fn probes(
    exp: &SegExperiment,
    models: &[crate::tasks::segmentation::SegNet],
    test: &SegDataset,
) -> Result<Vec<Warning>> {
    let mut warnings = Vec::new();
    let mut eligible = Vec::new();
    for (i, a) in exp.attacks.iter().enumerate() {
        if let Some(spec) = a.spec(&format!("attacks[{i}]"))?
            && a.goal == GoalSpec::Untargeted
            && a.loss == AttackLoss::Ce
        {
            eligible.push((a.name.clone(), spec));
        }
    }
    let (attack, spec) = reference_attack(eligible);
    let temperature = exp
        .attacks
        .iter()
        .find(|a| a.name == attack)
        .and_then(|a| a.temperature)
        .unwrap_or(1.0);
    let epsilon = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    let c = &exp.checks;
    let plan = ProbePlan::new(
        (attack, spec),
        exp.sweep.norm,
        epsilon,
        &c.probes(),
        exp.seed,
    );
    let cfg = (c.sample, temperature, c.tolerance, c.collapse_dice);
    let n = exp.models.len().min(models.len());
    warnings.extend(checks::probe_models(n, |mi| {
        let setup = plan.setup(&exp.models[mi].name, mi);
        probe_segmenter(&models[mi], test, &setup, cfg)
    })?);
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_checks_flag_non_monotone_curves_and_weak_iterations() {
        let rec = |attack: &str, eps: f64, case: usize, adv: f64| {
            crate::tasks::segmentation::min_norm::test_record("m", attack, eps, case, adv, None)
        };
        // FGSM: 0.9, 0.6, 0.7 (rises at 0.04: non-monotone); i-FGSM: 0.9, 0.7, 0.5 (weaker than
        // FGSM at 0.02 by 0.1).
        let mut records = Vec::new();
        for (i, (f, it)) in [(0.9, 0.9), (0.6, 0.7), (0.7, 0.5)].iter().enumerate() {
            let eps = [0.0, 0.02, 0.04][i];
            for case in 0..3 {
                records.push(rec("fgsm", eps, case, *f));
                records.push(rec("ifgsm", eps, case, *it));
            }
        }
        let text = r#"
    [[a]]
    name = "fgsm"
    kind = "fgsm"
    [[a]]
    name = "ifgsm"
    kind = "ifgsm"
    "#;
        #[derive(serde::Deserialize)]
        struct A {
            a: Vec<AttackEntry>,
        }
        let attacks = toml::from_str::<A>(text).unwrap().a;
        let w = record_checks(&records, &["m".into()], &attacks, 0.02);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert_eq!(
            (w[0].check.as_str(), w[0].attack.as_deref()),
            ("non-monotone", Some("fgsm"))
        );
        assert_eq!(
            (w[1].check.as_str(), w[1].attack.as_deref()),
            ("iterative-weaker", Some("ifgsm"))
        );
        assert!(w[1].message.contains("ε = 0.02"), "{}", w[1].message);
    }
}
