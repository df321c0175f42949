//! Benchmarks of attack steps in the shape of the PyTorch reference
//! (`../shared/bench/reference_bench.py --json`, `scripts/bench_s3_reference.py --json`), so
//! speed is stated as a ratio measured in the same run (`mira bench --reference PYTHON`).
//!
//! Workloads of `../shared/bench` (networks identical layer for layer and parameter for
//! parameter to `reference_models.py`):
//! - `b1_unet_attack_step`: UNet2d (483,636 parameters), batch 8 × 4 × 128², frozen weights:
//!   forward, cross-entropy, input gradient, sign step, clipped.
//! - `b1_onnx_unet_attack_step`: the same step on the same UNet2d exported to ONNX
//!   (`mira-onnx/tests/fixtures/bench_unet_w16.onnx`), run by Mira's ONNX interpreter; its
//!   PyTorch twin is b1's (skipped where the file is not beside the build).
//! - `b3_unet_train_step`: the same UNet, one Adam step on cross-entropy (training mode).
//!
//! 3D attack steps (batch 4 × 1 × 64³, frozen weights, input gradient only):
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
    /// Parameters of the network (absent from the PyTorch reference's rows).
    #[serde(default)]
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
    if want("b1_unet_attack_step") {
        rows.push(b1(&dev, warmup, iters)?);
    }
    let onnx = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mira-onnx/tests/fixtures/bench_unet_w16.onnx");
    if want("b1_onnx_unet_attack_step") && onnx.is_file() {
        rows.push(b1_onnx(&onnx, &dev, warmup, iters)?);
    }
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
    if want("b3_unet_train_step") {
        rows.push(b3(warmup, iters)?);
    }
    Ok(rows)
}

/// Parameters of the default UNet as PyTorch counts them: burn stores BatchNorm's running
/// mean and variance as parameters, PyTorch as buffers (2 per channel of the 14 BatchNorms,
/// 704 channels in all), so 483,636 as in `reference_models.py`.
fn torch_param_count(unet: &mira_nn::UNet) -> usize {
    unet.num_params() - 2 * 704
}

/// Random inputs and labels of the UNet workloads: 8 × 4 × 128² in [0, 1), 4 classes.
fn unet_batch(dev: &Device) -> Result<(Tensor<4>, Tensor<4>)> {
    let x = seeded(dev, 1, |d| {
        Tensor::<4>::random([8, 4, 128, 128], burn::tensor::Distribution::Default, d)
    });
    let labels: Vec<Vec<u8>> = (0..8)
        .map(|b| {
            (0..128 * 128)
                .map(|i| ((i * 7 + b * 13) % 4) as u8)
                .collect()
        })
        .collect();
    let maps: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
    Ok((x, mira_nn::one_hot(&maps, 4, 128, 128, dev)?))
}

/// b1's step on `model`: cross-entropy, input gradient, sign step, clipped, forced to the host.
fn seg_step<M: Forward<4, 4> + burn::module::Module>(
    model: &M,
    dev: &Device,
    warmup: usize,
    iters: usize,
) -> Result<(f64, f64)> {
    let (x, t) = unet_batch(dev)?;
    let f =
        mira_attack::segmentation_objective(model, mira_attack::Goal::Untargeted { truth: t }, 1.0);
    Ok(time(
        || {
            let (_, g) = f.value_and_grad(x.clone());
            let adv = (x.clone() + g.sign() * 0.01).clamp(0.0, 1.0);
            let _ = adv.into_data();
        },
        warmup,
        iters,
    ))
}

fn row(workload: &str, (median_ms, min_ms): (f64, f64), batch: f64, params: usize) -> BenchRow {
    BenchRow {
        workload: workload.into(),
        median_ms,
        min_ms,
        samples_per_s: batch / (median_ms / 1e3),
        params,
    }
}

fn b1(dev: &Device, warmup: usize, iters: usize) -> Result<BenchRow> {
    let unet = mira_nn::UNetConfig::new().init_seeded(0, dev)?;
    let t = seg_step(&unet, dev, warmup, iters)?;
    Ok(row("b1_unet_attack_step", t, 8.0, torch_param_count(&unet)))
}

/// b1's step on the ONNX export of the same UNet2d.
fn b1_onnx(path: &std::path::Path, dev: &Device, warmup: usize, iters: usize) -> Result<BenchRow> {
    let (net, info) = crate::tasks::segmentation::SegNet::load(path)?;
    let t = seg_step(&net, dev, warmup, iters)?;
    Ok(row("b1_onnx_unet_attack_step", t, 8.0, info.parameters))
}

fn b3(warmup: usize, iters: usize) -> Result<BenchRow> {
    use burn::optim::{AdamConfig, GradientsParams};
    let dev = mira_nn::autodiff_device();
    let unet = mira_nn::UNetConfig::new().init_seeded(0, &dev)?;
    let params = torch_param_count(&unet);
    let (x, t) = unet_batch(&dev)?;
    let mut optim = AdamConfig::new().init();
    let mut model = Some(unet);
    let (median_ms, min_ms) = time(
        || {
            if let Some(m) = model.take() {
                let loss =
                    mira_nn::segmentation::cross_entropy(m.logits(x.clone()), t.clone(), 1.0)
                        .mean();
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                let m = optim.step(1e-3, m, grads);
                model = Some(m);
            }
        },
        warmup,
        iters,
    );
    Ok(BenchRow {
        workload: "b3_unet_train_step".into(),
        median_ms,
        min_ms,
        samples_per_s: 8.0 / (median_ms / 1e3),
        params,
    })
}
