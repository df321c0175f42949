//! `report.html` of a registration run: passing-rate and TRE curves with bootstrap bands,
//! the per-cell table, the abrupt-change cases with their pictures, and the manifest.

use minijinja::context;

use crate::plots::{Chart, Curve, curves_svg};
use crate::{AbruptCase, RegRecord, RegSummaryRow, ReportError, Result};

const TEMPLATE: &str = include_str!("../templates/registration.html");

/// What the page shows besides the records.
pub struct RegReportInput<'a> {
    /// Experiment name.
    pub title: &'a str,
    /// Mira version.
    pub version: &'a str,
    /// Git commit, if known.
    pub commit: Option<&'a str>,
    /// Summary rows.
    pub rows: &'a [RegSummaryRow],
    /// Check warnings, as text.
    pub warnings: &'a [String],
    /// First failures (only the `earliest` ones are listed).
    pub failures: &'a [AbruptCase],
    /// The manifest, pretty-printed JSON.
    pub manifest: &'a str,
    /// Pictures: caption and path relative to the report.
    pub examples: &'a [(String, String)],
    /// Further tables (the minimum-norm findings), after the per-cell table.
    pub tables: &'a [crate::TextTable],
}

/// Passing rate (%) and mean TRE vs ε of one model: two SVG charts.
fn model_plots(rows: &[RegSummaryRow], model: &str) -> Vec<String> {
    let mine: Vec<&RegSummaryRow> = rows.iter().filter(|r| r.model == model).collect();
    let Some(first) = mine.first() else {
        return Vec::new();
    };
    let mut attacks: Vec<&str> = Vec::new();
    for r in &mine {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let curve = |a: &str, f: &dyn Fn(&RegSummaryRow) -> (f64, f64, f64)| {
        let mut pts: Vec<(f64, f64, f64, f64)> = mine
            .iter()
            .filter(|r| r.attack == a)
            .map(|r| {
                let (y, lo, hi) = f(r);
                (r.epsilon, y, lo, hi)
            })
            .collect();
        pts.sort_by(|x, y| x.0.total_cmp(&y.0));
        Curve {
            name: a.to_string(),
            points: pts,
        }
    };
    let pass: Vec<Curve> = attacks
        .iter()
        .map(|a| {
            curve(a, &|r| {
                (
                    100.0 * r.pass_rate,
                    100.0 * r.pass_ci.0,
                    100.0 * r.pass_ci.1,
                )
            })
        })
        .collect();
    let tre: Vec<Curve> = attacks
        .iter()
        .map(|a| curve(a, &|r| (r.mean_tre, r.tre_ci.0, r.tre_ci.1)))
        .collect();
    let max_tre = mine
        .iter()
        .map(|r| r.tre_ci.1.max(r.mean_tre))
        .fold(first.tolerance * 1.5, f64::max);
    let t1 = format!(
        "{model}: passing rate (TRE ≤ {} {})",
        first.tolerance, first.unit
    );
    let t2 = format!("{model}: mean TRE");
    let y2 = format!("mean TRE ({})", first.unit);
    [
        curves_svg(
            &Chart {
                title: &t1,
                x_desc: "ε (input units, [0, 1] intensities)",
                y_desc: "passing (%)",
                y_range: (0.0, 100.0),
                reference: Some((
                    format!("clean {:.1}%", 100.0 * first.clean_pass_rate),
                    100.0 * first.clean_pass_rate,
                )),
            },
            &pass,
        ),
        curves_svg(
            &Chart {
                title: &t2,
                x_desc: "ε (input units, [0, 1] intensities)",
                y_desc: &y2,
                y_range: (0.0, max_tre * 1.05),
                reference: Some((format!("tolerance {}", first.tolerance), first.tolerance)),
            },
            &tre,
        ),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""))
    .collect()
}

/// Renders the page.
///
/// # Errors
/// A template error (a bug).
pub fn render_reg_html(records: &[RegRecord], input: &RegReportInput<'_>) -> Result<String> {
    let mut models: Vec<&str> = Vec::new();
    for r in input.rows {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let plots: Vec<String> = models
        .iter()
        .flat_map(|m| model_plots(input.rows, m))
        .collect();
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let rows: Vec<_> = input
        .rows
        .iter()
        .map(|r| {
            context! {
                model => r.model, attack => r.attack, image => r.image, epsilon => r.epsilon,
                n => r.n, clean_pass => pct(r.clean_pass_rate), pass => pct(r.pass_rate),
                ci => format!("{}–{}", pct(r.pass_ci.0), pct(r.pass_ci.1)),
                clean_tre => format!("{:.2}", r.clean_mean_tre), tre => format!("{:.2}", r.mean_tre),
                median => format!("{:.2}", r.median_tre),
                unit => format!("{} ({})", r.unit, r.tolerance),
            }
        })
        .collect();
    let abrupt: Vec<_> = input
        .failures
        .iter()
        .filter(|a| a.earliest)
        .map(|a| {
            context! {
                model => a.model, attack => a.attack, case => a.case, eps_before => a.eps_before,
                epsilon => a.epsilon, before => format!("{:.2}", a.tre_before),
                after => format!("{:.2}", a.tre_after),
            }
        })
        .collect();
    let env = crate::html::environment("registration.html", TEMPLATE)?;
    env.get_template("registration.html")
        .and_then(|t| {
            t.render(context! {
                title => input.title,
                version => input.version,
                commit => input.commit,
                n_records => records.len(),
                warnings => input.warnings, checks_enabled => true,
                plots => plots,
                rows => rows,
                abrupt => abrupt,
                manifest => input.manifest,
                tables => input.tables,
                examples => input.examples.iter().map(|(c, p)| context! { caption => c, src => p }).collect::<Vec<_>>(),
            })
        })
        .map_err(|e| ReportError::Template(e.to_string()))
}
