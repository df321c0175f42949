//! `report.html` of a synthesis run (study S2): findings, the share of slices reaching each
//! requested Dice drop and the drop reached (per model and method), the cell table, example
//! pictures, the manifest.

use minijinja::context;

use crate::plots::{Chart, Curve, curves_svg};
use crate::{ReportError, Result, SynthSummaryRow, synth_markdown};

const TEMPLATE: &str = include_str!("../templates/synthesis.html");

/// One chart of `value` vs requested Δ, one curve per (model, method).
fn chart(
    rows: &[SynthSummaryRow],
    title: &str,
    y_desc: &str,
    value: fn(&SynthSummaryRow) -> (f64, f64, f64),
) -> Option<String> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.model.as_str(), r.method.as_str())) {
            keys.push((&r.model, &r.method));
        }
    }
    let curves: Vec<Curve> = keys
        .iter()
        .map(|(m, me)| Curve {
            name: format!("{m} ({me})"),
            points: rows
                .iter()
                .filter(|r| r.model == *m && r.method == *me)
                .map(|r| {
                    let (v, lo, hi) = value(r);
                    (r.target, v, lo, hi)
                })
                .collect(),
        })
        .collect();
    curves_svg(
        &Chart {
            title,
            x_desc: "requested Dice drop Δ",
            y_desc,
            y_range: (0.0, 1.0),
            reference: None,
        },
        &curves,
    )
    .map(|s| s.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""))
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct SynthReportInput<'a> {
    /// Records behind the page.
    pub n_records: usize,
    /// Experiment name.
    pub title: &'a str,
    /// Mira version.
    pub version: &'a str,
    /// Summary rows.
    pub rows: &'a [SynthSummaryRow],
    /// Findings, one sentence each.
    pub findings: &'a [String],
    /// Sanity-check warnings, as text.
    pub warnings: &'a [String],
    /// Example pictures: (caption, path relative to the report).
    pub examples: &'a [(String, String)],
    /// The manifest as JSON.
    pub manifest: &'a str,
    /// Titled tables (perceptibility).
    pub tables: &'a [crate::TextTable],
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_synth_html(input: &SynthReportInput<'_>) -> Result<String> {
    let plots: Vec<String> = [
        chart(
            input.rows,
            "share of slices reaching Δ",
            "share (95% CI)",
            |r| (r.met_share, r.met_ci.0, r.met_ci.1),
        ),
        chart(input.rows, "Dice drop reached (mean)", "Dice drop", |r| {
            (r.mean_drop, r.mean_drop, r.mean_drop)
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let env = crate::html::environment("synthesis.html", TEMPLATE)?;
    env.get_template("synthesis.html")
        .and_then(|t| {
            t.render(context! {
                title => input.title, version => input.version, n_records => input.n_records,
                findings => input.findings, plots => plots, table => synth_markdown(input.rows),
                examples => input.examples, manifest => input.manifest, tables => input.tables,
                warnings => input.warnings, checks_enabled => true,
            })
        })
        .map_err(|e| ReportError::Template(e.to_string()))
}
