//! 2D rigid transforms about the image centre, rigid resampling, and the target registration
//! error (TRE) that judges a registration.
//!
//! Conventions (GUIDE section 3): a point `p` of the fixed image, in pixels relative to the
//! image centre (x to the right, y down), maps to `T(p) = R(θ) p + t` in the moving image, so
//! the moving image shows the fixed content moved by `T`: `M(T(p)) = F(p)`. θ is in degrees,
//! `t` in pixels here; physical units (mm) are pixels times the pixel spacing.

use serde::{Deserialize, Serialize};

/// A 2D rigid transform: rotation `theta_deg` about the image centre, then translation
/// `(tx, ty)` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rigid2d {
    /// Rotation in degrees (positive turns +x towards +y).
    pub theta_deg: f64,
    /// Translation along x, pixels.
    pub tx: f64,
    /// Translation along y, pixels.
    pub ty: f64,
}

impl Rigid2d {
    /// `T(p)` for `p` relative to the centre.
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.theta_deg.to_radians().sin_cos();
        [c * p[0] - s * p[1] + self.tx, s * p[0] + c * p[1] + self.ty]
    }

    /// `T⁻¹(q)`.
    pub fn invert(&self, q: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.theta_deg.to_radians().sin_cos();
        let (x, y) = (q[0] - self.tx, q[1] - self.ty);
        [c * x + s * y, -s * x + c * y]
    }
}

/// The `n × n` grid of TRE points covering a `size × size` image: evenly spaced from the
/// first to the last pixel centre, relative to the image centre (pixels).
pub fn tre_grid(size: usize, n: usize) -> Vec<[f64; 2]> {
    let half = (size as f64 - 1.0) / 2.0;
    let at = |i: usize| {
        if n == 1 {
            0.0
        } else {
            -half + 2.0 * half * i as f64 / (n - 1) as f64
        }
    };
    (0..n)
        .flat_map(|i| (0..n).map(move |j| [at(j), at(i)]))
        .collect()
}

/// Target registration error: the root mean square distance between `pred(p)` and
/// `truth(p)` over the points `grid` (pixels in, pixels out).
/// (The metric itself is [`mira_stats::rms_distance`].)
pub fn tre(pred: &Rigid2d, truth: &Rigid2d, grid: &[[f64; 2]]) -> f64 {
    let a: Vec<[f64; 2]> = grid.iter().map(|&p| pred.apply(p)).collect();
    let b: Vec<[f64; 2]> = grid.iter().map(|&p| truth.apply(p)).collect();
    mira_stats::rms_distance(&a, &b)
}

/// Bilinear sample of a `h × w` image at `(x, y)` (pixel coordinates), edges clamped.
pub fn bilinear(img: &[f32], h: usize, w: usize, x: f64, y: f64) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let top = img[y0 * w + x0] * (1.0 - fx) + img[y0 * w + x1] * fx;
    let bottom = img[y1 * w + x0] * (1.0 - fx) + img[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The `size × size` fixed and moving images cut from a `h × w` source around the source
/// point `centre = (cx, cy)`: `F(p) = S(centre + A p)` and `M(q) = S(centre + A T⁻¹(q))`,
/// where `A` (row-major 2×2, identity for plain cuts) deforms the source content the same way
/// in both images (affine augmentation), so `M(T(p)) = F(p)` holds whatever `A` is.
pub fn rigid_pair(
    src: &[f32],
    h: usize,
    w: usize,
    centre: [f64; 2],
    size: usize,
    t: &Rigid2d,
    a: [f64; 4],
) -> (Vec<f32>, Vec<f32>) {
    let map = |p: [f64; 2]| [a[0] * p[0] + a[1] * p[1], a[2] * p[0] + a[3] * p[1]];
    let half = (size as f64 - 1.0) / 2.0;
    let mut fixed = Vec::with_capacity(size * size);
    let mut moving = Vec::with_capacity(size * size);
    for i in 0..size {
        for j in 0..size {
            let q = [j as f64 - half, i as f64 - half];
            let f = map(q);
            fixed.push(bilinear(src, h, w, centre[0] + f[0], centre[1] + f[1]));
            let p = map(t.invert(q));
            moving.push(bilinear(src, h, w, centre[0] + p[0], centre[1] + p[1]));
        }
    }
    (fixed, moving)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_undoes_apply() {
        let t = Rigid2d {
            theta_deg: 12.5,
            tx: -3.0,
            ty: 7.25,
        };
        let p = [4.0, -9.5];
        let q = t.invert(t.apply(p));
        assert!((q[0] - p[0]).abs() < 1e-12 && (q[1] - p[1]).abs() < 1e-12);
    }

    /// Hand-computed TRE values (issue 4 acceptance).
    #[test]
    fn tre_matches_hand_values_for_pure_translation_and_rotation() {
        let zero = Rigid2d::default();
        let grid = tre_grid(64, 8);
        // Pure translation error (3, 4) px: every point is off by 5 px.
        let shift = Rigid2d {
            theta_deg: 0.0,
            tx: 3.0,
            ty: 4.0,
        };
        assert!((tre(&shift, &zero, &grid) - 5.0).abs() < 1e-12);
        // Pure rotation about the centre by 10°: a point at radius r moves 2 r sin(5°).
        // The 2 × 2 grid of a 65-pixel image is (±32, ±32): r = 32 √2 for all four points,
        // so TRE = 2 · 32 √2 · sin(5°) = 7.888437... px (Python math).
        let rot = Rigid2d {
            theta_deg: 10.0,
            tx: 0.0,
            ty: 0.0,
        };
        let g2 = tre_grid(65, 2);
        assert_eq!(g2[0], [-32.0, -32.0]);
        let hand = 2.0 * 32.0 * 2f64.sqrt() * 5f64.to_radians().sin();
        assert!((tre(&rot, &zero, &g2) - hand).abs() < 1e-12);
        assert!((hand - 7.888_437_3).abs() < 1e-6);
        // A single centre point does not see a rotation.
        assert_eq!(tre(&rot, &zero, &tre_grid(64, 1)), 0.0);
    }

    #[test]
    fn moving_image_shows_the_fixed_content_moved_by_t() {
        // A source with a single bright pixel; the moving image has it at T(p).
        let (h, w) = (101, 101);
        let mut src = vec![0.0f32; h * w];
        src[40 * w + 60] = 1.0; // source (60, 40) = fixed point p = (10, -10) around (50, 50)
        let t = Rigid2d {
            theta_deg: 90.0,
            tx: 2.0,
            ty: 0.0,
        };
        let (fixed, moving) = rigid_pair(&src, h, w, [50.0, 50.0], 41, &t, [1.0, 0.0, 0.0, 1.0]);
        assert_eq!(fixed[10 * 41 + 30], 1.0); // p = (10, -10) in a 41-pixel image
        // T(p) = (10, 10) + (2, 0) = (12, 10) → pixel (32, 30).
        assert!((moving[30 * 41 + 32] - 1.0).abs() < 1e-5);
    }
}
