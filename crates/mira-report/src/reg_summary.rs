//! Registration summaries from records alone: passing rate with its bootstrap confidence
//! interval and TRE per (model, attack, ε); the monotonicity check; and the "abrupt change"
//! cases whose TRE jumps past the tolerance at the smallest budget.

use serde::Serialize;

use mira_stats::{Summary, bootstrap_mean_ci};

use crate::RegRecord;

/// Seed of the bootstrap resampling (fixed, so re-running `mira report` gives the same CIs).
const BOOTSTRAP_SEED: u64 = 4242;

/// One line of the registration summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegSummaryRow {
    /// Model name.
    pub model: String,
    /// Attack name.
    pub attack: String,
    /// Attacked image(s).
    pub image: String,
    /// Budget.
    pub epsilon: f64,
    /// Number of pairs.
    pub n: usize,
    /// Unit of TRE and tolerance.
    pub unit: String,
    /// Passing tolerance.
    pub tolerance: f64,
    /// Share of pairs passing on the clean input.
    pub clean_pass_rate: f64,
    /// Share of pairs passing on the adversarial input.
    pub pass_rate: f64,
    /// 95 % percentile-bootstrap interval of `pass_rate` (2,000 resamples of the pairs).
    pub pass_ci: (f64, f64),
    /// Mean clean TRE.
    pub clean_mean_tre: f64,
    /// Mean adversarial TRE.
    pub mean_tre: f64,
    /// 95 % bootstrap interval of `mean_tre`.
    pub tre_ci: (f64, f64),
    /// Median adversarial TRE.
    pub median_tre: f64,
}

/// Groups records by cell (in order of first appearance) and summarises each.
pub fn summarise_reg(records: &[RegRecord]) -> Vec<RegSummaryRow> {
    let mut keys: Vec<(String, String, u64)> = Vec::new();
    for r in records {
        if !keys.contains(&r.cell()) {
            keys.push(r.cell());
        }
    }
    keys.iter()
        .map(|key| {
            let rs: Vec<&RegRecord> = records.iter().filter(|r| r.cell() == *key).collect();
            let n = rs.len();
            let share = |f: &dyn Fn(&RegRecord) -> bool| {
                rs.iter().filter(|r| f(r)).count() as f64 / n as f64
            };
            let pass: Vec<f64> = rs
                .iter()
                .map(|r| f64::from(u8::from(r.adv_pass())))
                .collect();
            let tre: Vec<f64> = rs.iter().map(|r| r.adv_tre).collect();
            let clean_tre: Vec<f64> = rs.iter().map(|r| r.clean_tre).collect();
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let ci = |v: &[f64]| {
                bootstrap_mean_ci(v, 0.95, 2000, BOOTSTRAP_SEED).unwrap_or((f64::NAN, f64::NAN))
            };
            RegSummaryRow {
                model: rs[0].model.clone(),
                attack: rs[0].attack.clone(),
                image: rs[0].image.clone(),
                epsilon: rs[0].epsilon,
                n,
                unit: rs[0].unit.clone(),
                tolerance: rs[0].tolerance,
                clean_pass_rate: share(&|r| r.clean_pass()),
                pass_rate: mean(&pass),
                pass_ci: ci(&pass),
                clean_mean_tre: mean(&clean_tre),
                mean_tre: mean(&tre),
                tre_ci: ci(&tre),
                median_tre: Summary::of(&tre).map_or(f64::NAN, |s| s.median),
            }
        })
        .collect()
}

/// Cells whose passing rate rises with ε by more than `tolerance` (a share): the rate must be
/// non-increasing within noise. Returns (model, attack, ε before, ε after, rate before, after).
pub fn non_monotone(
    rows: &[RegSummaryRow],
    tolerance: f64,
) -> Vec<(String, String, f64, f64, f64, f64)> {
    let mut out = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if seen.contains(&(r.model.as_str(), r.attack.as_str())) {
            continue;
        }
        seen.push((&r.model, &r.attack));
        let mut line: Vec<&RegSummaryRow> = rows
            .iter()
            .filter(|o| o.model == r.model && o.attack == r.attack)
            .collect();
        line.sort_by(|a, b| a.epsilon.total_cmp(&b.epsilon));
        for w in line.windows(2) {
            if w[1].pass_rate > w[0].pass_rate + tolerance {
                out.push((
                    r.model.clone(),
                    r.attack.clone(),
                    w[0].epsilon,
                    w[1].epsilon,
                    w[0].pass_rate,
                    w[1].pass_rate,
                ));
            }
        }
    }
    out
}

