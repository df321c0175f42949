//! A report page for any task: title, findings, the sanity checks, curves, titled tables and
//! the manifest. A new task renders its `report.html` with it before it needs a page of its own.

use minijinja::context;
use serde::Serialize;

use crate::{ReportError, Result, TextTable};

const TEMPLATE: &str = include_str!("../templates/page.html");

/// What a generic page shows.
#[derive(Debug, Clone, Serialize)]
pub struct PageInput<'a> {
    /// Experiment name.
    pub title: &'a str,
    /// Mira version.
    pub version: &'a str,
    /// Git commit, if known.
    pub commit: Option<&'a str>,
    /// Records behind the page.
    pub n_records: usize,
    /// A sentence on units and what a record is.
    pub intro: &'a str,
    /// Findings, one sentence each.
    pub findings: &'a [String],
    /// Whether the sanity checks ran.
    pub checks_enabled: bool,
    /// Sanity-check warnings, as text.
    pub warnings: &'a [String],
    /// SVG charts (e.g. from [`crate::curves_svg`]).
    pub plots: &'a [String],
    /// Titled tables.
    pub tables: &'a [TextTable],
    /// The manifest, pretty-printed JSON.
    pub manifest: &'a str,
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_page(input: &PageInput<'_>) -> Result<String> {
    let env = crate::html::environment("page.html", TEMPLATE)?;
    env.get_template("page.html")
        .and_then(|t| t.render(context! { ..minijinja::Value::from_serialize(input) }))
        .map_err(|e| ReportError::Template(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_shows_findings_warnings_tables_and_the_manifest() {
        let table = TextTable {
            charts: Vec::new(),
            title: "Cells".into(),
            caption: "per cell".into(),
            header: vec!["attack".into(), "error".into()],
            rows: vec![vec!["fgsm".into(), "0.25".into()]],
        };
        let html = render_page(&PageInput {
            title: "toy <1>",
            version: "0.1.0",
            commit: None,
            n_records: 3,
            intro: "ε in input units.",
            findings: &["it breaks".into()],
            checks_enabled: true,
            warnings: &["[w] m: x < y".into()],
            plots: &[],
            tables: &[table],
            manifest: "{\"a\": 1}",
        })
        .unwrap();
        for needle in [
            "toy &lt;1&gt;",
            "it breaks",
            "[w] m: x &lt; y",
            "<h2>Cells</h2>",
            "<td>0.25</td>",
            "&quot;a&quot;: 1",
        ] {
            assert!(html.contains(needle), "{needle}: {html}");
        }
        assert!(!html.contains("No warnings"));
    }
}
