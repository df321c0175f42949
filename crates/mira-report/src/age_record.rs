//! The per-subject record of a brain-age attack (study S3), and its summaries: MAE clean vs
//! attacked, mean signed shift, share of subjects off by more than a threshold, and paired
//! Wilcoxon comparisons of each model against the reference model.

use mira_stats::{bootstrap_mean_ci, wilcoxon_signed_rank};
use serde::{Deserialize, Serialize};

/// One attacked subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRecord {
    /// Model name from the experiment.
    pub model: String,
    /// Attack name from the experiment.
    pub attack: String,
    /// `per-image` or `universal`.
    pub scope: String,
    /// Gradient through hard tissue maps: `plain` (zero) or `bpda` (straight-through).
    pub gradient: String,
    /// `error` (push |error| up), `older`, `younger` or `target` (toward `target_age`).
    pub goal: String,
    /// The target age of targeted attacks, years.
    pub target_age: Option<f64>,
    /// `linf` or `l2`.
    pub norm: String,
    /// Budget in model-input units.
    pub epsilon: f64,
    /// Index of the subject in the test set.
    pub case: usize,
    /// True age, years.
    pub age: f64,
    /// Prediction on the clean volume.
    pub clean_pred: f64,
    /// Prediction on the adversarial volume.
    pub adv_pred: f64,
    /// L∞ norm of the applied perturbation.
    pub linf: f64,
    /// L2 norm of the applied perturbation.
    pub l2: f64,
    /// Min-norm attacks: the smallest budget (in `norm`) found to meet the criterion (`None`:
    /// not met within `epsilon`; 0: the clean prediction already meets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_norm: Option<f64>,
    /// `auto` (per-image): the member whose input is kept (`apgd`, `square`; `clean` when no
    /// member raised the subject's score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// PSNR and SSIM of the attacked input against the clean one (absent in records written
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceptibility: Option<crate::Perceptibility>,
    /// A corruption entry with `draws` > 1: which of the case's draws (1-based; absent for
    /// attacks and single draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<usize>,
}

impl crate::CellRecord for AgeRecord {
    fn cell_key(&self) -> (String, String, u64) {
        (
            self.model.clone(),
            self.attack.clone(),
            self.epsilon.to_bits(),
        )
    }
}

/// Summary of one (model, attack, ε) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeSummaryRow {
    /// Model.
    pub model: String,
    /// Attack.
    pub attack: String,
    /// `per-image` or `universal`.
    pub scope: String,
    /// `plain` or `bpda`.
    pub gradient: String,
    /// Goal.
    pub goal: String,
    /// Norm.
    pub norm: String,
    /// Budget.
    pub epsilon: f64,
    /// Subjects.
    pub n: usize,
    /// Mean |clean prediction − age|.
    pub clean_mae: f64,
    /// Mean |adversarial prediction − age|.
    pub adv_mae: f64,
    /// 95 % bootstrap interval of `adv_mae`.
    pub adv_mae_ci: (f64, f64),
    /// Mean adversarial − clean prediction (years; positive: looks older).
    pub mean_shift: f64,
    /// Share of subjects with |adversarial error| above `threshold`.
    pub fooled: f64,
    /// Share with |clean error| above `threshold`.
    pub clean_fooled: f64,
    /// The threshold, years.
    pub threshold: f64,
    /// Targeted attacks: mean |adversarial prediction − target|.
    pub target_gap: Option<f64>,
    /// Min-norm attacks: median smallest budget (subjects not broken count as above `epsilon`;
    /// `None` when half or more were not broken).
    #[serde(default)]
    pub median_min_norm: Option<f64>,
    /// Min-norm attacks: share of subjects broken within `epsilon`.
    #[serde(default)]
    pub broken: Option<f64>,
}

