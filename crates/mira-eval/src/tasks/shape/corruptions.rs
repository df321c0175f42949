//! The corruptions' part of a shape run: the mean radial shape error (MRSE) and the contour
//! Dice clean against corrupted per (model, corruption, severity), with a paired Wilcoxon test
//! of the MRSEs over slices.

use mira_report::{ShapeRecord, TextTable};
use mira_stats::wilcoxon_signed_rank;

use crate::tasks::shape::cell::CORRUPTION;

/// The table (`None` without corruption records).
pub(crate) fn corruption_table(records: &[ShapeRecord]) -> Option<TextTable> {
    let corrupted: Vec<&ShapeRecord> = records.iter().filter(|r| r.scope == CORRUPTION).collect();
    let mut cells: Vec<(&str, &str, f64)> = Vec::new();
    for r in &corrupted {
        let key = (r.model.as_str(), r.attack.as_str(), r.epsilon);
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    if cells.is_empty() {
        return None;
    }
    let rows = cells
        .into_iter()
        .map(|(model, name, severity)| {
            let rs: Vec<&&ShapeRecord> = corrupted
                .iter()
                .filter(|r| r.model == model && r.attack == name && r.epsilon == severity)
                .collect();
            let n = rs.len() as f64;
            let mean = |f: fn(&ShapeRecord) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
            let clean: Vec<f64> = rs.iter().map(|r| r.clean_mrse).collect();
            let adv: Vec<f64> = rs.iter().map(|r| r.adv_mrse).collect();
            let p = wilcoxon_signed_rank(&clean, &adv)
                .map_or("-".into(), |w| format!("{:.2e}", w.p_value));
            vec![
                model.to_string(),
                name.to_string(),
                format!("{severity}"),
                rs.len().to_string(),
                format!(
                    "{:.3} → {:.3}",
                    mean(|r| r.clean_mrse),
                    mean(|r| r.adv_mrse)
                ),
                format!(
                    "{:.3} → {:.3}",
                    mean(|r| r.clean_dice),
                    mean(|r| r.adv_dice)
                ),
                p,
            ]
        })
        .collect();
    Some(TextTable {
        title: "Natural corruptions".into(),
        caption: "Scanner artefacts and natural corruptions (docs/corruptions.md), each slice its \
                  own seeded draw: mean MRSE (px) and contour Dice clean → corrupted, with the \
                  paired Wilcoxon signed-rank test of the MRSEs over slices."
            .into(),
        header: [
            "model",
            "corruption",
            "severity",
            "n",
            "MRSE clean → corrupted (px)",
            "Dice clean → corrupted",
            "Wilcoxon p",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}
