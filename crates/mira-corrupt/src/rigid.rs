//! Rotations of images `[B, C, D, H, W]` about their centre, for the rotated copies of the
//! motion model: trilinear (bilinear in 2D) resampling with zero outside the image, as
//! SimpleITK's linear `Resample` with its default value 0 (what TorchIO's `Motion` uses).
//!
//! The resampling is a fixed sparse linear map of the image, applied with `select` on burn
//! tensors, so gradients flow to the image (the angles are moved by the worst-case search's
//! finite differences, not by autodiff).

use burn::prelude::*;

/// The rotation matrix of `angles` (degrees) about the D, H and W axes, applied in that order,
/// acting on coordinates `(d, h, w)`.
fn matrix(angles: [f32; 3]) -> [[f64; 3]; 3] {
    let r = |a: f32| f64::from(a).to_radians();
    let (a, b, c) = (r(angles[0]), r(angles[1]), r(angles[2]));
    // About D: the (h, w) plane turns; about H: (d, w); about W: (d, h).
    let about_d = [
        [1.0, 0.0, 0.0],
        [0.0, a.cos(), -a.sin()],
        [0.0, a.sin(), a.cos()],
    ];
    let about_h = [
        [b.cos(), 0.0, b.sin()],
        [0.0, 1.0, 0.0],
        [-b.sin(), 0.0, b.cos()],
    ];
    let about_w = [
        [c.cos(), -c.sin(), 0.0],
        [c.sin(), c.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    mul(about_w, mul(about_h, about_d))
}

fn mul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// The images rotated by `angles` (degrees about the D, H and W axes, in that order) about
/// their centre; axes of size 1 (a 2D image's D) do not turn, so a 2D image takes the angle
/// about D alone. All-zero angles return the input.
pub fn rotate(x: Tensor<5>, angles: [f32; 3]) -> Tensor<5> {
    let dims = x.dims();
    let spatial = [dims[2], dims[3], dims[4]];
    let angles: [f32; 3] = std::array::from_fn(|i| {
        // An angle about axis i turns the two other axes: both must be longer than 1.
        let turns = (0..3).filter(|&j| j != i).all(|j| spatial[j] > 1);
        if turns { angles[i] } else { 0.0 }
    });
    if angles.iter().all(|a| *a == 0.0) {
        return x;
    }
    let device = x.device();
    let n: usize = spatial.iter().product();
    // Output voxel p samples the input at R⁻¹ (p − c) + c; R⁻¹ = Rᵀ.
    let m = matrix(angles);
    let c: [f64; 3] = std::array::from_fn(|i| (spatial[i] as f64 - 1.0) / 2.0);
    let mut index = vec![vec![0i64; n]; 8];
    let mut weight = vec![vec![0f32; n]; 8];
    for d in 0..spatial[0] {
        for h in 0..spatial[1] {
            for w in 0..spatial[2] {
                let p = [d as f64 - c[0], h as f64 - c[1], w as f64 - c[2]];
                let q: [f64; 3] =
                    std::array::from_fn(|i| (0..3).map(|k| m[k][i] * p[k]).sum::<f64>() + c[i]);
                let base: [f64; 3] = std::array::from_fn(|i| q[i].floor());
                let frac: [f64; 3] = std::array::from_fn(|i| q[i] - base[i]);
                let out = (d * spatial[1] + h) * spatial[2] + w;
                for corner in 0..8 {
                    let mut at = [0i64; 3];
                    let mut wt = 1.0f64;
                    for i in 0..3 {
                        let bit = (corner >> (2 - i)) & 1;
                        at[i] = base[i] as i64 + bit as i64;
                        wt *= if bit == 1 { frac[i] } else { 1.0 - frac[i] };
                    }
                    let inside = (0..3).all(|i| (0..spatial[i] as i64).contains(&at[i]));
                    if inside && wt > 0.0 {
                        index[corner][out] =
                            (at[0] * spatial[1] as i64 + at[1]) * spatial[2] as i64 + at[2];
                        weight[corner][out] = wt as f32;
                    }
                }
            }
        }
    }
    let flat = x.reshape([dims[0] * dims[1], n]);
    let mut out: Tensor<2> = Tensor::zeros([dims[0] * dims[1], n], &device);
    for (idx, wt) in index.into_iter().zip(weight) {
        if wt.iter().all(|v| *v == 0.0) {
            continue;
        }
        let idx = Tensor::<1, Int>::from_ints(idx.as_slice(), &device);
        let wt = Tensor::<2>::from_data(TensorData::new(wt, [1, n]), &device);
        out = out + flat.clone().select(1, idx) * wt;
    }
    out.reshape(dims)
}
