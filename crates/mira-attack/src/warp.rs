//! Differentiable 2D warping for the synthesis threat model: cubic B-spline control grids
//! expanded to dense fields, bilinear resampling by a displacement field (gradients with respect
//! to the image and the field), nearest-neighbour label warping and the Jacobian determinant.
//!
//! Conventions: a displacement field `[B, 2, H, W]` holds `(dx, dy)` in pixels (channel 0 moves
//! along columns, channel 1 along rows); the warped image at pixel `(x, y)` is the source sampled
//! at `(x + dx, y + dy)`, clamped to the image (border replication).

use burn::prelude::*;

/// The centred cubic B-spline kernel.
fn cubic_bspline(t: f32) -> f32 {
    let a = t.abs();
    if a < 1.0 {
        2.0 / 3.0 - a * a + 0.5 * a * a * a
    } else if a < 2.0 {
        (2.0 - a).powi(3) / 6.0
    } else {
        0.0
    }
}

/// Control-point spacing in pixels of an `n_ctrl`-point cubic B-spline grid over `size` pixels:
/// the knots run from one spacing before the first pixel to one after the last.
pub fn control_spacing(n_ctrl: usize, size: usize) -> f32 {
    (size.max(2) - 1) as f32 / (n_ctrl.max(4) - 3) as f32
}

/// The `size × n_ctrl` matrix (row-major) of cubic B-spline weights: row `p` gives the
/// weight of each control point at pixel `p`. Rows sum to 1 and reproduce linear functions, so
/// a dense field is never larger than its largest control value. `n_ctrl >= 4`.
pub fn bspline_matrix(n_ctrl: usize, size: usize) -> Vec<f32> {
    let spacing = control_spacing(n_ctrl, size);
    let mut m = vec![0.0f32; size * n_ctrl];
    for p in 0..size {
        let u = p as f32 / spacing + 1.0;
        for j in 0..n_ctrl {
            m[p * n_ctrl + j] = cubic_bspline(u - j as f32);
        }
    }
    m
}

/// Expands B-spline control grids to dense fields on a `height × width` image.
#[derive(Debug, Clone)]
pub struct BsplineGrid {
    rows: Tensor<4>,
    cols_t: Tensor<4>,
    n_ctrl: usize,
}

impl BsplineGrid {
    /// A grid of `n_ctrl × n_ctrl` control points (>= 4) over `height × width` pixels.
    pub fn new(n_ctrl: usize, height: usize, width: usize, device: &Device) -> Self {
        let rows = Tensor::<1>::from_floats(bspline_matrix(n_ctrl, height).as_slice(), device)
            .reshape([1, 1, height, n_ctrl]);
        let cols_t = Tensor::<1>::from_floats(bspline_matrix(n_ctrl, width).as_slice(), device)
            .reshape([1, 1, width, n_ctrl])
            .swap_dims(2, 3);
        Self {
            rows,
            cols_t,
            n_ctrl,
        }
    }

    /// Control points per side.
    pub fn n_ctrl(&self) -> usize {
        self.n_ctrl
    }

    /// `[B, K, n, n]` control values → `[B, K, H, W]` dense field (same device as `ctrl`).
    pub fn dense(&self, ctrl: Tensor<4>) -> Tensor<4> {
        let device = ctrl.device();
        let rows = self.rows.clone().to_device(&device);
        let cols_t = self.cols_t.clone().to_device(&device);
        rows.matmul(ctrl).matmul(cols_t)
    }
}

