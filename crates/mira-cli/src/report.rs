//! `mira report <run-dir>`: rebuild the summary tables from the records alone.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `mira report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run folder (holding records.jsonl).
    pub run: PathBuf,
}

pub fn main(a: Args) -> Result<()> {
    let records = mira_report::read_records(&a.run.join("records.jsonl"))?;
    let rows = mira_report::summarise(&records);
    for (name, text) in [
        ("summary.csv", mira_report::to_csv(&rows)),
        ("summary.md", mira_report::to_markdown(&rows)),
    ] {
        let path = a.run.join(name);
        mira_nn::checkpoint::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", mira_report::to_markdown(&rows));
    println!(
        "{} records, {} cells; summaries rewritten in {}",
        records.len(),
        rows.len(),
        a.run.display()
    );
    Ok(())
}
