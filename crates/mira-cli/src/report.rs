//! `mira report <run-dir>`: rebuild the summary tables, the model comparison and `report.html`
//! from the records, `manifest.json` and `warnings.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `mira report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run folder (holding records.jsonl).
    pub run: PathBuf,
}

pub fn main(a: Args) -> Result<()> {
    if mira_eval::is_registration_run(&a.run) {
        let rows = mira_eval::rebuild_registration_report(&a.run)?;
        println!("{}", mira_report::reg_markdown(&rows));
        println!(
            "report: {}; summaries rewritten in {}",
            a.run.join("report.html").display(),
            a.run.display()
        );
        return Ok(());
    }
    if mira_eval::is_brain_age_run(&a.run)
        || mira_eval::is_shape_run(&a.run)
        || mira_eval::is_synthesis_run(&a.run)
    {
        if mira_eval::is_synthesis_run(&a.run) {
            mira_eval::rebuild_synthesis_report(&a.run)?;
        } else if mira_eval::is_shape_run(&a.run) {
            mira_eval::rebuild_shape_report(&a.run)?;
        } else {
            mira_eval::rebuild_brain_age_report(&a.run)?;
        }
        let md = a.run.join("summary.md");
        print!(
            "{}",
            std::fs::read_to_string(&md).with_context(|| format!("reading {}", md.display()))?
        );
        println!(
            "report: {}; summaries rewritten in {}",
            a.run.join("report.html").display(),
            a.run.display()
        );
        return Ok(());
    }
    let records = mira_report::read_records(&a.run.join("records.jsonl"))?;
    // The comparison and the min-norm tables need the experiment, from the run's manifest.
    let manifest_path = a.run.join("manifest.json");
    let manifest: Option<mira_eval::Manifest> = if manifest_path.exists() {
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        Some(
            serde_json::from_str(&text)
                .with_context(|| format!("malformed {}", manifest_path.display()))?,
        )
    } else {
        None
    };
    let (records, tables) = match &manifest {
        Some(m) => {
            let (fixed, mn) = mira_eval::split_min_norm(&m.experiment, &records);
            let tables = mira_eval::min_norm_tables(&m.experiment, &fixed, &mn);
            (fixed, tables)
        }
        None => (records, Vec::new()),
    };
    let rows = mira_report::summarise(&records);
    let warnings_path = a.run.join("warnings.json");
    let warnings: Vec<mira_eval::Warning> = if warnings_path.exists() {
        let text = std::fs::read_to_string(&warnings_path)
            .with_context(|| format!("reading {}", warnings_path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("malformed {}", warnings_path.display()))?
    } else {
        Vec::new()
    };
    let mut md = mira_report::to_markdown(&rows);
    if warnings_path.exists() {
        md += &mira_eval::warnings_markdown(true, &warnings);
    }
    for t in &tables {
        md += &t.markdown();
    }
    for (name, text) in [
        ("summary.csv", mira_report::to_csv(&rows)),
        ("summary.json", serde_json::to_string_pretty(&rows)?),
        ("summary.md", md),
    ] {
        let path = a.run.join(name);
        mira_nn::checkpoint::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut compared = false;
    if let Some(manifest) = &manifest {
        let tests = mira_eval::write_comparison(&manifest.experiment, &records, &a.run)?;
        compared = !tests.is_empty();
        mira_eval::write_report(
            manifest, &records, &rows, &tests, &warnings, &tables, &a.run,
        )?;
        println!("report: {}", a.run.join("report.html").display());
    }
    println!("{}", mira_report::to_markdown(&rows));
    if compared {
        println!(
            "model comparison: {}",
            a.run.join("comparison.md").display()
        );
    }
    println!(
        "{} records, {} cells; summaries rewritten in {}",
        records.len(),
        rows.len(),
        a.run.display()
    );
    Ok(())
}
