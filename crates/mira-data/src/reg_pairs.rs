//! Registration pairs for study S0: a fixed image cut from a source image and a moving image
//! made by a known random rigid transform, with that transform as the target.
//!
//! Splits are by source image (or, for a single real radiograph, by disjoint bands of rows),
//! never by pair. Pair `i` of a set depends only on `(seed, i)` and comes from source
//! `i mod sources`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::{DataError, Result, Rigid2d, rigid_pair};

/// A grey-level source image in `[0, 1]` and the rows pairs may be cut from.
#[derive(Debug, Clone, PartialEq)]
pub struct RegSource {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major pixels.
    pub pixels: Vec<f32>,
    /// The band of rows `[first, last)` this source contributes (its split's region).
    pub rows: (usize, usize),
}

impl RegSource {
    /// A whole image as a source.
    ///
    /// # Errors
    /// A pixel count that does not match the size, or non-finite pixels.
    pub fn whole(width: usize, height: usize, pixels: Vec<f32>) -> Result<Self> {
        if pixels.len() != width * height || width == 0 || height == 0 {
            return Err(DataError::Shape(format!(
                "{} pixels for a {width}x{height} source",
                pixels.len()
            )));
        }
        if pixels.iter().any(|v| !v.is_finite()) {
            return Err(DataError::InvalidConfig {
                field: "source",
                reason: "the image holds NaN or infinite values".into(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
            rows: (0, height),
        })
    }
}

/// How pairs are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegPairConfig {
    /// Side of the fixed and moving images (16..=512).
    pub size: usize,
    /// Rotations are drawn uniformly from ±this many degrees (0..=45).
    pub max_rotation_deg: f64,
    /// Translations are drawn uniformly from ±this many pixels per axis.
    pub max_translation_px: f64,
    /// Standard deviation of independent Gaussian noise added to each image.
    pub noise: f32,
    /// Random gamma, contrast and brightness per pair (applied to both images).
    pub intensity_jitter: bool,
    /// Affine augmentation of the content (both images alike): each entry of the 2×2 matrix
    /// deviates from the identity by up to this much (scale and shear; 0 = none, <= 0.3).
    pub affine_jitter: f64,
    /// Random flips and transposition of the content (both images alike; augmentation).
    #[serde(default)]
    pub flips: bool,
}

impl Default for RegPairConfig {
    fn default() -> Self {
        Self {
            size: 64,
            max_rotation_deg: 15.0,
            max_translation_px: 10.0,
            noise: 0.01,
            intensity_jitter: true,
            affine_jitter: 0.0,
            flips: false,
        }
    }
}

impl RegPairConfig {
    /// Radius around a cut centre that sampling can reach, in source pixels.
    pub fn margin(&self) -> f64 {
        let half = (self.size as f64 - 1.0) / 2.0;
        (half + self.max_translation_px)
            * std::f64::consts::SQRT_2
            * (1.0 + 2.0 * self.affine_jitter)
            + 2.0
    }

    /// Checks the ranges.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(DataError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if !(16..=512).contains(&self.size) {
            return bad("size", "must be in 16..=512");
        }
        if !(0.0..=45.0).contains(&self.max_rotation_deg) {
            return bad("max_rotation_deg", "must be in [0, 45]");
        }
        if !(0.0..=self.size as f64 / 2.0).contains(&self.max_translation_px) {
            return bad("max_translation_px", "must be in [0, size / 2]");
        }
        if !(0.0..=0.3).contains(&self.affine_jitter) {
            return bad("affine_jitter", "must be in [0, 0.3]");
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return bad("noise", "must be in [0, 0.5]");
        }
        Ok(())
    }
}

/// One registration case.
#[derive(Debug, Clone, PartialEq)]
pub struct RegPair {
    /// Fixed image, `size × size`, row-major.
    pub fixed: Vec<f32>,
    /// Moving image: the fixed content moved by `truth`.
    pub moving: Vec<f32>,
    /// The transform to recover (pixels).
    pub truth: Rigid2d,
    /// Index of the source image it was cut from.
    pub source: usize,
}

