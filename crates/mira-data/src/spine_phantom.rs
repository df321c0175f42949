//! Seeded phantom of sagittal lumbar-spine MR slices with a target disk contour, for study S4.
//!
//! A T2-weighted-looking 128×128 midsagittal slice (anterior left, superior up): abdominal
//! soft tissue, the lumbar column on a lordotic curve (vertebral bodies with marrow texture
//! and a dark cortical rim, intervertebral disks with a darker annulus and a bright nucleus),
//! the spinal canal (bright CSF around a darker cord) and posterior muscles; partial volume
//! from 2×2 supersampling and a small blur, a smooth bias field and Gaussian noise.
//!
//! The **target disk** (L4–L5, at the centre) has its contour as 176 ordered points (from the
//! posterior-most point, going up and over the anterior side: clockwise on screen) and its
//! mask. Its shape comes from a statistical shape model: a boxy superellipse mean shape plus
//! up to ten modes ordered by variance: height, anterior wedge, length, posterior bulge
//! (herniation), endplate concavity, then radial Fourier bumps of orders 3–7. `modes` chooses
//! how many vary (the S4 "P3 / P5 / P10" training sets); tilt, position and scale vary always.

use std::f64::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::brain_phantom::item_seed;
use crate::contour::polygon_mask;
use crate::raster::{gaussian_blur, texture};
use crate::{DataError, Result};

/// Points on the target disk's contour.
pub const DISK_POINTS: usize = 176;
/// Modes of the disk shape model.
pub const SHAPE_MODES: usize = 10;

/// Settings of the spine phantom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpinePhantomConfig {
    /// Side of the square slice (64..=512, default 128).
    pub size: usize,
    /// Shape-model modes that vary (0..=10).
    pub modes: usize,
    /// Gaussian noise, relative to the brightest tissue.
    pub noise: f32,
    /// Strength of the multiplicative bias field (1 ≈ ±15 %).
    pub bias: f32,
}

impl Default for SpinePhantomConfig {
    fn default() -> Self {
        Self {
            size: 128,
            modes: SHAPE_MODES,
            noise: 0.03,
            bias: 1.0,
        }
    }
}

/// One slice with its target disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeSample {
    /// Side of the slice.
    pub size: usize,
    /// Intensities in `[0, 1]`, row-major.
    pub image: Vec<f32>,
    /// The target disk's contour, `[x, y]` pixels, [`DISK_POINTS`] of them.
    pub points: Vec<[f64; 2]>,
    /// The target disk's mask (pixel centres inside the contour).
    pub mask: Vec<u8>,
}

/// The disk contour in its own frame (x anterior→posterior, y inferior→superior, pixels at a
/// 128 slice) for mode coefficients `c` (standard units).
pub fn disk_shape(c: &[f64]) -> Vec<[f64; 2]> {
    let (a, b) = (19.0, 5.5);
    let coef = |j: usize| c.get(j).copied().unwrap_or(0.0);
    (0..DISK_POINTS)
        .map(|k| {
            // Start at the posterior-most point (angle 0 = +x) and go through superior (+y).
            let t = TAU * k as f64 / DISK_POINTS as f64;
            let sp = |v: f64| v.signum() * v.abs().powf(2.0 / 3.0);
            let (mut u, mut v) = (a * sp(t.cos()), b * sp(t.sin()));
            let (u0, v0) = (u, v);
            v += v0 * 0.22 * coef(0); // height
            v += v0 * 0.30 * (-u0 / a) * coef(1); // taller anteriorly (−x)
            u += u0 * 0.10 * coef(2); // length
            let post = (-(t.sin().atan2(t.cos()) / 0.45).powi(2)).exp();
            u += a * 0.10 * post * coef(3); // posterior bulge
            v -= v0 * 0.18 * (PI * u0 / (2.0 * a)).cos() * coef(4); // endplate concavity
            for j in 5..SHAPE_MODES {
                let order = (j - 2) as f64;
                let r = 0.35 * (order * t + 0.7 * j as f64).cos() * coef(j) / (j as f64 - 3.0);
                let n = (u0.powi(2) + v0.powi(2)).sqrt().max(1e-9);
                u += r * u0 / n;
                v += r * v0 / n;
            }
            [u, v]
        })
        .collect()
}

