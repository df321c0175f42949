//! Brain-age summaries as Markdown, CSV, and the `report.html` page (MAE and fooling-rate
//! curves with bootstrap bands, tables, paired comparisons, mid-slice pictures, manifest).

use minijinja::context;

use crate::plots::{Chart, Curve, curves_svg};
use crate::{AgeComparison, AgeRecord, AgeSummaryRow, ReportError, Result};

const TEMPLATE: &str = include_str!("../templates/brain_age.html");

fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 1e-4 => format!("{p:.1e}"),
        Some(p) => format!("{p:.4}"),
        None => "–".into(),
    }
}

/// `median (broken%)` of a min-norm row, `–` otherwise.
fn min_norm_text(r: &AgeSummaryRow) -> String {
    match (r.median_min_norm, r.broken) {
        (Some(m), Some(b)) => format!("{m:.4} ({:.0}%)", 100.0 * b),
        (None, Some(b)) => format!("> ε ({:.0}%)", 100.0 * b),
        _ => "–".into(),
    }
}

/// The summary and comparison tables as Markdown.
pub fn age_markdown(rows: &[AgeSummaryRow], comparisons: &[AgeComparison]) -> String {
    let mut s = String::from(
        "| model | attack | scope | gradient | goal | norm | ε | n | MAE clean (y) | MAE adv (y) | 95% CI | mean shift (y) | off by > thr | target gap (y) | min-norm: median ε (broken) |\n\
         |---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2}–{:.2} | {:+.2} | {:.0}% (clean {:.0}%, >{} y) | {} | {} |\n",
            r.model,
            r.attack,
            r.scope,
            r.gradient,
            r.goal,
            r.norm,
            r.epsilon,
            r.n,
            r.clean_mae,
            r.adv_mae,
            r.adv_mae_ci.0,
            r.adv_mae_ci.1,
            r.mean_shift,
            100.0 * r.fooled,
            100.0 * r.clean_fooled,
            r.threshold,
            r.target_gap.map_or("–".into(), |g| format!("{g:.2}")),
            min_norm_text(r),
        );
    }
    if !comparisons.is_empty() {
        s += "\n### Paired comparisons (Wilcoxon signed-rank on per-subject |error|)\n\n\
              | attack | ε | reference | MAE ref (y) | model | MAE model (y) | n | p |\n\
              |---|---:|---|---:|---|---:|---:|---:|\n";
        for c in comparisons {
            s += &format!(
                "| {} | {} | {} | {:.2} | {} | {:.2} | {} | {} |\n",
                c.attack,
                c.epsilon,
                c.reference,
                c.reference_mae,
                c.model,
                c.model_mae,
                c.n,
                p_text(c.p_value)
            );
        }
    }
    s
}

/// The summary rows as CSV.
pub fn age_csv(rows: &[AgeSummaryRow]) -> String {
    let mut s = String::from(
        "model,attack,scope,gradient,goal,norm,epsilon,n,clean_mae,adv_mae,adv_mae_lo,adv_mae_hi,mean_shift,fooled,clean_fooled,threshold,target_gap,median_min_norm,broken\n",
    );
    for r in rows {
        s += &format!(
            "{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{},{},{},{}\n",
            r.model,
            r.attack,
            r.scope,
            r.gradient,
            r.goal,
            r.norm,
            r.epsilon,
            r.n,
            r.clean_mae,
            r.adv_mae,
            r.adv_mae_ci.0,
            r.adv_mae_ci.1,
            r.mean_shift,
            r.fooled,
            r.clean_fooled,
            r.threshold,
            r.target_gap.map_or(String::new(), |g| format!("{g:.4}")),
            r.median_min_norm
                .map_or(String::new(), |g| format!("{g:.6}")),
            r.broken.map_or(String::new(), |g| format!("{g:.4}")),
        );
    }
    s
}

/// What the page shows besides the records.
pub struct AgeReportInput<'a> {
    /// Experiment name.
    pub title: &'a str,
    /// Mira version.
    pub version: &'a str,
    /// Git commit, if known.
    pub commit: Option<&'a str>,
    /// Summary rows.
    pub rows: &'a [AgeSummaryRow],
    /// Paired comparisons.
    pub comparisons: &'a [AgeComparison],
    /// Findings, one sentence each (robustness verdicts next to the paper's).
    pub findings: &'a [String],
    /// Check warnings, as text.
    pub warnings: &'a [String],
    /// The manifest, pretty-printed JSON.
    pub manifest: &'a str,
    /// Pictures: caption and path relative to the report.
    pub examples: &'a [(String, String)],
    /// Titled tables (perceptibility).
    pub tables: &'a [crate::TextTable],
}

