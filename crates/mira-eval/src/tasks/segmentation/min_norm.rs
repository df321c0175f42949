//! Minimum-norm findings of a segmentation run, by the sweep's break rule (Dice below
//! `break_dice`, or a targeted goal met): the tables of [`crate::report::min_norm_tables`] from
//! segmentation records.

use mira_report::{SegRecord, TextTable};

use crate::report::min_norm_tables::{Sweep, min_norm_entry, searches, split_records, tables};
use mira_stats::mean_defined;

use crate::spec::AttackScope;
use crate::tasks::segmentation::{AttackEntry, GoalSpec, SegExperiment};

pub use crate::report::min_norm_tables::CONSISTENCY_SLACK;

/// The sweep's break rule: untargeted, mean foreground Dice below `break_dice`; targeted, at
/// least `break_match` of the goal's pixels predicted as the target. The judge of cascades and
/// min-norm searches applies it to predictions, the tables to records.
pub(crate) fn breaks(
    targeted: bool,
    mean_dice: Option<f64>,
    target_match: Option<f64>,
    break_dice: f64,
    break_match: f64,
) -> bool {
    if targeted {
        target_match.is_some_and(|m| m >= break_match)
    } else {
        mean_dice.is_some_and(|d| d < break_dice)
    }
}

/// Whether a record's attacked prediction counts as broken under the sweep's rule.
fn is_broken(r: &SegRecord, targeted: bool, break_dice: f64, break_match: f64) -> bool {
    let d = mean_defined(&r.adv_dice);
    breaks(targeted, d, r.adv_target_match, break_dice, break_match)
}

// A search is compared with the fixed-budget attacks of the same goal.
min_norm_entry!(AttackEntry, AttackScope::MinNorm, |s, o| o.goal == s.goal);

/// The records of fixed-budget attacks (summaries, plots, comparisons and checks use these) and
/// those of min-norm attacks; corruption records are in neither
/// ([`crate::tasks::segmentation::corruption_records`]).
pub fn split_min_norm(
    exp: &SegExperiment,
    records: &[SegRecord],
) -> (Vec<SegRecord>, Vec<SegRecord>) {
    let attacked: Vec<SegRecord> = records
        .iter()
        .filter(|r| r.goal != CORRUPTION)
        .cloned()
        .collect();
    split_records(&attacked, &exp.attacks)
}

/// The `goal` of corruption records.
pub(crate) const CORRUPTION: &str = "corruption";

/// The three tables (empty when the experiment has no min-norm attack).
pub fn min_norm_tables(
    exp: &SegExperiment,
    fixed: &[SegRecord],
    mn: &[SegRecord],
) -> Vec<TextTable> {
    let (bd, bm) = (exp.sweep.break_dice, exp.sweep.break_match);
    let models: Vec<&str> = exp.models.iter().map(|m| m.name.as_str()).collect();
    let searches = searches(&models, &exp.attacks, &|_| true);
    let targeted: Vec<bool> = searches
        .iter()
        .map(|s| {
            exp.attacks
                .iter()
                .any(|a| a.name == s.attack && a.goal != GoalSpec::Untargeted)
        })
        .collect();
    let rule = if targeted.iter().any(|t| *t) {
        format!(
            "mean foreground Dice below {bd} (untargeted) or at least {bm} of the goal's pixels \
             predicted as the target (targeted)"
        )
    } else {
        format!("mean foreground Dice below {bd}")
    };
    let sweep = Sweep::new(&exp.sweep.epsilons, exp.sweep.norm, rule);
    tables(&searches, &sweep, fixed, mn, &|si, r| {
        is_broken(r, targeted[si], bd, bm)
    })
}

