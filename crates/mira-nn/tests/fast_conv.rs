//! Mira's convolution kernel (`mira_nn::fast_conv`) against burn's own convolution: forward
//! output and the gradients of input, weight and bias agree to 1e-4 relative over strides,
//! paddings, dilations, 1×1 kernels, odd sizes, 2D and 3D, through each of the kernel's paths
//! (im2col, kh-shifted GEMMs, Winograd F(2×2, 3×3), pointwise; flipped-kernel and col2im input
//! gradients; im2col and Winograd weight gradients); the input gradient also against central
//! finite differences; grouped
//! convolutions fall back to burn.

use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{
    assert_central_differences, assert_close, host, output_and_grads, rel_err, tensor, values,
};

struct Case {
    x: [usize; 4],
    cout: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
}

const CASES: &[Case] = &[
    // The UNet's 3×3 convolutions and its 1×1 head.
    Case {
        x: [3, 4, 16, 16],
        cout: 8,
        k: [3, 3],
        stride: [1, 1],
        pad: [1, 1],
        dilation: [1, 1],
    },
    Case {
        x: [2, 8, 8, 8],
        cout: 3,
        k: [1, 1],
        stride: [1, 1],
        pad: [0, 0],
        dilation: [1, 1],
    },
    // Batch 1 (GEMM-parallel path), odd sizes, no padding, rectangular kernel.
    Case {
        x: [1, 5, 13, 9],
        cout: 7,
        k: [3, 2],
        stride: [1, 1],
        pad: [0, 0],
        dilation: [1, 1],
    },
    // Strided, padded, dilated.
    Case {
        x: [2, 3, 15, 17],
        cout: 4,
        k: [3, 3],
        stride: [2, 2],
        pad: [1, 1],
        dilation: [1, 1],
    },
    Case {
        x: [2, 2, 12, 11],
        cout: 3,
        k: [3, 3],
        stride: [1, 2],
        pad: [2, 1],
        dilation: [2, 1],
    },
    Case {
        x: [4, 2, 9, 9],
        cout: 2,
        k: [5, 5],
        stride: [3, 3],
        pad: [2, 2],
        dilation: [1, 1],
    },
    // The kh-shifted path with a strided, dilated w axis.
    Case {
        x: [2, 3, 10, 13],
        cout: 5,
        k: [3, 3],
        stride: [1, 2],
        pad: [1, 0],
        dilation: [1, 2],
    },
    // 1×1 with stride (not the pointwise shortcut) and padding larger than the kernel.
    Case {
        x: [2, 3, 7, 8],
        cout: 2,
        k: [1, 1],
        stride: [2, 2],
        pad: [0, 0],
        dilation: [1, 1],
    },
    Case {
        x: [2, 2, 5, 5],
        cout: 2,
        k: [2, 2],
        stride: [1, 1],
        pad: [3, 3],
        dilation: [1, 1],
    },
    // Winograd F(2×2, 3×3) (≥ 8 channels each way; forward, input and weight gradients): odd
    // sizes, padding 1, and padding 0 whose input gradient is a padding-2 convolution.
    Case {
        x: [2, 8, 11, 9],
        cout: 9,
        k: [3, 3],
        stride: [1, 1],
        pad: [1, 1],
        dilation: [1, 1],
    },
    Case {
        x: [1, 10, 7, 6],
        cout: 8,
        k: [3, 3],
        stride: [1, 1],
        pad: [0, 0],
        dilation: [1, 1],
    },
];

fn options(c: &Case) -> ConvOptions<2> {
    ConvOptions::new(c.stride, c.pad, c.dilation, 1)
}

#[test]
fn forward_matches_burn_conv2d() {
    if !mira_nn::default_is_cpu() {
        eprintln!(
            "skipped: Mira's kernel runs on the CPU only (a GPU computes with burn's operations)"
        );
        return;
    }
    for (i, c) in CASES.iter().enumerate() {
        let x = tensor(c.x, 10 + i as u64, false);
        let w = tensor([c.cout, c.x[1], c.k[0], c.k[1]], 20 + i as u64, false);
        let b = tensor([c.cout], 30 + i as u64, false);
        assert!(
            fast_conv::applies(&x, &w, &options(c)),
            "case {i} not on the kernel"
        );
        let ours = fast_conv::conv2d(x.clone(), w.clone(), Some(b.clone()), options(c));
        let theirs = module::conv2d(x, w, Some(b), options(c));
        assert_eq!(ours.dims(), theirs.dims(), "case {i}");
        let err = rel_err(&host(ours), &host(theirs));
        assert!(err < 1e-4, "case {i}: forward differs by {err}");
    }
}

