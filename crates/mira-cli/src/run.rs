//! `mira run <experiment.toml>`: any task's experiment file, whole, sharded, or models only.

use std::path::{Path, PathBuf};

use anyhow::Result;
use mira_eval::{Experiment, Outcome, Shard, Task, TaskCall};

use crate::progress::Progress;

/// Arguments of `mira run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Output folder (default: runs/<experiment name>). An interrupted run resumes here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the experiment's master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only part K of N of the sweep into `OUT/shards/records-K-of-N.jsonl`; `mira merge
    /// OUT` joins the parts. The folder must be prepared first with `--models-only`.
    #[arg(long, value_name = "K/N", conflicts_with = "models_only")]
    pub shard: Option<String>,
    /// Train or load the models and write the manifest, without attacking (the step before
    /// sharded runs).
    #[arg(long)]
    pub models_only: bool,
}

/// Prints what a run produced: the task's tables and findings, the sanity checks, the files.
pub fn print_outcome<T: Task>(o: &Outcome<T::Summary>) {
    let out = &o.out;
    println!("{}", T::console(&o.summary).trim_end());
    print_checks(&o.warnings);
    println!(
        "{} cells run, {} kept from an earlier run. Records: {}; summary: {}",
        o.cells_run,
        o.cells_skipped,
        out.join("records.jsonl").display(),
        out.join("summary.md").display(),
    );
    if o.fgsm_gradients_reused > 0 {
        println!(
            "FGSM / i-FGSM: {} gradient passes saved (a batch's gradient at the clean input, \
             taken once, served every ε).",
            o.fgsm_gradients_reused
        );
    }
    println!(
        "Report (curves, example cases, tables, manifest): {}",
        out.join("report.html").display()
    );
}

/// The sanity-check section every run prints.
pub fn print_checks(warnings: &[mira_eval::Warning]) {
    if warnings.is_empty() {
        println!("Sanity checks (docs/checks.md): no warnings.");
    } else {
        println!(
            "Sanity-check warnings ({}; see docs/checks.md):",
            warnings.len()
        );
        for w in warnings {
            println!("  - {w}");
        }
    }
}

/// Runs `spec` of task `T` into `out` with progress bars and prints the outcome.
pub fn execute<T: Task>(spec: &T::Spec, out: &Path) -> Result<Outcome<T::Summary>> {
    let mut progress = Progress::default();
    let outcome = mira_eval::run::<T>(spec, out, &mut |e| progress.event(e))?;
    progress.finish();
    print_outcome::<T>(&outcome);
    Ok(outcome)
}

/// What `mira run` does with the experiment, whatever its task.
struct RunCommand {
    out: PathBuf,
    shard: Option<Shard>,
    models_only: bool,
}

impl TaskCall for RunCommand {
    type Output = Result<()>;

    fn call<T: Task>(self, spec: T::Spec) -> Result<()> {
        let out = &self.out;
        let mut progress = Progress::default();
        if self.models_only {
            mira_eval::prepare_models::<T>(&spec, out, &mut |e| progress.event(e))?;
            progress.finish();
            println!("models ready in {}", out.join("models").display());
            return Ok(());
        }
        if let Some(shard) = self.shard {
            let o = mira_eval::run_shard::<T>(&spec, out, shard, &mut |e| progress.event(e))?;
            progress.finish();
            println!(
                "shard {}/{}: {} units run, {} kept from an earlier run; records: {}",
                shard.index,
                shard.count,
                o.units_run,
                o.units_skipped,
                o.records.display()
            );
            return Ok(());
        }
        execute::<T>(&spec, out).map(|_| ())
    }
}

pub fn main(args: Args) -> Result<()> {
    let mut exp = Experiment::from_file(&args.experiment)?;
    if let Some(seed) = args.seed {
        exp.set_seed(seed);
    }
    let shard = args.shard.as_deref().map(str::parse).transpose()?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(exp.name()));
    exp.call(RunCommand {
        out,
        shard,
        models_only: args.models_only,
    })
}
