//! The one-pass tissue features (`fast_conv::tissue`) against burn's operations
//! (`tissue_features::reference_features`): the 27 regional means and the input gradient of a
//! weighted sum agree to 1e-5 of the reference's scale, on volumes of uneven sides and intensities over
//! every class (`common::rel_err`).

use burn::prelude::*;
use mira_nn::tissue_features::{reference_features, tissue_features};
use mira_nn::{TissueMode, TissueModel, autodiff_device, tensor_to_vec};

mod common;
use common::{rel_err, values};

#[test]
fn one_pass_tissue_features_match_burns_values_and_gradients() {
    let model = TissueModel {
        means: [0.0, 0.14, 0.47, 0.74],
        sigma: 0.06,
    };
    let dev = autodiff_device();
    for (shape, seed) in [([2usize, 1, 8, 6, 10], 1u64), ([1, 1, 4, 12, 4], 2)] {
        let n: usize = shape.iter().product();
        // Intensities over every class's mean and beyond: [−0.05, 1.0).
        let v: Vec<f32> = values(n, seed).iter().map(|u| 0.475 + 0.525 * u).collect();
        let w = values(shape[0] * 27, seed + 100);
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
            rel_err(&fv, &rv) < 1e-5,
            "values differ by {:e}",
            rel_err(&fv, &rv)
        );
        assert!(
            rel_err(&fg, &rg) < 1e-5,
            "gradients differ by {:e}",
            rel_err(&fg, &rg)
        );
        assert!(rg.iter().any(|g| *g != 0.0));
    }
}