/// Gradients of `Σ conv(x, w, b) ⊙ r` by both implementations.
fn grads(c: &Case, i: u64, ours: bool) -> [Vec<f32>; 3] {
    let x = tensor(c.x, 10 + i, true).require_grad();
    let w = tensor([c.cout, c.x[1], c.k[0], c.k[1]], 20 + i, true).require_grad();
    let b = tensor([c.cout], 30 + i, true).require_grad();
    let y = if ours {
        fast_conv::conv2d(x.clone(), w.clone(), Some(b.clone()), options(c))
    } else {
        module::conv2d(x.clone(), w.clone(), Some(b.clone()), options(c))
    };
    let r = tensor(y.dims(), 40 + i, true);
    let g = (y * r).sum().backward();
    [
        host(x.grad(&g).unwrap()),
        w.grad(&g).map(host).unwrap_or_default(),
        b.grad(&g).map(host).unwrap_or_default(),
    ]
}

#[test]
fn gradients_match_burn_conv2d() {
    for (i, c) in CASES.iter().enumerate() {
        let ours = grads(c, i as u64, true);
        let theirs = grads(c, i as u64, false);
        for (what, (a, b)) in ["input", "weight", "bias"]
            .iter()
            .zip(ours.iter().zip(&theirs))
        {
            let err = rel_err(a, b);
            assert!(err < 1e-4, "case {i}: {what} gradient differs by {err}");
        }
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    // f(x) = Σ conv(x, w, b) ⊙ r is linear in x, so central differences are exact up to f32
    // rounding; h = 1e-2 keeps that rounding small against the O(1) derivatives.
    let c = &CASES[3];
    let [dx, _, _] = grads(c, 3, true);
    let w = tensor([c.cout, c.x[1], c.k[0], c.k[1]], 23, false);
    let b = tensor([c.cout], 33, false);
    let x0 = values(c.x.iter().product(), 13);
    let r = {
        let y = fast_conv::conv2d(
            tensor(c.x, 13, false),
            w.clone(),
            Some(b.clone()),
            options(c),
        );
        tensor(y.dims(), 43, false)
    };
    let f = |x: &[f32]| -> f64 {
        let x = Tensor::from_data(TensorData::new(x.to_vec(), c.x), &mira_nn::default_device());
        let y = fast_conv::conv2d(x, w.clone(), Some(b.clone()), options(c));
        f64::from((y * r.clone()).sum().into_scalar::<f32>())
    };
    assert_central_differences(&x0, &dx, 37, 2e-3, f);
}

#[test]
fn conv3d_forward_and_gradients_match_burn() {
    let opts = || ConvOptions::new([1, 2, 1], [1, 1, 0], [1, 1, 2], 1);
    let run = |ours: bool| {
        let (x, w) = (
            tensor([2, 3, 5, 8, 9], 1, true),
            tensor([4, 3, 3, 3, 2], 2, true),
        );
        output_and_grads(x, w, tensor([4], 3, true), 4, |x, w, b| {
            if ours {
                fast_conv::conv3d(x, w, Some(b), opts())
            } else {
                module::conv3d(x, w, Some(b), opts())
            }
        })
    };
    assert_close("3D", &run(true), &run(false));
}

#[test]
fn conv3d_shifted_gemms_match_burn() {
    // Volumes with dilation 1: the shifted-GEMM forward over stride phases (and, for stride 1
    // through the flipped kernel, the input gradient). Cases: several tiles of wide columns
    // (the second), a kernel of even sides without padding, padding beyond the kernel's reach
    // (input gradient by col2im), a batch of two; strides 2 (MONAI's down-sampling, odd
    // sides), unequal strides, a stride larger than the kernel (phases without taps), a 1×3×3
    // kernel, and VNet's layers. Strided input gradients run the shifted GEMMs' adjoint
    // (`shifted_adjoint.rs`) with two or more input channels, GEMM + col2im with one; stride-1
    // ones the adjoint with one input channel.
    if !mira_nn::default_is_cpu() {
        eprintln!(
            "skipped: the CPU kernel's shifted GEMMs (a GPU computes with burn's operations, \
             whose strided 3D input gradient `device_matches_cpu.rs` checks instead)"
        );
        return;
    }
    type Case = ([usize; 5], [usize; 5], [usize; 3], [usize; 3]);
    let cases: [Case; 12] = [
        ([2, 3, 6, 7, 5], [4, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1]),
        ([1, 5, 9, 20, 30], [3, 5, 3, 2, 3], [1, 0, 2], [1, 1, 1]),
        ([2, 2, 4, 4, 4], [3, 2, 2, 2, 2], [0, 0, 0], [1, 1, 1]),
        ([1, 2, 3, 4, 5], [2, 2, 2, 3, 3], [3, 1, 2], [1, 1, 1]),
        ([2, 4, 9, 8, 7], [5, 4, 3, 3, 3], [1, 1, 1], [2, 2, 2]),
        ([1, 3, 7, 10, 9], [2, 3, 3, 2, 3], [0, 1, 1], [2, 3, 1]),
        ([1, 2, 8, 7, 9], [3, 2, 2, 2, 2], [1, 0, 1], [3, 3, 3]),
        ([1, 3, 5, 6, 6], [2, 3, 1, 3, 3], [0, 1, 1], [1, 2, 1]),
        // VNet's 5×5×5 convolutions and its 2×2×2 stride-2 down-sampling.
        ([1, 2, 7, 9, 8], [3, 2, 5, 5, 5], [2, 2, 2], [1, 1, 1]),
        ([2, 3, 8, 6, 10], [4, 3, 2, 2, 2], [0, 0, 0], [2, 2, 2]),
        // One channel, one image: that input gradient runs GEMM + col2im.
        ([1, 1, 9, 8, 7], [3, 1, 3, 3, 3], [1, 1, 1], [2, 2, 2]),
        // One channel, stride 1: the shifted GEMMs' adjoint again.
        ([2, 1, 6, 7, 8], [4, 1, 3, 3, 3], [1, 1, 1], [1, 1, 1]),
    ];
    for (i, (xs, ws, pad, stride)) in cases.into_iter().enumerate() {
        let seed = 40 + 3 * i as u64;
        let run = |ours: bool| {
            let (x, w) = (tensor(xs, seed, true), tensor(ws, seed + 1, true));
            let opts = ConvOptions::new(stride, pad, [1, 1, 1], 1);
            output_and_grads(
                x,
                w,
                tensor([ws[0]], seed + 2, true),
                seed + 3,
                |x, w, b| {
                    if ours {
                        fast_conv::conv3d(x, w, Some(b), opts.clone())
                    } else {
                        module::conv3d(x, w, Some(b), opts.clone())
                    }
                },
            )
        };
        assert_close(
            &format!("3D shifted GEMMs, case {i}"),
            &run(true),
            &run(false),
        );
    }
}

#[test]
fn frozen_weights_give_only_the_input_gradient() {
    // The attack path: weights without require_grad; the input gradient must still match.
    if !mira_nn::default_is_cpu() {
        eprintln!(
            "skipped: Mira's kernel runs on the CPU only (a GPU computes with burn's operations)"
        );
        return;
    }
    let c = &CASES[0];
    let x = tensor(c.x, 10, true).require_grad();
    let w = tensor([c.cout, c.x[1], c.k[0], c.k[1]], 20, true);
    let b = tensor([c.cout], 30, true);
    assert!(
        fast_conv::applies(&x, &w, &options(c)),
        "autodiff flex is the kernel's"
    );
    let y = fast_conv::conv2d(x.clone(), w.clone(), Some(b.clone()), options(c));
    let r = tensor(y.dims(), 40, true);
    let g = (y * r).sum().backward();
    assert!(w.grad(&g).is_none() && b.grad(&g).is_none());
    let [theirs, _, _] = grads(c, 0, false);
    assert!(rel_err(&host(x.grad(&g).unwrap()), &theirs) < 1e-4);
}

#[test]
fn grouped_and_bias_free_convolutions_fall_back_or_match() {
    // groups = 2 is not the kernel's: the result must still be burn's.
    let x = tensor([2, 4, 6, 6], 5, false);
    let w = tensor([6, 2, 3, 3], 6, false);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
    assert!(!fast_conv::applies(&x, &w, &o));
    let ours = fast_conv::conv2d(x.clone(), w.clone(), None, o.clone());
    let theirs = module::conv2d(x.clone(), w, None, o);
    assert_eq!(host(ours), host(theirs));
    // No bias: zeros are added.
    let w = tensor([3, 4, 3, 3], 7, false);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let ours = fast_conv::conv2d(x.clone(), w.clone(), None, o.clone());
    let theirs = module::conv2d(x, w, None, o);
    assert!(rel_err(&host(ours), &host(theirs)) < 1e-4);
}

#[test]
fn geometry_rejects_kernels_larger_than_the_padded_input() {
    use fast_conv::ConvGeom;
    assert!(ConvGeom::new(1, 1, 1, [1, 4, 4], [1, 5, 5], [1; 3], [0; 3], [1; 3]).is_none());
    assert!(ConvGeom::new(1, 1, 1, [1, 4, 4], [1, 5, 5], [1; 3], [0, 1, 1], [1; 3]).is_some());
    let g = ConvGeom::new(
        2,
        3,
        4,
        [1, 15, 17],
        [1, 3, 3],
        [1, 2, 2],
        [0, 1, 1],
        [1; 3],
    )
    .unwrap();
    assert_eq!(g.output, [1, 8, 9]);
}

/// Output and input, weight and bias gradients of `Σ relu(conv(x, w, b)) ⊙ r`, the ReLU fused
/// (`conv2d_relu`) or burn's after the convolution.
/// With `tracked`, weight and bias gradients too; without, the weights are constants (as in
/// attacks) and only the input gradient is taken (those two vectors come back empty).
fn relu_grads(c: &Case, i: u64, fused: bool, tracked: bool) -> [Vec<f32>; 4] {
    let track = |t: Tensor<4>| if tracked { t.require_grad() } else { t };
    let x = tensor(c.x, 50 + i, true).require_grad();
    let w = track(tensor([c.cout, c.x[1], c.k[0], c.k[1]], 60 + i, true));
    let b = tensor([c.cout], 70 + i, true);
    let b = if tracked { b.require_grad() } else { b };
    let y = if fused {
        fast_conv::conv2d_relu(x.clone(), w.clone(), Some(b.clone()), options(c))
    } else {
        burn::tensor::activation::relu(fast_conv::conv2d(
            x.clone(),
            w.clone(),
            Some(b.clone()),
            options(c),
        ))
    };
    let r = tensor(y.dims(), 80 + i, true);
    let g = (y.clone() * r).sum().backward();
    [
        host(y.inner()),
        host(x.grad(&g).unwrap()),
        w.grad(&g).map(host).unwrap_or_default(),
        b.grad(&g).map(host).unwrap_or_default(),
    ]
}

/// The fused ReLU gives burn's ReLU's values and gradients bit for bit, with about half the
/// outputs clipped (random weights and inputs around zero), on every kernel path: with the
/// weights tracked (training), and constant (attacks: the input gradient alone, whose
/// Winograd path reads the ReLU's mask inside its input transform).
#[test]
fn fused_relu_is_burns_relu_bit_for_bit() {
    for ((i, c), tracked) in CASES
        .iter()
        .enumerate()
        .flat_map(|ic| [(ic, true), (ic, false)])
    {
        let fused = relu_grads(c, i as u64, true, tracked);
        let plain = relu_grads(c, i as u64, false, tracked);
        assert_eq!(fused[2].is_empty(), !tracked);
        let zeros = fused[0].iter().filter(|v| **v == 0.0).count();
        assert!(
            zeros > 0 && zeros < fused[0].len(),
            "case {i}: {zeros} clipped"
        );
        for (what, (a, b)) in ["output", "input", "weight", "bias"]
            .iter()
            .zip(fused.iter().zip(&plain))
        {
            let same =
                a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(
                same,
                "case {i} (weights tracked: {tracked}): {what} differs"
            );
        }
    }
}
