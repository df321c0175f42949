//! Outputs of registration runs beside the records: pictures of the abrupt-change cases, the
//! Markdown list of them, and `report.html`.

use std::path::Path;

use crate::tasks::registration::RegModel;
use mira_data::{RegPair, RegPicture, Rigid2d, save_registration_png};
use mira_report::{AbruptCase, RegRecord, RegReportInput, RegSummaryRow, render_reg_html};

use mira_attack::AttackSpec;
use mira_report::{
    TextTable, abrupt_csv, first_failures, non_monotone, reg_csv, reg_markdown, summarise_reg,
};

use crate::checks::early_stop_warning;
use crate::report::{page_texts, warnings_markdown};
use crate::run::Outputs;
use crate::run::folder::{write_atomic, write_json};
use crate::run::{Manifest, eps_f64, example_file};
use crate::tasks::registration::Registration;
use crate::tasks::registration::{
    RegExperiment, RegSourceKind, RegSummary, TRE_GRID, cell_attack, reg_cell, reg_min_norm_tables,
    split_reg_min_norm,
};
use crate::{EvalError, Result, Warning};

/// File name of an abrupt-case picture.
pub(crate) fn abrupt_file(model: &str, attack: &str, case: usize) -> String {
    example_file(model, attack, &format!("abrupt-case{case}"))
}

/// The earliest first failures to draw: at most `per` per (model, attack), largest jump first.
fn to_draw(failures: &[AbruptCase], per: usize) -> Vec<&AbruptCase> {
    let mut out: Vec<&AbruptCase> = Vec::new();
    for f in failures.iter().filter(|f| f.earliest) {
        let n = out
            .iter()
            .filter(|o| o.model == f.model && o.attack == f.attack)
            .count();
        if n < per {
            out.push(f);
        }
    }
    out
}

