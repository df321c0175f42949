//! What a files run writes beside its records and adversarial files: one summary row per
//! budget (damage in memory and as written), findings, the record checks, `summary.{json,md}`
//! and `report.html`.

use mira_report::TextTable;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checks::{AttackFacts, Metric, Warning, check_records};
use crate::report::{findings_markdown, page_texts, warnings_markdown};
use crate::run::Outputs;
use crate::run::folder::{write_atomic, write_json};
use crate::tasks::files::{FileRecord, Files, FilesExperiment};

/// The cases of one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesRow {
    /// Model name.
    pub model: String,
    /// Attack name.
    pub attack: String,
    /// Budget in model units.
    pub epsilon: f64,
    /// The budget in `epsilon_unit` (HU under a CT window, else % of the normalisation range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_physical: Option<f64>,
    /// `HU` or `%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_unit: Option<String>,
    /// Cases written.
    pub cases: usize,
    /// Mean over cases of the clean mean Dice.
    pub clean_dice: Option<f64>,
    /// The same under attack, in memory.
    pub adv_dice: Option<f64>,
    /// The same as written, read back.
    pub written_dice: Option<f64>,
    /// Largest change in model units over every case.
    pub linf: f64,
    /// Voxels moved into the normalisation range, over every case.
    pub moved_into_range: usize,
    /// A 3D model: mean over cases of the mean HD95 (mm) over the defined classes, clean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd95_clean: Option<f64>,
    /// The same for the written volumes' predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd95_written: Option<f64>,
}

/// The mean over a record's defined classes of its HD95, clean (`written = false`) or
/// written.
pub(crate) fn hd95_mean(r: &FileRecord, written: bool) -> Option<f64> {
    let v = r.volumes.as_ref()?;
    mira_stats::mean_defined(if written {
        &v.hd95_written
    } else {
        &v.hd95_clean
    })
}

fn mean(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<Option<f64>> = v.collect();
    mira_stats::mean_defined(&v)
}

/// One row per (model, attack, ε), in the order the records first name them.
pub(crate) fn summarise(records: &[FileRecord]) -> Vec<FilesRow> {
    let mut rows: Vec<FilesRow> = Vec::new();
    for r in records {
        if rows
            .iter()
            .any(|x| x.model == r.model && x.attack == r.attack && x.epsilon == r.epsilon)
        {
            continue;
        }
        let cell: Vec<&FileRecord> = records
            .iter()
            .filter(|x| x.model == r.model && x.attack == r.attack && x.epsilon == r.epsilon)
            .collect();
        rows.push(FilesRow {
            model: r.model.clone(),
            attack: r.attack.clone(),
            epsilon: r.epsilon,
            epsilon_physical: r.epsilon_physical,
            epsilon_unit: r.epsilon_unit.clone(),
            cases: cell.len(),
            clean_dice: mean(cell.iter().map(|x| x.clean_dice)),
            adv_dice: mean(cell.iter().map(|x| x.adv_dice)),
            written_dice: mean(cell.iter().map(|x| x.written_dice)),
            linf: cell.iter().map(|x| x.linf).fold(0.0, f64::max),
            moved_into_range: cell.iter().map(|x| x.moved_into_range).sum(),
            hd95_clean: mean(cell.iter().map(|x| hd95_mean(x, false))),
            hd95_written: mean(cell.iter().map(|x| hd95_mean(x, true))),
        });
    }
    rows
}

fn show(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

/// The rows as a table.
fn table(rows: &[FilesRow]) -> TextTable {
    let mut t = dice_table(rows);
    if rows
        .iter()
        .any(|r| r.hd95_clean.is_some() || r.hd95_written.is_some())
    {
        t.caption += " HD95: the 95th-percentile Hausdorff distance in mm (MONAI's \
                      semantics), mean over the classes present and over cases.";
        t.header
            .extend(["HD95 clean (mm)", "HD95 written (mm)"].map(String::from));
        for (row, r) in t.rows.iter_mut().zip(rows) {
            row.extend([show(r.hd95_clean), show(r.hd95_written)]);
        }
    }
    t
}

fn dice_table(rows: &[FilesRow]) -> TextTable {
    TextTable {
        charts: Vec::new(),
        title: "Damage per budget".into(),
        caption: "Mean over cases of the mean foreground Dice (of the case's slices for a 2D \
                  model, of the whole volume for a 3D one): clean, under attack in memory, and \
                  predicted from the written files read back (storage precision and clipping \
                  can undo part of an attack). ε in model units, with its value in HU (CT \
                  window) or in % of the normalisation range."
            .into(),
        header: [
            "model",
            "attack",
            "ε",
            "cases",
            "Dice clean",
            "Dice attacked",
            "Dice written",
            "max |δ|",
            "voxels moved into range",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.model.clone(),
                    r.attack.clone(),
                    match (r.epsilon_physical, &r.epsilon_unit) {
                        (Some(p), Some(u)) => format!("{} ({} {u})", r.epsilon, round_physical(p)),
                        _ => r.epsilon.to_string(),
                    },
                    r.cases.to_string(),
                    show(r.clean_dice),
                    show(r.adv_dice),
                    show(r.written_dice),
                    format!("{:.4}", r.linf),
                    r.moved_into_range.to_string(),
                ]
            })
            .collect(),
    }
}

/// A physical budget as stated (HU and percentages are given with few decimals; products of
/// f32 model units are rounded to 4 significant decimals).
fn round_physical(v: f64) -> String {
    format!("{}", (v * 1e4).round() / 1e4)
}

/// The rows as Markdown.
pub(crate) fn markdown(rows: &[FilesRow]) -> String {
    table(rows).markdown()
}