/// MAE vs ε per model for each attack: one chart per attack, one curve per model.
fn plots(rows: &[AgeSummaryRow]) -> Vec<String> {
    let mut attacks: Vec<&str> = Vec::new();
    for r in rows {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let top = rows
        .iter()
        .map(|r| r.adv_mae_ci.1.max(r.adv_mae))
        .filter(|v| v.is_finite())
        .fold(10.0, f64::max);
    attacks
        .iter()
        .filter_map(|a| {
            let mine: Vec<&AgeSummaryRow> = rows.iter().filter(|r| r.attack == *a).collect();
            let mut models: Vec<&str> = Vec::new();
            for r in &mine {
                if !models.contains(&r.model.as_str()) {
                    models.push(&r.model);
                }
            }
            let curves: Vec<Curve> = models
                .iter()
                .map(|m| {
                    let mut points: Vec<(f64, f64, f64, f64)> = mine
                        .iter()
                        .filter(|r| r.model == *m)
                        .map(|r| (r.epsilon, r.adv_mae, r.adv_mae_ci.0, r.adv_mae_ci.1))
                        .collect();
                    points.sort_by(|x, y| x.0.total_cmp(&y.0));
                    Curve {
                        name: m.to_string(),
                        points,
                    }
                })
                .collect();
            let first = mine[0];
            let title = format!("{a} ({}, {}, {}): MAE", first.norm, first.scope, first.goal);
            curves_svg(
                &Chart {
                    title: &title,
                    x_desc: "ε (input units, [0, 1] intensities)",
                    y_desc: "MAE (years)",
                    y_range: (0.0, top * 1.05),
                    reference: Some((
                        format!("{} clean {:.1} y", first.model, first.clean_mae),
                        first.clean_mae,
                    )),
                },
                &curves,
            )
        })
        .map(|s| s.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""))
        .collect()
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_age_html(records: &[AgeRecord], input: &AgeReportInput<'_>) -> Result<String> {
    let pct = |v: f64| format!("{:.0}%", 100.0 * v);
    let rows: Vec<_> = input
        .rows
        .iter()
        .map(|r| {
            context! {
                model => r.model, attack => r.attack, scope => r.scope, gradient => r.gradient,
                goal => r.goal, norm => r.norm, epsilon => r.epsilon, n => r.n,
                clean_mae => format!("{:.2}", r.clean_mae), adv_mae => format!("{:.2}", r.adv_mae),
                ci => format!("{:.2}–{:.2}", r.adv_mae_ci.0, r.adv_mae_ci.1),
                shift => format!("{:+.2}", r.mean_shift),
                fooled => format!("{} (clean {})", pct(r.fooled), pct(r.clean_fooled)),
                target_gap => r.target_gap.map_or("–".into(), |g| format!("{g:.2}")),
                min_norm => min_norm_text(r),
            }
        })
        .collect();
    let comparisons: Vec<_> = input
        .comparisons
        .iter()
        .map(|c| {
            context! {
                attack => c.attack, epsilon => c.epsilon, reference => c.reference,
                reference_mae => format!("{:.2}", c.reference_mae), model => c.model,
                model_mae => format!("{:.2}", c.model_mae), n => c.n, p => p_text(c.p_value),
            }
        })
        .collect();
    let env = crate::html::environment("brain_age.html", TEMPLATE)?;
    env.get_template("brain_age.html")
        .and_then(|t| {
            t.render(context! {
                title => input.title,
                version => input.version,
                commit => input.commit,
                n_records => records.len(),
                threshold => input.rows.first().map_or(5.0, |r| r.threshold),
                findings => input.findings,
                warnings => input.warnings, checks_enabled => true,
                plots => plots(input.rows),
                rows => rows,
                comparisons => comparisons,
                manifest => input.manifest,
                tables => input.tables,
                examples => input.examples.iter().map(|(c, p)| context! { caption => c, src => p }).collect::<Vec<_>>(),
            })
        })
        .map_err(|e| ReportError::Template(e.to_string()))
}
