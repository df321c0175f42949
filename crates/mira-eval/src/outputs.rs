//! What a run writes besides its records: the model comparison, the warnings section of the
//! summary and `report.html`. `mira report` calls the same functions to rebuild them.

use std::path::Path;

use mira_report::{
    ComparisonRow, ModelGroup, ReportInput, SegRecord, SummaryRow, compare, comparison_csv,
    comparison_markdown, defence_csv, render_html,
};

use crate::{EvalError, Experiment, Manifest, Result, Warning};

/// Writes a run file through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mira_nn::checkpoint::write_atomic(path, bytes).map_err(|e| EvalError::io(path, e))
}

/// The comparison groups of an experiment: models of one architecture, in file order (the
/// first, normally the undefended model, is the reference). Groups of one model are dropped.
pub fn model_groups(exp: &Experiment) -> Vec<ModelGroup> {
    let mut groups: Vec<ModelGroup> = Vec::new();
    for m in &exp.models {
        let g = m.group();
        match groups.iter_mut().find(|x| x.name == g) {
            Some(x) => x.models.push(m.name.clone()),
            None => groups.push(ModelGroup {
                name: g,
                models: vec![m.name.clone()],
            }),
        }
    }
    groups.retain(|g| g.models.len() > 1);
    groups
}

/// Writes `comparison.md`, `comparison.csv` and `defences.csv` when some architecture has
/// more than one model (e.g. defences); returns the paired tests (empty when there are none).
///
/// # Errors
/// Writing fails.
pub fn write_comparison(
    exp: &Experiment,
    records: &[SegRecord],
    out: &Path,
) -> Result<Vec<ComparisonRow>> {
    let groups = model_groups(exp);
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let (rows, tests) = compare(records, &groups);
    let mut md = String::from(
        "# Model comparison

",
    );
    for m in &exp.models {
        md += &format!(
            "- `{}` ({}): defence {}\n",
            m.name,
            m.group(),
            m.defence.describe()
        );
    }
    md += "\n";
    md += &comparison_markdown(&rows, &tests);
    write_atomic(&out.join("comparison.md"), md.as_bytes())?;
    write_atomic(
        &out.join("comparison.csv"),
        comparison_csv(&tests).as_bytes(),
    )?;
    write_atomic(&out.join("defences.csv"), defence_csv(&rows).as_bytes())?;
    Ok(tests)
}

/// Writes `report.html` for a run folder from its manifest, records, summary and warnings.
///
/// # Errors
/// Writing fails.
pub fn write_report(
    manifest: &Manifest,
    records: &[SegRecord],
    rows: &[SummaryRow],
    tests: &[ComparisonRow],
    warnings: &[Warning],
    tables: &[mira_report::TextTable],
    out: &Path,
) -> Result<()> {
    let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    let mut examples = Vec::new();
    for m in &manifest.experiment.models {
        for a in &manifest.experiment.attacks {
            for tag in ["worst", "median"] {
                let file = crate::seg_cell::example_file(&m.name, &a.name, tag);
                if out.join("examples").join(&file).is_file() {
                    examples.push((
                        format!("{} / {}: {tag} case", m.name, a.name),
                        format!("examples/{file}"),
                    ));
                }
            }
        }
    }
    let manifest_json =
        serde_json::to_string_pretty(manifest).map_err(|e| EvalError::io(out, e))?;
    let html = render_html(
        records,
        &ReportInput {
            title: &manifest.experiment.name,
            version: &manifest.build.version,
            commit: manifest.build.git_commit.as_deref(),
            rows,
            tests,
            checks_enabled: manifest.experiment.checks.enabled,
            warnings: &text,
            manifest: &manifest_json,
            examples: &examples,
            tables,
        },
    )?;
    write_atomic(&out.join("report.html"), html.as_bytes())
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