/// Summaries in first-appearance order of (model, attack), ε ascending within.
pub fn summarise_age(records: &[AgeRecord], threshold: f64) -> Vec<AgeSummaryRow> {
    let mut keys: Vec<(String, String, u64)> = Vec::new();
    for r in records {
        let k = (r.model.clone(), r.attack.clone(), r.epsilon.to_bits());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let order = |k: &(String, String, u64)| {
        keys.iter()
            .position(|o| o.0 == k.0 && o.1 == k.1)
            .expect("listed")
    };
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| {
        order(a)
            .cmp(&order(b))
            .then(f64::from_bits(a.2).total_cmp(&f64::from_bits(b.2)))
    });
    sorted
        .iter()
        .map(|k| {
            let mine: Vec<&AgeRecord> = records
                .iter()
                .filter(|r| r.model == k.0 && r.attack == k.1 && r.epsilon.to_bits() == k.2)
                .collect();
            let n = mine.len() as f64;
            let mean = |f: &dyn Fn(&AgeRecord) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
            let adv_err: Vec<f64> = mine.iter().map(|r| (r.adv_pred - r.age).abs()).collect();
            let r0 = mine[0];
            AgeSummaryRow {
                model: k.0.clone(),
                attack: k.1.clone(),
                scope: r0.scope.clone(),
                gradient: r0.gradient.clone(),
                goal: r0.goal.clone(),
                norm: r0.norm.clone(),
                epsilon: f64::from_bits(k.2),
                n: mine.len(),
                clean_mae: mean(&|r| (r.clean_pred - r.age).abs()),
                adv_mae: adv_err.iter().sum::<f64>() / n,
                adv_mae_ci: bootstrap_mean_ci(&adv_err, 0.95, 2000, 11)
                    .unwrap_or((f64::NAN, f64::NAN)),
                mean_shift: mean(&|r| r.adv_pred - r.clean_pred),
                fooled: adv_err.iter().filter(|e| **e > threshold).count() as f64 / n,
                clean_fooled: mine
                    .iter()
                    .filter(|r| (r.clean_pred - r.age).abs() > threshold)
                    .count() as f64
                    / n,
                threshold,
                target_gap: r0.target_age.map(|t| mean(&|r| (r.adv_pred - t).abs())),
                median_min_norm: (r0.scope == "min-norm")
                    .then(|| median_min_norm(&mine))
                    .flatten(),
                broken: (r0.scope == "min-norm")
                    .then(|| mine.iter().filter(|r| r.min_norm.is_some()).count() as f64 / n),
            }
        })
        .collect()
}

/// Median of per-subject minimal budgets, the unbroken counted as +∞.
fn median_min_norm(records: &[&AgeRecord]) -> Option<f64> {
    let mut v: Vec<f64> = records
        .iter()
        .map(|r| r.min_norm.unwrap_or(f64::INFINITY))
        .collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    m.is_finite().then_some(m)
}

/// A paired comparison of two models' absolute errors on the same subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeComparison {
    /// Attack (`clean` for the clean predictions).
    pub attack: String,
    /// Budget (0 for clean).
    pub epsilon: f64,
    /// The reference model (the first of the experiment).
    pub reference: String,
    /// The other model.
    pub model: String,
    /// Subjects paired.
    pub n: usize,
    /// Mean |error| of the reference.
    pub reference_mae: f64,
    /// Mean |error| of the other model.
    pub model_mae: f64,
    /// Two-sided Wilcoxon signed-rank p-value on the paired |errors| (`None`: all ties).
    pub p_value: Option<f64>,
}

