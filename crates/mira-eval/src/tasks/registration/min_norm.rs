//! Minimum-norm findings of a registration run, by the passing rule (a pair is broken when its
//! TRE exceeds the model's tolerance): the tables of [`crate::report::min_norm_tables`] from
//! registration records.

use mira_report::{RegRecord, TextTable};

use crate::report::min_norm_tables::{Search, Sweep, split_records, tables};
use crate::spec::AttackScope;
use crate::tasks::registration::RegExperiment;

/// The records of fixed-budget attacks (summaries, plots, first failures and checks use these)
/// and those of min-norm attacks.
pub fn split_reg_min_norm(
    exp: &RegExperiment,
    records: &[RegRecord],
) -> (Vec<RegRecord>, Vec<RegRecord>) {
    let min_norm: Vec<&str> = exp
        .attacks
        .iter()
        .filter(|a| a.scope == AttackScope::MinNorm)
        .map(|a| a.name.as_str())
        .collect();
    split_records(records, &min_norm)
}

/// The three tables (empty when the experiment has no min-norm attack). A search is compared
/// with the fixed-budget attacks on the same image(s).
pub fn reg_min_norm_tables(
    exp: &RegExperiment,
    fixed: &[RegRecord],
    mn: &[RegRecord],
) -> Vec<TextTable> {
    let mut searches = Vec::new();
    for m in &exp.models {
        for a in exp
            .attacks
            .iter()
            .filter(|a| a.scope == AttackScope::MinNorm)
        {
            searches.push(Search {
                model: &m.name,
                attack: &a.name,
                fixed: exp
                    .attacks
                    .iter()
                    .filter(|o| o.scope == AttackScope::PerImage && o.image == a.image)
                    .map(|o| o.name.as_str())
                    .collect(),
            });
        }
    }
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
        }
    }

    /// Hand-computed: minima (0.01, 0.03, none, 0) under a cap of 0.04; FGSM makes cases 0, 1
    /// fail at 0.02 (TRE 6 > 5) and cases 0, 1, 2 at 0.04. The fixed-image FGSM is not
    /// compared with a search on the moving image.
    #[test]
    fn tables_match_hand_computed_shares() {
        let e = exp();
        let mut all = Vec::new();
        for (case, m) in [Some(0.01), Some(0.03), None, Some(0.0)].iter().enumerate() {
            all.push(rec("mn", 0.04, case, 6.0, *m));
        }
        for (eps, failing) in [(0.02, vec![0, 1]), (0.04, vec![0, 1, 2])] {
            for case in 0..4 {
                let t = if failing.contains(&case) { 6.0 } else { 5.0 };
                all.push(rec("fgsm", eps, case, t, None));
                all.push(rec("fgsm-fixed", eps, case, 9.0, None));
            }
        }
        let (fixed, mn) = split_reg_min_norm(&e, &all);
        assert_eq!((fixed.len(), mn.len()), (16, 4));
        let t = reg_min_norm_tables(&e, &fixed, &mn);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[0].rows[0][3..],
            ["4", "25 % (1/4)", "75 % (3/4)", "0.030", "0.010 – 0.030"]
        );
        assert_eq!(t[1].header[3..], ["min-norm (derived)", "fgsm (fixed ε)"]);
        assert_eq!(t[1].rows[0][2..], ["0.02", "50 % (2/4)", "50 % (2/4)"]);
        assert_eq!(t[1].rows[1][2..], ["0.04", "75 % (3/4)", "75 % (3/4)"]);
        // Case 1 (0.03 > 0.022) at 0.02 and case 2 (never failing) at 0.04 are inconsistent.
        assert_eq!(t[2].rows[0][2..], ["fgsm", "0.02", "2", "50 % (1/2)"]);
        assert_eq!(t[2].rows[1][2..], ["fgsm", "0.04", "3", "67 % (2/3)"]);
        assert!(t[0].caption.contains("TRE above"));
        // Without min-norm records there are no tables.
        assert!(reg_min_norm_tables(&e, &fixed, &[]).is_empty());
    }
}
