//! What a disk-shape run writes beside its records: summaries, findings next to the S4 paper's,
//! `report.html`, and the picture of each cell at its attack's largest ε.

use std::path::Path;

use mira_data::ShapeSample;
use mira_report::{ShapeRecord, shape_markdown, summarise_shape};

use crate::report::{existing_examples, findings_markdown, page_texts, warnings_markdown};
use crate::run::Outputs;
use crate::run::example_file;
use crate::run::folder::{write_atomic, write_json};
use crate::tasks::shape::Shape;
use crate::tasks::shape::{
    KeptShape, ShapeCell, ShapeScope, ShapeSummary, shape_findings, shape_min_norm_tables,
    split_shape_min_norm,
};
use crate::{EvalError, Result};

/// Summary files, findings and `report.html`.
pub(crate) fn write_shape_outputs(run: &Outputs<'_, Shape>) -> Result<ShapeSummary> {
    let (manifest, records, warnings, out) = run.parts();
    let exp = &manifest.experiment;
    let (fixed, min_norm) = split_shape_min_norm(exp, records);
    let mut tables = shape_min_norm_tables(exp, &fixed, &min_norm);
    tables.extend(mira_report::perceptibility_table(&fixed));
    tables.extend(crate::tasks::shape::corruptions::shape_corruption_table(
        records,
    ));
    let rows = summarise_shape(&fixed);
    let findings = shape_findings(exp, &fixed, &rows);
    write_json(&out.join("summary.json"), &rows)?;
    let mut md = findings_markdown(&findings) + &shape_markdown(&rows);
    for t in &tables {
        md += &t.markdown();
    }
    md += &warnings_markdown(exp.checks.probes.enabled, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
    let mut candidates = Vec::new();
    for a in &exp.attacks {
        let (tag, what) = match a.scope {
            ShapeScope::Ood => ("best-match", "closest OOD match"),
            _ => ("worst", "worst case"),
        };
        let largest = a.epsilons.iter().copied().fold(0.0f32, f32::max);
        for m in &exp.models {
            let caption = format!("{} / {}: {what} at ε = {largest}", m.name, a.name);
            candidates.push((caption, example_file(&m.name, &a.name, tag)));
        }
    }
    let examples = existing_examples(out, candidates);
    let html = mira_report::render_shape_html(
        &rows,
        &mira_report::ShapePage {
            n_records: records.len(),
            title: &exp.name,
            version: &manifest.build.version,
            findings: &findings,
            warnings: &text,
            examples: &examples,
            tables: &tables,
            manifest: &manifest_json,
        },
    )?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(ShapeSummary { rows, findings })
}

/// The picture of a cell at its attack's largest ε, written before the cell's records so a
/// rerun of an interrupted cell rewrites it: in distribution the case with the largest error
/// (`worst`), out of distribution the closest match (`best-match`).
pub(crate) fn save_example(
    out: &Path,
    cell: &ShapeCell<'_>,
    test: &[ShapeSample],
    records: &[ShapeRecord],
    kept: &[KeptShape],
) -> Result<()> {
    let ood = cell.scope == ShapeScope::Ood;
    let Some(case) = example_case(records, ood) else {
        return Ok(());
    };
    let Some(k) = kept.iter().find(|k| k.case == case) else {
        return Ok(());
    };
    let s = &test[case];
    let reference = if ood { &k.clean } else { &s.points };
    let dir = out.join("examples");
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let tag = if ood { "best-match" } else { "worst" };
    let file = dir.join(example_file(cell.id.model, cell.id.attack, tag));
    let pic = mira_data::ShapePicture {
        size: s.size,
        slice: &s.image,
        start: &k.start,
        adv: &k.adv,
        reference,
        clean: &k.clean,
        adversarial: &k.adversarial,
    };
    // The perturbation's largest change is drawn at full colour.
    let largest = k
        .adv
        .iter()
        .zip(&k.start)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let gain = 1.0 / largest.max(1e-6);
    mira_data::save_shape_png(&pic, gain, 3, &file)?;
    Ok(())
}

/// The case a cell's picture shows: in distribution the one with the largest error, out of
/// distribution the closest match.
pub(crate) fn example_case(records: &[ShapeRecord], ood: bool) -> Option<usize> {
    records
        .iter()
        .max_by(|a, b| {
            let o = a.adv_mrse.total_cmp(&b.adv_mrse);
            if ood { o.reverse() } else { o }
        })
        .map(|r| r.case)
}
