//! Outputs of brain-age runs beside the records: summary files, the monotonicity check, the
//! findings (robustness verdicts next to the S3 paper's), and `report.html`.

use mira_report::{
    AgeComparison, AgeRecord, AgeReportInput, AgeSummaryRow, age_csv, age_markdown, compare_age,
    render_age_html, summarise_age,
};

use crate::report::{existing_examples, findings_markdown, page_texts, warnings_markdown};
use crate::run::Outputs;
use crate::run::example_file;
use crate::run::folder::{write_atomic, write_json};
use crate::tasks::brain_age::BrainAge;
use crate::tasks::brain_age::{AgeExperiment, AgeGoal, AgeGradient, AgeScope, AgeSummary};
use crate::{Result, Warning};

/// Error-goal per-image attacks whose MAE falls with ε by more than the tolerance.
pub(crate) fn age_warnings(exp: &AgeExperiment, rows: &[AgeSummaryRow]) -> Vec<Warning> {
    let tol = exp.checks.monotone_tolerance_years;
    let mut out = Vec::new();
    for a in exp
        .attacks
        .iter()
        .filter(|a| a.goal == AgeGoal::Error && a.scope == AgeScope::PerImage)
    {
        for m in &exp.models {
            let mine: Vec<&AgeSummaryRow> = rows
                .iter()
                .filter(|r| r.model == m.name && r.attack == a.name)
                .collect();
            for w in mine.windows(2) {
                if w[1].adv_mae < w[0].adv_mae - tol {
                    out.push(Warning {
                        check: "non-monotone".into(),
                        model: m.name.clone(),
                        attack: Some(a.name.clone()),
                        message: format!(
                            "MAE falls from {:.2} y at ε={} to {:.2} y at ε={}: the attack did not \
                             find the damage a smaller budget found (weak or noisy optimisation)",
                            w[0].adv_mae, w[0].epsilon, w[1].adv_mae, w[1].epsilon
                        ),
                    });
                }
            }
        }
    }
    out
}

fn p_text(p: Option<f64>) -> String {
    p.map_or("n/a (all ties)".into(), |p| format!("p = {p:.2e}"))
}

