//! Clean vs attacked Dice per (model, attack, ε), with the paired Wilcoxon test.

use serde::Serialize;

use mira_stats::{mean_defined, paired_means, wilcoxon_signed_rank};

use crate::SegRecord;

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// Model name.
    pub model: String,
    /// Attack name.
    pub attack: String,
    /// Goal of the attack.
    pub goal: String,
    /// Budget.
    pub epsilon: f64,
    /// Number of cases.
    pub n: usize,
    /// Foreground label names.
    pub labels: Vec<String>,
    /// Mean clean Dice per label.
    pub clean_dice: Vec<Option<f64>>,
    /// Mean adversarial Dice per label.
    pub adv_dice: Vec<Option<f64>>,
    /// Mean over labels of the clean means.
    pub clean_mean: Option<f64>,
    /// Mean over labels of the adversarial means.
    pub adv_mean: Option<f64>,
    /// `100 (clean - adv) / clean` of the label-mean Dice.
    pub drop_percent: Option<f64>,
    /// Two-sided Wilcoxon signed-rank p-value, per-case mean Dice clean vs adversarial over
    /// the labels defined on both sides (`None` when all pairs are equal, e.g. ε = 0).
    pub p_value: Option<f64>,
    /// Targeted goals: mean Dice to the target, clean.
    pub clean_target_dice: Option<f64>,
    /// Targeted goals: mean Dice to the target, adversarial.
    pub adv_target_dice: Option<f64>,
    /// Targeted goals: mean fraction of the changed pixels predicted as the target, clean.
    pub clean_target_match: Option<f64>,
    /// Targeted goals: the same, adversarial (the attack's success).
    pub adv_target_match: Option<f64>,
}

fn mean(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    mean_defined(&v.collect::<Vec<_>>())
}

/// Groups records by cell (in order of first appearance) and summarises each.
pub fn summarise(records: &[SegRecord]) -> Vec<SummaryRow> {
    let mut keys: Vec<(String, String, u64)> = Vec::new();
    for r in records {
        if !keys.contains(&r.cell()) {
            keys.push(r.cell());
        }
    }
    keys.iter()
        .map(|key| {
            let rs: Vec<&SegRecord> = records.iter().filter(|r| &r.cell() == key).collect();
            let first = rs[0];
            let nl = first.labels.len();
            let per_label = |adv: bool| -> Vec<Option<f64>> {
                (0..nl)
                    .map(|l| {
                        mean(
                            rs.iter()
                                .map(|r| if adv { r.adv_dice[l] } else { r.clean_dice[l] }),
                        )
                    })
                    .collect()
            };
            let (clean_dice, adv_dice) = (per_label(false), per_label(true));
            let (clean_mean, adv_mean) = (mean_defined(&clean_dice), mean_defined(&adv_dice));
            let pairs: Vec<(f64, f64)> = rs
                .iter()
                .filter_map(|r| paired_means(&r.clean_dice, &r.adv_dice))
                .collect();
            let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            SummaryRow {
                model: first.model.clone(),
                attack: first.attack.clone(),
                goal: first.goal.clone(),
                epsilon: first.epsilon,
                n: rs.len(),
                labels: first.labels.clone(),
                clean_dice,
                adv_dice,
                clean_mean,
                adv_mean,
                drop_percent: match (clean_mean, adv_mean) {
                    (Some(c), Some(a)) if c > 0.0 => Some(100.0 * (c - a) / c),
                    _ => None,
                },
                p_value: wilcoxon_signed_rank(&xs, &ys).ok().map(|w| w.p_value),
                clean_target_dice: mean(rs.iter().map(|r| r.clean_target_dice)),
                adv_target_dice: mean(rs.iter().map(|r| r.adv_target_dice)),
                clean_target_match: mean(rs.iter().map(|r| r.clean_target_match)),
                adv_target_match: mean(rs.iter().map(|r| r.adv_target_match)),
            }
        })
        .collect()
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// A p-value for tables: 4 decimals, scientific below 1e-4, `-` when undefined.
pub(crate) fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 1e-4 => format!("{p:.1e}"),
        Some(p) => format!("{p:.4}"),
    }
}

