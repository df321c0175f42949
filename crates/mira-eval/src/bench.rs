//! Benchmarks of attack steps in the shape of the PyTorch reference
//! (`../shared/bench/reference_bench.py --json`, `scripts/bench_s3_reference.py --json`), so
//! speed is stated as a ratio measured in the same run (`mira bench --reference PYTHON`).
//!
//! Workloads (batch 4 × 1 × 64³, frozen weights, input gradient only, as inside an attack):
//! - `b2_reg3d_attack_step`: the benchmark's Reg3d (45,265 parameters), MSE to ages.
//! - `s3_agenet_cnn_attack_step`: the S3 brain-age CNN, squared age error.
//! - `s3_agenet_hybrid_attack_step`: the S3 hybrid with soft tissue features.

use std::time::Instant;

use burn::prelude::*;
use mira_attack::{ModelObjective, Objective};
use mira_nn::{
    AgeFeatureConfig, AgeNetConfig, Forward, Reg3dConfig, TissueMode, TissueModel, default_device,
    seeded,
};
use serde::{Deserialize, Serialize};

use crate::Result;

/// One timed workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRow {
    /// Workload name (the reference's names).
    pub workload: String,
    /// Median time per step, ms.
    pub median_ms: f64,
    /// Fastest step, ms.
    pub min_ms: f64,
    /// Samples per second at the median.
    pub samples_per_s: f64,
    /// Parameters of the network.
    pub params: usize,
}

fn time<F: FnMut()>(mut f: F, warmup: usize, iters: usize) -> (f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut ts: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    let median = if ts.len() % 2 == 1 {
        ts[ts.len() / 2]
    } else {
        0.5 * (ts[ts.len() / 2 - 1] + ts[ts.len() / 2])
    };
    (median, ts[0])
}

/// One attack step: objective value and input gradient, forced to the host.
fn step(f: &dyn Objective<5>, x: &Tensor<5>) {
    let (v, g) = f.value_and_grad(x.clone());
    let _ = (v.into_data(), g.into_data());
}

/// Times the 3D attack-step workloads whose names contain `only` (all without it):
/// `warmup` untimed steps, then `iters` timed ones.
///
/// # Errors
/// A model that cannot be built (a bug).
pub fn bench_attack_steps(
    only: Option<&str>,
    warmup: usize,
    iters: usize,
) -> Result<Vec<BenchRow>> {
    let dev = default_device();
    let x = seeded(&dev, 0, |d| {
        Tensor::<5>::random([4, 1, 64, 64, 64], burn::tensor::Distribution::Default, d)
    });
    let ages = vec![30.0f32, 45.0, 60.0, 75.0];
    let loss = move |y: Tensor<2>| {
        let t = Tensor::<1>::from_floats(ages.as_slice(), &y.device()).reshape([4, 1]);
        (y - t).powi_scalar(2).reshape([4])
    };
    let want = |name: &str| only.is_none_or(|o| name.contains(o));
    let mut rows = Vec::new();
    let mut push = |name: &str, params: usize, f: &dyn Objective<5>| {
        if want(name) {
            let (median_ms, min_ms) = time(|| step(f, &x), warmup, iters);
            rows.push(BenchRow {
                workload: name.into(),
                median_ms,
                min_ms,
                samples_per_s: 4.0 / (median_ms / 1e3),
                params,
            });
        }
    };
    let reg = Reg3dConfig::new().init_seeded(0, &dev);
    push(
        "b2_reg3d_attack_step",
        reg.num_params(),
        &ModelObjective::new(&reg, loss.clone(), 1.0),
    );
    let cnn_cfg = AgeNetConfig::cnn(64, 55.0, 19.6);
    let cnn = cnn_cfg.init_seeded(0, &dev)?;
    push(
        "s3_agenet_cnn_attack_step",
        cnn.num_params(),
        &ModelObjective::new(&cnn, loss.clone(), 1.0),
    );
    let hybrid_cfg = AgeNetConfig {
        features: Some(AgeFeatureConfig {
            tissue: TissueModel {
                means: [0.0, 0.14, 0.47, 0.74],
                sigma: 0.06,
            },
            mode: TissueMode::Soft,
            mean: vec![0.3; 27],
            sd: vec![0.1; 27],
            embed: 32,
        }),
        ..cnn_cfg
    };
    let hybrid = hybrid_cfg.init_seeded(0, &dev)?;
    let _ = hybrid.forward(x.clone().narrow(0, 0, 1));
    push(
        "s3_agenet_hybrid_attack_step",
        hybrid.num_params(),
        &ModelObjective::new(&hybrid, loss, 1.0),
    );
    Ok(rows)
}
