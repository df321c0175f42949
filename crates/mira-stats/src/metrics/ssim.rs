//! Perceptibility of a perturbation: SSIM (Wang et al. 2004, Gaussian-weighted) and PSNR
//! between a clean and an adversarial image of the same shape, 2D or 3D, per channel.
//!
//! SSIM follows MONAI 1.6.1's `SSIMMetric` (`compute_ssim_and_cs`): a separable Gaussian
//! window of `window` taps, `exp(−x²/2σ²)` normalised, applied without padding (only the
//! positions where the window fits whole are averaged); population covariances; `C1 =
//! (k1·R)²`, `C2 = (k2·R)²`. scikit-image's `structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False)` is the same in 2D (its 11-tap window, cropped by
//! 5 on every side). PSNR is `10·log10(R² / MSE)` (scikit-image's and MONAI's). Sums in f64.

use crate::{Result, StatsError};

/// Settings of [`ssim_per_channel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsimOptions {
    /// Taps of the window along every axis (MONAI: 11 in 2D; 7 is common in 3D).
    pub window: usize,
    /// Standard deviation of the Gaussian window, voxels.
    pub sigma: f64,
    /// Luminance constant factor.
    pub k1: f64,
    /// Contrast constant factor.
    pub k2: f64,
    /// The value range of the images (1 for model units in [0, 1]).
    pub data_range: f64,
}

impl SsimOptions {
    /// σ 1.5, k1 0.01, k2 0.03, data range 1, `window` taps.
    pub fn gaussian(window: usize) -> Self {
        Self {
            window,
            sigma: 1.5,
            k1: 0.01,
            k2: 0.03,
            data_range: 1.0,
        }
    }
}

/// The normalised 1D Gaussian window (MONAI's `gaussian_1d`).
fn taps(n: usize, sigma: f64) -> Vec<f64> {
    let w: Vec<f64> = (0..n)
        .map(|i| {
            let x = i as f64 - (n as f64 - 1.0) / 2.0;
            (-(x / sigma).powi(2) / 2.0).exp()
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v / s).collect()
}

/// Valid (unpadded) separable filtering of a C-order array of `dims` along every axis.
fn filter_valid(v: &[f64], dims: &[usize], k: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let (mut cur, mut shape) = (v.to_vec(), dims.to_vec());
    for axis in 0..shape.len() {
        let inner: usize = shape[axis + 1..].iter().product();
        let outer: usize = shape[..axis].iter().product();
        let (n, m) = (shape[axis], shape[axis] + 1 - k.len());
        let mut next = vec![0.0; outer * m * inner];
        // Output (o, j, i) is Σ_t k[t]·cur[(o·n + j + t)·inner + i]: for each tap one
        // contiguous multiply-add over all (j, i) of a slab, the taps added in order (the same
        // sums, term by term, as a per-output loop over the taps, in vector-wide passes).
        let len = m * inner;
        for (o, dst) in next.chunks_exact_mut(len).enumerate() {
            for (t, w) in k.iter().enumerate() {
                let src = &cur[(o * n + t) * inner..][..len];
                if t == 0 {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = w * s;
                    }
                } else {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += w * s;
                    }
                }
            }
        }
        cur = next;
        shape[axis] = m;
    }
    (cur, shape)
}

