//! The per-slice record of a synthesis attack (study S2) and its summaries: for each model,
//! method (`per-image` budget search or `learned` generator) and requested Dice drop Δ, the
//! share of slices whose measured drop reached Δ (with a bootstrap CI), the drop reached, the
//! displacement (mm) and bias amplitude used, the worst Jacobian determinant, and the drop the
//! same perturbation causes on each other model (transfer).

use mira_stats::{Summary, bootstrap_mean_ci};
use serde::{Deserialize, Serialize};

/// The drop one perturbation causes on another model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferDrop {
    /// The other model.
    pub model: String,
    /// Its mean-Dice drop (clean image vs synthesised image against the warped truth).
    pub drop: f64,
}

/// One attacked slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthRecord {
    /// The attacked model.
    pub model: String,
    /// `per-image` or `learned`.
    pub method: String,
    /// Requested Dice drop Δ.
    pub target: f64,
    /// Test slice.
    pub case: usize,
    /// Mean organ Dice of the clean prediction against the truth.
    pub clean_dice: f64,
    /// Mean organ Dice of the prediction on the synthesised slice against the warped truth.
    pub adv_dice: f64,
    /// Per-organ Dice on the synthesised slice (`None`: organ absent in truth and prediction).
    pub adv_dice_labels: Vec<Option<f64>>,
    /// `clean_dice − adv_dice`.
    pub drop: f64,
    /// `drop >= target`.
    pub met: bool,
    /// Per-image: the budget scale found (1 when not met); learned: the largest control value
    /// relative to its bound.
    pub scale: f64,
    /// Largest displacement of the dense field, mm.
    pub max_disp_mm: f64,
    /// Largest relative bias change `max |exp(b) − 1|`.
    pub max_bias: f64,
    /// Largest additive change (`[0, 1]` units).
    pub max_additive: f64,
    /// Smallest Jacobian determinant of the deformation (> 0: no folding).
    pub min_jacobian: f64,
    /// The same synthesised slice judged by the other models.
    pub transfer: Vec<TransferDrop>,
    /// PSNR and SSIM of the attacked input against the clean one (absent in records written
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceptibility: Option<crate::Perceptibility>,
    /// A corruption cell's family (`[[corruptions]]`: `method` is the entry's name, `target`
    /// the severity; absent for attacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corruption: Option<String>,
    /// A corruption entry with `draws` > 1: which of the case's draws (1-based; absent for
    /// attacks and single draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<usize>,
}

impl crate::CellRecord for SynthRecord {
    fn cell_key(&self) -> (String, String, u64) {
        (
            self.model.clone(),
            self.method.clone(),
            self.target.to_bits(),
        )
    }
}

/// Summary of one (model, method, Δ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSummaryRow {
    /// Attacked model.
    pub model: String,
    /// Method.
    pub method: String,
    /// Requested drop.
    pub target: f64,
    /// Slices.
    pub n: usize,
    /// Share of slices reaching Δ.
    pub met_share: f64,
    /// 95 % bootstrap CI of the share.
    pub met_ci: (f64, f64),
    /// Mean clean Dice.
    pub clean_dice: f64,
    /// Mean drop reached.
    pub mean_drop: f64,
    /// Median drop reached.
    pub median_drop: f64,
    /// Median displacement over slices that met Δ (mm; NaN when none).
    pub median_disp_mm: f64,
    /// Median bias amplitude over slices that met Δ.
    pub median_bias: f64,
    /// Median budget scale over slices that met Δ.
    pub median_scale: f64,
    /// Smallest Jacobian determinant over all slices.
    pub min_jacobian: f64,
    /// Mean drop on each other model of the same synthesised slices.
    pub transfer: Vec<TransferDrop>,
}

fn median(v: &[f64]) -> f64 {
    Summary::of(v).map_or(f64::NAN, |s| s.median)
}