impl SpinePhantomConfig {
    /// Checks ranges.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(DataError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if !(64..=512).contains(&self.size) {
            return bad("size", "must be in 64..=512");
        }
        if self.modes > SHAPE_MODES {
            return bad("modes", "must be in 0..=10");
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return bad("noise", "must be in [0, 0.5]");
        }
        if !(0.0..=3.0).contains(&self.bias) {
            return bad("bias", "must be in [0, 3]");
        }
        Ok(())
    }

    /// Slices `first .. first + n` of the set `seed`; slice `i` depends only on `(seed, i)`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate(&self, seed: u64, first: usize, n: usize) -> Result<Vec<ShapeSample>> {
        self.validate()?;
        Ok((first..first + n)
            .map(|i| self.sample(item_seed(seed ^ 0x5B1E_D15C, i)))
            .collect())
    }

    fn sample(&self, seed: u64) -> ShapeSample {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let draw = |rng: &mut StdRng| -> f64 { normal.sample(rng) };
        let n = self.size;
        let s = n as f64 / 128.0;
        let coefs: Vec<f64> = (0..SHAPE_MODES)
            .map(|j| {
                if j < self.modes {
                    draw(&mut rng).clamp(-2.5, 2.5)
                } else {
                    0.0
                }
            })
            .collect();
        let tilt = 6.0f64.to_radians() * draw(&mut rng);
        let scale = s * (1.0 + 0.05 * draw(&mut rng));
        let centre = [
            n as f64 / 2.0 + 3.0 * s * draw(&mut rng),
            n as f64 / 2.0 + 3.0 * s * draw(&mut rng),
        ];
        let lordosis = 0.0015 * (1.0 + 0.3 * draw(&mut rng));
        // Screen coordinates: y grows downward, so the frame's +y (superior) is −row.
        let place = |p: [f64; 2], c: [f64; 2], angle: f64, k: f64| -> [f64; 2] {
            let (sa, ca) = angle.sin_cos();
            let (x, y) = (p[0] * k, p[1] * k);
            [c[0] + ca * x - sa * y, c[1] - (sa * x + ca * y)]
        };
        let points: Vec<[f64; 2]> = disk_shape(&coefs)
            .into_iter()
            .map(|p| place(p, centre, tilt, scale))
            .collect();
        // The column, in the target disk's frame: a lordotic curve x = λ d² through it, with
        // vertebral bodies at odd multiples of 17.5 px and disks at even ones.
        let column = |k: f64| -> ([f64; 2], f64) {
            let d = 17.5 * k;
            (
                place([lordosis * d * d, d], centre, tilt, scale),
                tilt - (2.0 * lordosis * d).atan(),
            )
        };
        // Render at 2× for partial volume.
        let m = 2 * n;
        let mut img = vec![0.0f32; m * m];
        let to_fine = |p: [f64; 2]| [2.0 * p[0], 2.0 * p[1]];
        let fill = |img: &mut Vec<f32>, poly: &[[f64; 2]], v: f32| {
            let fine: Vec<[f64; 2]> = poly.iter().map(|&p| to_fine(p)).collect();
            for (px, inside) in img.iter_mut().zip(polygon_mask(&fine, m, m)) {
                if inside > 0 {
                    *px = v;
                }
            }
        };
        // Soft tissue everywhere, muscles posterior, fat anterior.
        let tex = texture(m, 6.0, &mut rng);
        for (i, px) in img.iter_mut().enumerate() {
            let x = (i % m) as f64 / 2.0;
            let posterior = x > centre[0] + 30.0 * scale;
            *px = if posterior { 0.28 } else { 0.42 } + 0.06 * tex[i];
        }
        // Spinal canal (CSF) and cord, posterior to the bodies.
        let rect = |c: [f64; 2], hw: f64, hh: f64, angle: f64| -> Vec<[f64; 2]> {
            let corner = |u: f64, v: f64| place([u, v], c, angle, 1.0);
            vec![
                corner(-hw, -hh),
                corner(hw, -hh),
                corner(hw, hh),
                corner(-hw, hh),
            ]
        };
        for k in -4..=4 {
            let (c, angle) = column(k as f64);
            let off = |d: f64| {
                [
                    c[0] + d * scale * angle.cos(),
                    c[1] - d * scale * angle.sin(),
                ]
            };
            fill(
                &mut img,
                &rect(off(27.0), 5.5 * scale, 16.0 * scale, angle),
                0.9,
            );
            fill(
                &mut img,
                &rect(off(27.0), 2.2 * scale, 16.0 * scale, angle),
                0.45,
            );
        }
        // Vertebral bodies (rounded by their cortical rim), then disks on top.
        let marrow = texture(m, 2.0, &mut rng);
        for k in [-3, -1, 1, 3] {
            let (c, angle) = column(k as f64);
            fill(&mut img, &rect(c, 20.0 * scale, 12.5 * scale, angle), 0.18);
            let inner: Vec<[f64; 2]> = rect(c, 18.5 * scale, 11.0 * scale, angle);
            let fine: Vec<[f64; 2]> = inner.iter().map(|&p| to_fine(p)).collect();
            for (i, inside) in polygon_mask(&fine, m, m).into_iter().enumerate() {
                if inside > 0 {
                    img[i] = 0.5 + 0.08 * marrow[i];
                }
            }
        }
        let disk = |img: &mut Vec<f32>, poly: &[[f64; 2]], c: [f64; 2]| {
            fill(img, poly, 0.34);
            let nucleus: Vec<[f64; 2]> = poly
                .iter()
                .map(|p| [c[0] + 0.55 * (p[0] - c[0]), c[1] + 0.5 * (p[1] - c[1])])
                .collect();
            fill(img, &nucleus, 0.85);
        };
        for k in [-2.0, 2.0] {
            let (c, angle) = column(k);
            let other: Vec<f64> = (0..SHAPE_MODES).map(|_| 0.7 * draw(&mut rng)).collect();
            let poly: Vec<[f64; 2]> = disk_shape(&other)
                .into_iter()
                .map(|p| place(p, c, angle, scale))
                .collect();
            disk(&mut img, &poly, c);
        }
        disk(&mut img, &points, centre);
        // Down to n with 2×2 means, a small blur, bias, noise.
        let mut out = vec![0.0f32; n * n];
        for (i, px) in out.iter_mut().enumerate() {
            let (r, c) = (i / n, i % n);
            *px = 0.25
                * (img[2 * r * m + 2 * c]
                    + img[2 * r * m + 2 * c + 1]
                    + img[(2 * r + 1) * m + 2 * c]
                    + img[(2 * r + 1) * m + 2 * c + 1]);
        }
        let mut out = gaussian_blur(&out, n, n, 0.5);
        let b: [f64; 5] = [0; 5].map(|_| 0.06 * self.bias as f64 * draw(&mut rng));
        let noise = Normal::new(0.0f32, self.noise.max(1e-9)).expect("valid sd");
        for (i, px) in out.iter_mut().enumerate() {
            let (u, v) = (
                2.0 * (i % n) as f64 / n as f64 - 1.0,
                2.0 * (i / n) as f64 / n as f64 - 1.0,
            );
            let field = (b[0] * u + b[1] * v + b[2] * u * v + b[3] * u * u + b[4] * v * v).exp();
            let e = if self.noise > 0.0 {
                noise.sample(&mut rng)
            } else {
                0.0
            };
            *px = (*px * field as f32 + e).clamp(0.0, 1.0);
        }
        let _ = rng.random::<u8>();
        ShapeSample {
            size: n,
            image: out,
            mask: polygon_mask(&points, n, n),
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contour::polygon_area;

    #[test]
    fn samples_are_seeded_and_the_mask_is_the_contour() {
        let cfg = SpinePhantomConfig::default();
        let a = cfg.generate(3, 0, 4).unwrap();
        assert_eq!(cfg.generate(3, 2, 1).unwrap()[0], a[2]);
        for s in &a {
            assert_eq!((s.image.len(), s.points.len()), (128 * 128, DISK_POINTS));
            assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
            let area = polygon_area(&s.points).abs();
            let pixels = s.mask.iter().map(|&v| v as f64).sum::<f64>();
            assert!((pixels / area - 1.0).abs() < 0.1, "{pixels} vs {area}");
            // The disk is bright inside (nucleus) relative to the slice's mean.
            let inside: f32 = s
                .image
                .iter()
                .zip(&s.mask)
                .filter(|(_, m)| **m > 0)
                .map(|(v, _)| *v)
                .sum::<f32>()
                / pixels as f32;
            let mean: f32 = s.image.iter().sum::<f32>() / s.image.len() as f32;
            assert!(inside > mean, "{inside} vs {mean}");
            // Point 0 is the posterior-most (largest x) point, up to the shape's bumps.
            let max_x = s.points.iter().map(|p| p[0]).fold(f64::MIN, f64::max);
            assert!(max_x - s.points[0][0] < 2.0);
        }
    }

    #[test]
    fn more_modes_give_more_shape_variation() {
        let spread = |modes: usize| {
            let cfg = SpinePhantomConfig {
                modes,
                ..Default::default()
            };
            let shapes: Vec<Vec<[f64; 2]>> = (0..40)
                .map(|i| {
                    let mut rng = StdRng::seed_from_u64(i);
                    let c: Vec<f64> = (0..SHAPE_MODES)
                        .map(|j| {
                            if j < cfg.modes {
                                Normal::new(0.0, 1.0).unwrap().sample(&mut rng)
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    disk_shape(&c)
                })
                .collect();
            let mean = disk_shape(&[]);
            shapes
                .iter()
                .map(|s| crate::contour::mean_point_distance(s, &mean))
                .sum::<f64>()
                / 40.0
        };
        let (p0, p3, p5, p10) = (spread(0), spread(3), spread(5), spread(10));
        assert_eq!(p0, 0.0);
        assert!(p3 > 0.5 && p5 > p3 && p10 > p5, "{p3} {p5} {p10}");
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = SpinePhantomConfig {
            modes: 11,
            ..Default::default()
        };
        assert!(bad.generate(0, 0, 1).is_err());
        let bad = SpinePhantomConfig {
            size: 32,
            ..Default::default()
        };
        assert!(bad.generate(0, 0, 1).is_err());
    }
}