/// Mean SSIM of each channel of `x` against `y`, both laid out `[C, spatial…]` in C order
/// with `shape = [C, …]` (2 or 3 spatial axes).
///
/// # Errors
/// Lengths that do not match `shape`, non-finite values, a window wider than an axis, an even
/// or empty window, or non-positive σ or data range.
pub fn ssim_per_channel(x: &[f32], y: &[f32], shape: &[usize], o: SsimOptions) -> Result<Vec<f64>> {
    let n: usize = shape.iter().product();
    if x.len() != n || y.len() != n {
        return Err(StatsError::LengthMismatch {
            left: x.len().max(y.len()),
            right: n,
        });
    }
    if let Some(i) = x.iter().chain(y).position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { index: i % n });
    }
    let spatial = &shape[1.min(shape.len())..];
    let bad = !(2..=3).contains(&spatial.len())
        || o.window.is_multiple_of(2)
        || spatial.iter().any(|&s| s < o.window)
        || !(o.sigma > 0.0 && o.data_range > 0.0);
    if bad {
        return Err(StatsError::Empty(
            "SSIM needs 2 or 3 spatial axes at least as long as an odd window, σ > 0, range > 0",
        ));
    }
    let k = taps(o.window, o.sigma);
    let (c1, c2) = ((o.k1 * o.data_range).powi(2), (o.k2 * o.data_range).powi(2));
    let per: usize = spatial.iter().product();
    (0..shape[0])
        .map(|c| {
            let a: Vec<f64> = x[c * per..(c + 1) * per]
                .iter()
                .map(|&v| v.into())
                .collect();
            let b: Vec<f64> = y[c * per..(c + 1) * per]
                .iter()
                .map(|&v| v.into())
                .collect();
            let prod = |p: &[f64], q: &[f64]| -> Vec<f64> {
                p.iter().zip(q).map(|(u, v)| u * v).collect()
            };
            let f = |v: &[f64]| filter_valid(v, spatial, &k).0;
            let (mx, my) = (f(&a), f(&b));
            let (mxx, myy, mxy) = (f(&prod(&a, &a)), f(&prod(&b, &b)), f(&prod(&a, &b)));
            let s: f64 = (0..mx.len())
                .map(|i| {
                    let (ux, uy) = (mx[i], my[i]);
                    let (vx, vy, vxy) = (mxx[i] - ux * ux, myy[i] - uy * uy, mxy[i] - ux * uy);
                    ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                        / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
                })
                .sum();
            Ok(s / mx.len() as f64)
        })
        .collect()
}

/// PSNR (dB) of `y` against `x`: `10·log10(range² / MSE)`; infinite when they are equal.
///
/// # Errors
/// Different lengths, empty inputs, or non-finite values.
pub fn psnr(x: &[f32], y: &[f32], data_range: f64) -> Result<f64> {
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            left: x.len(),
            right: y.len(),
        });
    }
    if x.is_empty() {
        return Err(StatsError::Empty("PSNR of empty images"));
    }
    if let Some(i) = x
        .iter()
        .zip(y)
        .position(|(a, b)| !(a.is_finite() && b.is_finite()))
    {
        return Err(StatsError::NonFinite { index: i });
    }
    let mse = x
        .iter()
        .zip(y)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    Ok(10.0 * (data_range * data_range / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_have_ssim_one_and_infinite_psnr() {
        let x: Vec<f32> = (0..2 * 12 * 13)
            .map(|i| ((i * 37) % 17) as f32 / 17.0)
            .collect();
        let s = ssim_per_channel(&x, &x, &[2, 12, 13], SsimOptions::gaussian(11)).unwrap();
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-12), "{s:?}");
        assert_eq!(psnr(&x, &x, 1.0).unwrap(), f64::INFINITY);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = vec![0.5f32; 100];
        let o = SsimOptions::gaussian(11);
        assert!(
            ssim_per_channel(&x, &x, &[1, 10, 10], o).is_err(),
            "window wider than the image"
        );
        assert!(ssim_per_channel(&x, &x[..99], &[1, 10, 10], SsimOptions::gaussian(7)).is_err());
        assert!(ssim_per_channel(&x, &x, &[100], SsimOptions::gaussian(7)).is_err());
        assert!(ssim_per_channel(&x, &x, &[1, 10, 10], SsimOptions::gaussian(6)).is_err());
        let mut y = x.clone();
        y[3] = f32::NAN;
        assert!(psnr(&x, &y, 1.0).is_err());
        assert!(psnr(&[], &[], 1.0).is_err());
    }

    #[test]
    fn the_window_is_monais_gaussian() {
        let k = taps(11, 1.5);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((k[5] / k[4] - (1.0f64 / (2.0 * 1.5 * 1.5)).exp()).abs() < 1e-12);
    }
}
