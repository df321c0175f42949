//! The one-pass tissue features (`fast_conv::tissue`) against burn's operations
//! (`tissue_features::reference_features`): the 27 regional means and the input gradient of a
//! weighted sum agree to 1e-5 relative, on volumes of uneven sides and intensities spread over
//! every class.

use burn::prelude::*;
use mira_nn::tissue_features::{reference_features, tissue_features};
use mira_nn::{TissueMode, TissueModel, autodiff_device, tensor_to_vec};

/// A seeded uniform stream in `[lo, hi)` (64-bit LCG; no generator crate needed here).
fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let top = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / top
}

#[test]
fn one_pass_tissue_features_match_burns_values_and_gradients() {
    let model = TissueModel {
        means: [0.0, 0.14, 0.47, 0.74],
        sigma: 0.06,
    };
    let dev = autodiff_device();
    for (shape, seed) in [([2usize, 1, 8, 6, 10], 1u64), ([1, 1, 4, 12, 4], 2)] {
        let n: usize = shape.iter().product();
        let v = uniform(seed, n, -0.05, 1.0);
        let w = uniform(seed + 100, shape[0] * 27, -1.0, 1.0);
        let weights = Tensor::<2>::from_data(TensorData::new(w, [shape[0], 27]), &dev);
        let run = |fast: bool| {
            let x = Tensor::<5>::from_data(TensorData::new(v.clone(), shape), &dev).require_grad();
            let f = if fast {
                tissue_features(x.clone(), &model, TissueMode::Soft, false)
            } else {
                reference_features(x.clone(), &model, TissueMode::Soft, false)
            };
            let values = tensor_to_vec(f.clone().inner());
            let g = (f * weights.clone()).sum().backward();
            (values, tensor_to_vec(x.grad(&g).unwrap()))
        };
        let (fv, fg) = run(true);
        let (rv, rg) = run(false);
        assert_eq!(fv.len(), shape[0] * 27);
        assert!(
            max_rel(&fv, &rv) < 1e-5,
            "values differ by {:e}",
            max_rel(&fv, &rv)
        );
        assert!(
            max_rel(&fg, &rg) < 1e-5,
            "gradients differ by {:e}",
            max_rel(&fg, &rg)
        );
        assert!(rg.iter().any(|g| *g != 0.0));
    }
}
