//! The frame every task's "Natural corruptions" table shares: the corruption records grouped
//! by (model, corruption, severity) in first-seen order, each group one row that starts with
//! those three and its case count (`cases×draws` for entries with several draws per case); the
//! task fills in its metric's columns, its paired tests over the per-case means of the draws.

use mira_report::TextTable;

/// What a task says about one record of a corruption cell.
pub(crate) trait CorruptionRow: crate::run::Record {
    /// `(model, corruption name, severity)`.
    fn cell(&self) -> (&str, &str, f64);
    /// The SSIM of the corrupted input against the clean one, where measured.
    fn ssim(&self) -> Option<f64>;
}

/// The table of `records` (corruption records only): `columns` name the task's columns, and
/// `row` computes them from a group's records. `None` when there are no records.
pub(crate) fn corruption_table<R: CorruptionRow>(
    records: &[&R],
    caption: &str,
    columns: &[&str],
    row: impl Fn(&[&R]) -> Vec<String>,
) -> Option<TextTable> {
    let mut cells: Vec<(&str, &str, f64)> = Vec::new();
    for r in records {
        if !cells.contains(&r.cell()) {
            cells.push(r.cell());
        }
    }
    if cells.is_empty() {
        return None;
    }
    let rows = cells
        .into_iter()
        .map(|key| {
            let group: Vec<&R> = records
                .iter()
                .copied()
                .filter(|r| r.cell() == key)
                .collect();
            let cases = by_case(&group, |_| 0.0).len();
            let n = match group.len() / cases.max(1) {
                1 => cases.to_string(),
                draws => format!("{cases}×{draws}"),
            };
            let mut cols = vec![
                key.0.to_string(),
                key.1.to_string(),
                format!("{}", key.2),
                n,
            ];
            cols.extend(row(&group));
            let ssim: Vec<f64> = group.iter().filter_map(|r| r.ssim()).collect();
            cols.push(if ssim.is_empty() {
                "-".into()
            } else {
                format!("{:.3}", ssim.iter().sum::<f64>() / ssim.len() as f64)
            });
            cols
        })
        .collect();
    let mut header: Vec<String> = ["model", "corruption", "severity", "n"]
        .map(String::from)
        .to_vec();
    header.extend(columns.iter().map(|c| c.to_string()));
    header.push("mean SSIM".into());
    Some(TextTable {
        title: "Natural corruptions".into(),
        caption: format!(
            "Scanner artefacts and natural corruptions (docs/corruptions.md), each case its own \
             seeded draw of the family at the severity (n: cases, × draws per case where there \
             are several; means over every draw, paired tests over the cases' means): {caption} \
             Mean SSIM: of the corrupted input against the clean one (as in the Perceptibility \
             table)."
        ),
        header,
        rows,
    })
}

/// `f` averaged over each case's records (the draws of an entry with `draws` > 1), in order of
/// first appearance: what paired tests pair.
pub(crate) fn by_case<R: CorruptionRow>(group: &[&R], f: impl Fn(&R) -> f64) -> Vec<f64> {
    let mut cases: Vec<(usize, f64, usize)> = Vec::new();
    for r in group {
        match cases.iter_mut().find(|c| c.0 == r.case()) {
            Some(c) => {
                c.1 += f(r);
                c.2 += 1;
            }
            None => cases.push((r.case(), f(r), 1)),
        }
    }
    cases.into_iter().map(|(_, s, n)| s / n as f64).collect()
}

/// The paired Wilcoxon p-value of `clean` against `corrupted` over the group's cases (each the
/// mean over its draws), as the tables print it.
pub(crate) fn paired_p<R: CorruptionRow>(
    group: &[&R],
    clean: impl Fn(&R) -> f64,
    corrupted: impl Fn(&R) -> f64,
) -> String {
    mira_stats::wilcoxon_signed_rank(&by_case(group, clean), &by_case(group, corrupted))
        .map_or("-".into(), |w| format!("{:.2e}", w.p_value))
}

/// The mean of `f` over `group`.
pub(crate) fn mean_of<R>(group: &[&R], f: impl Fn(&R) -> f64) -> f64 {
    group.iter().map(|r| f(r)).sum::<f64>() / group.len().max(1) as f64
}
