//! `mira bench`: time per step of the reference workloads, in the shape of the PyTorch reference
//! (`../shared/bench/reference_bench.py --json` and `scripts/bench_s3_reference.py --json`),
//! so speed is stated as a ratio measured in the same run.
//!
//! Workloads (`mira_eval::bench_attack_steps`): `b1_unet_attack_step` (UNet2d, 8 × 4 × 128²),
//! `b2_reg3d_attack_step` (Reg3d, 4 × 1 × 64³), `b3_unet_train_step` (one Adam step of the
//! UNet), and the S3 brain-age attack steps `s3_agenet_cnn_attack_step`,
//! `s3_agenet_hybrid_attack_step`.
//!
//! With `--reference PYTHON`, the PyTorch twins run first with the same thread count (the S3
//! script, and `../shared/bench/reference_bench.py` when the shared folder is there) and the
//! ratios are printed (PyTorch time / Mira time: above 1 means Mira is faster).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mira_eval::BenchRow as Row;

/// Arguments of `mira bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed iterations per workload (median and min reported).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Threads of the PyTorch reference (Mira's own pool follows RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Only workloads whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// A Python with torch: also run the PyTorch twins (scripts/bench_s3_reference.py and
    /// ../shared/bench/reference_bench.py) and print ratios.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Where the PyTorch twins of the S3 steps run: cpu, or cuda (the GPU check; the shared
    /// benchmark's rows are then left out, being CPU-only).
    #[arg(long, default_value = "cpu")]
    pub reference_device: String,
    /// Print JSON (the reference's shape) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Instead of the step workloads: the end-to-end S1 sweep (FGSM, i-FGSM-10, PGD-20 at six
    /// ε on 64 slices of 128²) with its data in this folder; with --reference, also the plain
    /// PyTorch script bench/s1_sweep.py on the same slices and weights.
    #[arg(long)]
    pub sweep: Option<PathBuf>,
    /// The sweep's budgets, comma-separated (default the six: 0, 0.005, 0.01, 0.02,
    /// 0.04, 0.08); both sides run the same list.
    #[arg(long, value_delimiter = ',')]
    pub sweep_eps: Option<Vec<f32>>,
}

/// `--sweep DIR`: data, the PyTorch side (which trains the shared weights when absent), Mira.
fn sweep(dir: &std::path::Path, a: &Args) -> Result<()> {
    mira_eval::write_sweep_data(dir)?;
    let eps: Vec<f32> = a
        .sweep_eps
        .clone()
        .unwrap_or_else(|| mira_eval::SWEEP_EPSILONS.to_vec());
    if eps.is_empty() || eps.iter().any(|e| !e.is_finite() || *e < 0.0) {
        bail!("--sweep-eps: give finite budgets >= 0, e.g. 0,0.02");
    }
    let eps_arg = eps
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let reference: Option<serde_json::Value> = match &a.reference {
        Some(py) => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/s1_sweep.py");
            let out = std::process::Command::new(py)
                .arg(&script)
                .args(["--data", &dir.display().to_string()])
                .args(["--threads", &a.threads.to_string(), "--json"])
                .args(["--eps", &eps_arg])
                .output()
                .with_context(|| format!("running {} {}", py.display(), script.display()))?;
            if !out.status.success() {
                bail!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
            Some(serde_json::from_slice(&out.stdout).context("PyTorch sweep JSON")?)
        }
        None => None,
    };
    let mira = mira_eval::bench_sweep(dir, &eps)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "mira": mira, "reference": reference })
        );
        return Ok(());
    }
    let torch_rows = reference.as_ref().map(|r| r["rows"].clone());
    println!(
        "S1 sweep on {} slices: Mira {:.1} s{}",
        mira.cases,
        mira.sweep_seconds,
        reference.as_ref().map_or(String::new(), |r| {
            let t = r["sweep_seconds"].as_f64().unwrap_or(f64::NAN);
            format!(
                ", PyTorch {t:.1} s → Mira at {:.2}x PyTorch speed",
                t / mira.sweep_seconds
            )
        })
    );
    println!("clean Dice: Mira {:.3}", mira.clean_dice);
    for r in &mira.rows {
        let other = torch_rows
            .as_ref()
            .and_then(|rows| rows.as_array())
            .and_then(|rows| {
                rows.iter().find(|p| {
                    p["attack"] == r.attack.as_str()
                        && (p["epsilon"].as_f64().unwrap_or(-1.0) - r.epsilon).abs() < 1e-9
                })
            })
            .and_then(|p| p["mean_dice"].as_f64());
        println!(
            "{:>7} ε = {:<6} Dice {:.3}{}",
            r.attack,
            r.epsilon,
            r.mean_dice,
            other.map_or(String::new(), |d| format!(
                "   PyTorch {d:.3} (difference {:+.3})",
                r.mean_dice - d
            ))
        );
    }
    Ok(())
}

