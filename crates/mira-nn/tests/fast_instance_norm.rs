//! Instance normalisation in one pass (`mira_nn::fast_conv::instance_norm`) against burn's
//! operations (the ONNX interpreter's composite: means, centring, biased variance, affine):
//! output and input gradient to 1e-5 relative, over planes of a few values to 4,096, with a
//! large offset (the centring in f64 matters there); the input gradient also against central
//! differences; parameter counts that do not fit are refused.

use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{assert_central_differences, host, rel_err, tensor, values};

fn burns(x: Tensor<3>, scale: &[f32], bias: &[f32], eps: f32) -> Tensor<3> {
    let c = scale.len();
    let d = x.device();
    let g = Tensor::<1>::from_data(TensorData::new(scale.to_vec(), [c]), &d).reshape([1, c, 1]);
    let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [c]), &d).reshape([1, c, 1]);
    let mean = x.clone().mean_dim(2);
    let centred = x - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(2);
    centred / (var + eps).sqrt() * g + b
}

/// Output and input gradient of `Σ f(x) ⊙ r` for `x = values · spread + offset`.
fn run(
    shape: [usize; 3],
    seed: u64,
    (spread, offset): (f32, f32),
    f: impl Fn(Tensor<3>) -> Tensor<3>,
) -> [Vec<f32>; 2] {
    let x = (tensor(shape, seed, true) * spread + offset).require_grad();
    let y = f(x.clone());
    let r = tensor(y.dims(), seed + 1, true);
    let g = (y.clone() * r).sum().backward();
    [host(y), host(x.grad(&g).expect("x tracked"))]
}

#[test]
fn instance_norm_matches_burns_operations() {
    if !mira_nn::default_is_cpu() {
        eprintln!(
            "skipped: Mira's instance-norm pass runs on the CPU only (a GPU computes with burn's operations)"
        );
        return;
    }
    let cases = [
        ([2, 3, 7], (1.0, 0.0)),
        ([1, 4, 4096], (2.0, 30.0)),
        ([3, 2, 64], (0.01, -1.0)),
    ];
    for (i, (shape, data)) in cases.into_iter().enumerate() {
        let c = shape[1];
        let scale: Vec<f32> = values(c, 70 + i as u64).iter().map(|v| 1.0 + v).collect();
        let bias = values(c, 80 + i as u64);
        let seed = 90 + 3 * i as u64;
        let ours = run(shape, seed, data, |x| {
            fast_conv::instance_norm(x, &scale, &bias, 1e-5).expect("fits")
        });
        let theirs = run(shape, seed, data, |x| burns(x, &scale, &bias, 1e-5));
        for k in 0..2 {
            let e = rel_err(&ours[k], &theirs[k]);
            assert!(e < 1e-5, "case {i}, part {k}: {e}");
        }
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    if !mira_nn::default_is_cpu() {
        eprintln!(
            "skipped: Mira's instance-norm pass runs on the CPU only (a GPU computes with burn's operations)"
        );
        return;
    }
    let (shape, scale, bias) = ([1, 2, 9], [0.7f32, 1.3], [0.1f32, -0.2]);
    let [_, dx] = run(shape, 5, (1.0, 0.0), |x| {
        fast_conv::instance_norm(x, &scale, &bias, 1e-5).expect("fits")
    });
    let x0 = values(18, 5);
    let r = tensor(shape, 6, false);
    let f = |x: &[f32]| -> f64 {
        let x = Tensor::from_data(
            TensorData::new(x.to_vec(), shape),
            &mira_nn::default_device(),
        );
        let y = fast_conv::instance_norm(x, &scale, &bias, 1e-5).expect("fits");
        f64::from((y * r.clone()).sum().into_scalar::<f32>())
    };
    assert_central_differences(&x0, &dx, 1, 5e-3, f);
}

#[test]
fn parameter_counts_that_do_not_fit_are_refused() {
    let x = tensor([1, 3, 5], 1, false);
    assert!(fast_conv::instance_norm(x, &[1.0, 1.0], &[0.0, 0.0], 1e-5).is_none());
}
