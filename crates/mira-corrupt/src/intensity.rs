//! Corruptions of the intensities themselves, voxel by voxel or through a smooth field: Rician
//! noise, gamma, a multiplicative bias field (MR), a window shift (CT) and a contrast change
//! (X-ray). Inputs are model units (in [0, 1] for normalised images, beyond it for file values
//! on the normalisation's scale); outputs are not clipped: `Corruption::apply` clips to [0, 1]
//! (what a model fed normalised images would see), `Corruption::apply_unclipped` does not.

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// Standard normal draws shaped like `x`, from `rng`.
pub fn normal_like(x: &Tensor<5>, rng: &mut StdRng) -> Tensor<5> {
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_data(TensorData::new(v, dims), &x.device())
}

/// Rician noise of scale `sigma` (TorchIO's `RandomNoise` is Gaussian; MR magnitude images are
/// Rician): `√((x + σ n₁)² + (σ n₂)²)` with independent standard normal `n₁`, `n₂`; on a zero
/// background its mean is `σ √(π/2)`.
pub fn rician(x: Tensor<5>, sigma: f32, rng: &mut StdRng) -> Tensor<5> {
    if sigma == 0.0 {
        return x;
    }
    let (n1, n2) = (normal_like(&x, rng), normal_like(&x, rng));
    let re = x + n1 * sigma;
    let im = n2 * sigma;
    (re.powf_scalar(2.0) + im.powf_scalar(2.0)).sqrt()
}

/// Additive Gaussian noise of `sigma` (CT quantum noise in model units: σ_HU / window width;
/// X-ray).
pub fn gaussian_noise(x: Tensor<5>, sigma: f32, rng: &mut StdRng) -> Tensor<5> {
    if sigma == 0.0 {
        return x;
    }
    let n = normal_like(&x, rng);
    x + n * sigma
}

/// Gamma: `x^γ` with `γ = exp(log_gamma)` (TorchIO's `RandomGamma`); 0 is the identity.
/// Values below 0 (file values under the normalisation's low end) are taken as 0.
pub fn gamma(x: Tensor<5>, log_gamma: f32) -> Tensor<5> {
    if log_gamma == 0.0 {
        return x;
    }
    x.clamp_min(1e-6).powf_scalar(log_gamma.exp())
}

/// A window shift (CT): the window's centre moved by `shift` model units (HU / width), so every
/// value moves the other way (the window clips: `Corruption::apply`).
pub fn window_shift(x: Tensor<5>, shift: f32) -> Tensor<5> {
    x - shift
}

/// Contrast (X-ray): `(x − m) · factor + m` about each image's mean `m`.
pub fn contrast(x: Tensor<5>, factor: f32) -> Tensor<5> {
    let dims = x.dims();
    let n: usize = dims[2..].iter().product();
    let m = x
        .clone()
        .reshape([dims[0], dims[1], n])
        .mean_dim(2)
        .reshape([dims[0], dims[1], 1, 1, 1]);
    (x - m.clone()) * factor + m
}

/// The exponents of the monomials of total degree ≤ `order` in three variables (on an axis of
/// size 1 the coordinate is 0, so its terms vanish).
fn monomials(order: usize) -> Vec<[usize; 3]> {
    let mut out = Vec::new();
    for i in 0..=order {
        for j in 0..=order - i {
            for k in 0..=order - i - j {
                out.push([i, j, k]);
            }
        }
    }
    out
}

/// A bias field (TorchIO's `RandomBiasField`): `x · exp(p)` with `p` a polynomial of degree
/// `order` in coordinates scaled to [−1, 1], its coefficients drawn uniformly in
/// `[−magnitude, magnitude]` (one field per image, shared by its channels).
pub fn bias_field(x: Tensor<5>, magnitude: f32, order: usize, rng: &mut StdRng) -> Tensor<5> {
    if magnitude == 0.0 {
        return x;
    }
    let dims = x.dims();
    let device = x.device();
    let spatial = [dims[2], dims[3], dims[4]];
    let terms = monomials(order);
    let coord = |i: usize, n: usize| {
        if n == 1 {
            0.0
        } else {
            2.0 * i as f64 / (n - 1) as f64 - 1.0
        }
    };
    let mut fields = Vec::with_capacity(dims[0] * spatial.iter().product::<usize>());
    for _ in 0..dims[0] {
        let coef: Vec<f64> = terms
            .iter()
            .map(|_| rng.random_range(-1.0..=1.0) * f64::from(magnitude))
            .collect();
        for d in 0..spatial[0] {
            for h in 0..spatial[1] {
                for w in 0..spatial[2] {
                    let c = [
                        coord(d, spatial[0]),
                        coord(h, spatial[1]),
                        coord(w, spatial[2]),
                    ];
                    let p: f64 = terms
                        .iter()
                        .zip(&coef)
                        .map(|(e, a)| {
                            let pow = |k: usize| c[k].powi(e[k] as i32);
                            a * pow(0) * pow(1) * pow(2)
                        })
                        .sum();
                    fields.push(p.exp() as f32);
                }
            }
        }
    }
    let field = Tensor::<5>::from_data(
        TensorData::new(fields, [dims[0], 1, spatial[0], spatial[1], spatial[2]]),
        &device,
    );
    x * field
}