fn run_script(python: &PathBuf, script: &PathBuf, a: &Args, device: bool) -> Result<Vec<Row>> {
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script);
    if device {
        cmd.args(["--device", &a.reference_device]);
    }
    let out = cmd
        .args([
            "--threads",
            &a.threads.to_string(),
            "--iters",
            &a.iters.to_string(),
        ])
        .args(["--warmup", &a.warmup.to_string(), "--json"])
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "the PyTorch reference {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reference JSON")?;
    serde_json::from_value(v["results"].clone()).context("reference JSON rows")
}

/// The PyTorch rows: the S3 twins, then the shared benchmark's rows not already there.
fn run_reference(python: &PathBuf, a: &Args) -> Result<Vec<Row>> {
    let s3 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_s3_reference.py");
    let mut rows = run_script(python, &s3, a, true)?;
    // The shared benchmark runs on the CPU only.
    let shared = mira_io::shared_data_dir()
        .and_then(|d| d.parent().map(|p| p.join("bench/reference_bench.py")))
        .filter(|p| p.is_file() && a.reference_device == "cpu");
    if let Some(script) = shared {
        for r in run_script(python, &script, a, false)? {
            if !rows.iter().any(|o| o.workload == r.workload) {
                rows.push(r);
            }
        }
    }
    Ok(rows)
}

pub fn main(a: Args) -> Result<()> {
    if let Some(dir) = &a.sweep {
        return sweep(dir, &a);
    }
    let reference = match &a.reference {
        Some(py) => Some(run_reference(py, &a)?),
        None => None,
    };
    let rows = mira_eval::bench_attack_steps(a.only.as_deref(), a.warmup, a.iters)?;
    if a.json {
        let meta = serde_json::json!({
            "framework": format!("mira {} (burn 0.22.1)", env!("CARGO_PKG_VERSION")),
            "device": format!("{:?}", mira_nn::default_device()),
            "threads": std::env::var("RAYON_NUM_THREADS").ok(),
        });
        println!(
            "{}",
            serde_json::json!({ "meta": meta, "results": rows, "reference": reference })
        );
        return Ok(());
    }
    for r in &rows {
        let ratio = reference
            .as_ref()
            .and_then(|rs| {
                // The ONNX export of b1's UNet is timed against PyTorch's b1.
                let twin = r.workload.replace("b1_onnx_", "b1_");
                rs.iter().find(|p| p.workload == twin)
            })
            .map_or(String::new(), |p| {
                format!(
                    "; PyTorch {:.2} ms → {:.2}x PyTorch speed",
                    p.median_ms,
                    p.median_ms / r.median_ms
                )
            });
        println!(
            "{}: median {:.2} ms, min {:.2} ms, {:.1} samples/s, {} parameters{ratio}",
            r.workload, r.median_ms, r.min_ms, r.samples_per_s, r.params
        );
    }
    Ok(())
}
