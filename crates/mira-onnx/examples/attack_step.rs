//! Times an attack step on any ONNX segmentation model: forward, pixel-wise cross-entropy
//! against the clean argmax, input gradient, sign step (what one i-FGSM step costs), on a
//! seeded input of the given shape. The PyTorch twin is `scripts/bench_onnx_3d.py`.
//!
//!     cargo run --release -p mira-onnx --example attack_step -- MODEL.onnx 1,1,96,96,96 10

#[path = "common/allocator.rs"]
mod allocator;

use std::time::Instant;

use burn::tensor::activation::log_softmax;
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (path, shape, iters) = match args.as_slice() {
        [_, p, s, i] => (p.clone(), s.clone(), i.parse::<usize>()?),
        _ => return Err("usage: attack_step MODEL.onnx B,C,D,H,W ITERS".into()),
    };
    let shape: Vec<usize> = shape.split(',').map(str::parse).collect::<Result<_, _>>()?;
    if shape.len() != 5 {
        return Err("the shape must be B,C,D,H,W".into());
    }
    let net = OnnxNet::new(
        OnnxModel::from_file(std::path::Path::new(&path))?,
        &mira_nn::default_device(),
    )?;
    let ad = mira_nn::autodiff_device();
    let n: usize = shape.iter().product();
    let x0: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let x = FTensor::from_host(&x0, &shape, &ad)?.into_rank::<5>()?;
    let labels = net
        .run(FTensor::of(x.clone())?)?
        .into_rank::<5>()?
        .argmax(1);
    let step = || -> Result<(), Box<dyn std::error::Error>> {
        let xi = x.clone().require_grad();
        let y = net.run(FTensor::of(xi.clone())?)?.into_rank::<5>()?;
        let loss = -log_softmax(y, 1).gather(1, labels.clone()).mean();
        let g = xi.grad(&loss.backward()).ok_or("no gradient")?;
        let adv = (x.clone().inner() + g.sign() * 0.01).clamp(0.0, 1.0);
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
        "{path} {shape:?}: median {:.1} ms, min {:.1} ms over {} steps",
        ts[ts.len() / 2],
        ts[0],
        ts.len()
    );
    Ok(())
}
