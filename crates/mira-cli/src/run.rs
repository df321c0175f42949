//! `mira run <experiment.toml>`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mira_eval::{Experiment, RunOutcome};

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
    /// Run only part K of N of the sweep (segmentation experiments), into
    /// `OUT/shards/records-K-of-N.jsonl`; `mira merge OUT` joins the parts. The folder must
    /// be prepared first with `--models-only`.
    #[arg(long, value_name = "K/N", conflicts_with = "models_only")]
    pub shard: Option<String>,
    /// Train or load the models and write the manifest, without attacking (the step before
    /// sharded runs).
    #[arg(long)]
    pub models_only: bool,
}

/// Runs `exp` into `out` with progress bars and prints the summary.
pub fn execute(exp: &Experiment, out: &std::path::Path) -> Result<RunOutcome> {
    let mut progress = Progress::default();
    let outcome = mira_eval::run(exp, out, &mut |e| progress.event(e))?;
    println!("{}", mira_report::to_markdown(&outcome.rows));
    if exp.checks.enabled {
        if outcome.warnings.is_empty() {
            println!("Sanity checks: no warnings.");
        } else {
            println!("Sanity-check warnings (see docs/checks.md):");
            for w in &outcome.warnings {
                println!("  - {w}");
            }
        }
    }
    println!(
        "{} cells run, {} kept from an earlier run. Records: {}, summary: {} and {}",
        outcome.cells_run,
        outcome.cells_skipped,
        out.join("records.jsonl").display(),
        out.join("summary.md").display(),
        out.join("summary.csv").display()
    );
    fgsm_line(outcome.fgsm_gradients_reused);
    println!(
        "Report (curves, example cases, tables, manifest): {}",
        out.join("report.html").display()
    );
    Ok(outcome)
}

/// Says how many FGSM gradient passes one gradient per batch saved, when any.
fn fgsm_line(reused: usize) {
    if reused > 0 {
        println!(
            "FGSM: {reused} gradient passes saved (a batch's gradient, taken once, served every ε)."
        );
    }
}

/// Runs a registration experiment and prints its summary.
fn execute_registration(exp: &mira_eval::RegExperiment, out: &std::path::Path) -> Result<()> {
    let mut progress = Progress::default();
    let outcome = mira_eval::run_registration(exp, out, &mut |e| progress.event(e))?;
    for (model, source) in &outcome.sources {
        println!("{model}: trained and tested on {source} pairs");
    }
    println!("{}", mira_report::reg_markdown(&outcome.rows));
    if outcome.warnings.is_empty() {
        println!("Checks: passing rate non-increasing in ε for every model and attack.");
    } else {
        println!("Check warnings:");
        for w in &outcome.warnings {
            println!("  - {w}");
        }
    }
    let early = outcome.first_failures.iter().filter(|f| f.earliest).count();
    println!(
        "{} cells run, {} kept from an earlier run; {early} abrupt-change cases (first_failures.csv, examples/).",
        outcome.cells_run, outcome.cells_skipped
    );
    fgsm_line(outcome.fgsm_gradients_reused);
    println!(
        "Records: {}; summary: {}; report: {}",
        out.join("records.jsonl").display(),
        out.join("summary.md").display(),
        out.join("report.html").display()
    );
    Ok(())
}

/// Runs a brain-age experiment and prints its findings and summary.
fn execute_brain_age(exp: &mira_eval::AgeExperiment, out: &std::path::Path) -> Result<()> {
    let mut progress = Progress::default();
    let outcome = mira_eval::run_brain_age(exp, out, &mut |e| progress.event(e))?;
    println!("Findings:");
    for f in &outcome.findings {
        println!("  - {f}");
    }
    if outcome.warnings.is_empty() {
        println!("Checks: MAE non-decreasing in ε for every untargeted per-image attack.");
    } else {
        println!("Check warnings:");
        for w in &outcome.warnings {
            println!("  - {w}");
        }
    }
    println!(
        "{} cells run, {} kept from an earlier run.",
        outcome.cells_run, outcome.cells_skipped
    );
    println!(
        "Records: {}; summary: {}; universal perturbations: {}; report: {}",
        out.join("records.jsonl").display(),
        out.join("summary.md").display(),
        out.join("universal").display(),
        out.join("report.html").display()
    );
    Ok(())
}