/// A case that passes clean and first fails at `epsilon` of its (model, attack) sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbruptCase {
    /// Model name.
    pub model: String,
    /// Attack name.
    pub attack: String,
    /// Pair index.
    pub case: usize,
    /// The largest budget below `epsilon` in the sweep (0 when `epsilon` is the first).
    pub eps_before: f64,
    /// The smallest budget at which the case fails.
    pub epsilon: f64,
    /// TRE at `eps_before`.
    pub tre_before: f64,
    /// TRE at `epsilon`.
    pub tre_after: f64,
    /// Whether `epsilon` is the smallest first-failure budget of this (model, attack): the
    /// cases the issue calls abrupt changes.
    pub earliest: bool,
}

/// For every (model, attack) and every case that passes clean: the first budget at which it
/// fails (cases that never fail are left out), sorted by model, attack, budget and jump.
pub fn first_failures(records: &[RegRecord]) -> Vec<AbruptCase> {
    let mut out: Vec<AbruptCase> = Vec::new();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for r in records {
        if !pairs.contains(&(r.model.as_str(), r.attack.as_str())) {
            pairs.push((&r.model, &r.attack));
        }
    }
    for (m, a) in pairs {
        let rs: Vec<&RegRecord> = records
            .iter()
            .filter(|r| r.model == m && r.attack == a)
            .collect();
        let mut cases: Vec<usize> = rs.iter().map(|r| r.case).collect();
        cases.sort_unstable();
        cases.dedup();
        let start = out.len();
        for c in cases {
            let mut line: Vec<&RegRecord> = rs.iter().copied().filter(|r| r.case == c).collect();
            line.sort_by(|x, y| x.epsilon.total_cmp(&y.epsilon));
            if !line[0].clean_pass() {
                continue;
            }
            let (mut eps_before, mut tre_before) = (0.0, line[0].clean_tre);
            for r in &line {
                if !r.adv_pass() {
                    out.push(AbruptCase {
                        model: m.into(),
                        attack: a.into(),
                        case: c,
                        eps_before,
                        epsilon: r.epsilon,
                        tre_before,
                        tre_after: r.adv_tre,
                        earliest: false,
                    });
                    break;
                }
                (eps_before, tre_before) = (r.epsilon, r.adv_tre);
            }
        }
        let block = &mut out[start..];
        let min = block
            .iter()
            .map(|c| c.epsilon)
            .fold(f64::INFINITY, f64::min);
        for c in block.iter_mut() {
            c.earliest = c.epsilon == min;
        }
        block.sort_by(|x, y| {
            x.epsilon
                .total_cmp(&y.epsilon)
                .then((y.tre_after - y.tre_before).total_cmp(&(x.tre_after - x.tre_before)))
        });
    }
    out
}

/// The summary as Markdown.
pub fn reg_markdown(rows: &[RegSummaryRow]) -> String {
    let mut s = String::from(
        "| model | attack | image | ε | n | passing (clean → adv) | 95% CI | mean TRE (clean → adv) | median TRE |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.1}% → {:.1}% | {:.1}–{:.1}% | {:.2} → {:.2} {} | {:.2} |\n",
            r.model,
            r.attack,
            r.image,
            r.epsilon,
            r.n,
            100.0 * r.clean_pass_rate,
            100.0 * r.pass_rate,
            100.0 * r.pass_ci.0,
            100.0 * r.pass_ci.1,
            r.clean_mean_tre,
            r.mean_tre,
            r.unit,
            r.median_tre
        );
    }
    if let Some(r) = rows.first() {
        s += &format!(
            "\nA pair passes when TRE ≤ tolerance ({} {} for model {}; see the table per model).\n",
            r.tolerance, r.unit, r.model
        );
    }
    s
}

