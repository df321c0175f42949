//! What the outputs of every task share: the sanity-check section of `summary.md` and the
//! minimum-norm tables (`min_norm_tables.rs`).

pub(crate) mod min_norm_tables;

use crate::Warning;

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

/// The findings list `mira run` prints: a heading and one bullet a finding.
pub(crate) fn findings_text(findings: &[String]) -> String {
    let mut text = String::from("Findings:\n");
    for f in findings {
        text += &format!("  - {f}\n");
    }
    text
}
