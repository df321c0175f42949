//! `mira`: adversarial-robustness testing of medical-imaging networks.
//!
//! The only crate that prints. Library errors come back as values; here they become one-line
//! messages and exit codes: 0 success, 1 runtime failure, 2 invalid input (bad experiment file,
//! bad arguments, missing checkpoint).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (`include/mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep freed memory instead of returning it to the OS after a delay: an
/// attack step frees and re-allocates the same tensor-sized buffers, and each return made the
/// next step take page faults and zero fresh pages (S1 sweep part 55 s → 48 s, same peak
/// memory; BENCHMARKS.md). A `MIMALLOC_PURGE_DELAY` set by the user wins.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain setter of an integer option, called first thing in `main`, before
        // any other thread exists (mimalloc documents the option setters as not thread safe).
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

mod attack;
mod attack_files;
mod attacks;
mod bench;
mod demo;
mod info;
mod info_checkpoint;
mod info_onnx;
mod merge;
mod phantom_folder;
mod predict;
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
#[allow(clippy::large_enum_variant)] // parsed once per process
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
    /// An ONNX model's predictions on a folder of image files (logits and labels as NIfTI).
    Predict(predict::Args),
    /// Show what Mira reads from an image (NIfTI, DICOM file or folder: dims, spacing, range)
    /// or an ONNX model (inputs, outputs, operators and whether Mira runs each).
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

/// Where and why the last panic happened (the hook stays silent; see [`main`]).
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Runs the command; a panic that escapes (a bug, or stdout closed under us) becomes one line,
/// never a panic message with a backtrace. Panics that library code catches (a third-party
/// decoder on a corrupted file) print nothing: their error is reported as a value.
fn main() -> ExitCode {
    keep_freed_memory();
    // The command runs on a worker of rayon's pool (below), so workers get a main thread's
    // stack (8 MiB; a spawned thread's default is 2 MiB). Fails only if the pool exists.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK)
        .build_global();
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{message}{at}"));
    }));
    // The command runs on a worker of rayon's pool: its parallel operations then run inline
    // (and are stolen by the other workers) instead of each being injected into the pool while
    // the main thread sleeps on a latch (attack and training steps 3-10 % faster: b1 72.6 /
    // 65.2 / 72.6 -> 68.8 / 60.7 / 67.4 ms, b3 114.7 / 109.6 / 114.2 -> 104.2 / 108.2 /
    // 101.8 ms, alternating builds).
    match std::panic::catch_unwind(|| rayon::scope(|_| run())) {
        Ok(code) => code,
        Err(_) => {
            let what = LAST_PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| "unknown panic".into());
            if what.contains("Broken pipe") {
                // The reader of our output went away (`mira attacks | head`): stop quietly.
                return ExitCode::SUCCESS;
            }
            eprintln!("error: internal error ({what}); please report it");
            ExitCode::from(1)
        }
    }
}

/// Stack of rayon's workers, which run the command: a main thread's.
const WORKER_STACK: usize = 8 << 20;

fn run() -> ExitCode {
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
        Command::Predict(a) => predict::main(&a),
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
                    mira_eval::EvalError::Parse { .. }
                        | mira_eval::EvalError::Invalid { .. }
                        | mira_eval::EvalError::Onnx(_)
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_index_names_mimallocs_purge_delay() {
        // mimalloc v3's default purge delay is 1000 ms (src/options.c) and no neighbouring
        // option defaults to 1000: a shifted enum in a mimalloc update fails here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an integer option; no other test sets options.
        #[allow(unsafe_code)]
        let v = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(v, 1000);
    }
}
