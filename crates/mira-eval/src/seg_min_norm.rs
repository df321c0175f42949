//! Minimum-norm findings of a segmentation run: per model, the distribution of the per-case
//! smallest breaking budget; the share of cases broken at each ε of the sweep derived from it
//! (no re-attack) beside the share the fixed-budget attacks broke; and the consistency check
//! "a case broken at ε by a fixed-budget attack has a minimal ε ≤ ε (within 10 %)".

use mira_report::{SegRecord, TextTable};
use mira_stats::mean_defined;

use crate::spec::{Experiment, GoalSpec, SegScope};

/// Relative slack of the consistency check: the search is approximate (DDN steps a few % around
/// the boundary), so a minimal ε up to 10 % above the fixed attack's ε still counts as
/// consistent.
pub const CONSISTENCY_SLACK: f64 = 0.1;

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

/// The records of fixed-budget attacks (summaries, plots, comparisons and checks use these) and
/// those of min-norm attacks.
pub fn split_min_norm(exp: &Experiment, records: &[SegRecord]) -> (Vec<SegRecord>, Vec<SegRecord>) {
    let min_norm: Vec<&str> = exp
        .attacks
        .iter()
        .filter(|a| a.scope == SegScope::MinNorm)
        .map(|a| a.name.as_str())
        .collect();
    records
        .iter()
        .cloned()
        .partition(|r| !min_norm.contains(&r.attack.as_str()))
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.0} % ({k}/{n})", 100.0 * k as f64 / n as f64)
    }
}

/// The per-case minima of one (model, min-norm attack), by case; unbroken cases are `None`.
fn minima(mn: &[SegRecord], model: &str, attack: &str) -> Vec<(usize, Option<f64>)> {
    mn.iter()
        .filter(|r| r.model == model && r.attack == attack)
        .map(|r| (r.case, r.min_norm))
        .collect()
}

/// A quantile of the minima with unbroken cases above the cap (`> cap` when it falls there).
fn quantile(sorted: &[f64], q: f64, cap: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let v = sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    if v.is_infinite() {
        format!("> {cap}")
    } else {
        f3(v)
    }
}

