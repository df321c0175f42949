//! Minimum-norm findings of a registration run, by the passing rule (a pair is broken when its
//! TRE exceeds the model's tolerance): the tables of [`crate::report::min_norm_tables`] from
//! registration records.

use mira_report::{RegRecord, TextTable};

use crate::report::min_norm_tables::{Sweep, min_norm_entry, searches, split_records, tables};
use crate::spec::AttackScope;
use crate::tasks::registration::{RegAttackEntry, RegExperiment};

// A search is compared with the fixed-budget attacks on the same image(s).
min_norm_entry!(RegAttackEntry, AttackScope::MinNorm, |s, o| o.image
    == s.image);

/// The records of fixed-budget attacks (summaries, plots, first failures and checks use these)
/// and those of min-norm attacks.
pub fn split_reg_min_norm(
    exp: &RegExperiment,
    records: &[RegRecord],
) -> (Vec<RegRecord>, Vec<RegRecord>) {
    let attacked: Vec<RegRecord> = records
        .iter()
        .filter(|r| r.norm != crate::tasks::registration::CORRUPTION)
        .cloned()
        .collect();
    split_records(&attacked, &exp.attacks)
}

/// The three tables (empty when the experiment has no min-norm attack).
pub fn reg_min_norm_tables(
    exp: &RegExperiment,
    fixed: &[RegRecord],
    mn: &[RegRecord],
) -> Vec<TextTable> {
    let models: Vec<&str> = exp.models.iter().map(|m| m.name.as_str()).collect();
    let searches = searches(&models, &exp.attacks, &|_| true);
    let rule = "TRE above the model's tolerance (the pair fails)".to_string();
    let sweep = Sweep::new(&exp.sweep.epsilons, exp.sweep.norm, rule);
    tables(&searches, &sweep, fixed, mn, &|_, r| !r.adv_pass())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp() -> RegExperiment {
        let text = r#"
            task = "registration"
            name = "t"
            [data]
            test_pairs = 4
            [[models]]
            name = "m"
            source = "natural"
            [[attacks]]
            name = "fgsm"
            kind = "fgsm"
            [[attacks]]
            name = "mn"
            scope = "min-norm"
            [[attacks]]
            name = "fgsm-fixed"
            kind = "fgsm"
            image = "fixed"
            [sweep]
            epsilons = [0.0, 0.02, 0.04]
        "#;
        let e: RegExperiment = crate::spec::parse_toml(text, "t.toml").unwrap();
        e.validate().unwrap();
        e
    }

    fn rec(attack: &str, eps: f64, case: usize, adv_tre: f64, min_norm: Option<f64>) -> RegRecord {
        RegRecord {
            draw: None,
            model: "m".into(),
            attack: attack.into(),
            image: "moving".into(),
            norm: "linf".into(),
            epsilon: eps,
            case,
            source: 0,
            unit: "px".into(),
            tolerance: 5.0,
            truth: [0.0; 3],
            clean_pred: [0.0; 3],
            adv_pred: [0.0; 3],
            clean_tre: 1.0,
            adv_tre,
            linf: eps,
            l2: 0.0,
            min_norm,
            member: None,
            stopped_at: None,
            perceptibility: None,
        }
    }

    /// The registration rule and pairing on hand values: minima (0.01, 0.03, none, 0) under a
    /// cap of 0.04; FGSM on the moving image fails pairs 0 and 1 at 0.02 (TRE 6 above the
    /// tolerance 5). FGSM on the fixed image is not compared with a search on the moving one.
    /// (The tables themselves are tested with segmentation records.)
    #[test]
    fn pairs_fail_above_tolerance_and_searches_compare_the_same_image() {
        let e = exp();
        let minima = [Some(0.01), Some(0.03), None, Some(0.0)];
        let mut all: Vec<RegRecord> = (0..4).map(|c| rec("mn", 0.04, c, 6.0, minima[c])).collect();
        for c in 0..4 {
            all.push(rec("fgsm", 0.02, c, if c < 2 { 6.0 } else { 5.0 }, None));
            all.push(rec("fgsm-fixed", 0.02, c, 9.0, None));
        }
        let (fixed, mn) = split_reg_min_norm(&e, &all);
        assert_eq!((fixed.len(), mn.len()), (8, 4));
        let t = reg_min_norm_tables(&e, &fixed, &mn);
        assert_eq!(t[1].header[3..], ["min-norm (derived)", "fgsm (fixed ε)"]);
        assert_eq!(t[1].rows[0][2..], ["0.02", "50 % (2/4)", "50 % (2/4)"]);
        assert_eq!(t[1].rows[1][2..], ["0.04", "75 % (3/4)", "-"]);
        assert!(t[0].caption.contains("TRE above"));
        // Without min-norm records there are no tables.
        assert!(reg_min_norm_tables(&e, &fixed, &[]).is_empty());
    }
}
