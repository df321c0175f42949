//! The GPU path against the CPU: every operation a Mira network is made of, run on the default
//! device (`MIRA_DEVICE=wgpu` or `cuda`, as `scripts/gpu_check.sh` runs the suite) and on
//! burn's `flex` CPU backend, whose kernels the other tests check against finite differences:
//! output and the gradients of input, weight and bias agree to 1e-4 relative. On the CPU
//! itself there is nothing to compare and the test says so.

use burn::nn::InstanceNormConfig;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use mira_nn::fast_conv;

mod common;
use common::{host, rel_err, values};

/// Output and gradients of `Σ op(x, w, b) ⊙ r` on `device` (autodiff), from the same values.
fn run<const D: usize>(
    device: &Device,
    (xs, ws, bs): ([usize; D], [usize; D], usize),
    op: &dyn Fn(Tensor<D>, Tensor<D>, Tensor<1>) -> Tensor<D>,
) -> [Vec<f32>; 4] {
    let t = |shape: [usize; D], seed: u64| {
        let n = shape.iter().product();
        Tensor::<D>::from_data(TensorData::new(values(n, seed), shape), device).require_grad()
    };
    let (x, w) = (t(xs, 1), t(ws, 2));
    let b = Tensor::<1>::from_data(TensorData::new(values(bs, 3), [bs]), device).require_grad();
    let y = op(x.clone(), w.clone(), b.clone());
    let n = y.dims().iter().product();
    let r = Tensor::<D>::from_data(TensorData::new(values(n, 4), y.dims()), device);
    let g = (y.clone() * r).sum().backward();
    let grad = |p: Option<Tensor<D>>| p.map(host).unwrap_or_default();
    [
        host(y),
        grad(x.grad(&g)),
        grad(w.grad(&g)),
        b.grad(&g).map(host).unwrap_or_default(),
    ]
}

fn compare<const D: usize>(
    label: &str,
    shapes: ([usize; D], [usize; D], usize),
    op: &dyn Fn(Tensor<D>, Tensor<D>, Tensor<1>) -> Tensor<D>,
) {
    let here = run(&mira_nn::autodiff_device(), shapes, op);
    let cpu = run(&Device::flex().autodiff(), shapes, op);
    for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
        .iter()
        .zip(here.iter().zip(&cpu))
    {
        assert_eq!(a.len(), b.len(), "{label}: {what} sizes");
        let err = rel_err(a, b);
        assert!(
            err < 1e-4,
            "{label}: {what} differs from the CPU's by {err}"
        );
    }
}

#[test]
fn every_operation_of_the_networks_matches_the_cpu() {
    if mira_nn::default_is_cpu() {
        eprintln!("skipped: the default device is the CPU (set MIRA_DEVICE to a GPU backend)");
        return;
    }
    // 3D convolutions: stride 1 and 2 with padding (UNet3d's blocks), 1×1×1 (heads, skips),
    // strides beyond the kernel (burn's wgpu input gradient is wrong there; Mira works round).
    for (stride, k, pad) in [(1, 3, 1), (2, 3, 1), (1, 1, 0), (2, 1, 0), (3, 2, 1)] {
        compare(
            &format!("conv3d k{k} s{stride}"),
            ([2, 3, 6, 6, 6], [4, 3, k, k, k], 4),
            &|x, w, b| {
                let o = ConvOptions::new([stride; 3], [pad; 3], [1; 3], 1);
                fast_conv::conv3d(x, w, Some(b), o)
            },
        );
    }
    // Grouped (an ONNX model's depthwise projection), stride beyond the kernel.
    compare(
        "conv3d k1 s2 groups 2",
        ([2, 4, 6, 6, 6], [6, 2, 1, 1, 1], 6),
        &|x, w, b| fast_conv::conv3d(x, w, Some(b), ConvOptions::new([2; 3], [0; 3], [1; 3], 2)),
    );
    // Transposed 3D convolutions: 2×2×2 stride 2, and 3×3×3 stride 2 with output padding.
    for (k, pad, out_pad) in [(2, 0, 0), (3, 1, 1)] {
        compare(
            &format!("conv_transpose3d k{k}"),
            ([2, 4, 3, 3, 3], [4, 3, k, k, k], 3),
            &|x, w, b| {
                let o = ConvTransposeOptions::new([2; 3], [pad; 3], [out_pad; 3], [1; 3], 1);
                fast_conv::conv_transpose3d(x, w, Some(b), o)
            },
        );
    }
    // 2D convolutions and pooling (the 2D UNets).
    compare(
        "conv2d k3 s1",
        ([2, 3, 8, 8], [5, 3, 3, 3], 5),
        &|x, w, b| fast_conv::conv2d(x, w, Some(b), ConvOptions::new([1, 1], [1, 1], [1, 1], 1)),
    );
    compare("max_pool2d", ([2, 3, 8, 8], [1, 1, 1, 1], 1), &|x, _, _| {
        fast_conv::max_pool2d(x, [2, 2], [2, 2])
    });
    // Activations and normalisation as the networks apply them.
    compare("leaky_relu", ([2, 3, 4, 4, 4], [1; 5], 1), &|x, _, _| {
        leaky_relu(x, 0.01)
    });
    compare("prelu", ([2, 3, 4, 4, 4], [1; 5], 1), &|x, _, _| {
        fast_conv::prelu(x, &[0.1, 0.2, 0.3]).expect("one slope per channel")
    });
    // UNet3d's normalisation layer (its affine parameters start at 1 and 0 on every device).
    compare("instance_norm", ([2, 3, 4, 4, 4], [1; 5], 1), &|x, _, _| {
        InstanceNormConfig::new(3).init(&x.device()).forward(x)
    });
    compare("cat", ([2, 3, 4, 4, 4], [2, 2, 4, 4, 4], 1), &|x, w, _| {
        Tensor::cat(vec![x, w], 1) * 1.5
    });
}
