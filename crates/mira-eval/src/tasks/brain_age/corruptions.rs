//! The corruptions' part of a brain-age run: corruption records kept apart from the attacks'
//! (whose summaries, comparisons, findings and checks stay as they are), and their table:
//! mean absolute error clean against corrupted per (model, corruption, severity), the mean
//! shift of the predicted age, and a paired Wilcoxon test over subjects.

use mira_report::{AgeRecord, TextTable};

use crate::report::corruption_tables::{SeverityCurve, corruption_table, mean_of, paired_p};
use crate::tasks::brain_age::cell::CORRUPTION;

crate::report::corruption_tables::impl_corruption_row!(AgeRecord, attack, epsilon);

/// The attack records and the corruption records.
pub(crate) fn split_corruptions(records: &[AgeRecord]) -> (Vec<AgeRecord>, Vec<AgeRecord>) {
    records.iter().cloned().partition(|r| r.scope != CORRUPTION)
}

/// The table (`None` without corruption records).
pub(crate) fn corruption_table_age(corrupted: &[AgeRecord]) -> Option<TextTable> {
    let refs: Vec<&AgeRecord> = corrupted.iter().collect();
    corruption_table(
        &refs,
        "mean absolute error in years clean → corrupted, the mean shift of the predicted age, \
         and the paired Wilcoxon signed-rank test of the absolute errors over subjects.",
        &[
            "MAE clean → corrupted (years)",
            "mean shift (years)",
            "Wilcoxon p",
        ],
        |g| {
            vec![
                format!(
                    "{:.2} → {:.2}",
                    mean_of(g, |r| (r.clean_pred - r.age).abs()),
                    mean_of(g, |r| (r.adv_pred - r.age).abs())
                ),
                format!("{:+.2}", mean_of(g, |r| r.adv_pred - r.clean_pred)),
                paired_p(
                    g,
                    |r| (r.clean_pred - r.age).abs(),
                    |r| (r.adv_pred - r.age).abs(),
                ),
            ]
        },
        &SeverityCurve {
            y_desc: "absolute error (years)",
            y_range: None,
            value: &|r: &AgeRecord| Some((r.adv_pred - r.age).abs()),
            clean: &|r: &AgeRecord| Some((r.clean_pred - r.age).abs()),
        },
    )
}
