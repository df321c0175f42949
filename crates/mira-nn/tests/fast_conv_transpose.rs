//! Transposed convolutions through Mira's kernel (`fast_conv::conv_transpose2d/3d`, the adjoint
//! of its convolution) against burn's own: output and the gradients of input, weight and bias
//! agree to 1e-4 relative over the UNet's 2×2 stride-2 up-sampling, overlapping kernels with
//! stride 1 and 2, padding and dilation, 2D and 3D; the input gradient also against central
//! differences; output padding (MONAI's 3×3×3 stride-2 up-convolutions) through the kernel too;
//! groups fall back to burn.

use burn::tensor::module;
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{assert_central_differences, assert_close, host, output_and_grads, tensor, values};

/// (input [B, Ci, H, W], Co, kernel, stride, padding, dilation)
type Case = (
    [usize; 4],
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
);

const CASES: &[Case] = &[
    // The UNet's up-sampling: 2×2, stride 2, no overlap.
    ([3, 8, 6, 7], 4, [2, 2], [2, 2], [0, 0], [1, 1]),
    // Overlapping taps, stride 1 (the flipped-kernel path) and stride 2 (col2im).
    ([2, 5, 7, 6], 3, [3, 3], [1, 1], [1, 1], [1, 1]),
    ([2, 4, 5, 6], 6, [3, 3], [2, 2], [1, 1], [1, 1]),
    // Unequal strides, dilation, a 1-wide kernel axis.
    ([1, 3, 6, 5], 2, [3, 1], [2, 1], [2, 0], [2, 1]),
];

fn options(c: &Case) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new(c.3, c.4, [0, 0], c.5, 1)
}

/// Output and gradients of `Σ convT(x, w, b) ⊙ r` by both implementations.
fn run(c: &Case, i: u64, ours: bool) -> [Vec<f32>; 4] {
    let x = tensor(c.0, 10 + i, true);
    let w = tensor([c.0[1], c.1, c.2[0], c.2[1]], 20 + i, true);
    output_and_grads(x, w, tensor([c.1], 30 + i, true), 40 + i, |x, w, b| {
        if ours {
            fast_conv::conv_transpose2d(x, w, Some(b), options(c))
        } else {
            module::conv_transpose2d(x, w, Some(b), options(c))
        }
    })
}

#[test]
fn transposed_convolutions_match_burn_forward_and_gradients() {
    for (i, c) in CASES.iter().enumerate() {
        let (ours, theirs) = (run(c, i as u64, true), run(c, i as u64, false));
        assert_close(&format!("case {i}"), &ours, &theirs);
    }
}

#[test]
fn transposed_input_gradient_matches_finite_differences() {
    // f(x) = Σ convT(x, w, b) ⊙ r is linear in x: central differences are exact up to f32
    // rounding.
    let c = &CASES[2];
    let [_, dx, _, _] = run(c, 2, true);
    let w = tensor([c.0[1], c.1, c.2[0], c.2[1]], 22, false);
    let b = tensor([c.1], 32, false);
    let x0 = values(c.0.iter().product(), 12);
    let y0 = fast_conv::conv_transpose2d(tensor(c.0, 12, false), w.clone(), None, options(c));
    let r = tensor(y0.dims(), 42, false);
    let f = |x: &[f32]| -> f64 {
        let x = Tensor::from_data(TensorData::new(x.to_vec(), c.0), &mira_nn::default_device());
        let y = fast_conv::conv_transpose2d(x, w.clone(), Some(b.clone()), options(c));
        f64::from((y * r.clone()).sum().into_scalar::<f32>())
    };
    assert_central_differences(&x0, &dx, 11, 2e-3, f);
}

#[test]
fn transposed_conv3d_matches_burn() {
    let opts = || ConvTransposeOptions::new([2, 1, 2], [1, 0, 1], [0; 3], [1, 2, 1], 1);
    let go = |ours: bool| {
        let (x, w) = (
            tensor([2, 3, 3, 4, 5], 1, true),
            tensor([3, 2, 3, 2, 3], 2, true),
        );
        output_and_grads(x, w, tensor([2], 3, true), 4, |x, w, b| {
            if ours {
                fast_conv::conv_transpose3d(x, w, Some(b), opts())
            } else {
                module::conv_transpose3d(x, w, Some(b), opts())
            }
        })
    };
    assert_close("3D", &go(true), &go(false));
}

#[test]
fn output_padding_matches_burn() {
    // MONAI's UNet up-sampling (3×3×3, stride 2, padding 1, output padding 1), and unequal
    // strides with output padding on one axis only.
    let cases = [
        (
            [1, 4, 3, 4, 5],
            [4, 3, 3, 3, 3],
            [2, 2, 2],
            [1, 1, 1],
            [1, 1, 1],
        ),
        (
            [2, 3, 4, 3, 2],
            [3, 2, 2, 3, 3],
            [1, 3, 2],
            [0, 1, 0],
            [0, 2, 0],
        ),
    ];
    for (i, (xs, ws, stride, pad, out_pad)) in cases.into_iter().enumerate() {
        let seed = 50 + 4 * i as u64;
        let opts = ConvTransposeOptions::new(stride, pad, out_pad, [1; 3], 1);
        let go = |ours: bool| {
            let (x, w) = (tensor(xs, seed, true), tensor(ws, seed + 1, true));
            output_and_grads(
                x,
                w,
                tensor([ws[1]], seed + 2, true),
                seed + 3,
                |x, w, b| {
                    if ours {
                        fast_conv::conv_transpose3d(x, w, Some(b), opts.clone())
                    } else {
                        module::conv_transpose3d(x, w, Some(b), opts.clone())
                    }
                },
            )
        };
        let (ours, theirs) = (go(true), go(false));
        assert_close(&format!("output padding, case {i}"), &ours, &theirs);
    }
    // 2D through the unit-depth route.
    let o = ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1);
    let (x, w) = (
        tensor([2, 4, 5, 5], 60, false),
        tensor([4, 3, 3, 3], 61, false),
    );
    let ours = host(fast_conv::conv_transpose2d(
        x.clone(),
        w.clone(),
        None,
        o.clone(),
    ));
    let theirs = host(module::conv_transpose2d(x, w, None, o));
    assert!(common::rel_err(&ours, &theirs) < 1e-5);
}

#[test]
fn groups_and_stride_1_output_padding_fall_back_to_burn() {
    let x = tensor([2, 4, 5, 5], 5, false);
    for (w_shape, o) in [
        // Grouped.
        (
            [4, 2, 3, 3],
            ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 2),
        ),
        // Output padding with stride 1 (dilation 2 allows it): no convolution's adjoint.
        (
            [4, 3, 3, 3],
            ConvTransposeOptions::new([1, 1], [1, 1], [1, 1], [2, 2], 1),
        ),
    ] {
        let w = tensor(w_shape, 6, false);
        let ours = fast_conv::conv_transpose2d(x.clone(), w.clone(), None, o.clone());
        let theirs = module::conv_transpose2d(x.clone(), w, None, o);
        assert_eq!(host(ours), host(theirs));
    }
}
