//! The corruptions' part of a segmentation run's summary: mean foreground Dice per (model,
//! corruption, severity), clean against corrupted, with the paired Wilcoxon test of the
//! attacks' table, so natural corruptions and adversarial attacks read side by side.

use mira_report::{SegRecord, SummaryRow, TextTable, summarise};

use mira_stats::mean_defined;

use crate::report::corruption_tables::{SeverityCurve, case_ci, severity_charts};
use crate::tasks::segmentation::min_norm::CORRUPTION;

crate::report::corruption_tables::impl_corruption_row!(SegRecord, attack, epsilon);

/// The records of corruption cells (their `epsilon` is the severity).
pub fn corruption_records(records: &[SegRecord]) -> Vec<SegRecord> {
    records
        .iter()
        .filter(|r| r.goal == CORRUPTION)
        .cloned()
        .collect()
}

/// One record per (model, corruption, severity, case): the draws of an entry with `draws` > 1
/// merged into their first, its corrupted Dice per label the mean over the draws (labels no
/// draw defines stay undefined), so the paired test pairs each case once.
fn mean_over_draws(records: &[SegRecord]) -> Vec<SegRecord> {
    let mut out: Vec<(SegRecord, Vec<Vec<f64>>)> = Vec::new();
    for r in records {
        let same = |o: &SegRecord| {
            o.model == r.model && o.attack == r.attack && o.epsilon == r.epsilon && o.case == r.case
        };
        let at = match out.iter().position(|(o, _)| same(o)) {
            Some(i) => i,
            None => {
                out.push((r.clone(), vec![Vec::new(); r.adv_dice.len()]));
                out.len() - 1
            }
        };
        for (acc, d) in out[at].1.iter_mut().zip(&r.adv_dice) {
            acc.extend(d);
        }
    }
    out.into_iter()
        .map(|(mut r, draws)| {
            r.adv_dice = draws
                .iter()
                .map(|d| (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64))
                .collect();
            r.draw = None;
            r
        })
        .collect()
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The table (`None` without corruption records).
pub(crate) fn corruption_table(records: &[SegRecord]) -> Option<TextTable> {
    let corrupted = corruption_records(records);
    let rows: Vec<SummaryRow> = summarise(&mean_over_draws(&corrupted));
    if rows.is_empty() {
        return None;
    }
    let labels = rows[0].labels.clone();
    let mut header: Vec<String> = ["model", "corruption", "severity", "n"]
        .map(String::from)
        .to_vec();
    header.extend(labels.iter().map(|l| format!("Dice {l}")));
    header.extend(
        [
            "mean Dice",
            "drop %",
            "Wilcoxon p",
            "95 % CI, corrupted mean Dice",
            "mean SSIM",
        ]
        .map(String::from),
    );
    let body = rows
        .iter()
        .map(|r| {
            // The mean SSIM over the cell's records (every draw).
            let cell: Vec<&SegRecord> = corrupted
                .iter()
                .filter(|c| c.model == r.model && c.attack == r.attack && c.epsilon == r.epsilon)
                .collect();
            let ssim: Vec<f64> = cell
                .iter()
                .filter_map(|c| c.perceptibility.as_ref().map(|p| p.ssim))
                .collect();
            let n = match cell.len() / r.n.max(1) {
                1 => r.n.to_string(),
                draws => format!("{}×{draws}", r.n),
            };
            let mut row = vec![
                r.model.clone(),
                r.attack.clone(),
                format!("{}", r.epsilon),
                n,
            ];
            for (c, a) in r.clean_dice.iter().zip(&r.adv_dice) {
                row.push(format!("{} → {}", fmt(*c, 3), fmt(*a, 3)));
            }
            row.push(format!("{} → {}", fmt(r.clean_mean, 3), fmt(r.adv_mean, 3)));
            row.push(fmt(r.drop_percent, 1));
            row.push(r.p_value.map_or("-".into(), |p| format!("{p:.2e}")));
            row.push(case_ci(&cell, &|r: &SegRecord| mean_defined(&r.adv_dice)));
            row.push(if ssim.is_empty() {
                "-".into()
            } else {
                format!("{:.3}", ssim.iter().sum::<f64>() / ssim.len() as f64)
            });
            row
        })
        .collect();
    let refs: Vec<&SegRecord> = corrupted.iter().collect();
    let curve = SeverityCurve {
        y_desc: "mean foreground Dice",
        y_range: Some((0.0, 1.0)),
        value: &|r: &SegRecord| mean_defined(&r.adv_dice),
        clean: &|r: &SegRecord| mean_defined(&r.clean_dice),
    };
    Some(TextTable {
        charts: severity_charts(&refs, &curve),
        title: "Natural corruptions".into(),
        caption: "Scanner artefacts and natural corruptions (docs/corruptions.md): each case its \
                  own seeded draw of the family at the severity (n: cases, × draws per case \
                  where there are several); mean foreground Dice clean → corrupted per label \
                  and mean (over the draws), the drop in %, and the paired Wilcoxon \
                  signed-rank test over cases (each the mean over its draws), as for the \
                  attacks above, and the 95 % bootstrap interval of the corrupted mean Dice over \
                  cases; mean SSIM of the corrupted input against the clean one."
            .into(),
        header,
        rows: body,
    })
}
