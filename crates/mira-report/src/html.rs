//! `report.html`: one self-contained page (inline SVG, no JavaScript) built from a run's
//! records, summary, comparison, warnings and manifest.

use minijinja::{Environment, context};
use serde::Serialize;

use crate::plots::{dice_curve_svg, hd95_curve_svg};
use crate::summary::fmt_p;
use crate::{ComparisonRow, ReportError, Result, SegRecord, SummaryRow};

const TEMPLATE: &str = include_str!("../templates/report.html");

/// The [`TextTable`] blocks every report page includes (`{% include "text_tables.html" %}`).
const TEXT_TABLES: &str = include_str!("../templates/text_tables.html");
/// The sanity-check section every report page includes (`{% include "checks.html" %}`; context
/// `checks_enabled` and `warnings`).
const CHECKS: &str = include_str!("../templates/checks.html");

/// A template environment holding `name` and the shared partials.
///
/// # Errors
/// A template that does not parse (a bug).
pub(crate) fn environment(
    name: &'static str,
    source: &'static str,
) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.add_template("text_tables.html", TEXT_TABLES)
        .and_then(|_| env.add_template("checks.html", CHECKS))
        .and_then(|_| env.add_template(name, source))
        .map_err(|e| ReportError::Template(e.to_string()))?;
    Ok(env)
}

/// What the page shows besides the records.
pub struct ReportInput<'a> {
    /// Experiment name.
    pub title: &'a str,
    /// Mira version and git commit of the run.
    pub version: &'a str,
    /// Git commit, if known.
    pub commit: Option<&'a str>,
    /// Summary rows (one per cell).
    pub rows: &'a [SummaryRow],
    /// Paired tests between models, if the run compared any.
    pub tests: &'a [ComparisonRow],
    /// Whether the sanity checks ran.
    pub checks_enabled: bool,
    /// Sanity-check warnings, as text.
    pub warnings: &'a [String],
    /// The manifest, pretty-printed JSON.
    pub manifest: &'a str,
    /// Example pictures: caption and path relative to the report.
    pub examples: &'a [(String, String)],
    /// Further tables (the minimum-norm findings), after the per-cell table.
    pub tables: &'a [TextTable],
}

/// A titled table of text cells with a caption.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextTable {
    /// Heading.
    pub title: String,
    /// What the table shows and how to read it.
    pub caption: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
    /// SVG charts shown under the caption in reports (e.g. a corruption table's damage against
    /// severity); Markdown leaves them out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<String>,
}

impl TextTable {
    /// The table as Markdown: heading, caption, pipe table.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut md = format!("\n## {}\n\n{}\n\n", self.title, self.caption);
        md += &line(&self.header);
        md += &line(&vec!["---".to_string(); self.header.len()]);
        for r in &self.rows {
            md += &line(r);
        }
        md
    }
}

#[derive(Serialize)]
struct Row {
    model: String,
    attack: String,
    epsilon: f64,
    n: usize,
    cells: Vec<String>,
    mean: String,
    drop: String,
    p: String,
    target: String,
}

#[derive(Serialize)]
struct Test {
    group: String,
    attack: String,
    epsilon: f64,
    label: String,
    a: String,
    b: String,
    n: usize,
    mean_a: String,
    mean_b: String,
    p: String,
    p_holm: String,
    sig: bool,
}

fn f3(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_html(records: &[SegRecord], input: &ReportInput<'_>) -> Result<String> {
    let mut models: Vec<&str> = Vec::new();
    for r in records {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let plots: Vec<String> = models
        .iter()
        .flat_map(|m| [dice_curve_svg(records, m), hd95_curve_svg(records, m)])
        .flatten()
        .map(|svg| svg.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""))
        .collect();
    let labels = input
        .rows
        .first()
        .map(|r| r.labels.clone())
        .unwrap_or_default();
    let rows: Vec<Row> = input
        .rows
        .iter()
        .map(|r| Row {
            model: r.model.clone(),
            attack: r.attack.clone(),
            epsilon: r.epsilon,
            n: r.n,
            cells: r
                .clean_dice
                .iter()
                .zip(&r.adv_dice)
                .map(|(c, a)| format!("{} → {}", f3(*c), f3(*a)))
                .collect(),
            mean: format!("{} → {}", f3(r.clean_mean), f3(r.adv_mean)),
            drop: r.drop_percent.map_or("-".into(), |d| format!("{d:.1}")),
            p: fmt_p(r.p_value),
            target: match (r.clean_target_match, r.adv_target_match) {
                (Some(c), Some(a)) => format!("{c:.3} → {a:.3}"),
                _ => "-".into(),
            },
        })
        .collect();
    let tests: Vec<Test> = input
        .tests
        .iter()
        .map(|t| Test {
            group: t.group.clone(),
            attack: t.attack.clone(),
            epsilon: t.epsilon,
            label: t.label.clone(),
            a: t.a.clone(),
            b: t.b.clone(),
            n: t.n,
            mean_a: format!("{:.3}", t.mean_a),
            mean_b: format!("{:.3}", t.mean_b),
            p: fmt_p(t.p),
            p_holm: fmt_p(t.p_holm),
            sig: t.p_holm.is_some_and(|p| p < 0.05),
        })
        .collect();
    let env = crate::html::environment("report.html", TEMPLATE)?;
    env.get_template("report.html")
        .and_then(|t| {
            t.render(context! {
                title => input.title,
                version => input.version,
                commit => input.commit,
                n_records => records.len(),
                checks_enabled => input.checks_enabled,
                warnings => input.warnings,
                plots => plots,
                labels => labels,
                rows => rows,
                tests => tests,
                manifest => input.manifest,
                tables => input.tables,
                examples => input.examples.iter().map(|(c, p)| context! { caption => c, src => p }).collect::<Vec<_>>(),
            })
        })
        .map_err(|e| ReportError::Template(e.to_string()))
}
