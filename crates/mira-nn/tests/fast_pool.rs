//! Mira's max pooling (`fast_conv::max_pool2d`) against burn's: outputs and input gradients
//! identical (the same maxima, the same ties broken the same way) over windows equal to,
//! smaller and larger than the stride, odd sizes, plateaus of equal values (as after a ReLU)
//! and a NaN; the UNet layer's configuration goes through the kernel; padded pools fall back.

use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::module;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{host, tensor, values};

/// Values on a coarse grid with a flat zero region, so windows hold ties.
fn plateaus(shape: [usize; 4], seed: u64, ad: bool) -> Tensor<4> {
    let v: Vec<f32> = values(shape.iter().product(), seed)
        .into_iter()
        .map(|v| (v * 4.0).round().max(0.0) / 4.0)
        .collect();
    let device = if ad {
        mira_nn::autodiff_device()
    } else {
        mira_nn::default_device()
    };
    Tensor::from_data(TensorData::new(v, shape), &device)
}

/// (input, window, stride)
const CASES: &[([usize; 4], [usize; 2], [usize; 2])] = &[
    ([2, 3, 8, 8], [2, 2], [2, 2]),
    ([2, 2, 9, 7], [2, 2], [2, 2]),
    ([1, 3, 9, 11], [3, 3], [2, 2]),
    ([2, 2, 6, 7], [3, 2], [1, 1]),
    ([1, 2, 10, 9], [2, 3], [3, 2]),
];

/// Output and gradient of `Σ pool(x) ⊙ r` by both implementations.
fn run(x: &Tensor<4>, k: [usize; 2], s: [usize; 2], ours: bool) -> [Vec<f32>; 2] {
    let x = x.clone().require_grad();
    let y = if ours {
        fast_conv::max_pool2d(x.clone(), k, s)
    } else {
        module::max_pool2d(x.clone(), MaxPoolOptions::new(k).with_stride(s))
    };
    let r = tensor(y.dims(), 7, true);
    let g = (y.clone() * r).sum().backward();
    [host(y), host(x.grad(&g).unwrap())]
}

#[test]
fn max_pool_matches_burn_exactly_with_ties() {
    for (i, &(shape, k, s)) in CASES.iter().enumerate() {
        for (what, x) in [
            ("random", tensor(shape, i as u64, true)),
            ("plateaus", plateaus(shape, i as u64, true)),
        ] {
            let [ours, theirs] = [run(&x, k, s, true), run(&x, k, s, false)];
            assert_eq!(ours[0], theirs[0], "case {i} ({what}): outputs differ");
            assert_eq!(
                ours[1], theirs[1],
                "case {i} ({what}): input gradients differ"
            );
        }
    }
}

#[test]
fn a_nan_in_the_window_wins_as_in_burn() {
    // burn-flex's rule, which Mira's CPU pass keeps; burn's wgpu pooling lets the other
    // values of the window win instead (measured with `MIRA_DEVICE=wgpu`).
    if !mira_nn::default_is_cpu() {
        eprintln!("skipped: NaN in max pooling follows the GPU backend's own rule");
        return;
    }
    let mut v = values(2 * 6 * 6, 3);
    v[7] = f32::NAN;
    let x = Tensor::<4>::from_data(TensorData::new(v, [1, 2, 6, 6]), &mira_nn::default_device());
    let ours = host(fast_conv::max_pool2d(x.clone(), [2, 2], [2, 2]));
    let theirs = host(module::max_pool2d(
        x,
        MaxPoolOptions::new([2, 2]).with_stride([2, 2]),
    ));
    assert!(ours[0].is_nan() && theirs[0].is_nan());
    assert_eq!(&ours[1..], &theirs[1..]);
}

#[test]
fn layers_route_by_their_configuration() {
    let x = tensor([2, 3, 8, 8], 4, false);
    // The UNet's layer: 2×2, stride 2, no padding.
    let unet = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let burn = unet.forward(x.clone());
    assert_eq!(
        host(fast_conv::max_pool2d_layer(&unet, x.clone())),
        host(burn)
    );
    // Padding is burn's: same result as the layer's own forward.
    let padded = MaxPool2dConfig::new([3, 3])
        .with_strides([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init();
    assert_eq!(
        host(fast_conv::max_pool2d_layer(&padded, x.clone())),
        host(padded.forward(x))
    );
}
