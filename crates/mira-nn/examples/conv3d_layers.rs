//! Per-layer timing of 3D convolutions, Mira's kernel against burn's op (`MIRA_FAST_CONV=0`
//! switches the whole process; here both are called directly): forward and input gradient
//! through autodiff (weights constant, as in an attack), median of `N` runs, milliseconds.
//! A profiling aid for BENCHMARKS.md, not a test.
//!
//!     cargo run --release -p mira-nn --example conv3d_layers [-- N]

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median milliseconds of `n` runs of `f` on a fresh autodiff copy of `x` followed by the input
/// gradient of its output's sum (weights constant, as in an attack).
fn time_grad(x: &Tensor<5>, n: usize, f: impl Fn(Tensor<5>) -> Tensor<5>) -> f64 {
    let ad = mira_nn::autodiff_device();
    let mut ts = Vec::new();
    for _ in 0..n {
        let xa = Tensor::<5>::from_data(x.clone().into_data(), &ad).require_grad();
        let t = Instant::now();
        let g = xa.grad(&f(xa.clone()).sum().backward()).unwrap();
        let _ = g.into_data();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(ts)
}

/// Median milliseconds of `n` forward passes of `f` (no autodiff).
fn time_forward(x: &Tensor<5>, n: usize, f: impl Fn(Tensor<5>) -> Tensor<5>) -> f64 {
    let mut ts = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let _ = f(x.clone()).into_data();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(ts)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    // (cin, cout, side, stride) of MONAI's UNet(4→4, channels 16/32/64/128, strides 2, two
    // residual units) on a 96³ window, and of the 3D UNet of experiments/s1_segmentation_3d.
    let layers = [
        (4, 4, 96, 1),
        (4, 16, 96, 2),
        (16, 16, 48, 1),
        (16, 32, 48, 2),
        (32, 32, 24, 1),
        (32, 64, 24, 2),
        (64, 64, 12, 1),
        (64, 128, 12, 1),
        (128, 128, 12, 1),
        (4, 8, 32, 1),
        (8, 8, 32, 1),
        (8, 16, 32, 2),
        (32, 16, 32, 1),
    ];
    let plain = mira_nn::default_device();
    println!("cin cout side stride | mira ms | burn ms | mira forward ms | burn forward ms");
    for (ci, co, s, st) in layers {
        let x = Tensor::<5>::random(
            [1, ci, s, s, s],
            burn::tensor::Distribution::Default,
            &plain,
        );
        let w = Tensor::<5>::random(
            [co, ci, 3, 3, 3],
            burn::tensor::Distribution::Default,
            &plain,
        ) * 0.1;
        let b = Tensor::<1>::zeros([co], &plain);
        let opts = || ConvOptions::new([st; 3], [1, 1, 1], [1, 1, 1], 1);
        let time = |fast: bool| {
            time_grad(&x, n, |xa| {
                if fast {
                    mira_nn::fast_conv::conv3d(xa, w.clone(), Some(b.clone()), opts())
                } else {
                    module::conv3d(xa, w.clone(), Some(b.clone()), opts())
                }
            })
        };
        let (bu, m) = (time(false), time(true));
        let fw = time_forward(&x, n, |x| {
            module::conv3d(x, w.clone(), Some(b.clone()), opts())
        });
        let fm = time_forward(&x, n, |x| {
            mira_nn::fast_conv::conv3d(x, w.clone(), Some(b.clone()), opts())
        });
        println!("{ci:3} {co:4} {s:4} {st:6} | {m:7.1} | {bu:7.1} | {fm:7.1} | {fw:7.1}");
    }
    // Pointwise heads and transposed up-convolutions (k2 s2; k3 s2 with output padding 1).
    use burn::tensor::ops::ConvTransposeOptions;
    println!("pointwise / transposed: cin cout side k | mira ms | burn ms");
    for (ci, co, s, k) in [
        (16, 4, 96, 1),
        (8, 4, 48, 1),
        (16, 8, 24, 2),
        (64, 32, 12, 2),
        (32, 16, 24, 3),
        (128, 64, 6, 3),
    ] {
        let x = Tensor::<5>::random(
            [1, ci, s, s, s],
            burn::tensor::Distribution::Default,
            &plain,
        );
        let time = |fast: bool| {
            time_grad(&x, n, |xa| {
                if k == 1 {
                    let w = Tensor::<5>::ones([co, ci, 1, 1, 1], &plain) * 0.1;
                    let o = ConvOptions::new([1; 3], [0; 3], [1; 3], 1);
                    if fast {
                        mira_nn::fast_conv::conv3d(xa, w, None, o)
                    } else {
                        module::conv3d(xa, w, None, o)
                    }
                } else {
                    let w = Tensor::<5>::ones([ci, co, k, k, k], &plain) * 0.1;
                    let (pad, op) = if k == 3 { (1, 1) } else { (0, 0) };
                    let o = ConvTransposeOptions::new([2; 3], [pad; 3], [op; 3], [1; 3], 1);
                    if fast {
                        mira_nn::fast_conv::conv_transpose3d(xa, w, None, o)
                    } else {
                        module::conv_transpose3d(xa, w, None, o)
                    }
                }
            })
        };
        let (bu, m) = (time(false), time(true));
        println!("{ci:3} {co:4} {s:4} {k:2} | {m:7.1} | {bu:7.1}");
    }
}
