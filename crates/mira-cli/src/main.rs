//! `mira`: adversarial-robustness testing of medical-imaging networks.
//!
//! The only crate that prints. Library errors come back as values; here they become one-line
//! messages and exit codes: 0 success, 1 runtime failure, 2 invalid input (bad experiment file,
//! bad arguments, missing checkpoint).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod attack;
mod attack_files;
mod attacks;
mod bench;
mod demo;
mod info;
mod merge;
mod phantom_folder;
mod progress;
mod report;
mod run;
mod slurm;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mira: attack medical-imaging networks with imperceptible perturbations, measure the
/// clinical damage, and compare defences.
#[derive(Parser, Debug)]
#[command(name = "mira", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where models run: cpu (burn's flex backend), cuda or wgpu (builds with the `cuda` /
    /// `wgpu` feature).
    #[arg(
        long,
        global = true,
        default_value = "cpu",
        value_name = "cpu|cuda|wgpu"
    )]
    device: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a small UNet on brain MR phantoms, attack it, print the Dice table.
    Demo(demo::Args),
    /// Run an experiment file (TOML): train or load models, attack over budgets, summarise.
    Run(run::Args),
    /// Train a segmentation UNet on the S1 phantom and save a checkpoint folder.
    Train(train::Args),
    /// Attack a saved checkpoint over a list of budgets.
    Attack(attack::Args),
    /// List the attacks of the library: papers, threat models, parameters and defaults.
    Attacks(attacks::Args),
    /// Time 3D attack steps (Reg3d, the S3 brain-age nets), optionally against PyTorch.
    Bench(bench::Args),
    /// Show what Mira reads from an image (NIfTI, DICOM file or folder): dims, spacing, range.
    Info(info::Args),
    /// Rebuild summary.csv/.md, the comparison and report.html of a run folder from its files.
    Report(report::Args),
    /// Join the shard files of a sharded sweep (`mira run --shard K/N`) into one run.
    Merge(merge::Args),
    /// Write (and submit) Slurm jobs: models, an array of shards, then the merge.
    Slurm(slurm::Args),
    /// Write a BraTS-like folder of phantom cases (NIfTI or PNG) to try dataset folders on.
    PhantomFolder(phantom_folder::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let selected = cli
        .device
        .parse::<mira_nn::DeviceChoice>()
        .and_then(mira_nn::select_device);
    if let Err(e) = selected {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Demo(a) => demo::main(a),
        Command::Run(a) => run::main(a),
        Command::Train(a) => train::main(a),
        Command::Attack(a) => attack::main(a),
        Command::Attacks(a) => attacks::main(a),
        Command::Report(a) => report::main(a),
        Command::Info(a) => info::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Merge(a) => merge::main(a),
        Command::Slurm(a) => slurm::main(a),
        Command::PhantomFolder(a) => phantom_folder::main(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            let invalid = e.downcast_ref::<mira_eval::EvalError>().is_some_and(|e| {
                matches!(
                    e,
                    mira_eval::EvalError::Parse { .. } | mira_eval::EvalError::Invalid { .. }
                )
            }) || e.downcast_ref::<InvalidInput>().is_some();
            ExitCode::from(if invalid { 2 } else { 1 })
        }
    }
}

/// Invalid command-line input found after parsing (exit code 2).
#[derive(Debug)]
pub(crate) struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}
