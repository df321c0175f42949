//! `mira merge <run-dir>`: joins the shard files of a sharded sweep.

use std::path::PathBuf;

use anyhow::Result;

use crate::progress::Progress;

/// Arguments of `mira merge`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run folder the shards wrote into.
    pub run: PathBuf,
}

/// Checks that every (cell, case) is present exactly once and writes what an unsharded run
/// writes.
pub fn main(a: Args) -> Result<()> {
    let mut progress = Progress::default();
    let o = mira_eval::merge(&a.run, &mut |e| progress.event(e))?;
    progress.finish();
    print!("{}", mira_report::to_markdown(&o.rows));
    println!(
        "{} shards merged: {} records in {}; report: {}",
        o.shards,
        o.records,
        a.run.join("records.jsonl").display(),
        a.run.join("report.html").display()
    );
    Ok(())
}