/// A one-label untargeted L∞ record with clean Dice 0.9 and attacked Dice `adv` (tests).
#[cfg(test)]
pub(crate) fn test_record(
    model: &str,
    attack: &str,
    eps: f64,
    case: usize,
    adv: f64,
    min_norm: Option<f64>,
) -> SegRecord {
    SegRecord {
        draw: None,
        model: model.into(),
        attack: attack.into(),
        goal: "untargeted".into(),
        norm: "linf".into(),
        epsilon: eps,
        case,
        labels: vec!["a".into()],
        clean_dice: vec![Some(0.9)],
        adv_dice: vec![Some(adv)],
        clean_target_dice: None,
        adv_target_dice: None,
        clean_target_match: None,
        adv_target_match: None,
        linf: eps,
        l2: 0.0,
        min_norm,
        member: None,
        stopped_at: None,
        hd95: None,
        perceptibility: None,
        lesions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp() -> SegExperiment {
        SegExperiment::from_toml(
            r#"
            name = "t"
            [data]
            source = "brain_mr_phantom"
            test = 4
            [[models]]
            name = "unet"
            [[attacks]]
            name = "pgd"
            kind = "pgd"
            [[attacks]]
            name = "mn"
            scope = "min-norm"
            [sweep]
            epsilons = [0.0, 0.02, 0.04]
            "#,
            "t.toml",
        )
        .unwrap()
    }

    fn rec(attack: &str, eps: f64, case: usize, adv: f64, min_norm: Option<f64>) -> SegRecord {
        test_record("unet", attack, eps, case, adv, min_norm)
    }

    /// Hand-computed: minima (0.01, 0.03, none, 0) under a cap of 0.04; PGD breaks cases 0, 1
    /// at 0.02 and cases 0, 1, 2 at 0.04 (Dice 0.3 < 0.5).
    #[test]
    fn tables_match_hand_computed_shares() {
        let e = exp();
        let mut all = Vec::new();
        for (case, m) in [Some(0.01), Some(0.03), None, Some(0.0)].iter().enumerate() {
            all.push(rec("mn", 0.04, case, 0.45, *m));
        }
        for (eps, broken) in [(0.02, vec![0, 1]), (0.04, vec![0, 1, 2])] {
            for case in 0..4 {
                let d = if broken.contains(&case) { 0.3 } else { 0.8 };
                all.push(rec("pgd", eps, case, d, None));
            }
        }
        let (fixed, mn) = split_min_norm(&e, &all);
        assert_eq!((fixed.len(), mn.len()), (8, 4));
        let t = min_norm_tables(&e, &fixed, &mn);
        assert_eq!(t.len(), 3);
        // Sorted minima (0, 0.01, 0.03, ∞): median at index round(1.5) = 2, quartiles at 1, 2.
        assert_eq!(
            t[0].rows[0],
            [
                "unet",
                "mn",
                "0.04",
                "4",
                "25 % (1/4)",
                "75 % (3/4)",
                "0.030",
                "0.010 – 0.030"
            ]
        );
        assert_eq!(t[1].header[3..], ["min-norm (derived)", "pgd (fixed ε)"]);
        assert_eq!(t[1].rows[0][2..], ["0.02", "50 % (2/4)", "50 % (2/4)"]);
        assert_eq!(t[1].rows[1][2..], ["0.04", "75 % (3/4)", "75 % (3/4)"]);
        // Case 1 (0.03 > 0.022) at 0.02 and case 2 (never broken) at 0.04 are inconsistent.
        assert_eq!(t[2].rows[0][2..], ["pgd", "0.02", "2", "50 % (1/2)"]);
        assert_eq!(t[2].rows[1][2..], ["pgd", "0.04", "3", "67 % (2/3)"]);
        assert!(t[0].markdown().contains("| unet | mn | 0.04 |"));
    }

    #[test]
    fn min_norm_entries_are_checked() {
        let text = |extra: &str, eps: &str| {
            format!(
                "name = \"t\"\n[data]\nsource = \"brain_mr_phantom\"\ntest = 4\n[[models]]\n\
                 name = \"unet\"\n[[attacks]]\nname = \"mn\"\nscope = \"min-norm\"\n{extra}\n\
                 [sweep]\nepsilons = [{eps}]\n"
            )
        };
        let err = |extra: &str, eps: &str| {
            SegExperiment::from_toml(&text(extra, eps), "t.toml")
                .and_then(|e| e.validate())
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err("kind = \"pgd\"", "0.1").contains("attacks[0].kind"));
        assert!(err("queries = 10", "0.1").contains("attacks[0].queries"));
        assert!(err("", "0.0").contains("attacks[0].scope"));
        assert!(err("gamma = 2", "0.1").contains("gamma"));
        let e = SegExperiment::from_toml(&text("steps = 7", "0.0, 0.1"), "t.toml").unwrap();
        assert_eq!(e.attacks[0].min_norm().unwrap().steps, 7);
        assert_eq!(e.attacks[0].kind, None);
        // Per-image entries without a kind get APGD.
        let e = SegExperiment::from_toml(
            &text("", "0.1").replace("scope = \"min-norm\"", ""),
            "t.toml",
        )
        .unwrap();
        assert_eq!(e.attacks[0].kind(), "apgd");
        assert!(matches!(
            e.attacks[0].spec("a").unwrap(),
            Some(mira_attack::AttackSpec::Apgd(_))
        ));
    }
}