/// The attacks' records (corruption records have their own table).
fn attack_records(records: &[FileRecord]) -> Vec<FileRecord> {
    records
        .iter()
        .filter(|r| r.corruption.is_none())
        .cloned()
        .collect()
}

/// Mean Dice not monotone in ε; written files that give back more than the tolerance of
/// the damage done in memory (`written-weaker`).
pub(crate) fn record_checks(exp: &FilesExperiment, records: &[FileRecord]) -> Vec<Warning> {
    let tolerance = exp.checks.tolerance;
    let kind = exp.attack.kind();
    let facts = [AttackFacts::entry(
        &exp.attack.name,
        false,
        kind,
        true,
        String::new(),
    )];
    let metric = Metric::new("mean Dice", false, 3, tolerance);
    let models = [exp.model_name().to_string()];
    let records: Vec<FileRecord> = attack_records(records);
    let mut out = check_records(&records, &models, &facts, &metric, |r| r.adv_dice);
    for row in summarise(&records) {
        let (Some(a), Some(w)) = (row.adv_dice, row.written_dice) else {
            continue;
        };
        if w - a > tolerance {
            out.push(Warning {
                check: "written-weaker".into(),
                model: row.model.clone(),
                attack: Some(row.attack.clone()),
                message: format!(
                    "at ε = {} the written files give mean Dice {w:.3} against {a:.3} in memory: \
                     storage precision or clipping undid part of the attack (write a float \
                     format, or read the written Dice)",
                    row.epsilon
                ),
            });
        }
    }
    out
}

/// Findings: what was attacked, and the damage at the largest budget.
fn findings(exp: &FilesExperiment, records: &[FileRecord], rows: &[FilesRow]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = records.first() else {
        return out;
    };
    let cases = records.iter().map(|r| r.case).max().map_or(0, |c| c + 1);
    out.push(format!(
        "{cases} case(s) from {} ({}), Dice against the {}.",
        exp.input.display(),
        first.format,
        first.reference
    ));
    let top = rows
        .iter()
        .map(|r| r.epsilon)
        .fold(f64::NEG_INFINITY, f64::max);
    let at_top: Vec<&FilesRow> = rows.iter().filter(|r| r.epsilon == top).collect();
    for r in &at_top {
        let folder = if r.attack.ends_with("-tiles") {
            "tiles_eps"
        } else {
            "eps"
        };
        out.push(format!(
            "At ε = {} ({:?}), {} takes mean Dice from {} to {} in memory and {} as written \
             ({folder}_{}/).",
            r.epsilon,
            exp.norm,
            r.attack,
            show(r.clean_dice),
            show(r.adv_dice),
            show(r.written_dice),
            r.epsilon
        ));
    }
    // The blended attack against the published tile protocol, at the largest ε.
    for b in &at_top {
        let tiles = format!("{}-tiles", b.attack);
        let pair = at_top
            .iter()
            .find(|t| t.attack == tiles && t.model == b.model)
            .and_then(|t| Some((b.written_dice?, t.written_dice?)));
        if let Some((x, y)) = pair {
            out.push(format!(
                "Through the blended sliding-window prediction (what the deployed model faces) \
                 {} leaves Dice at {x:.3}; attacking each tile alone (the published protocol) \
                 leaves {y:.3}: the tile protocol {} the damage by {:.3}.",
                b.attack,
                if y >= x { "understates" } else { "overstates" },
                (y - x).abs()
            ));
        }
    }
    out
}

/// `summary.json`, `summary.md` and `report.html`.
pub(crate) fn write_files_outputs(
    run: &Outputs<'_, Files>,
) -> Result<crate::report::Findings<FilesRow>> {
    let (manifest, every, warnings, out) = run.parts();
    let exp = &manifest.experiment;
    let records = &attack_records(every)[..];
    let rows = summarise(records);
    let findings = findings(exp, records, &rows);
    write_json(&out.join("summary.json"), &rows)?;
    let mut md = findings_markdown(&findings) + &markdown(&rows);
    let mut tables = vec![table(&rows)];
    tables.extend(mira_report::perceptibility_table(every));
    tables.extend(super::corrupt::corruption_table(every));
    for t in &tables[1..] {
        md += &t.markdown();
    }
    md += &warnings_markdown(exp.checks.enabled, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let (manifest_json, text) = page_texts(manifest, warnings, out)?;
    let html = mira_report::render_page(&mira_report::PageInput {
        title: &exp.name,
        version: &manifest.build.version,
        commit: manifest.build.git_commit.as_deref(),
        n_records: every.len(),
        intro: "Each record is one case (file or file set) attacked at one budget and written \
                back in its format under eps_<ε>/ (or corrupted at a severity, under \
                corrupt_<name>_s<severity>/); budgets are in [0, 1] model units, Dice is the \
                mean over the case's slices of the mean foreground Dice.",
        findings: &findings,
        checks_enabled: exp.checks.enabled,
        warnings: &text,
        plots: &super::plots::curves(records),
        tables: &tables,
        manifest: &manifest_json,
    })?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(crate::report::Findings { rows, findings })
}

impl mira_report::Perceived for FileRecord {
    const DAMAGE: &'static str = "mean Dice drop";
    fn percept_row(&self) -> mira_report::PerceptRow<'_> {
        mira_report::PerceptRow {
            model: &self.model,
            attack: &self.attack,
            epsilon: self.epsilon,
            damage: self.clean_dice.zip(self.adv_dice).map(|(c, a)| c - a),
            percept: self.perceptibility.as_ref(),
        }
    }
}
