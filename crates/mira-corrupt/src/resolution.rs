//! Corruptions of resolution, as `[N, N]` maps along the spatial axes: Gaussian blur and
//! anisotropic resolution (thick slices: averaged down along one axis, linearly up again).

use burn::prelude::*;

use crate::axis::{SPATIAL, along, matrix};

/// The `[N, N]` Gaussian blur of `sigma` voxels (taps to ±3σ), each output a weighted mean of
/// the inputs inside the axis (weights renormalised at the borders, so a constant image stays
/// constant).
fn gaussian_matrix(n: usize, sigma: f64, device: &Device) -> Tensor<2> {
    let radius = (3.0 * sigma).ceil() as i64;
    let weight = |i: usize, j: usize| {
        let d = i as i64 - j as i64;
        if d.abs() > radius {
            0.0
        } else {
            (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()
        }
    };
    // Column j is output j: normalise over the inputs i.
    let totals: Vec<f64> = (0..n).map(|j| (0..n).map(|i| weight(i, j)).sum()).collect();
    matrix(n, |i, j| weight(i, j) / totals[j], device)
}

/// Gaussian blur of `sigma` voxels along every spatial axis longer than 1 (TorchIO's
/// `RandomBlur`, in voxels rather than mm); 0 is the identity.
pub fn blur(x: Tensor<5>, sigma: f32) -> Tensor<5> {
    if sigma <= 0.0 {
        return x;
    }
    let dims = x.dims();
    let device = x.device();
    SPATIAL.iter().fold(x, |x, &a| {
        if dims[a] == 1 {
            x
        } else {
            along(x, a, gaussian_matrix(dims[a], f64::from(sigma), &device))
        }
    })
}

/// The `[N, N]` map of averaging `factor` consecutive voxels into one (the last bin may be
/// shorter) and interpolating linearly back between the bin centres.
fn down_up_matrix(n: usize, factor: f64, device: &Device) -> Tensor<2> {
    let m = ((n as f64) / factor).ceil().max(1.0) as usize;
    let bin = |i: usize| ((i as f64 / factor) as usize).min(m - 1);
    let count: Vec<f64> = (0..m)
        .map(|b| (0..n).filter(|&i| bin(i) == b).count() as f64)
        .collect();
    let centre: Vec<f64> = (0..m)
        .map(|b| {
            let idx: Vec<usize> = (0..n).filter(|&i| bin(i) == b).collect();
            idx.iter().sum::<usize>() as f64 / idx.len().max(1) as f64
        })
        .collect();
    // Output voxel j: linear weights on the two bins whose centres bracket it.
    let up = |j: usize, b: usize| {
        let x = j as f64;
        if m == 1 {
            return 1.0;
        }
        let hi = centre.iter().position(|&c| c >= x).unwrap_or(m - 1).max(1);
        let lo = hi - 1;
        let t = ((x - centre[lo]) / (centre[hi] - centre[lo])).clamp(0.0, 1.0);
        if b == lo {
            1.0 - t
        } else if b == hi {
            t
        } else {
            0.0
        }
    };
    // M[i, j] = Σ_b down[i → b] · up[b → j], down[i → b] = 1 / count(b) for i in bin b.
    matrix(n, |i, j| up(j, bin(i)) / count[bin(i)], device)
}

/// Anisotropic resolution along `axis` (2, 3 or 4: depth, height, width): slices `factor`
/// times thicker, then resampled back to the grid (TorchIO's `RandomAnisotropy`, linear);
/// factor 1 is the identity.
pub fn anisotropy(x: Tensor<5>, axis: usize, factor: f32) -> Tensor<5> {
    let n = x.dims()[axis];
    if factor <= 1.0 || n == 1 {
        return x;
    }
    let m = down_up_matrix(n, f64::from(factor), &x.device());
    along(x, axis, m)
}