/// One sentence per verdict: clean accuracy, each model against the reference under each
/// attack at its largest ε (Wilcoxon), BPDA against the plain gradient, universal transfer.
pub(crate) fn age_findings(
    exp: &AgeExperiment,
    records: &[AgeRecord],
    rows: &[AgeSummaryRow],
    comparisons: &[AgeComparison],
) -> Vec<String> {
    let mut out = Vec::new();
    let ages: Vec<f64> = {
        let mut seen = std::collections::BTreeMap::new();
        for r in records {
            seen.insert(r.case, r.age);
        }
        seen.into_values().collect()
    };
    if ages.is_empty() {
        return out;
    }
    let n = ages.len() as f64;
    let mean = ages.iter().sum::<f64>() / n;
    let sd = (ages.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    let names: Vec<&str> = exp.models.iter().map(|m| m.name.as_str()).collect();
    let clean = crate::report::per_model(
        &names,
        rows,
        |r| &r.model,
        |r| format!("{:.2} y", r.clean_mae),
    );
    out.push(format!(
        "Clean MAE on {} held-out subjects: {}; the test ages' standard deviation is {sd:.1} y.",
        ages.len(),
        clean.join(", ")
    ));
    let reference = &exp.models[0].name;
    for a in &exp.attacks {
        let Some(&eps) = a.epsilons.last() else {
            continue;
        };
        let eps = crate::run::eps_f64(eps);
        if a.scope == AgeScope::MinNorm {
            out.extend(min_norm_finding(exp, a, records, rows, eps));
            continue;
        }
        for c in comparisons
            .iter()
            .filter(|c| c.attack == a.name && c.epsilon == eps)
        {
            let verdict = match c.p_value {
                Some(p) if p < 0.05 && c.model_mae < c.reference_mae => {
                    format!("{} is more robust than {}", c.model, c.reference)
                }
                Some(p) if p < 0.05 => format!("{} is less robust than {}", c.model, c.reference),
                _ => "no significant difference (p ≥ 0.05)".to_string(),
            };
            out.push(format!(
                "{} (ε = {eps}): MAE {} {:.2} y vs {} {:.2} y, Wilcoxon {} over {} subjects: {verdict}. \
                 S3 paper: the hybrid was much more robust than the CNN.",
                a.name,
                c.model,
                c.model_mae,
                c.reference,
                c.reference_mae,
                p_text(c.p_value),
                c.n
            ));
        }
        if a.gradient == AgeGradient::Bpda {
            let plain = exp.attacks.iter().find(|p| {
                p.gradient == AgeGradient::Plain
                    && p.scope == a.scope
                    && p.norm == a.norm
                    && p.goal == a.goal
                    && p.epsilons.last() == a.epsilons.last()
            });
            for r in rows
                .iter()
                .filter(|r| r.attack == a.name && r.epsilon == eps)
            {
                let plain_row = plain.and_then(|p| {
                    rows.iter()
                        .find(|q| q.attack == p.name && q.model == r.model && q.epsilon == eps)
                });
                let reference_row = plain.and_then(|p| {
                    rows.iter()
                        .find(|q| q.attack == p.name && q.model == *reference && q.epsilon == eps)
                });
                out.push(format!(
                    "Adaptive check, {} (ε = {eps}) against {}: MAE {:.2} y with BPDA{}{}.",
                    a.name,
                    r.model,
                    r.adv_mae,
                    plain_row.map_or(String::new(), |q| format!(
                        " vs {:.2} y with the plain gradient ({})",
                        q.adv_mae, q.attack
                    )),
                    reference_row.map_or(String::new(), |q| format!(
                        "; {} under {}: {:.2} y",
                        q.model, q.attack, q.adv_mae
                    )),
                ));
            }
        }
        if a.goal == AgeGoal::Target {
            let parts: Vec<String> = rows
                .iter()
                .filter(|r| r.attack == a.name && r.epsilon == eps)
                .filter_map(|r| {
                    r.target_gap
                        .map(|g| format!("{} {g:.2} y (shift {:+.2} y)", r.model, r.mean_shift))
                })
                .collect();
            if parts.is_empty() {
                continue;
            }
            out.push(format!(
                "Targeted {} (ε = {eps}): mean distance of the adversarial prediction to the target \
                 age {} y: {}.",
                a.name,
                a.target_age.unwrap_or_default(),
                parts.join("; ")
            ));
        }
        if a.scope == AgeScope::Universal {
            let parts: Vec<String> = rows
                .iter()
                .filter(|r| r.attack == a.name && r.epsilon == eps)
                .map(|r| {
                    format!(
                        "{} shift {:+.2} y, MAE {:.2} → {:.2} y, {:.0}% off by > {} y",
                        r.model,
                        r.mean_shift,
                        r.clean_mae,
                        r.adv_mae,
                        100.0 * r.fooled,
                        r.threshold
                    )
                })
                .collect();
            if parts.is_empty() {
                continue;
            }
            out.push(format!(
                "Universal perturbation {} (one δ, ε = {eps} {:?}, fitted on {} training subjects, \
                 applied unchanged to the held-out subjects): {}.",
                a.name,
                a.norm,
                exp.data.universal_fit_subjects,
                parts.join("; ")
            ));
        }
    }
    out
}

/// Median smallest budget per model, and the reference against each other model (Wilcoxon on
/// per-subject minimal budgets, the unbroken counted at the cap).
fn min_norm_finding(
    exp: &AgeExperiment,
    a: &crate::AgeAttackEntry,
    records: &[AgeRecord],
    rows: &[AgeSummaryRow],
    cap: f64,
) -> Option<String> {
    let parts: Vec<String> = rows
        .iter()
        .filter(|r| r.attack == a.name)
        .map(|r| {
            // Subjects already off by more than the threshold need ε = 0; the median over the
            // others says how much it takes to break a correct prediction.
            let mut rest: Vec<f64> = records
                .iter()
                .filter(|q| q.model == r.model && q.attack == a.name && q.min_norm != Some(0.0))
                .map(|q| q.min_norm.unwrap_or(f64::INFINITY))
                .collect();
            rest.sort_by(f64::total_cmp);
            let correct = match rest.len() {
                0 => String::new(),
                n => {
                    let m = if n % 2 == 1 {
                        rest[n / 2]
                    } else {
                        0.5 * (rest[n / 2 - 1] + rest[n / 2])
                    };
                    let m = if m.is_finite() {
                        format!("{m:.4}")
                    } else {
                        format!("> {cap}")
                    };
                    format!(", {m} over the {n} subjects correct within the threshold clean")
                }
            };
            format!(
                "{} {} ({:.0}% broken within ε = {cap}{correct})",
                r.model,
                r.median_min_norm
                    .map_or(format!("> {cap}"), |m| format!("{m:.4}")),
                100.0 * r.broken.unwrap_or(0.0)
            )
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let per = |m: &str| -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = records
            .iter()
            .filter(|r| r.model == m && r.attack == a.name)
            .map(|r| (r.case, r.min_norm.unwrap_or(cap)))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    };
    let reference = &exp.models[0].name;
    let base = per(reference);
    let tests: Vec<String> = exp.models[1..]
        .iter()
        .filter_map(|m| {
            let other = per(&m.name);
            let (x, y): (Vec<f64>, Vec<f64>) = base
                .iter()
                .filter_map(|(c, v)| other.iter().find(|(d, _)| d == c).map(|(_, w)| (*v, *w)))
                .unzip();
            if x.is_empty() {
                return None;
            }
            let p = mira_stats::wilcoxon_signed_rank(&x, &y)
                .ok()
                .map(|w| w.p_value);
            Some(format!("{} vs {reference}: {}", m.name, p_text(p)))
        })
        .collect();
    let thr = exp.sweep.threshold_years;
    let what = match a.goal {
        AgeGoal::Error => format!("moves the predicted age by more than {thr} y"),
        AgeGoal::Older => format!("makes a subject look more than {thr} y older"),
        AgeGoal::Younger => format!("makes a subject look more than {thr} y younger"),
        AgeGoal::Target => format!(
            "brings the prediction within {thr} y of {} y",
            a.target_age.unwrap_or_default()
        ),
    };
    let tests = if tests.is_empty() {
        String::new()
    } else {
        format!(
            " (Wilcoxon on per-subject minima, unbroken counted at ε: {})",
            tests.join(", ")
        )
    };
    Some(format!(
        "Minimum-norm {} ({:?}): the smallest perturbation that {what}, median over subjects: {}{tests}.",
        a.name,
        a.norm,
        parts.join("; ")
    ))
}

/// Writes `summary.{md,csv,json}`, `comparisons.json`, `findings.md`, `warnings.json` and
/// `report.html` from the records; returns the rows, findings and warnings.
///
/// # Errors
/// Template or I/O failures.
pub(crate) fn write_age_outputs(run: &Outputs<'_, BrainAge>) -> Result<AgeSummary> {
    let (manifest, all, warnings, out) = run.parts();
    let (attacked, corrupted) = crate::tasks::brain_age::corruptions::split_corruptions(all);
    let records = attacked.as_slice();
    let exp = &manifest.experiment;
    let rows = summarise_age(records, exp.sweep.threshold_years);
    let comparisons = compare_age(records, &exp.models[0].name);
    let findings = age_findings(exp, records, &rows, &comparisons);
    write_json(&out.join("summary.json"), &rows)?;
    write_json(&out.join("comparisons.json"), &comparisons)?;
    write_atomic(&out.join("summary.csv"), age_csv(&rows).as_bytes())?;
    let mut md = findings_markdown(&findings) + &age_markdown(&rows, &comparisons);
    let mut tables: Vec<_> = mira_report::perceptibility_table(records)
        .into_iter()
        .collect();
    tables.extend(crate::tasks::brain_age::corruptions::corruption_table_age(
        &corrupted,
    ));
    for t in &tables {
        md += &t.markdown();
    }
    md += &warnings_markdown(true, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let mut candidates = Vec::new();
    for m in &exp.models {
        for a in &exp.attacks {
            let largest = a.epsilons.last().copied().unwrap_or_default();
            let caption = format!(
                "{} / {} at ε = {largest}: first test subject",
                m.name, a.name
            );
            candidates.push((caption, example_file(&m.name, &a.name, "largest-eps")));
        }
    }
    let examples = existing_examples(out, candidates);
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
    let html = render_age_html(
        records,
        &AgeReportInput {
            title: &exp.name,
            version: &manifest.build.version,
            commit: manifest.build.git_commit.as_deref(),
            rows: &rows,
            comparisons: &comparisons,
            findings: &findings,
            warnings: &text,
            manifest: &manifest_json,
            examples: &examples,
            tables: &tables,
        },
    )?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(AgeSummary { rows, findings })
}