pub fn main(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.experiment)
        .with_context(|| format!("reading {}", args.experiment.display()))?;
    if mira_eval::is_registration(&text) {
        unsharded(&args, "registration")?;
        let mut exp = mira_eval::RegExperiment::from_file(&args.experiment)?;
        if let Some(seed) = args.seed {
            exp.seed = seed;
        }
        let out = args
            .out
            .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
        return execute_registration(&exp, &out);
    }
    if mira_eval::is_shape(&text) {
        unsharded(&args, "shape")?;
        let mut exp = mira_eval::ShapeExperiment::from_file(&args.experiment)?;
        if let Some(seed) = args.seed {
            exp.seed = seed;
        }
        let out = args
            .out
            .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
        let mut progress = Progress::default();
        let outcome = mira_eval::run_shape(&exp, &out, &mut |e| progress.event(e))?;
        println!("Findings:");
        for f in &outcome.findings {
            println!("  - {f}");
        }
        println!("{}", mira_report::shape_markdown(&outcome.rows));
        println!(
            "{} cells run, {} kept from an earlier run. Records: {}; report: {}",
            outcome.cells_run,
            outcome.cells_skipped,
            out.join("records.jsonl").display(),
            out.join("report.html").display()
        );
        return Ok(());
    }
    if mira_eval::is_synthesis(&text) {
        unsharded(&args, "synthesis")?;
        let mut exp = mira_eval::SynthExperiment::from_file(&args.experiment)?;
        if let Some(seed) = args.seed {
            exp.seed = seed;
        }
        let out = args
            .out
            .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
        let mut progress = Progress::default();
        let outcome = mira_eval::run_synthesis(&exp, &out, &mut |e| progress.event(e))?;
        println!("Findings:");
        for f in &outcome.findings {
            println!("  - {f}");
        }
        println!("{}", mira_report::synth_markdown(&outcome.rows));
        println!(
            "{} cells run, {} kept from an earlier run. Records: {}; report: {}",
            outcome.cells_run,
            outcome.cells_skipped,
            out.join("records.jsonl").display(),
            out.join("report.html").display()
        );
        return Ok(());
    }
    if mira_eval::is_brain_age(&text) {
        unsharded(&args, "brain_age")?;
        let mut exp = mira_eval::AgeExperiment::from_file(&args.experiment)?;
        if let Some(seed) = args.seed {
            exp.seed = seed;
        }
        let out = args
            .out
            .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
        return execute_brain_age(&exp, &out);
    }
    let mut exp = Experiment::from_file(&args.experiment)?;
    if let Some(seed) = args.seed {
        exp.seed = seed;
    }
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
    let mut progress = Progress::default();
    if args.models_only {
        mira_eval::prepare_models(&exp, &out, &mut |e| progress.event(e))?;
        progress.finish();
        println!("models ready in {}", out.join("models").display());
        return Ok(());
    }
    if let Some(shard) = &args.shard {
        let shard: mira_eval::Shard = shard.parse()?;
        let o = mira_eval::run_shard(&exp, &out, shard, &mut |e| progress.event(e))?;
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
    execute(&exp, &out)?;
    Ok(())
}

/// Refuses `--shard` / `--models-only` for experiment kinds that do not shard yet.
fn unsharded(args: &Args, task: &str) -> Result<()> {
    if args.shard.is_some() || args.models_only {
        return Err(crate::InvalidInput(format!(
            "--shard and --models-only are implemented for segmentation experiments; \
             {task} experiments run unsharded"
        ))
        .into());
    }
    Ok(())
}