/// Summaries in first-appearance order of (model, method), Δ ascending within.
pub fn summarise_synth(records: &[SynthRecord]) -> Vec<SynthSummaryRow> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in records {
        let k = (r.model.clone(), r.method.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut rows = Vec::new();
    for (m, me) in keys {
        let mut targets: Vec<f64> = records
            .iter()
            .filter(|r| r.model == m && r.method == me)
            .map(|r| r.target)
            .collect();
        targets.sort_by(f64::total_cmp);
        targets.dedup();
        for t in targets {
            let mine: Vec<&SynthRecord> = records
                .iter()
                .filter(|r| r.model == m && r.method == me && r.target == t)
                .collect();
            let n = mine.len() as f64;
            let met: Vec<f64> = mine.iter().map(|r| f64::from(u8::from(r.met))).collect();
            let drops: Vec<f64> = mine.iter().map(|r| r.drop).collect();
            let on_met = |f: &dyn Fn(&SynthRecord) -> f64| -> Vec<f64> {
                mine.iter().filter(|r| r.met).map(|r| f(r)).collect()
            };
            let mut transfer: Vec<TransferDrop> = Vec::new();
            for other in mine.first().map(|r| r.transfer.clone()).unwrap_or_default() {
                let v: Vec<f64> = mine
                    .iter()
                    .filter_map(|r| r.transfer.iter().find(|x| x.model == other.model))
                    .map(|x| x.drop)
                    .collect();
                transfer.push(TransferDrop {
                    model: other.model,
                    drop: v.iter().sum::<f64>() / v.len().max(1) as f64,
                });
            }
            rows.push(SynthSummaryRow {
                model: m.clone(),
                method: me.clone(),
                target: t,
                n: mine.len(),
                met_share: met.iter().sum::<f64>() / n,
                met_ci: bootstrap_mean_ci(&met, 0.95, 2000, 7).unwrap_or((f64::NAN, f64::NAN)),
                clean_dice: mine.iter().map(|r| r.clean_dice).sum::<f64>() / n,
                mean_drop: drops.iter().sum::<f64>() / n,
                median_drop: median(&drops),
                median_disp_mm: median(&on_met(&|r| r.max_disp_mm)),
                median_bias: median(&on_met(&|r| r.max_bias)),
                median_scale: median(&on_met(&|r| r.scale)),
                min_jacobian: mine
                    .iter()
                    .map(|r| r.min_jacobian)
                    .fold(f64::INFINITY, f64::min),
                transfer,
            });
        }
    }
    rows
}

fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "–".into()
    }
}

/// The rows as a Markdown table.
pub fn synth_markdown(rows: &[SynthSummaryRow]) -> String {
    let mut s = String::from(
        "| model | method | Δ requested | n | reached Δ (95% CI) | Dice clean | drop mean | drop median | displacement mm (median, met) | bias % (median, met) | budget scale (median, met) | min det J | transfer drop |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let transfer: Vec<String> = r
            .transfer
            .iter()
            .map(|t| format!("{}: {:.3}", t.model, t.drop))
            .collect();
        s += &format!(
            "| {} | {} | {} | {} | {:.0}% ({:.0}–{:.0}%) | {:.3} | {:.3} | {:.3} | {} | {} | {} | {:.3} | {} |\n",
            r.model,
            r.method,
            r.target,
            r.n,
            100.0 * r.met_share,
            100.0 * r.met_ci.0,
            100.0 * r.met_ci.1,
            r.clean_dice,
            r.mean_drop,
            r.median_drop,
            num(r.median_disp_mm, 2),
            num(100.0 * r.median_bias, 1),
            num(r.median_scale, 3),
            r.min_jacobian,
            if transfer.is_empty() {
                "–".into()
            } else {
                transfer.join(", ")
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(case: usize, drop: f64, met: bool, disp: f64) -> SynthRecord {
        SynthRecord {
            draw: None,
            corruption: None,
            model: "a".into(),
            method: "per-image".into(),
            target: 0.2,
            case,
            clean_dice: 0.9,
            adv_dice: 0.9 - drop,
            adv_dice_labels: vec![Some(0.9 - drop)],
            drop,
            met,
            scale: if met { 0.5 } else { 1.0 },
            max_disp_mm: disp,
            max_bias: 0.1,
            max_additive: 0.0,
            min_jacobian: 0.8 - case as f64 * 0.1,
            transfer: vec![TransferDrop {
                model: "b".into(),
                drop: drop / 2.0,
            }],
            perceptibility: None,
        }
    }

    #[test]
    fn summary_counts_met_cases_and_takes_medians_over_them() {
        let records = vec![
            rec(0, 0.25, true, 4.0),
            rec(1, 0.21, true, 6.0),
            rec(2, 0.10, false, 10.0),
            rec(3, 0.30, true, 8.0),
        ];
        let rows = summarise_synth(&records);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.n, 4);
        assert!((r.met_share - 0.75).abs() < 1e-12);
        assert!(r.met_ci.0 <= 0.75 && r.met_ci.1 >= 0.75);
        // Displacement median over the three met slices (4, 6, 8): 6; not-met 10 is left out.
        assert!((r.median_disp_mm - 6.0).abs() < 1e-12);
        assert!((r.mean_drop - 0.215).abs() < 1e-12);
        assert!((r.min_jacobian - 0.5).abs() < 1e-12);
        assert_eq!(r.transfer[0].model, "b");
        assert!((r.transfer[0].drop - 0.1075).abs() < 1e-12);
        assert!(synth_markdown(&rows).contains("| a | per-image | 0.2 | 4 | 75%"));
    }
}
