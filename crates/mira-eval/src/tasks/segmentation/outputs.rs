//! What a run writes besides its records: the model comparison, the warnings section of the
//! summary and `report.html`. `mira report` calls the same functions to rebuild them.

use std::path::Path;

use mira_report::{
    ComparisonRow, ModelGroup, ReportInput, SegRecord, SummaryRow, compare, comparison_csv,
    comparison_markdown, defence_csv, render_html, summarise, to_csv, to_markdown,
};

use crate::report::{existing_examples, page_texts, warnings_markdown};
use crate::run::Manifest;
use crate::run::Outputs;
use crate::run::example_file;
use crate::run::folder::{write_atomic, write_json};
use crate::tasks::segmentation::Segmentation;
use crate::tasks::segmentation::lesion_table::lesion_table;
use crate::tasks::segmentation::volume_tables::volume_tables;
use crate::tasks::segmentation::{SegExperiment, min_norm_tables, split_min_norm};
use crate::{Result, Warning};

/// Summaries, comparison and report from the complete records of a run and its warnings:
/// `warnings.json`, `summary.csv/.json/.md`, `comparison.*` (defences) and `report.html`.
///
/// # Errors
/// Writing fails.
pub(crate) fn write_outputs(run: &Outputs<'_, Segmentation>) -> Result<Vec<SummaryRow>> {
    let (manifest, records, warnings, out) = run.parts();
    let exp = &manifest.experiment;
    let (fixed, min_norm) = split_min_norm(exp, records);
    let mut tables = min_norm_tables(exp, &fixed, &min_norm);
    tables.extend(crate::tasks::segmentation::corruption_table::corruption_table(records));
    tables.extend(volume_tables(&fixed));
    tables.extend(mira_report::perceptibility_table(&fixed));
    tables.extend(lesion_table(&fixed, exp.sweep.size_bins.as_deref()));
    let rows = summarise(&fixed);
    write_atomic(&out.join("summary.csv"), to_csv(&rows).as_bytes())?;
    write_json(&out.join("summary.json"), &rows)?;
    let mut md = to_markdown(&rows);
    md += &warnings_markdown(exp.checks.enabled, warnings);
    for t in &tables {
        md += &t.markdown();
    }
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let tests = write_comparison(exp, &fixed, out)?;
    write_report(manifest, &fixed, &rows, &tests, warnings, &tables, out)?;
    Ok(rows)
}

/// The comparison groups of an experiment: models of one architecture, in file order (the
/// first, normally the undefended model, is the reference). Groups of one model are dropped.
pub fn model_groups(exp: &SegExperiment) -> Vec<ModelGroup> {
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
    exp: &SegExperiment,
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
    manifest: &Manifest<SegExperiment>,
    records: &[SegRecord],
    rows: &[SummaryRow],
    tests: &[ComparisonRow],
    warnings: &[Warning],
    tables: &[mira_report::TextTable],
    out: &Path,
) -> Result<()> {
    let mut candidates = Vec::new();
    for m in &manifest.experiment.models {
        for a in &manifest.experiment.attacks {
            for tag in ["worst", "median"] {
                let caption = format!("{} / {}: {tag} case", m.name, a.name);
                candidates.push((caption, example_file(&m.name, &a.name, tag)));
            }
        }
    }
    let examples = existing_examples(out, candidates);
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
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
