//! The end-to-end S1 sweep benchmark (issue 7): FGSM, i-FGSM (10 steps of ε/4) and PGD (20 steps
//! of ε/8, random start) at six budgets on 64 S1 phantom slices of 128², the UNet of b1, run
//! through the runner's own cells (budget re-check, scoring, records) — against the plain
//! PyTorch script `bench/s1_sweep.py`, which attacks the same slices with the same weights.
//!
//! [`write_sweep_data`] writes the slices for both sides (`train_*` for the PyTorch script to
//! train the shared weights, `test_*` to attack) with `meta.json`; [`bench_sweep`] loads
//! `unet.safetensors` from the same folder, checks the slices it regenerates against the files'
//! hash, and times the sweep.

use std::path::Path;
use std::time::Instant;

use mira_attack::{AttackSpec, IfgsmConfig, Norm, PgdConfig};
use mira_data::{BrainPhantomConfig, SegDataset};
use mira_nn::{UNetConfig, default_device, load_torch_unet};
use mira_stats::mean_defined;
use serde::{Deserialize, Serialize};

use crate::cells::CellId;
use crate::run::folder::write_atomic;
use crate::run::{FgsmMemo, dataset_hash, eps_f64, mix};
use crate::tasks::segmentation::Cell;
use crate::{EvalError, Result};

/// Slices, side and seed of the benchmark data.
const TRAIN: usize = 128;
const TEST: usize = 64;
const SIDE: usize = 128;
const SEED: u64 = 2026;

/// The default budgets (the S1 grid).
pub const SWEEP_EPSILONS: [f32; 6] = [0.0, 0.005, 0.01, 0.02, 0.04, 0.08];

/// Robust Dice of one (attack, ε).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// `fgsm`, `i-fgsm` or `pgd`.
    pub attack: String,
    /// Budget.
    pub epsilon: f64,
    /// Mean over cases of the per-case mean tumour Dice.
    pub mean_dice: f64,
}

/// One timed sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepBench {
    /// Wall time of the sweep (clean predictions and every cell), seconds.
    pub sweep_seconds: f64,
    /// Cases attacked.
    pub cases: usize,
    /// Clean mean Dice.
    pub clean_dice: f64,
    /// Per (attack, ε).
    pub rows: Vec<SweepRow>,
}

fn split(first: usize, n: usize) -> Result<SegDataset> {
    Ok(BrainPhantomConfig {
        size: SIDE,
        ..Default::default()
    }
    .generate(SEED, first, n)?)
}

fn write(dir: &Path, name: &str, d: &SegDataset) -> Result<serde_json::Value> {
    let mut x = Vec::with_capacity(d.items.len() * d.items[0].image.len() * 4);
    let mut y = Vec::new();
    for s in &d.items {
        x.extend(s.image.iter().flat_map(|v| v.to_le_bytes()));
        y.extend_from_slice(&s.labels);
    }
    write_atomic(&dir.join(format!("{name}_x.f32")), &x)?;
    write_atomic(&dir.join(format!("{name}_y.u8")), &y)?;
    Ok(serde_json::json!({
        "shape": [d.items.len(), d.channels(), SIDE, SIDE],
        "sha256": dataset_hash(d),
    }))
}

/// Writes the benchmark slices into `dir` (kept when `meta.json` is already there).
///
/// # Errors
/// I/O.
pub fn write_sweep_data(dir: &Path) -> Result<()> {
    if dir.join("meta.json").is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let meta = serde_json::json!({
        "made_by": "mira bench --sweep",
        "phantom": "S1 brain MR phantom",
        "seed": SEED,
        "train": write(dir, "train", &split(0, TRAIN)?)?,
        "test": write(dir, "test", &split(1_000_000, TEST)?)?,
    });
    let text = serde_json::to_string_pretty(&meta).map_err(|e| EvalError::io(dir, e))?;
    write_atomic(&dir.join("meta.json"), text.as_bytes())
}

/// Times the sweep on the test slices with the weights in `dir/unet.safetensors`.
///
/// # Errors
/// Missing or mismatched files, attack failures.
pub fn bench_sweep(dir: &Path, epsilons: &[f32]) -> Result<SweepBench> {
    let weights = dir.join("unet.safetensors");
    if !weights.is_file() {
        return Err(EvalError::invalid(
            "bench",
            format!(
                "{} is missing: train it with `python3 bench/s1_sweep.py --data {}` or pass \
                 --reference PYTHON",
                weights.display(),
                dir.display()
            ),
        ));
    }
    let test = split(1_000_000, TEST)?;
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("meta.json")).map_err(|e| EvalError::io(dir, e))?,
    )
    .map_err(|e| EvalError::io(dir, e))?;
    if meta["test"]["sha256"] != dataset_hash(&test).as_str() {
        return Err(EvalError::invalid(
            "bench",
            format!(
                "{} holds other slices than this build generates",
                dir.display()
            ),
        ));
    }
    let cfg = UNetConfig::new().with_base_width(16).with_depth(3);
    let model = load_torch_unet(&weights, &cfg, &default_device())?;
    let specs = [
        ("fgsm", AttackSpec::Fgsm(mira_attack::FgsmConfig)),
        (
            "i-fgsm",
            AttackSpec::Ifgsm(IfgsmConfig {
                steps: 10,
                rel_step: 0.25,
            }),
        ),
        (
            "pgd",
            AttackSpec::Pgd(PgdConfig {
                steps: 20,
                rel_step: 0.125,
                restarts: 1,
            }),
        ),
    ];
    let mean = |v: Vec<Option<f64>>| -> f64 {
        let d: Vec<f64> = v.into_iter().flatten().collect();
        d.iter().sum::<f64>() / d.len().max(1) as f64
    };
    // One FGSM gradient per batch serves all ε, as in `mira run`.
    let memo = FgsmMemo::from_env();
    let start = Instant::now();
    let clean = mira_train::predict_labels(&model, &test, 8)?;
    let mut rows = Vec::new();
    let mut clean_dice = 0.0;
    for (si, (name, spec)) in specs.iter().enumerate() {
        for (ei, &epsilon) in epsilons.iter().enumerate() {
            let id = CellId {
                model: "unet",
                attack: name,
                norm: Norm::Linf,
                epsilon,
                batch_size: 8,
                seed: mix(SEED, (si * 100 + ei) as u64),
            };
            let cell = Cell {
                fgsm_memo: Some(&memo),
                ..Cell::untargeted(id, &model, spec)
            };
            let records = cell.run(&test, &clean, &mut |_| {})?;
            clean_dice = mean(
                records
                    .iter()
                    .map(|r| mean_defined(&r.clean_dice))
                    .collect(),
            );
            rows.push(SweepRow {
                attack: name.to_string(),
                epsilon: eps_f64(epsilon),
                mean_dice: mean(records.iter().map(|r| mean_defined(&r.adv_dice)).collect()),
            });
        }
    }
    Ok(SweepBench {
        sweep_seconds: start.elapsed().as_secs_f64(),
        cases: test.items.len(),
        clean_dice,
        rows,
    })
}
