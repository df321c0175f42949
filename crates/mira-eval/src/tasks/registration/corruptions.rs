//! The corruptions' part of a registration run: both images of every pair corrupted by the
//! family at the severity; the passing rate and the mean TRE clean against corrupted per
//! (model, corruption, severity), with a paired Wilcoxon test of the TREs over pairs.

use mira_report::{RegRecord, TextTable};
use mira_stats::wilcoxon_signed_rank;

use crate::tasks::registration::CORRUPTION;

/// The table (`None` without corruption records).
pub(crate) fn corruption_table(records: &[RegRecord]) -> Option<TextTable> {
    let corrupted: Vec<&RegRecord> = records.iter().filter(|r| r.norm == CORRUPTION).collect();
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
            let rs: Vec<&&RegRecord> = corrupted
                .iter()
                .filter(|r| r.model == model && r.attack == name && r.epsilon == severity)
                .collect();
            let n = rs.len() as f64;
            let pass = |t: fn(&RegRecord) -> f64| {
                rs.iter().filter(|r| t(r) <= r.tolerance).count() as f64 / n * 100.0
            };
            let clean: Vec<f64> = rs.iter().map(|r| r.clean_tre).collect();
            let adv: Vec<f64> = rs.iter().map(|r| r.adv_tre).collect();
            let p = wilcoxon_signed_rank(&clean, &adv)
                .map_or("-".into(), |w| format!("{:.2e}", w.p_value));
            vec![
                model.to_string(),
                name.to_string(),
                format!("{severity}"),
                rs.len().to_string(),
                format!(
                    "{:.0}% → {:.0}%",
                    pass(|r| r.clean_tre),
                    pass(|r| r.adv_tre)
                ),
                format!(
                    "{:.2} → {:.2} {}",
                    clean.iter().sum::<f64>() / n,
                    adv.iter().sum::<f64>() / n,
                    rs[0].unit
                ),
                p,
            ]
        })
        .collect();
    Some(TextTable {
        title: "Natural corruptions".into(),
        caption: "Scanner artefacts and natural corruptions (docs/corruptions.md), both images \
                  of each pair corrupted, each pair its own seeded draw: passing rate (TRE within \
                  the model's tolerance) and mean TRE clean → corrupted, with the paired Wilcoxon \
                  signed-rank test of the TREs over pairs."
            .into(),
        header: [
            "model",
            "corruption",
            "severity",
            "n",
            "passing clean → corrupted",
            "mean TRE clean → corrupted",
            "Wilcoxon p",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}
