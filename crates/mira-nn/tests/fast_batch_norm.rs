//! Batch normalisation in training mode on Mira's passes (`fast_conv::batch_norm_layer`)
//! against burn's `BatchNorm::forward` on the same layer: output, the gradients of the input,
//! `γ` and `β`, and the running statistics after the update, to 1e-5 relative, for 3D to 5D
//! inputs (one value per channel and plane up to 4,096), a large offset (the shifted f64 sums
//! matter there) and momenta 0.1 and 1; the input gradient also against central differences;
//! in evaluation mode the layer is burn's forward, value for value. The ReLU fused into the
//! passes (`fast_conv::batch_norm_relu_layer`) gives exactly what burn's `relu` after the
//! unfused layer gives, output and the three gradients.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{assert_central_differences, host, rel_err, tensor, values};

/// A layer on the autodiff device with `γ = 1 + values`, `β = values` and running statistics
/// away from their initial values.
fn layer(c: usize, seed: u64, momentum: f64) -> BatchNorm {
    let d = mira_nn::autodiff_device();
    let mut bn: BatchNorm = BatchNormConfig::new(c).with_momentum(momentum).init(&d);
    let vec = |s| Tensor::<1>::from_data(TensorData::new(values(c, s), [c]), &d);
    bn.gamma = Param::from_tensor(vec(seed) + 1.0);
    bn.beta = Param::from_tensor(vec(seed + 1));
    bn.running_mean = burn::module::RunningState::new(vec(seed + 2));
    bn.running_var = burn::module::RunningState::new(vec(seed + 3).abs() + 0.5);
    bn
}

/// Output, gradients of `x`, `γ`, `β` of `Σ f(x) ⊙ r`, and the running mean and variance after.
fn run<const D: usize>(
    shape: [usize; D],
    seed: u64,
    (spread, offset): (f32, f32),
    momentum: f64,
    f: impl Fn(&BatchNorm, Tensor<D>) -> Tensor<D>,
) -> [Vec<f32>; 6] {
    let bn = layer(shape[1], seed + 10, momentum);
    let x = (tensor(shape, seed, true) * spread + offset).require_grad();
    let y = f(&bn, x.clone());
    let r = tensor(y.dims(), seed + 1, true);
    let g = (y.clone() * r).sum().backward();
    let grad = |t: Tensor<1>| host(t.grad(&g).expect("tracked"));
    [
        host(y),
        host(x.grad(&g).expect("x tracked")),
        grad(bn.gamma.val()),
        grad(bn.beta.val()),
        host(bn.running_mean.value()),
        host(bn.running_var.value()),
    ]
}

fn assert_same(label: &str, ours: &[Vec<f32>; 6], theirs: &[Vec<f32>; 6]) {
    let parts = ["y", "dx", "dγ", "dβ", "running mean", "running var"];
    for k in 0..6 {
        let e = rel_err(&ours[k], &theirs[k]);
        assert!(e < 1e-5, "{label}, {}: {e}", parts[k]);
    }
}

fn ours<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    fast_conv::batch_norm_layer(bn, x)
}

fn burns<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    bn.forward(x)
}

#[test]
fn training_mode_matches_burns_batch_norm() {
    for (i, (shape, data, m)) in [
        ([4, 3, 5, 6], (1.0, 0.0), 0.1),
        ([2, 5, 64, 64], (3.0, 40.0), 0.1),
        ([1, 2, 1, 1], (1.0, 0.5), 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 100 + 7 * i as u64;
        let a = run(shape, seed, data, m, ours);
        let b = run(shape, seed, data, m, burns);
        assert_same(&format!("4D case {i}"), &a, &b);
    }
    let (a, b) = (
        run([2, 4, 3, 5, 4], 7, (0.5, -2.0), 0.1, ours),
        run([2, 4, 3, 5, 4], 7, (0.5, -2.0), 0.1, burns),
    );
    assert_same("5D", &a, &b);
    let (a, b) = (
        run([3, 6, 9], 9, (1.0, 0.0), 0.1, ours),
        run([3, 6, 9], 9, (1.0, 0.0), 0.1, burns),
    );
    assert_same("3D", &a, &b);
}

#[test]
fn input_gradient_matches_finite_differences() {
    let shape = [2, 2, 3, 3];
    let [_, dx, ..] = run(shape, 5, (1.0, 0.0), 0.1, ours);
    let r = tensor(shape, 6, true);
    let f = |x: &[f32]| -> f64 {
        let x = Tensor::from_data(
            TensorData::new(x.to_vec(), shape),
            &mira_nn::autodiff_device(),
        );
        let y = fast_conv::batch_norm_layer(&layer(2, 15, 0.1), x);
        f64::from((y * r.clone()).sum().into_scalar::<f32>())
    };
    assert_central_differences(&values(36, 5), &dx, 1, 5e-3, f);
}

#[test]
fn evaluation_mode_is_burns_forward() {
    let bn = layer(3, 1, 0.1);
    let x = tensor([2, 3, 4, 4], 2, false);
    let ours = host(fast_conv::batch_norm_layer(&bn, x.clone()));
    let theirs = host(bn.forward(x));
    assert_eq!(ours, theirs);
}

#[test]
fn fused_relu_equals_relu_after_the_layer_exactly() {
    let fused = |bn: &BatchNorm, x: Tensor<4>| fast_conv::batch_norm_relu_layer(bn, x);
    let apart = |bn: &BatchNorm, x: Tensor<4>| {
        burn::tensor::activation::relu(fast_conv::batch_norm_layer(bn, x))
    };
    let burn_only = |bn: &BatchNorm, x: Tensor<4>| burn::tensor::activation::relu(bn.forward(x));
    for (i, (shape, data)) in [([4, 3, 5, 6], (1.0, 0.0)), ([2, 5, 16, 16], (3.0, 1.0))]
        .into_iter()
        .enumerate()
    {
        let seed = 300 + 7 * i as u64;
        let a = run(shape, seed, data, 0.1, fused);
        let b = run(shape, seed, data, 0.1, apart);
        assert_eq!(
            a, b,
            "case {i}: fused against relu after the one-pass layer"
        );
        let zeros = a[0].iter().filter(|v| **v == 0.0).count();
        assert!(
            zeros > a[0].len() / 5,
            "case {i}: the ReLU cuts ({zeros} zeros)"
        );
        assert_same(
            &format!("case {i} against burn"),
            &a,
            &run(shape, seed, data, 0.1, burn_only),
        );
    }
    // Evaluation mode: burn's layer, then ReLU.
    let bn = layer(3, 1, 0.1);
    let x = tensor([2, 3, 4, 4], 2, false);
    let ours = host(fast_conv::batch_norm_relu_layer(&bn, x.clone()));
    let theirs = host(burn::tensor::activation::relu(bn.forward(x)));
    assert_eq!(ours, theirs);
}
