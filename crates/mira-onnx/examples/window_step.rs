//! Times an attack step through sliding windows (`mira_nn::sliding_window`) on a 1 × C × S³
//! volume: blended forward without a graph, cross-entropy against the clean blended argmax,
//! the two-pass input gradient (one window's graph at a time), sign step. With S equal to the
//! window, one window: the baseline of the memory target. The PyTorch + MONAI twin is
//! `scripts/bench_sliding_3d.py`; run under `/usr/bin/time -v` for the peak memory.
//!
//!     cargo run --release -p mira-onnx --example window_step -- MODEL.onnx 128 96 2

#[path = "common/allocator.rs"]
mod allocator;

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use mira_nn::{NnError, SlidingWindow};
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let [_, path, size, roi, iters] = args.as_slice() else {
        return Err("usage: window_step MODEL.onnx SIZE ROI ITERS".into());
    };
    let (s, r, iters): (usize, usize, usize) = (size.parse()?, roi.parse()?, iters.parse()?);
    let model = OnnxModel::from_file(std::path::Path::new(path))?;
    let c = model.inputs[0]
        .shape
        .get(1)
        .copied()
        .flatten()
        .ok_or("no channel count")?;
    let net = OnnxNet::new(model, &mira_nn::default_device())?;
    let f = |w: Tensor<5>| {
        net.forward_as::<5, 5>(w)
            .map_err(|e| NnError::Model(e.to_string()))
    };
    let plan = SlidingWindow::new([r, r, r]).plan([s, s, s]);
    let n = c * s * s * s;
    let x0: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let plain = mira_nn::default_device();
    let x = FTensor::from_host(&x0, &[1, c, s, s, s], &plain)?.into_rank::<5>()?;
    let labels = plan.forward(x.clone(), &f)?.argmax(1);
    let step = || -> Result<(), Box<dyn std::error::Error>> {
        let mut outer = |y: Tensor<5>| {
            let ya =
                Tensor::<5>::from_data(y.into_data(), &mira_nn::autodiff_device()).require_grad();
            let labels = Tensor::from_data(labels.clone().into_data(), &mira_nn::autodiff_device());
            let loss = -log_softmax(ya.clone(), 1).gather(1, labels).mean();
            let g = ya
                .grad(&loss.backward())
                .ok_or_else(|| NnError::Model("no gradient".into()))?;
            Ok(((), g))
        };
        let ((), gx) = plan.value_and_vjp(x.clone(), &f, &mut outer)?;
        let adv = (x.clone() + gx.sign() * 0.01).clamp(0.0, 1.0);
        let _ = adv.into_data();
        Ok(())
    };
    step()?;
    let mut ts = Vec::new();
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        step()?;
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(f64::total_cmp);
    println!(
        "mira {path} 1x{c}x{s}^3, roi {r}^3, {} windows: median {:.0} ms, min {:.0} ms over {} steps",
        plan.windows(),
        ts[ts.len() / 2],
        ts[0],
        ts.len()
    );
    Ok(())
}
