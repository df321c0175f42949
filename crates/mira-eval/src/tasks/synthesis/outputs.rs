//! Summaries, findings (each next to the S2 paper's claim) and `report.html` of a synthesis
//! run, rebuilt from `records.jsonl` and `manifest.json` alone.

use mira_report::{
    SynthRecord, SynthReportInput, SynthSummaryRow, summarise_synth, synth_markdown,
};
use mira_stats::wilcoxon_signed_rank;

use crate::Result;
use crate::report::{existing_examples, findings_markdown, page_texts, warnings_markdown};
use crate::run::Outputs;
use crate::run::folder::{write_atomic, write_json};
use crate::tasks::synthesis::Synthesis;
use crate::tasks::synthesis::{LEARNED, PER_IMAGE, SynthExperiment, SynthSummary};

fn pct(v: f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

fn mm(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1} mm")
    } else {
        "–".into()
    }
}

/// One sentence per verdict.
pub(crate) fn synth_findings(
    exp: &SynthExperiment,
    records: &[SynthRecord],
    rows: &[SynthSummaryRow],
) -> Vec<String> {
    let mut out = Vec::new();
    let row = |m: &str, me: &str, t: f64| {
        rows.iter()
            .find(|r| r.model == m && r.method == me && r.target == t)
    };
    let targets: Vec<f64> = exp
        .search
        .targets
        .iter()
        .map(|&t| crate::run::eps_f64(t))
        .collect();
    let names: Vec<&str> = exp.models.iter().map(|m| m.name.as_str()).collect();
    let clean = crate::report::per_model(
        &names,
        rows,
        |r| &r.model,
        |r| format!("{:.3}", r.clean_dice),
    );
    if !clean.is_empty() {
        out.push(format!(
            "Clean mean organ Dice on {} held-out slices: {}.",
            exp.data.test_slices,
            clean.join(", ")
        ));
    }
    for m in &exp.models {
        for method in [PER_IMAGE, LEARNED] {
            let parts: Vec<String> = targets
                .iter()
                .filter_map(|&t| row(&m.name, method, t))
                .map(|r| {
                    format!(
                        "Δ = {}: {} of slices (mean drop {:.3}; median {} and bias {:.1}% where met)",
                        r.target,
                        pct(r.met_share),
                        r.mean_drop,
                        mm(r.median_disp_mm),
                        100.0 * if r.median_bias.is_finite() { r.median_bias } else { 0.0 }
                    )
                })
                .collect();
            if !parts.is_empty() {
                out.push(format!(
                    "{} ({method}) reached the requested Dice drop on {}.",
                    m.name,
                    parts.join("; ")
                ));
            }
        }
    }
    // Learned vs per-image, paired by slice over all targets.
    for m in &exp.models {
        let met = |method: &str| -> Vec<(usize, f64, f64)> {
            records
                .iter()
                .filter(|r| r.model == m.name && r.method == method)
                .map(|r| (r.case, r.target, f64::from(u8::from(r.met))))
                .collect()
        };
        let (p, l) = (met(PER_IMAGE), met(LEARNED));
        if l.is_empty() || p.is_empty() {
            continue;
        }
        let (a, b): (Vec<f64>, Vec<f64>) = p
            .iter()
            .filter_map(|(c, t, v)| {
                l.iter()
                    .find(|(d, u, _)| d == c && u == t)
                    .map(|(_, _, w)| (*v, *w))
            })
            .unzip();
        let share = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let test = wilcoxon_signed_rank(&a, &b)
            .map(|w| format!("Wilcoxon p = {:.2e}", w.p_value))
            .unwrap_or_else(|_| "no test: identical outcomes".into());
        out.push(format!(
            "On {}, the learned attacker (one forward pass per slice, trained on training slices) \
             reached the target on {} of (slice, Δ) pairs against {} for the per-image search \
             ({test}).",
            m.name,
            pct(share(&b)),
            pct(share(&a))
        ));
    }
    // Transfer between models.
    for r in rows.iter().filter(|r| r.method == PER_IMAGE) {
        if !r.transfer.is_empty() && r.target == *targets.last().unwrap_or(&r.target) {
            let others: Vec<String> = r
                .transfer
                .iter()
                .map(|x| format!("{} {:.3}", x.model, x.drop))
                .collect();
            out.push(format!(
                "Transfer: the per-image perturbations found on {} for Δ = {} lower its own \
                 Dice by {:.3} on average and the other models' by: {}.",
                r.model,
                r.target,
                r.mean_drop,
                others.join(", ")
            ));
        }
    }
    let worst = records
        .iter()
        .map(|r| r.min_jacobian)
        .fold(f64::INFINITY, f64::min);
    if worst.is_finite() {
        out.push(format!(
            "No field folds: the smallest Jacobian determinant over all {} synthesised slices is \
             {worst:.3} (> 0).",
            records.len()
        ));
    }
    out.push(
        "Paper (S2): deformation + appearance perturbations tuned to a pre-specified Dice drop \
         succeed against several CNN segmenters of 2D CT multi-organ images, with the learned \
         variant needing no per-image optimisation. The shares above say how far that holds \
         for these phantom-trained models at this budget."
            .into(),
    );
    out
}

/// Summary files, findings and `report.html`.
pub(crate) fn write_synth_outputs(run: &Outputs<'_, Synthesis>) -> Result<SynthSummary> {
    let (manifest, every, warnings, out) = run.parts();
    let exp = &manifest.experiment;
    let (records, corrupted) = super::corruptions::split_corruptions(every);
    let records = &records[..];
    let rows = summarise_synth(records);
    let findings = synth_findings(exp, records, &rows);
    write_json(&out.join("summary.json"), &rows)?;
    let mut md = findings_markdown(&findings) + &synth_markdown(&rows);
    let tables: Vec<_> = mira_report::perceptibility_table(every)
        .into_iter()
        .chain(super::corruptions::synth_corruption_table(&corrupted))
        .collect();
    for t in &tables {
        md += &t.markdown();
    }
    md += &warnings_markdown(exp.checks.probes.enabled, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
    let mut names: Vec<String> = std::fs::read_dir(out.join("examples"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    let candidates = names
        .into_iter()
        .map(|n| (n.trim_end_matches(".png").replace('_', " "), n));
    let examples = existing_examples(out, candidates);
    let html = mira_report::render_synth_html(&SynthReportInput {
        n_records: every.len(),
        title: &exp.name,
        version: &manifest.build.version,
        rows: &rows,
        findings: &findings,
        warnings: &text,
        examples: &examples,
        manifest: &manifest_json,
        tables: &tables,
    })?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(SynthSummary { rows, findings })
}