/// Draws pair `index` of a set: source `index mod sources`, everything else from
/// `(seed, index)`.
///
/// # Errors
/// Invalid settings, no sources, or a source region too small for the margin the transforms
/// need.
pub fn make_pair(
    sources: &[RegSource],
    cfg: &RegPairConfig,
    seed: u64,
    index: usize,
) -> Result<RegPair> {
    cfg.validate()?;
    if sources.is_empty() {
        return Err(DataError::InvalidConfig {
            field: "sources",
            reason: "no source images".into(),
        });
    }
    let si = index % sources.len();
    let s = &sources[si];
    let mut rng = StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let m = cfg.margin();
    let (x_lo, x_hi) = (m, s.width as f64 - 1.0 - m);
    let (y_lo, y_hi) = (s.rows.0 as f64 + m, s.rows.1 as f64 - 1.0 - m);
    if x_lo > x_hi || y_lo > y_hi {
        return Err(DataError::InvalidConfig {
            field: "sources",
            reason: format!(
                "source {si} offers {}x{} pixels; pairs of side {} with ±{} px need {:.0}",
                s.width,
                s.rows.1 - s.rows.0,
                cfg.size,
                cfg.max_translation_px,
                2.0 * m + 1.0
            ),
        });
    }
    let centre = [rng.random_range(x_lo..=x_hi), rng.random_range(y_lo..=y_hi)];
    let (r, t) = (cfg.max_rotation_deg, cfg.max_translation_px);
    let truth = Rigid2d {
        theta_deg: if r > 0.0 {
            rng.random_range(-r..=r)
        } else {
            0.0
        },
        tx: if t > 0.0 {
            rng.random_range(-t..=t)
        } else {
            0.0
        },
        ty: if t > 0.0 {
            rng.random_range(-t..=t)
        } else {
            0.0
        },
    };
    let j = cfg.affine_jitter;
    let mut jit = || {
        if j > 0.0 {
            rng.random_range(-j..=j)
        } else {
            0.0
        }
    };
    let mut a = [1.0 + jit(), jit(), jit(), 1.0 + jit()];
    if cfg.flips {
        let (sx, sy) = (
            if rng.random_bool(0.5) { -1.0 } else { 1.0 },
            if rng.random_bool(0.5) { -1.0 } else { 1.0 },
        );
        a = [a[0] * sx, a[1] * sy, a[2] * sx, a[3] * sy];
        if rng.random_bool(0.5) {
            a = [a[1], a[0], a[3], a[2]];
        }
    }
    let (mut fixed, mut moving) =
        rigid_pair(&s.pixels, s.height, s.width, centre, cfg.size, &truth, a);
    let (gamma, contrast, brightness) = if cfg.intensity_jitter {
        (
            rng.random_range(0.8f32..1.25),
            rng.random_range(0.85f32..1.15),
            rng.random_range(-0.05f32..0.05),
        )
    } else {
        (1.0, 1.0, 0.0)
    };
    let noise = Normal::new(0.0f32, cfg.noise.max(1e-12)).expect("valid normal");
    for img in [&mut fixed, &mut moving] {
        for v in img.iter_mut() {
            let n = if cfg.noise > 0.0 {
                noise.sample(&mut rng)
            } else {
                0.0
            };
            *v = ((v.clamp(0.0, 1.0).powf(gamma) - 0.5) * contrast + 0.5 + brightness + n)
                .clamp(0.0, 1.0);
        }
    }
    Ok(RegPair {
        fixed,
        moving,
        truth,
        source: si,
    })
}

/// Pairs `first..first + n` of a set (see [`make_pair`]).
///
/// # Errors
/// As [`make_pair`].
pub fn make_pairs(
    sources: &[RegSource],
    cfg: &RegPairConfig,
    seed: u64,
    first: usize,
    n: usize,
) -> Result<Vec<RegPair>> {
    (first..first + n)
        .map(|i| make_pair(sources, cfg, seed, i))
        .collect()
}

