//! `report.html` of a disk-shape run (study S4): findings, MRSE-vs-ε curves of the
//! in-distribution attacks, the cell table, the manifest.

use minijinja::context;

use crate::plots::{Chart, Curve, curves_svg};
use crate::{ReportError, Result, ShapeSummaryRow, shape_markdown};

const TEMPLATE: &str = include_str!("../templates/shape.html");

/// MRSE vs ε, one chart per in-distribution attack, one curve per model.
fn plots(rows: &[ShapeSummaryRow]) -> Vec<String> {
    let mut attacks: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.scope == "ind") {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let top = rows
        .iter()
        .map(|r| r.adv_mrse)
        .filter(|v| v.is_finite())
        .fold(5.0, f64::max);
    attacks
        .iter()
        .filter_map(|a| {
            let mine: Vec<&ShapeSummaryRow> = rows.iter().filter(|r| r.attack == *a).collect();
            let mut models: Vec<&str> = Vec::new();
            for r in &mine {
                if !models.contains(&r.model.as_str()) {
                    models.push(&r.model);
                }
            }
            let curves: Vec<Curve> = models
                .iter()
                .map(|m| {
                    let mut points: Vec<(f64, f64, f64, f64)> = mine
                        .iter()
                        .filter(|r| r.model == *m)
                        .map(|r| (r.epsilon, r.adv_mrse, r.adv_mrse, r.adv_mrse))
                        .collect();
                    points.sort_by(|x, y| x.0.total_cmp(&y.0));
                    Curve {
                        name: m.to_string(),
                        points,
                    }
                })
                .collect();
            let title = format!("{a}: MRSE under attack");
            curves_svg(
                &Chart {
                    title: &title,
                    x_desc: "ε (input units, [0, 1] intensities)",
                    y_desc: "MRSE (px)",
                    y_range: (0.0, top * 1.05),
                    reference: None,
                },
                &curves,
            )
        })
        .map(|s| s.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""))
        .collect()
}

/// What the page shows besides the summary rows.
pub struct ShapePage<'a> {
    /// Records behind the rows.
    pub n_records: usize,
    /// Experiment name.
    pub title: &'a str,
    /// Mira version.
    pub version: &'a str,
    /// The findings, as sentences.
    pub findings: &'a [String],
    /// Sanity-check warnings, as text.
    pub warnings: &'a [String],
    /// Pictures: caption and path relative to the report.
    pub examples: &'a [(String, String)],
    /// Further tables (the minimum-norm findings), after the cells.
    pub tables: &'a [crate::TextTable],
    /// The manifest, pretty-printed JSON.
    pub manifest: &'a str,
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_shape_html(rows: &[ShapeSummaryRow], page: &ShapePage<'_>) -> Result<String> {
    let ShapePage {
        n_records,
        title,
        version,
        findings,
        warnings,
        examples,
        tables,
        manifest,
    } = *page;
    let env = crate::html::environment("shape.html", TEMPLATE)?;
    env.get_template("shape.html")
        .and_then(|t| {
            t.render(context! {
                title => title, version => version, n_records => n_records,
                findings => findings, plots => plots(rows), table => shape_markdown(rows),
                manifest => manifest, tables => tables,
                warnings => warnings, checks_enabled => true,
                examples => examples.iter().map(|(c, p)| context! { caption => c, src => p }).collect::<Vec<_>>(),
            })
        })
        .map_err(|e| ReportError::Template(e.to_string()))
}
