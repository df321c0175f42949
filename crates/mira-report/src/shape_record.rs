//! The per-slice record of a disk-shape attack (study S4) and its summaries: contour error
//! (MRSE, px) and polygon Dice clean vs attacked for in-distribution attacks; for
//! out-of-distribution attacks, how closely the output matches the target slice's and whether
//! the reconstruction-error detector tells the images apart (ROC AUC).

use serde::{Deserialize, Serialize};

/// One attacked slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeRecord {
    /// Model name.
    pub model: String,
    /// Attack name.
    pub attack: String,
    /// `ind` or `ood`.
    pub scope: String,
    /// OOD: `noise`, `ct` or `xray` (and whether the real file was used: `ct-file`, …).
    pub source: Option<String>,
    /// `linf` or `l2`.
    pub norm: String,
    /// Budget.
    pub epsilon: f64,
    /// Test slice.
    pub case: usize,
    /// IND: MRSE of the clean prediction against the truth (px).
    pub clean_mrse: f64,
    /// IND: MRSE of the adversarial prediction against the truth; OOD: against the target
    /// slice's prediction (the match error).
    pub adv_mrse: f64,
    /// IND: Dice of the clean predicted polygon against the true mask.
    pub clean_dice: f64,
    /// IND: Dice of the adversarial polygon; OOD: against the target slice's predicted polygon.
    pub adv_dice: f64,
    /// OOD: match error of the clean starting image (before the attack).
    pub start_mrse: Option<f64>,
    /// Reconstruction error (MSE) of the test slice.
    pub recon_ind: f64,
    /// OOD: reconstruction error of the clean starting image.
    pub recon_start: Option<f64>,
    /// Reconstruction error of the adversarial input.
    pub recon_adv: f64,
    /// L∞ of the applied perturbation.
    pub linf: f64,
    /// L2 of the applied perturbation.
    pub l2: f64,
    /// Min-norm attacks: the smallest budget found that pushes the MRSE past the break rule
    /// (`None`: not within the cap; 0: broken clean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_norm: Option<f64>,
    /// `auto` (in distribution): the member whose input is kept (`clean`: none raised the MRSE).
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

impl crate::CellRecord for ShapeRecord {
    fn cell_key(&self) -> (String, String, u64) {
        (
            self.model.clone(),
            self.attack.clone(),
            self.epsilon.to_bits(),
        )
    }
}

/// Summary of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeSummaryRow {
    /// Model.
    pub model: String,
    /// Attack.
    pub attack: String,
    /// `ind` or `ood`.
    pub scope: String,
    /// OOD source.
    pub source: Option<String>,
    /// Norm.
    pub norm: String,
    /// Budget.
    pub epsilon: f64,
    /// Slices.
    pub n: usize,
    /// Mean clean MRSE (IND) / start match error (OOD).
    pub clean_mrse: f64,
    /// Mean adversarial MRSE (IND) / match error (OOD).
    pub adv_mrse: f64,
    /// Mean clean Dice (IND).
    pub clean_dice: f64,
    /// Mean adversarial Dice (IND) / match Dice (OOD).
    pub adv_dice: f64,
    /// OOD: AUC of the reconstruction error telling clean OOD starts from test slices.
    pub auc_start: Option<f64>,
    /// AUC telling the adversarial inputs from test slices (0.5: indistinguishable).
    pub auc_adv: f64,
}

/// ROC AUC: the shared metric ([`mira_stats::roc_auc`]).
pub use mira_stats::roc_auc;

/// Summaries in first-appearance order of (model, attack), ε ascending within.
pub fn summarise_shape(records: &[ShapeRecord]) -> Vec<ShapeSummaryRow> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in records {
        let k = (r.model.clone(), r.attack.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut rows = Vec::new();
    for (m, a) in keys {
        let mut eps: Vec<f64> = records
            .iter()
            .filter(|r| r.model == m && r.attack == a)
            .map(|r| r.epsilon)
            .collect();
        eps.sort_by(f64::total_cmp);
        eps.dedup();
        for e in eps {
            let mine: Vec<&ShapeRecord> = records
                .iter()
                .filter(|r| r.model == m && r.attack == a && r.epsilon == e)
                .collect();
            let n = mine.len() as f64;
            let mean = |f: &dyn Fn(&ShapeRecord) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
            let ind: Vec<f64> = mine.iter().map(|r| r.recon_ind).collect();
            let adv: Vec<f64> = mine.iter().map(|r| r.recon_adv).collect();
            let start: Vec<f64> = mine.iter().filter_map(|r| r.recon_start).collect();
            let r0 = mine[0];
            rows.push(ShapeSummaryRow {
                model: m.clone(),
                attack: a.clone(),
                scope: r0.scope.clone(),
                source: r0.source.clone(),
                norm: r0.norm.clone(),
                epsilon: e,
                n: mine.len(),
                clean_mrse: if r0.scope == "ood" {
                    mean(&|r| r.start_mrse.unwrap_or(f64::NAN))
                } else {
                    mean(&|r| r.clean_mrse)
                },
                adv_mrse: mean(&|r| r.adv_mrse),
                clean_dice: mean(&|r| r.clean_dice),
                adv_dice: mean(&|r| r.adv_dice),
                auc_start: (!start.is_empty()).then(|| roc_auc(&start, &ind)),
                auc_adv: roc_auc(&adv, &ind),
            });
        }
    }
    rows
}

/// The rows as a Markdown table.
pub fn shape_markdown(rows: &[ShapeSummaryRow]) -> String {
    let mut s = String::from(
        "| model | attack | scope | norm | ε | n | MRSE clean / start (px) | MRSE adv / match (px) | Dice clean | Dice adv / match | AUC start | AUC adv |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let scope = match &r.source {
            Some(src) => format!("{} ({src})", r.scope),
            None => r.scope.clone(),
        };
        s += &format!(
            "| {} | {} | {scope} | {} | {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {} | {:.2} |\n",
            r.model,
            r.attack,
            r.norm,
            r.epsilon,
            r.n,
            r.clean_mrse,
            r.adv_mrse,
            r.clean_dice,
            r.adv_dice,
            r.auc_start.map_or("–".into(), |a| format!("{a:.2}")),
            r.auc_adv
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_the_mann_whitney_share() {
        assert_eq!(roc_auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(roc_auc(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
        // Only 3 > 2: 1 of 4 pairs.
        assert_eq!(roc_auc(&[1.0, 3.0], &[2.0, 4.0]), 0.25);
        // 3 > 2, and the tie 2 = 2 counts half: 1.5 of 4 pairs.
        assert_eq!(roc_auc(&[2.0, 3.0], &[2.0, 4.0]), 0.375);
        assert!(roc_auc(&[], &[1.0]).is_nan());
    }
}
