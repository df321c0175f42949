//! `mira merge <run-dir>`: joins the shard files of a sharded run of any task.

use std::path::PathBuf;

use anyhow::{Result, bail};
use mira_eval::{FolderCall, Task};

use crate::progress::Progress;

/// Arguments of `mira merge`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run folder the shards wrote into.
    pub run: PathBuf,
}

/// Merges the shards of a folder of task `T`.
struct Merge(PathBuf);

impl FolderCall for Merge {
    type Output = Result<()>;

    fn call<T: Task>(self) -> Result<()> {
        let mut progress = Progress::default();
        let o = mira_eval::merge::<T>(&self.0, &mut |e| progress.event(e))?;
        progress.finish();
        println!("{}", T::console(&o.outcome.summary).trim_end());
        crate::run::print_checks(&o.outcome.warnings);
        println!(
            "{} shards merged: {} records in {}; report: {}",
            o.shards,
            o.records,
            self.0.join("records.jsonl").display(),
            self.0.join("report.html").display()
        );
        Ok(())
    }
}

/// Checks that every (cell, case) is present exactly once and writes what an unsharded run
/// writes.
pub fn main(a: Args) -> Result<()> {
    let Some(task) = mira_eval::run::run_task(&a.run)? else {
        bail!(crate::InvalidInput(format!(
            "{} has no manifest.json: prepare it with `mira run EXPERIMENT --out {} \
             --models-only`",
            a.run.display(),
            a.run.display()
        )));
    };
    mira_eval::call_task(&task, Merge(a.run))?
}