/// Box-filter downsampling by an integer `factor` (partial blocks at the edges dropped).
pub fn downsample(
    pixels: &[f32],
    width: usize,
    height: usize,
    factor: usize,
) -> (Vec<f32>, usize, usize) {
    let f = factor.max(1);
    let (w, h) = (width / f, height / f);
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for dy in 0..f {
                for dx in 0..f {
                    s += pixels[(y * f + dy) * width + x * f + dx];
                }
            }
            out[y * w + x] = s / (f * f) as f32;
        }
    }
    (out, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> RegSource {
        let px = (0..w * h)
            .map(|i| ((i % w) + (i / w)) as f32 / (w + h) as f32)
            .collect();
        RegSource::whole(w, h, px).unwrap()
    }

    #[test]
    fn pairs_are_seeded_bounded_and_cycle_sources() {
        let src = [ramp(140, 140), ramp(150, 150)];
        let cfg = RegPairConfig::default();
        let a = make_pairs(&src, &cfg, 9, 0, 4).unwrap();
        assert_eq!(a, make_pairs(&src, &cfg, 9, 0, 4).unwrap());
        assert_eq!(a[3], make_pair(&src, &cfg, 9, 3).unwrap());
        assert_eq!(a.iter().map(|p| p.source).collect::<Vec<_>>(), [0, 1, 0, 1]);
        for p in &a {
            assert!(p.truth.theta_deg.abs() <= 15.0 && p.truth.tx.abs() <= 10.0);
            assert_eq!(p.fixed.len(), 64 * 64);
            assert!(p.moving.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    /// Whatever content augmentation (affine jitter, flips) does, the moving image shows the
    /// fixed content moved by the true transform: a blob at p in F is at T(p) in M.
    #[test]
    fn augmented_pairs_keep_the_rigid_relation() {
        let n = 160;
        let px: Vec<f32> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f32 - 70.0, (i / n) as f32 - 90.0);
                (-(x * x + y * y) / 8.0).exp()
            })
            .collect();
        let src = [RegSource::whole(n, n, px).unwrap()];
        let cfg = RegPairConfig {
            size: 48,
            noise: 0.0,
            intensity_jitter: false,
            affine_jitter: 0.1,
            flips: true,
            ..Default::default()
        };
        let argmax = |v: &[f32]| {
            let i = (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            [(i % 48) as f64 - 23.5, (i / 48) as f64 - 23.5]
        };
        let mut checked = 0;
        for k in 0..40 {
            let p = make_pair(&src, &cfg, 3, k).unwrap();
            let (f, m) = (argmax(&p.fixed), argmax(&p.moving));
            let peak = |v: &[f32]| v.iter().copied().fold(0.0f32, f32::max);
            if peak(&p.fixed) < 0.9 || peak(&p.moving) < 0.9 {
                continue; // the blob is cut off in one of the images
            }
            let t = p.truth.apply(f);
            assert!(
                (t[0] - m[0]).hypot(t[1] - m[1]) < 1.5,
                "pair {k}: T(p) {t:?}, peak {m:?}"
            );
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} pairs held the blob");
    }

    #[test]
    fn a_region_too_small_is_a_clear_error() {
        let mut s = ramp(140, 140);
        s.rows = (0, 60);
        let e = make_pair(&[s], &RegPairConfig::default(), 0, 0).unwrap_err();
        assert!(e.to_string().contains("need"), "{e}");
    }

    #[test]
    fn downsample_averages_blocks() {
        let (d, w, h) = downsample(&[1.0, 3.0, 5.0, 7.0, 0.0, 0.0], 3, 2, 2);
        assert_eq!((w, h), (1, 1));
        assert_eq!(d, vec![(1.0 + 3.0 + 7.0 + 0.0) / 4.0]);
    }
}
