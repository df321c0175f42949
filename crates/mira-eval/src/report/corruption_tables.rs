//! The frame every task's "Natural corruptions" table shares: the corruption records grouped
//! by (model, corruption, severity) in first-seen order, each group one row that starts with
//! those three and its case count (`cases×draws` for entries with several draws per case); the
//! task fills in its metric's columns, its paired tests over the per-case means of the draws.

use mira_report::{Chart, Curve, TextTable, curves_svg};

/// What a task says about one record of a corruption cell.
pub(crate) trait CorruptionRow: crate::run::Record {
    /// `(model, corruption name, severity)`.
    fn cell(&self) -> (&str, &str, f64);
    /// The SSIM of the corrupted input against the clean one, where measured.
    fn ssim(&self) -> Option<f64>;
}

/// Implements [`CorruptionRow`] for a record with `model` and `perceptibility` fields, its
/// corruption named by `$name` and its severity held in `$severity` (`attack` and `epsilon`
/// for most tasks).
macro_rules! impl_corruption_row {
    ($record:ty, $name:ident, $severity:ident) => {
        impl $crate::report::corruption_tables::CorruptionRow for $record {
            fn cell(&self) -> (&str, &str, f64) {
                (&self.model, &self.$name, self.$severity)
            }

            fn ssim(&self) -> Option<f64> {
                self.perceptibility.as_ref().map(|p| p.ssim)
            }
        }
    };
}
pub(crate) use impl_corruption_row;

/// What a task's corruption table charts against severity: a metric of a record corrupted and
/// clean (`None`: undefined for that record).
pub(crate) struct SeverityCurve<'a, R> {
    /// The metric's axis label (`mean foreground Dice`).
    pub y_desc: &'a str,
    /// Its range; `None`: from 0 to a little above the largest value.
    pub y_range: Option<(f64, f64)>,
    /// The metric on the corrupted input.
    pub value: &'a dyn Fn(&R) -> Option<f64>,
    /// The metric on the clean input.
    pub clean: &'a dyn Fn(&R) -> Option<f64>,
}

/// The distinct values of `key` over `items`, in first-seen order.
fn distinct<'a, T>(items: &[T], key: impl Fn(&T) -> &'a str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&key(i)) {
            out.push(key(i));
        }
    }
    out
}

/// One chart per model of `curve` against severity: a line per corruption, each point the mean
/// over cases (a case: the mean over its draws) with a 95 % bootstrap band over cases, the clean
/// mean as the reference line.
pub(crate) fn severity_charts<R: CorruptionRow>(
    records: &[&R],
    curve: &SeverityCurve<'_, R>,
) -> Vec<String> {
    let mut out = Vec::new();
    for model in distinct(records, |r| r.cell().0) {
        let rs: Vec<&R> = records
            .iter()
            .copied()
            .filter(|r| r.cell().0 == model)
            .collect();
        let curves: Vec<Curve> = distinct(&rs, |r| r.cell().1)
            .iter()
            .enumerate()
            .map(|(ni, name)| {
                let mut sev: Vec<f64> = rs
                    .iter()
                    .filter(|r| r.cell().1 == *name)
                    .map(|r| r.cell().2)
                    .collect();
                sev.sort_by(f64::total_cmp);
                sev.dedup();
                let points = sev
                    .iter()
                    .filter_map(|&s| {
                        let group: Vec<&R> = rs
                            .iter()
                            .copied()
                            .filter(|r| r.cell().1 == *name && r.cell().2 == s)
                            .filter(|r| (curve.value)(r).is_some())
                            .collect();
                        let v = by_case(&group, |r| (curve.value)(r).unwrap_or_default());
                        if v.is_empty() {
                            return None;
                        }
                        let mean = v.iter().sum::<f64>() / v.len() as f64;
                        // One case has no band: the point alone.
                        let (lo, hi) =
                            mira_stats::bootstrap_mean_ci(&v, 0.95, 2000, 17 + ni as u64)
                                .unwrap_or((mean, mean));
                        Some((s, mean, lo, hi))
                    })
                    .collect();
                Curve {
                    name: name.to_string(),
                    points,
                }
            })
            .collect();
        let clean: Vec<f64> = rs.iter().filter_map(|r| (curve.clean)(r)).collect();
        let reference = (!clean.is_empty()).then(|| {
            let m = clean.iter().sum::<f64>() / clean.len() as f64;
            (format!("clean {m:.3}"), m)
        });
        let top = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.3))
            .chain(reference.iter().map(|r| r.1))
            .fold(0.0, f64::max);
        let title = format!("{model}: damage by corruption severity");
        let chart = Chart {
            title: &title,
            x_desc: "severity",
            y_desc: curve.y_desc,
            y_range: curve.y_range.unwrap_or((0.0, (top * 1.1).max(1e-6))),
            reference,
        };
        out.extend(curves_svg(&chart, &curves));
    }
    out
}

/// The table of `records` (corruption records only): `columns` name the task's columns, and
/// `row` computes them from a group's records; `curve` is charted against severity beside it.
/// `None` when there are no records.
pub(crate) fn corruption_table<R: CorruptionRow>(
    records: &[&R],
    caption: &str,
    columns: &[&str],
    row: impl Fn(&[&R]) -> Vec<String>,
    curve: &SeverityCurve<'_, R>,
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
            cols.push(case_ci(&group, curve.value));
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
    header.push(format!("95 % CI, corrupted {}", curve.y_desc));
    header.push("mean SSIM".into());
    Some(TextTable {
        charts: severity_charts(records, curve),
        title: "Natural corruptions".into(),
        caption: format!(
            "Scanner artefacts and natural corruptions (docs/corruptions.md), each case its own \
             seeded draw of the family at the severity (n: cases, × draws per case where there \
             are several; means over every draw, paired tests and bootstrap intervals over the \
             cases' means): {caption} Mean SSIM: of the corrupted input against the clean one \
             (as in the Perceptibility table)."
        ),
        header,
        rows,
    })
}

/// The 95 % bootstrap interval (2000 resamples of the cases, each the mean of `value` over its
/// draws) of the mean of `value` over `group`'s cases, as the tables print it (`-`: under two
/// cases).
pub(crate) fn case_ci<R: CorruptionRow>(group: &[&R], value: &dyn Fn(&R) -> Option<f64>) -> String {
    let defined: Vec<&R> = group
        .iter()
        .copied()
        .filter(|r| value(r).is_some())
        .collect();
    let v = by_case(&defined, |r| value(r).unwrap_or_default());
    mira_stats::bootstrap_mean_ci(&v, 0.95, 2000, 17)
        .map_or("-".into(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]"))
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
