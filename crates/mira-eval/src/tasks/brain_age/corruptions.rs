//! The corruptions' part of a brain-age run: corruption records kept apart from the attacks'
//! (whose summaries, comparisons, findings and checks stay as they are), and their table:
//! mean absolute error clean against corrupted per (model, corruption, severity), the mean
//! shift of the predicted age, and a paired Wilcoxon test over subjects.

use mira_report::{AgeRecord, TextTable};
use mira_stats::wilcoxon_signed_rank;

use crate::tasks::brain_age::cell::CORRUPTION;

/// The attack records and the corruption records.
pub(crate) fn split_corruptions(records: &[AgeRecord]) -> (Vec<AgeRecord>, Vec<AgeRecord>) {
    records.iter().cloned().partition(|r| r.scope != CORRUPTION)
}

/// The table (`None` without corruption records).
pub(crate) fn corruption_table(corrupted: &[AgeRecord]) -> Option<TextTable> {
    let mut cells: Vec<(&str, &str, f64)> = Vec::new();
    for r in corrupted {
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
            let rs: Vec<&AgeRecord> = corrupted
                .iter()
                .filter(|r| r.model == model && r.attack == name && r.epsilon == severity)
                .collect();
            let n = rs.len() as f64;
            let clean: Vec<f64> = rs.iter().map(|r| (r.clean_pred - r.age).abs()).collect();
            let adv: Vec<f64> = rs.iter().map(|r| (r.adv_pred - r.age).abs()).collect();
            let shift = rs.iter().map(|r| r.adv_pred - r.clean_pred).sum::<f64>() / n;
            let p = wilcoxon_signed_rank(&clean, &adv)
                .map_or("-".into(), |w| format!("{:.2e}", w.p_value));
            vec![
                model.to_string(),
                name.to_string(),
                format!("{severity}"),
                rs.len().to_string(),
                format!(
                    "{:.2} → {:.2}",
                    clean.iter().sum::<f64>() / n,
                    adv.iter().sum::<f64>() / n
                ),
                format!("{shift:+.2}"),
                p,
            ]
        })
        .collect();
    Some(TextTable {
        title: "Natural corruptions".into(),
        caption: "Scanner artefacts and natural corruptions (docs/corruptions.md): each subject \
                  its own seeded draw of the family at the severity; mean absolute error in years \
                  clean → corrupted, the mean shift of the predicted age, and the paired Wilcoxon \
                  signed-rank test of the absolute errors over subjects."
            .into(),
        header: [
            "model",
            "corruption",
            "severity",
            "n",
            "MAE clean → corrupted (years)",
            "mean shift (years)",
            "Wilcoxon p",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}