/// Recomputes the adversarial pair of each abrupt case to draw (its whole batch, with the
/// cell's seed, so it is the example that was scored), checks that it reproduces the recorded
/// TRE, and saves its picture under `out/examples/`.
///
/// # Errors
/// Attack or picture failures, or a recomputation that does not reproduce the record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn save_abrupt_examples<'d>(
    exp: &RegExperiment,
    models: &[RegModel],
    specs: &[Option<AttackSpec>],
    test_of: &dyn Fn(RegSourceKind) -> Result<&'d [RegPair]>,
    clean: &[std::sync::Arc<Vec<Rigid2d>>],
    failures: &[AbruptCase],
    records: &[RegRecord],
    out: &Path,
) -> Result<()> {
    let dir = out.join("examples");
    for f in to_draw(failures, exp.checks.abrupt_examples) {
        let (Some(mi), Some(ai)) = (
            exp.models.iter().position(|m| m.name == f.model),
            exp.attacks.iter().position(|a| a.name == f.attack),
        ) else {
            continue;
        };
        let Some(ei) = exp
            .sweep
            .epsilons
            .iter()
            .position(|&e| eps_f64(e) == f.epsilon)
        else {
            continue;
        };
        if specs[ai].is_none() {
            continue; // min-norm records have no first failures
        }
        // The cell's own attack, early stopping included: the recomputed pair must be the
        // one that was scored.
        let attack = cell_attack(exp, specs, ai);
        let cell = reg_cell(exp, mi, ai, ei, &models[mi], attack);
        let test = test_of(exp.models[mi].source)?;
        let b = f.case / exp.sweep.batch_size;
        let batch = cell.attack_batch(test, b)?;
        let i = f.case - b * exp.sweep.batch_size;
        let pair = &test[f.case];
        let n = pair.fixed.len();
        let adv = &batch.adv[i * 2 * n..(i + 1) * 2 * n];
        let grid = mira_data::tre_grid(exp.data.size, TRE_GRID);
        let again = mira_data::tre(&batch.pred[i], &pair.truth, &grid) * cell.spacing;
        let recorded = records
            .iter()
            .find(|r| {
                r.model == f.model
                    && r.attack == f.attack
                    && r.case == f.case
                    && r.epsilon == f.epsilon
            })
            .map(|r| r.adv_tre);
        if recorded.is_some_and(|r| (r - again).abs() > 1e-3 * r.max(1.0)) {
            return Err(EvalError::invalid(
                "examples",
                format!(
                    "recomputing {} / {} case {} at ε={} gave TRE {again:.4}, the record says {:.4}",
                    f.model,
                    f.attack,
                    f.case,
                    f.epsilon,
                    recorded.unwrap_or(f64::NAN)
                ),
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
        let picture = RegPicture {
            size: exp.data.size,
            fixed: &pair.fixed,
            moving: &pair.moving,
            adv_fixed: &adv[..n],
            adv_moving: &adv[n..],
            truth: pair.truth,
            clean_pred: clean[mi][f.case],
            adv_pred: batch.pred[i],
        };
        save_registration_png(
            &picture,
            10.0,
            3,
            &dir.join(abrupt_file(&f.model, &f.attack, f.case)),
        )?;
    }
    Ok(())
}

/// The monotonicity check (the passing rate must not rise with ε beyond the tolerance) and
/// the `early-stop` notice of every early-stopped attack and model.
pub fn reg_warnings(
    exp: &RegExperiment,
    rows: &[RegSummaryRow],
    records: &[RegRecord],
) -> Vec<Warning> {
    let mut out: Vec<Warning> = non_monotone(rows, exp.checks.monotone_tolerance)
        .into_iter()
        .map(|(model, attack, e0, e1, r0, r1)| Warning {
            check: "non-monotone".into(),
            model,
            attack: Some(attack),
            message: format!(
                "passing rate rises from {:.1}% at ε={e0} to {:.1}% at ε={e1}: the attack did \
                 not find the failures a smaller budget found (weak or noisy optimisation)",
                100.0 * r0,
                100.0 * r1
            ),
        })
        .collect();
    for a in exp.attacks.iter().filter(|a| a.early_stop.is_some()) {
        let Some(steps) = a.spec("attack").ok().flatten().map(|s| s.steps()) else {
            continue;
        };
        for m in &exp.models {
            let stopped: Vec<Option<usize>> = records
                .iter()
                .filter(|r| r.model == m.name && r.attack == a.name && r.epsilon > 0.0)
                .map(|r| r.stopped_at)
                .collect();
            let read = "A pair that failed at a check stays failed (passing rates are never \
                        higher than the full attack's); its TRE is measured where it failed, \
                        not at the full attack: read passing rates, not mean TRE";
            let every = a.early_stop.unwrap_or(1);
            out.extend(early_stop_warning(
                &m.name,
                &a.name,
                (steps, every),
                false,
                &stopped,
                read,
            ));
        }
    }
    out
}

/// Summary files, first failures and `report.html` from the records and the warnings.
///
/// # Errors
/// Writing fails.
pub(crate) fn write_reg_outputs(run: &Outputs<'_, Registration>) -> Result<RegSummary> {
    let (manifest, every, warnings, out) = run.parts();
    let exp = &manifest.experiment;
    let (all, min_norm) = split_reg_min_norm(exp, every);
    let mut tables = reg_min_norm_tables(exp, &all, &min_norm);
    tables.extend(mira_report::perceptibility_table(&all));
    tables.extend(crate::tasks::registration::corruptions::reg_corruption_table(every));
    let rows = summarise_reg(&all);
    let failures = first_failures(&all);
    write_atomic(&out.join("summary.csv"), reg_csv(&rows).as_bytes())?;
    write_json(&out.join("summary.json"), &rows)?;
    write_atomic(
        &out.join("first_failures.csv"),
        abrupt_csv(&failures).as_bytes(),
    )?;
    let mut md = reg_markdown(&rows);
    for t in &tables {
        md += &t.markdown();
    }
    md += &abrupt_markdown(&failures);
    md += &warnings_markdown(true, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_reg_report(manifest, every, &rows, warnings, &failures, &tables, out)?;
    Ok(RegSummary {
        rows,
        first_failures: failures,
    })
}

/// The abrupt-change section of `summary.md`.
pub(crate) fn abrupt_markdown(failures: &[AbruptCase]) -> String {
    let early: Vec<&AbruptCase> = failures.iter().filter(|f| f.earliest).collect();
    let mut s = String::from("\n## Abrupt changes\n\n");
    if early.is_empty() {
        s += "No case that passes clean failed at any budget.\n";
        return s;
    }
    s += "Cases that pass clean and fail at the smallest budget at which any case of their \
          (model, attack) fails; all first failures are in `first_failures.csv`.\n\n\
          | model | attack | case | ε before → ε | TRE before → after |\n|---|---|---|---|---|\n";
    for f in early {
        s += &format!(
            "| {} | {} | {} | {} → {} | {:.2} → {:.2} |\n",
            f.model, f.attack, f.case, f.eps_before, f.epsilon, f.tre_before, f.tre_after
        );
    }
    s
}

/// Writes `report.html` of a registration run from its records and manifest.
///
/// # Errors
/// Template or I/O failures.
pub fn write_reg_report(
    manifest: &Manifest<RegExperiment>,
    records: &[RegRecord],
    rows: &[RegSummaryRow],
    warnings: &[Warning],
    failures: &[AbruptCase],
    tables: &[TextTable],
    out: &Path,
) -> Result<()> {
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
    let examples: Vec<(String, String)> = to_draw(failures, usize::MAX)
        .into_iter()
        .filter_map(|f| {
            let file = abrupt_file(&f.model, &f.attack, f.case);
            out.join("examples").join(&file).is_file().then(|| {
                (
                    format!(
                        "{} / {}: case {}, TRE {:.2} → {:.2} between ε={} and ε={}",
                        f.model,
                        f.attack,
                        f.case,
                        f.tre_before,
                        f.tre_after,
                        f.eps_before,
                        f.epsilon
                    ),
                    format!("examples/{file}"),
                )
            })
        })
        .collect();
    let html = render_reg_html(
        records,
        &RegReportInput {
            title: &manifest.experiment.name,
            version: &manifest.build.version,
            commit: manifest.build.git_commit.as_deref(),
            rows,
            warnings: &text,
            failures,
            tables,
            manifest: &manifest_json,
            examples: &examples,
        },
    )?;
    write_atomic(&out.join("report.html"), html.as_bytes())
}
