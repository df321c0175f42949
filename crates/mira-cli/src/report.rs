//! `mira report <run-dir>`: rebuild the summaries, findings and `report.html` of a run folder
//! of any task from its records, `manifest.json` and `warnings.json`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use mira_eval::{FolderCall, Task};

/// Arguments of `mira report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run folder (holding records.jsonl and manifest.json).
    pub run: PathBuf,
}

/// Rebuilds the outputs of a folder of task `T`.
struct Rebuild(PathBuf);

impl FolderCall for Rebuild {
    type Output = Result<()>;

    fn call<T: Task>(self) -> Result<()> {
        let summary = mira_eval::rebuild::<T>(&self.0)?;
        println!("{}", T::console(&summary).trim_end());
        println!(
            "report: {}; summaries rewritten in {}",
            self.0.join("report.html").display(),
            self.0.display()
        );
        Ok(())
    }
}

pub fn main(a: Args) -> Result<()> {
    let Some(task) = mira_eval::run::run_task(&a.run)? else {
        bail!(crate::InvalidInput(format!(
            "{} has no manifest.json: not a run folder",
            a.run.display()
        )));
    };
    mira_eval::call_task(&task, Rebuild(a.run))?
}
