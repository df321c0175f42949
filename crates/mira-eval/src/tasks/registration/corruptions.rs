//! The corruptions' part of a registration run: both images of every pair corrupted by the
//! family at the severity; the passing rate and the mean TRE clean against corrupted per
//! (model, corruption, severity), with a paired Wilcoxon test of the TREs over pairs.

use mira_report::{RegRecord, TextTable};

use crate::report::corruption_tables::{SeverityCurve, corruption_table, mean_of, paired_p};
use crate::tasks::registration::CORRUPTION;

crate::report::corruption_tables::impl_corruption_row!(RegRecord, attack, epsilon);

/// The table (`None` without corruption records).
pub(crate) fn reg_corruption_table(records: &[RegRecord]) -> Option<TextTable> {
    let corrupted: Vec<&RegRecord> = records.iter().filter(|r| r.norm == CORRUPTION).collect();
    corruption_table(
        &corrupted,
        "both images of each pair corrupted; passing rate (TRE within the model's tolerance) \
         and mean TRE clean → corrupted, with the paired Wilcoxon signed-rank test of the TREs \
         over pairs.",
        &[
            "passing clean → corrupted",
            "mean TRE clean → corrupted",
            "Wilcoxon p",
        ],
        |g| {
            let pass = |t: fn(&RegRecord) -> f64| {
                100.0 * mean_of(g, |r| f64::from(u8::from(t(r) <= r.tolerance)))
            };
            vec![
                format!(
                    "{:.0}% → {:.0}%",
                    pass(|r| r.clean_tre),
                    pass(|r| r.adv_tre)
                ),
                format!(
                    "{:.2} → {:.2} {}",
                    mean_of(g, |r| r.clean_tre),
                    mean_of(g, |r| r.adv_tre),
                    g[0].unit
                ),
                paired_p(g, |r| r.clean_tre, |r| r.adv_tre),
            ]
        },
        &SeverityCurve {
            y_desc: "TRE",
            y_range: None,
            value: &|r: &RegRecord| Some(r.adv_tre),
            clean: &|r: &RegRecord| Some(r.clean_tre),
        },
    )
}
