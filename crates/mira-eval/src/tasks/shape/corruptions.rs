//! The corruptions' part of a shape run: the mean radial shape error (MRSE) and the contour
//! Dice clean against corrupted per (model, corruption, severity), with a paired Wilcoxon test
//! of the MRSEs over slices.

use mira_report::{ShapeRecord, TextTable};

use crate::report::corruption_tables::{SeverityCurve, corruption_table, mean_of, paired_p};
use crate::tasks::shape::cell::CORRUPTION;

crate::report::corruption_tables::impl_corruption_row!(ShapeRecord, attack, epsilon);

/// The table (`None` without corruption records).
pub(crate) fn shape_corruption_table(records: &[ShapeRecord]) -> Option<TextTable> {
    let corrupted: Vec<&ShapeRecord> = records.iter().filter(|r| r.scope == CORRUPTION).collect();
    corruption_table(
        &corrupted,
        "mean MRSE (px) and contour Dice clean → corrupted, with the paired Wilcoxon \
         signed-rank test of the MRSEs over slices.",
        &[
            "MRSE clean → corrupted (px)",
            "Dice clean → corrupted",
            "Wilcoxon p",
        ],
        |g| {
            vec![
                format!(
                    "{:.3} → {:.3}",
                    mean_of(g, |r| r.clean_mrse),
                    mean_of(g, |r| r.adv_mrse)
                ),
                format!(
                    "{:.3} → {:.3}",
                    mean_of(g, |r| r.clean_dice),
                    mean_of(g, |r| r.adv_dice)
                ),
                paired_p(g, |r| r.clean_mrse, |r| r.adv_mrse),
            ]
        },
        &SeverityCurve {
            y_desc: "MRSE (px)",
            y_range: None,
            value: &|r: &ShapeRecord| Some(r.adv_mrse),
            clean: &|r: &ShapeRecord| Some(r.clean_mrse),
        },
    )
}
