//! Helpers shared by the kernel tests (`fast_conv.rs`, `fast_conv_transpose.rs`, `conv_bn.rs`).
#![allow(dead_code)] // each test binary uses a part

use burn::tensor::{Tensor, TensorData};

/// The tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// max |a − b| / max(1, max |b|): relative to the reference's scale.
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

/// Deterministic values in [-1, 1) (a 64-bit LCG), so the test needs no RNG crate state.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A tensor of [`values`] on the flex device, or its autodiff device with `ad`.
pub fn tensor<const D: usize>(shape: [usize; D], seed: u64, ad: bool) -> Tensor<D> {
    let device = if ad {
        mira_nn::autodiff_device()
    } else {
        mira_nn::default_device()
    };
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(values(n, seed), shape), &device)
}

/// Output and the gradients of `Σ op(x, w, b) ⊙ r` with respect to `x`, `w` and `b` (all
/// tracked; `r` is [`values`] with seed `r_seed`).
pub fn output_and_grads<const D: usize>(
    x: Tensor<D>,
    w: Tensor<D>,
    b: Tensor<1>,
    r_seed: u64,
    op: impl Fn(Tensor<D>, Tensor<D>, Tensor<1>) -> Tensor<D>,
) -> [Vec<f32>; 4] {
    let (x, w, b) = (x.require_grad(), w.require_grad(), b.require_grad());
    let y = op(x.clone(), w.clone(), b.clone());
    let r = tensor(y.dims(), r_seed, true);
    let g = (y.clone() * r).sum().backward();
    [
        host(y),
        host(x.grad(&g).expect("x tracked")),
        host(w.grad(&g).expect("w tracked")),
        host(b.grad(&g).expect("b tracked")),
    ]
}

/// Each of output, input, weight and bias gradient agrees to 1e-4 relative.
pub fn assert_close(label: &str, ours: &[Vec<f32>; 4], theirs: &[Vec<f32>; 4]) {
    for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
        .iter()
        .zip(ours.iter().zip(theirs))
    {
        assert_eq!(a.len(), b.len(), "{label}: {what} sizes");
        let err = rel_err(a, b);
        assert!(err < 1e-4, "{label}: {what} differs by {err}");
    }
}

/// Central differences of `f` (step 1e-2) at every `stride`-th entry of `x0` agree with the
/// analytic gradient `dx` to `tol` relative (absolute below 1).
#[allow(dead_code)]
pub fn assert_central_differences(
    x0: &[f32],
    dx: &[f32],
    stride: usize,
    tol: f64,
    f: impl Fn(&[f32]) -> f64,
) {
    let h = 1e-2f32;
    for idx in (0..x0.len()).step_by(stride) {
        let (mut up, mut down) = (x0.to_vec(), x0.to_vec());
        up[idx] += h;
        down[idx] -= h;
        let fd = (f(&up) - f(&down)) / (2.0 * f64::from(h));
        let an = f64::from(dx[idx]);
        assert!(
            (fd - an).abs() <= tol * an.abs().max(1.0),
            "x[{idx}]: finite difference {fd} vs analytic {an}"
        );
    }
}