/// Per attack and ε (and once for the clean predictions), the reference model against every
/// other model that was attacked the same way, on the subjects both have.
pub fn compare_age(records: &[AgeRecord], reference: &str) -> Vec<AgeComparison> {
    let mut cells: Vec<(String, u64)> = Vec::new();
    for r in records {
        let k = (r.attack.clone(), r.epsilon.to_bits());
        if !cells.contains(&k) {
            cells.push(k);
        }
    }
    let mut models: Vec<&str> = Vec::new();
    for r in records {
        if r.model != reference && !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let errors = |model: &str, cell: Option<&(String, u64)>| -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = records
            .iter()
            .filter(|r| r.model == model)
            .filter(|r| cell.is_none_or(|c| r.attack == c.0 && r.epsilon.to_bits() == c.1))
            .map(|r| {
                let p = if cell.is_some() {
                    r.adv_pred
                } else {
                    r.clean_pred
                };
                (r.case, (p - r.age).abs())
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v.dedup_by_key(|x| x.0);
        v
    };
    let pair = |a: &[(usize, f64)], b: &[(usize, f64)]| -> (Vec<f64>, Vec<f64>) {
        a.iter()
            .filter_map(|(c, x)| b.iter().find(|(d, _)| d == c).map(|(_, y)| (*x, *y)))
            .unzip()
    };
    let mut out = Vec::new();
    let mut push = |attack: String, epsilon: f64, m: &str, x: Vec<f64>, y: Vec<f64>| {
        if x.is_empty() {
            return;
        }
        let n = x.len() as f64;
        out.push(AgeComparison {
            attack,
            epsilon,
            reference: reference.to_string(),
            model: m.to_string(),
            n: x.len(),
            reference_mae: x.iter().sum::<f64>() / n,
            model_mae: y.iter().sum::<f64>() / n,
            p_value: wilcoxon_signed_rank(&x, &y).ok().map(|w| w.p_value),
        });
    };
    for m in &models {
        let (x, y) = pair(&errors(reference, None), &errors(m, None));
        push("clean".into(), 0.0, m, x, y);
    }
    for c in &cells {
        for m in &models {
            let (x, y) = pair(&errors(reference, Some(c)), &errors(m, Some(c)));
            push(c.0.clone(), f64::from_bits(c.1), m, x, y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(model: &str, case: usize, age: f64, clean_err: f64, adv_err: f64) -> AgeRecord {
        AgeRecord {
            draw: None,
            model: model.into(),
            attack: "pgd".into(),
            scope: "per-image".into(),
            gradient: "plain".into(),
            goal: "error".into(),
            target_age: None,
            norm: "linf".into(),
            epsilon: 0.01,
            case,
            age,
            clean_pred: age + clean_err,
            adv_pred: age - adv_err,
            linf: 0.01,
            l2: 1.0,
            min_norm: None,
            member: None,
            perceptibility: None,
        }
    }

    fn records() -> Vec<AgeRecord> {
        let cnn_clean = [2.0, 3.0, 5.0, 1.5, 4.0, 6.0];
        let hyb_clean = [1.0, 3.25, 2.0, 0.25, 5.5, 2.5];
        let cnn_adv = [15.5, 19.0, 21.25, 23.0, 26.0, 12.0];
        let hyb_adv = [3.0, 4.5, 2.25, 6.0, 1.0, 13.5];
        let mut v = Vec::new();
        for i in 0..6 {
            let age = 30.0 + 10.0 * i as f64;
            v.push(rec("cnn", i, age, cnn_clean[i], cnn_adv[i]));
        }
        // The hybrid's records in another order: pairing is by case.
        for i in (0..6).rev() {
            let age = 30.0 + 10.0 * i as f64;
            v.push(rec("hybrid", i, age, hyb_clean[i], hyb_adv[i]));
        }
        v
    }

    #[test]
    fn summary_is_the_hand_computed_one() {
        let rows = summarise_age(&records(), 5.0);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.model.as_str(), r.n), ("cnn", 6));
        assert!((r.clean_mae - 21.5 / 6.0).abs() < 1e-12);
        assert!((r.adv_mae - 116.75 / 6.0).abs() < 1e-12);
        // Shift = adv − clean = −(adv_err + clean_err) per subject.
        assert!((r.mean_shift + (116.75 + 21.5) / 6.0).abs() < 1e-12);
        assert_eq!(r.fooled, 1.0);
        assert!((r.clean_fooled - 1.0 / 6.0).abs() < 1e-12);
        assert!(r.adv_mae_ci.0 < r.adv_mae && r.adv_mae < r.adv_mae_ci.1);
        // Hybrid: |adv error| > 5 for 6.0 and 13.5 only.
        assert!((rows[1].fooled - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn paired_comparisons_match_scipy() {
        let c = compare_age(&records(), "cnn");
        assert_eq!(c.len(), 2);
        // scipy.stats.wilcoxon([2, 3, 5, 1.5, 4, 6], [1, 3.25, 2, 0.25, 5.5, 2.5]):
        // statistic 5.0, p = 0.3125 (exact), scipy 1.x.
        assert_eq!((c[0].attack.as_str(), c[0].n), ("clean", 6));
        assert!((c[0].p_value.unwrap() - 0.3125).abs() < 1e-9);
        // scipy.stats.wilcoxon([15.5, 19, 21.25, 23, 26, 12], [3, 4.5, 2.25, 6, 1, 13.5]):
        // statistic 1.0, p = 0.0625 (exact).
        assert_eq!((c[1].attack.as_str(), c[1].epsilon), ("pgd", 0.01));
        assert!((c[1].p_value.unwrap() - 0.0625).abs() < 1e-9);
        assert!((c[1].model_mae - 30.25 / 6.0).abs() < 1e-12);
        let md = crate::age_markdown(&summarise_age(&records(), 5.0), &c);
        assert!(
            md.contains("| cnn | pgd | per-image | plain | error | linf | 0.01 | 6 |"),
            "{md}"
        );
        assert!(md.contains("0.0625"));
        let csv = crate::age_csv(&summarise_age(&records(), 5.0));
        assert_eq!(csv.lines().count(), 3);
    }
}