/// The three tables (empty when the experiment has no min-norm attack).
pub fn min_norm_tables(exp: &Experiment, fixed: &[SegRecord], mn: &[SegRecord]) -> Vec<TextTable> {
    let cap = crate::seg_cell::eps_f64(exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max));
    let mut eps: Vec<f64> = exp
        .sweep
        .epsilons
        .iter()
        .map(|&e| crate::seg_cell::eps_f64(e))
        .filter(|e| *e > 0.0)
        .collect();
    eps.sort_by(f64::total_cmp);
    let (bd, bm) = (exp.sweep.break_dice, exp.sweep.break_match);
    let (mut dist, mut curve, mut consist) = (Vec::new(), Vec::new(), Vec::new());
    let mut curve_header = vec![
        "model".to_string(),
        "min-norm attack".into(),
        "ε".into(),
        "min-norm (derived)".into(),
    ];
    let mut curve_attacks: Vec<&str> = Vec::new();
    for m in &exp.models {
        for a in exp.attacks.iter().filter(|a| a.scope == SegScope::MinNorm) {
            let targeted = a.goal != GoalSpec::Untargeted;
            let found = minima(mn, &m.name, &a.name);
            if found.is_empty() {
                continue;
            }
            let n = found.len();
            let mut sorted: Vec<f64> = found
                .iter()
                .map(|(_, v)| v.unwrap_or(f64::INFINITY))
                .collect();
            sorted.sort_by(f64::total_cmp);
            let broken = sorted.iter().filter(|v| v.is_finite()).count();
            let clean = sorted.iter().filter(|v| **v == 0.0).count();
            dist.push(vec![
                m.name.clone(),
                a.name.clone(),
                cap.to_string(),
                n.to_string(),
                pct(clean, n),
                pct(broken, n),
                quantile(&sorted, 0.5, cap),
                format!(
                    "{} – {}",
                    quantile(&sorted, 0.25, cap),
                    quantile(&sorted, 0.75, cap)
                ),
            ]);
            let others: Vec<&crate::AttackEntry> = exp
                .attacks
                .iter()
                .filter(|o| o.scope == SegScope::PerImage && o.goal == a.goal)
                .collect();
            for o in &others {
                if !curve_attacks.contains(&o.name.as_str()) {
                    curve_attacks.push(&o.name);
                    curve_header.push(format!("{} (fixed ε)", o.name));
                }
            }
            let by_case: std::collections::HashMap<usize, Option<f64>> =
                found.iter().copied().collect();
            for &e in &eps {
                let mut row = vec![
                    m.name.clone(),
                    a.name.clone(),
                    e.to_string(),
                    pct(sorted.iter().filter(|v| **v <= e * (1.0 + 1e-6)).count(), n),
                ];
                for name in &curve_attacks {
                    if !others.iter().any(|o| o.name == *name) {
                        row.push("-".into());
                        continue;
                    }
                    let cell: Vec<&SegRecord> = fixed
                        .iter()
                        .filter(|r| r.model == m.name && r.attack == *name && r.epsilon == e)
                        .collect();
                    let broken_cases: Vec<usize> = cell
                        .iter()
                        .filter(|r| is_broken(r, targeted, bd, bm))
                        .map(|r| r.case)
                        .collect();
                    row.push(pct(broken_cases.len(), cell.len()));
                    if broken_cases.is_empty() {
                        continue;
                    }
                    let ok = broken_cases
                        .iter()
                        .filter(|c| {
                            by_case
                                .get(c)
                                .copied()
                                .flatten()
                                .is_some_and(|v| v <= e * (1.0 + CONSISTENCY_SLACK))
                        })
                        .count();
                    consist.push(vec![
                        m.name.clone(),
                        a.name.clone(),
                        name.to_string(),
                        e.to_string(),
                        broken_cases.len().to_string(),
                        pct(ok, broken_cases.len()),
                    ]);
                }
                curve.push(row);
            }
        }
    }
    if dist.is_empty() {
        return Vec::new();
    }
    let rule = if exp
        .attacks
        .iter()
        .any(|a| a.scope == SegScope::MinNorm && a.goal != GoalSpec::Untargeted)
    {
        format!(
            "mean foreground Dice below {bd} (untargeted) or at least {bm} of the goal's pixels \
             predicted as the target (targeted)"
        )
    } else {
        format!("mean foreground Dice below {bd}")
    };
    let norm = format!("{:?}", exp.sweep.norm).to_lowercase();
    for r in &mut curve {
        r.resize(curve_header.len(), "-".into());
    }
    vec![
        TextTable {
            title: "Minimum-norm search".into(),
            caption: format!(
                "Per case, the smallest {norm} perturbation (up to the cap) found to break it: \
                 {rule}. Unbroken cases count as above the cap in the quantiles."
            ),
            header: [
                "model",
                "attack",
                "cap ε",
                "cases",
                "broken clean",
                "broken within cap",
                "median minimal ε",
                "quartiles",
            ]
            .map(String::from)
            .to_vec(),
            rows: dist,
        },
        TextTable {
            title: "Share broken vs ε".into(),
            caption: "The min-norm column is derived from the per-case minima without attacking \
                      again; the others are the fixed-budget attacks of the run at that ε, judged \
                      by the same rule."
                .into(),
            header: curve_header,
            rows: curve,
        },
        TextTable {
            title: "Consistency of the minimum-norm search".into(),
            caption: format!(
                "Of the cases a fixed-budget attack broke at ε, the share whose minimal ε is at \
                 most ε (with {:.0} % slack for the search's step).",
                CONSISTENCY_SLACK * 100.0
            ),
            header: [
                "model",
                "min-norm attack",
                "fixed attack",
                "ε",
                "broken by it",
                "minimal ε ≤ ε",
            ]
            .map(String::from)
            .to_vec(),
            rows: consist,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp() -> Experiment {
        Experiment::from_toml(
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
        SegRecord {
            model: "unet".into(),
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
        }
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
            Experiment::from_toml(&text(extra, eps), "t.toml")
                .and_then(|e| e.validate())
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err("kind = \"pgd\"", "0.1").contains("attacks[0].kind"));
        assert!(err("queries = 10", "0.1").contains("attacks[0].queries"));
        assert!(err("", "0.0").contains("attacks[0].scope"));
        assert!(err("gamma = 2", "0.1").contains("gamma"));
        let e = Experiment::from_toml(&text("steps = 7", "0.0, 0.1"), "t.toml").unwrap();
        assert_eq!(e.attacks[0].min_norm().unwrap().steps, 7);
        assert_eq!(e.attacks[0].kind, None);
        // Per-image entries without a kind get APGD.
        let e = Experiment::from_toml(
            &text("", "0.1").replace("scope = \"min-norm\"", ""),
            "t.toml",
        )
        .unwrap();
        assert_eq!(e.attacks[0].kind(), crate::spec::AttackKind::Apgd);
        assert!(matches!(
            e.attacks[0].spec("a").unwrap(),
            Some(mira_attack::AttackSpec::Apgd(_))
        ));
    }
}