/// Samples `img` `[B, C, H, W]` at `(x + dx, y + dy)` with bilinear interpolation (border
/// replication). Differentiable with respect to both `img` and `disp` `[B, 2, H, W]`.
pub fn warp_bilinear(img: Tensor<4>, disp: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = img.dims();
    let device = img.device();
    let gx = Tensor::<1, Int>::arange(0..w as i64, &device)
        .float()
        .reshape([1, 1, 1, w]);
    let gy = Tensor::<1, Int>::arange(0..h as i64, &device)
        .float()
        .reshape([1, 1, h, 1]);
    let xs = (disp.clone().narrow(1, 0, 1) + gx).clamp(0.0, (w - 1) as f32);
    let ys = (disp.narrow(1, 1, 1) + gy).clamp(0.0, (h - 1) as f32);
    // Cell corners are constants; the fractional weights carry the gradient to the field.
    let x0 = xs
        .clone()
        .detach()
        .floor()
        .clamp(0.0, (w.max(2) - 2) as f32);
    let y0 = ys
        .clone()
        .detach()
        .floor()
        .clamp(0.0, (h.max(2) - 2) as f32);
    let wx = xs - x0.clone();
    let wy = ys - y0.clone();
    let flat = img.reshape([b, c, h * w]);
    let x1_off = if w > 1 { 1.0 } else { 0.0 };
    let y1_off = if h > 1 { w as f32 } else { 0.0 };
    let base = y0 * (w as f32) + x0;
    let pick = |offset: f32| {
        let idx = (base.clone() + offset)
            .int()
            .reshape([b, 1, h * w])
            .expand([b, c, h * w]);
        flat.clone().gather(2, idx).reshape([b, c, h, w])
    };
    let (v00, v01, v10, v11) = (pick(0.0), pick(x1_off), pick(y1_off), pick(x1_off + y1_off));
    let one_x = wx.clone().neg() + 1.0;
    let top = v00 * one_x.clone() + v01 * wx.clone();
    let bottom = v10 * one_x + v11 * wx;
    top * (wy.clone().neg() + 1.0) + bottom * wy
}

/// Host-side nearest-neighbour warp of one `h × w` label map by a dense displacement
/// `disp` (`2 × h × w`, `(dx, dy)` planes), border replication, as [`warp_bilinear`] samples.
pub fn warp_labels_nearest(labels: &[u8], disp: &[f32], h: usize, w: usize) -> Vec<u8> {
    let px = h * w;
    (0..px)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            let xs = (x as f32 + disp[i]).clamp(0.0, (w - 1) as f32).round() as usize;
            let ys = (y as f32 + disp[px + i]).clamp(0.0, (h - 1) as f32).round() as usize;
            labels[ys * w + xs]
        })
        .collect()
}