/// The summary as CSV (one column per label for clean and adversarial Dice).
pub fn to_csv(rows: &[SummaryRow]) -> String {
    let labels = rows.first().map(|r| r.labels.clone()).unwrap_or_default();
    let mut out = String::from("model,attack,goal,epsilon,n");
    for l in &labels {
        out += &format!(",clean_dice_{l},adv_dice_{l}");
    }
    out += ",clean_mean,adv_mean,drop_percent,wilcoxon_p,clean_target_dice,adv_target_dice,clean_target_match,adv_target_match\n";
    for r in rows {
        out += &format!("{},{},{},{},{}", r.model, r.attack, r.goal, r.epsilon, r.n);
        for (c, a) in r.clean_dice.iter().zip(&r.adv_dice) {
            out += &format!(",{},{}", fmt(*c, 6), fmt(*a, 6));
        }
        out += &format!(
            ",{},{},{},{},{},{},{},{}\n",
            fmt(r.clean_mean, 6),
            fmt(r.adv_mean, 6),
            fmt(r.drop_percent, 3),
            r.p_value.map_or("-".into(), |p| format!("{p:e}")),
            fmt(r.clean_target_dice, 6),
            fmt(r.adv_target_dice, 6),
            fmt(r.clean_target_match, 6),
            fmt(r.adv_target_match, 6)
        );
    }
    out
}

/// The summary as a Markdown table: Dice per label as `clean → attacked`.
pub fn to_markdown(rows: &[SummaryRow]) -> String {
    let labels = rows.first().map(|r| r.labels.clone()).unwrap_or_default();
    let mut out = String::from("| model | attack | ε | n |");
    for l in &labels {
        out += &format!(" Dice {l} |");
    }
    out +=
        " mean Dice | drop % | Wilcoxon p | Dice to target | target reached |\n|---|---|---|---|";
    out += &"---|".repeat(labels.len() + 5);
    out += "\n";
    for r in rows {
        out += &format!("| {} | {} | {} | {} |", r.model, r.attack, r.epsilon, r.n);
        for (c, a) in r.clean_dice.iter().zip(&r.adv_dice) {
            out += &format!(" {} → {} |", fmt(*c, 3), fmt(*a, 3));
        }
        let arrow = |c: Option<f64>, a: Option<f64>| match (c, a) {
            (Some(c), Some(a)) => format!("{c:.3} → {a:.3}"),
            _ => "-".into(),
        };
        let target = arrow(r.clean_target_dice, r.adv_target_dice);
        let reached = arrow(r.clean_target_match, r.adv_target_match);
        out += &format!(
            " {} → {} | {} | {} | {} | {} |\n",
            fmt(r.clean_mean, 3),
            fmt(r.adv_mean, 3),
            fmt(r.drop_percent, 1),
            fmt_p(r.p_value),
            target,
            reached
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(eps: f64, case: usize, clean: f64, adv: f64) -> SegRecord {
        SegRecord {
            draw: None,
            model: "m".into(),
            attack: "fgsm".into(),
            goal: "untargeted".into(),
            norm: "linf".into(),
            epsilon: eps,
            case,
            labels: vec!["a".into(), "b".into()],
            clean_dice: vec![Some(clean), None],
            adv_dice: vec![Some(adv), None],
            clean_target_dice: None,
            adv_target_dice: None,
            clean_target_match: None,
            adv_target_match: None,
            linf: eps,
            l2: 0.0,
            min_norm: None,
            member: None,
            stopped_at: None,
            hd95: None,
            perceptibility: None,
            lesions: None,
        }
    }

    #[test]
    fn summary_reproduces_hand_computed_numbers() {
        // Clean (0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.77, 0.88) vs adversarial
        // (0.5, 0.82, 0.4, 0.3, 0.6, 0.65, 0.2, 0.1): the SciPy-pinned case of mira-stats,
        // p = 0.0390625 (scipy.stats.wilcoxon, SciPy 1.17.1).
        let clean = [0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.77, 0.88];
        let adv = [0.5, 0.82, 0.4, 0.3, 0.6, 0.65, 0.2, 0.1];
        let mut records: Vec<SegRecord> = (0..8).map(|i| rec(0.0, i, clean[i], clean[i])).collect();
        records.extend((0..8).map(|i| rec(0.1, i, clean[i], adv[i])));
        let rows = summarise(&records);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].p_value, None);
        let r = &rows[1];
        let (mc, ma) = (
            clean.iter().sum::<f64>() / 8.0,
            adv.iter().sum::<f64>() / 8.0,
        );
        assert!((r.clean_mean.unwrap() - mc).abs() < 1e-12);
        assert!((r.adv_mean.unwrap() - ma).abs() < 1e-12);
        assert!((r.drop_percent.unwrap() - 100.0 * (mc - ma) / mc).abs() < 1e-9);
        assert!((r.p_value.unwrap() - 0.0390625).abs() < 1e-12);
        assert_eq!(r.clean_dice[1], None);
        let md = to_markdown(&rows);
        assert!(
            md.contains(
                "| m | fgsm | 0.1 | 8 | 0.806 → 0.446 | - → - | 0.806 → 0.446 | 44.7 | 0.0391 | - | - |"
            ),
            "{md}"
        );
        assert!(
            to_csv(&rows)
                .lines()
                .nth(2)
                .unwrap()
                .starts_with("m,fgsm,untargeted,0.1,8,0.806250,0.446250,-,-")
        );
    }
}
