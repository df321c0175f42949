//! What the outputs of every task share: the sanity-check section of `summary.md` and the
//! minimum-norm tables (`min_norm_tables.rs`).

pub(crate) mod corruption_tables;
pub(crate) mod min_norm_tables;

use crate::Warning;

/// What the outputs of a run say: its summary rows (one per cell) and findings (one sentence
/// each).
#[derive(Debug, Clone)]
pub struct Findings<R> {
    /// Summary rows.
    pub rows: Vec<R>,
    /// Findings, one sentence each.
    pub findings: Vec<String>,
}

/// The checks section of `summary.md`.
pub fn warnings_markdown(enabled: bool, warnings: &[Warning]) -> String {
    if !enabled {
        return "\nSanity checks: disabled (`[checks] enabled = false`).\n".into();
    }
    if warnings.is_empty() {
        return "\nSanity checks (docs/checks.md): no warnings.\n".into();
    }
    let mut s = format!(
        "\n## Sanity-check warnings ({}; see docs/checks.md)\n\n",
        warnings.len()
    );
    for w in warnings {
        s += &format!("- {w}\n");
    }
    s
}

/// `"<model> <label>"` for the first row of each of `models` (in their order) that has one.
pub(crate) fn per_model<R>(
    models: &[&str],
    rows: &[R],
    model_of: impl Fn(&R) -> &str,
    label: impl Fn(&R) -> String,
) -> Vec<String> {
    models
        .iter()
        .filter_map(|&m| {
            let row = rows.iter().find(|r| model_of(r) == m)?;
            Some(format!("{m} {}", label(row)))
        })
        .collect()
}

/// The findings list `mira run` prints: a heading and one bullet a finding.
pub(crate) fn findings_text(findings: &[String]) -> String {
    let mut text = String::from("Findings:\n");
    for f in findings {
        text += &format!("  - {f}\n");
    }
    text
}

/// The findings section of `summary.md` and the heading of its cells.
pub(crate) fn findings_markdown(findings: &[String]) -> String {
    let mut md = String::from("## Findings\n\n");
    for f in findings {
        md += &format!("- {f}\n");
    }
    md + "\n## Cells\n\n"
}

/// Of the pictures `(caption, file)` a report may show, those in `out/examples`, with their
/// paths relative to `out`.
pub(crate) fn existing_examples(
    out: &std::path::Path,
    candidates: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    candidates
        .into_iter()
        .filter(|(_, file)| out.join("examples").join(file).is_file())
        .map(|(caption, file)| (caption, format!("examples/{file}")))
        .collect()
}

/// What every report page embeds besides its tables: the manifest as pretty JSON and the
/// warnings as lines.
///
/// # Errors
/// The manifest cannot be serialised.
pub(crate) fn page_texts<S: serde::Serialize>(
    manifest: &crate::run::Manifest<S>,
    warnings: &[Warning],
    out: &std::path::Path,
) -> crate::Result<(String, Vec<String>)> {
    let json = serde_json::to_string_pretty(manifest).map_err(|e| crate::EvalError::io(out, e))?;
    Ok((json, warnings.iter().map(|w| w.to_string()).collect()))
}