/// Minimum over pixels of the Jacobian determinant of the map `p ↦ p + u(p)` for one dense
/// displacement `disp` (`2 × h × w`), with central differences inside and one-sided ones at the
/// borders. A value `<= 0` means the field folds.
pub fn min_jacobian_det(disp: &[f32], h: usize, w: usize) -> f32 {
    let px = h * w;
    let d = |plane: usize, y: usize, x: usize| disp[plane * px + y * w + x];
    let diff = |plane: usize, y: usize, x: usize, along_x: bool| -> f32 {
        let (n, i) = if along_x { (w, x) } else { (h, y) };
        if n < 2 {
            return 0.0;
        }
        let (lo, hi) = (i.saturating_sub(1), (i + 1).min(n - 1));
        let at = |k: usize| {
            if along_x {
                d(plane, y, k)
            } else {
                d(plane, k, x)
            }
        };
        (at(hi) - at(lo)) / (hi - lo) as f32
    };
    let mut min = f32::INFINITY;
    for y in 0..h {
        for x in 0..w {
            let a = 1.0 + diff(0, y, x, true);
            let b = diff(0, y, x, false);
            let c = diff(1, y, x, true);
            let e = 1.0 + diff(1, y, x, false);
            min = min.min(a * e - b * c);
        }
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_nn::{autodiff_device, default_device};

    fn host(t: Tensor<4>) -> Vec<f32> {
        mira_nn::tensor_to_vec(t)
    }

    #[test]
    fn bspline_rows_are_a_partition_of_unity_and_reproduce_lines() {
        for (n, size) in [(4, 16), (6, 64), (9, 128)] {
            let m = bspline_matrix(n, size);
            let spacing = control_spacing(n, size);
            for p in 0..size {
                let row = &m[p * n..(p + 1) * n];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "row {p}");
                // Control values at the knot positions (j - 1) * spacing give back p.
                let lin: f32 = row
                    .iter()
                    .enumerate()
                    .map(|(j, w)| w * (j as f32 - 1.0) * spacing)
                    .sum();
                assert!((lin - p as f32).abs() < 1e-3, "p {p}: {lin}");
            }
        }
    }

    #[test]
    fn identity_and_translation_fields() {
        let dev = default_device();
        let (h, w) = (6, 7);
        let vals: Vec<f32> = (0..2 * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
        let img = Tensor::<1>::from_floats(vals.as_slice(), &dev).reshape([1, 2, h, w]);
        let zero = Tensor::<4>::zeros([1, 2, h, w], &dev);
        assert_eq!(host(warp_bilinear(img.clone(), zero)), vals);
        // dx = +2: out(x, y) = in(x + 2, y) where x + 2 < w; dy = -1: out(x, y) = in(x, y - 1).
        let shift = Tensor::<1>::from_floats([2.0, -1.0], &dev)
            .reshape([1, 2, 1, 1])
            .expand([1, 2, h, w]);
        let out = host(warp_bilinear(img, shift));
        for ch in 0..2 {
            for y in 1..h {
                for x in 0..w - 2 {
                    let i = (ch * h + y) * w + x;
                    let j = (ch * h + y - 1) * w + x + 2;
                    assert!((out[i] - vals[j]).abs() < 1e-6);
                }
            }
        }
        let labels: Vec<u8> = (0..h * w).map(|i| (i % 5) as u8).collect();
        let mut disp = vec![2.0f32; h * w];
        disp.extend(vec![-1.0f32; h * w]);
        let warped = warp_labels_nearest(&labels, &disp, h, w);
        assert_eq!(warped[w + 1], labels[3]);
        assert!((min_jacobian_det(&disp, h, w) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_folding_field_has_a_negative_jacobian() {
        let (h, w) = (5, 5);
        // u(x) = -2x along columns: the map x ↦ -x folds.
        let mut disp: Vec<f32> = (0..h * w).map(|i| -2.0 * (i % w) as f32).collect();
        disp.extend(vec![0.0; h * w]);
        assert!((min_jacobian_det(&disp, h, w) + 1.0).abs() < 1e-6);
    }

    /// Directional central differences against autodiff, for the image and the field.
    #[test]
    fn gradients_match_finite_differences() {
        let ad = autodiff_device();
        let (h, w) = (5, 6);
        let n = 2 * h * w;
        let img: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32) / 10.0).collect();
        // Fractional parts in [0.2, 0.8] keep every sample inside one cell for the steps below.
        let disp: Vec<f32> = (0..n)
            .map(|i| (i % 3) as f32 - 1.0 + 0.2 + 0.6 * ((i * 5 % 7) as f32 / 6.0))
            .collect();
        let r: Vec<f32> = (0..n).map(|i| ((i * 3 % 13) as f32 - 6.0) / 6.0).collect();
        let f = |im: &[f32], d: &[f32]| -> (f32, Vec<f32>, Vec<f32>) {
            let it = Tensor::<1>::from_floats(im, &ad)
                .reshape([1, 2, h, w])
                .require_grad();
            let dt = Tensor::<1>::from_floats(d, &ad)
                .reshape([1, 2, h, w])
                .require_grad();
            let rt = Tensor::<1>::from_floats(r.as_slice(), &ad).reshape([1, 2, h, w]);
            let v = (warp_bilinear(it.clone(), dt.clone()) * rt).sum();
            let grads = v.backward();
            (
                v.into_scalar(),
                host(it.grad(&grads).unwrap()),
                host(dt.grad(&grads).unwrap()),
            )
        };
        let (_, gi, gd) = f(&img, &disp);
        let dir: Vec<f32> = (0..n).map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0).collect();
        let eps = 0.05f32;
        let shifted = |base: &[f32], s: f32| -> Vec<f32> {
            base.iter().zip(&dir).map(|(b, d)| b + s * d).collect()
        };
        let fd_img =
            (f(&shifted(&img, eps), &disp).0 - f(&shifted(&img, -eps), &disp).0) / (2.0 * eps);
        let an_img: f32 = gi.iter().zip(&dir).map(|(g, d)| g * d).sum();
        assert!(
            (fd_img - an_img).abs() < 1e-2 * an_img.abs().max(1.0),
            "{fd_img} vs {an_img}"
        );
        let eps = 0.02f32;
        let fd_disp =
            (f(&img, &shifted(&disp, eps)).0 - f(&img, &shifted(&disp, -eps)).0) / (2.0 * eps);
        let an_disp: f32 = gd.iter().zip(&dir).map(|(g, d)| g * d).sum();
        assert!(
            (fd_disp - an_disp).abs() < 1e-2 * an_disp.abs().max(1.0),
            "{fd_disp} vs {an_disp}"
        );
    }

    #[test]
    fn dense_field_from_constant_control_grid_is_constant() {
        let dev = default_device();
        let grid = BsplineGrid::new(5, 16, 12, &dev);
        let ctrl = Tensor::<4>::ones([2, 2, 5, 5], &dev) * 1.5;
        let dense = host(grid.dense(ctrl));
        assert_eq!(dense.len(), 2 * 2 * 16 * 12);
        assert!(dense.iter().all(|v| (v - 1.5).abs() < 1e-5));
    }
}