/// The summary as CSV.
pub fn reg_csv(rows: &[RegSummaryRow]) -> String {
    let mut s = String::from(
        "model,attack,image,epsilon,n,unit,tolerance,clean_pass_rate,pass_rate,pass_ci_lo,pass_ci_hi,clean_mean_tre,mean_tre,tre_ci_lo,tre_ci_hi,median_tre\n",
    );
    for r in rows {
        s += &format!(
            "{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            r.model,
            r.attack,
            r.image,
            r.epsilon,
            r.n,
            r.unit,
            r.tolerance,
            r.clean_pass_rate,
            r.pass_rate,
            r.pass_ci.0,
            r.pass_ci.1,
            r.clean_mean_tre,
            r.mean_tre,
            r.tre_ci.0,
            r.tre_ci.1,
            r.median_tre
        );
    }
    s
}

/// The first failures as CSV.
pub fn abrupt_csv(cases: &[AbruptCase]) -> String {
    let mut s =
        String::from("model,attack,case,eps_before,epsilon,tre_before,tre_after,earliest\n");
    for c in cases {
        s += &format!(
            "{},{},{},{},{},{:.4},{:.4},{}\n",
            c.model,
            c.attack,
            c.case,
            c.eps_before,
            c.epsilon,
            c.tre_before,
            c.tre_after,
            c.earliest
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(case: usize, eps: f64, clean: f64, adv: f64) -> RegRecord {
        RegRecord {
            draw: None,
            model: "m".into(),
            attack: "fgsm".into(),
            image: "moving".into(),
            norm: "linf".into(),
            epsilon: eps,
            case,
            source: 0,
            unit: "mm".into(),
            tolerance: 2.0,
            truth: [0.0; 3],
            clean_pred: [0.0; 3],
            adv_pred: [0.0; 3],
            clean_tre: clean,
            adv_tre: adv,
            linf: eps,
            l2: 0.0,
            min_norm: None,
            member: None,
            stopped_at: None,
            perceptibility: None,
        }
    }

    #[test]
    fn passing_rate_first_failures_and_monotonicity_by_hand() {
        // Case 0 fails at 0.02 (jump 1.0 → 6.0), case 1 at 0.01 (1.5 → 2.5), case 2 never,
        // case 3 fails clean (left out of first failures).
        let mut rs = Vec::new();
        for (eps, tres) in [
            (0.0, [1.0, 1.5, 0.5, 3.0]),
            (0.01, [1.0, 2.5, 0.6, 3.0]),
            (0.02, [6.0, 4.0, 0.7, 3.5]),
        ] {
            let clean = [1.0, 1.5, 0.5, 3.0];
            for c in 0..4 {
                rs.push(rec(c, eps, clean[c], tres[c]));
            }
        }
        let rows = summarise_reg(&rs);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].pass_rate, 0.75);
        assert_eq!(rows[1].pass_rate, 0.5);
        assert_eq!(rows[2].pass_rate, 0.25);
        assert_eq!(rows[0].clean_pass_rate, 0.75);
        assert!((rows[2].mean_tre - (6.0 + 4.0 + 0.7 + 3.5) / 4.0).abs() < 1e-12);
        assert!(rows[1].pass_ci.0 <= 0.5 && 0.5 <= rows[1].pass_ci.1);
        assert!(non_monotone(&rows, 0.0).is_empty());
        let f = first_failures(&rs);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].case, f[0].epsilon, f[0].earliest), (1, 0.01, true));
        assert_eq!((f[0].tre_before, f[0].tre_after), (1.5, 2.5));
        assert_eq!(
            (f[1].case, f[1].eps_before, f[1].earliest),
            (0, 0.01, false)
        );
        // A rate that rises with ε is flagged.
        let mut up = rows.clone();
        up[2].pass_rate = 0.9;
        assert_eq!(non_monotone(&up, 0.05).len(), 1);
    }
}
