//! Seeded 3D T1-weighted brain phantom whose anatomy ages, for study S3 (brain age).
//!
//! Each subject is a skull-stripped, roughly MNI-aligned T1-like volume (`size`³, default 64³,
//! isotropic) with its age in years and its tissue labels. Ageing follows the usual findings
//! of volumetric MR studies, driven by a *biological* age (the chronological age plus a
//! subject-specific gap of `age_gap_sd` years, the irreducible error of any age predictor):
//! - the brain shrinks inside a fixed intracranial volume (external CSF widens);
//! - cortical grey matter thins and sulci widen (sulcal CSF);
//! - the lateral and third ventricles expand, faster after 60 (quadratic term);
//! - white matter shrinks (what is left inside the thinner cortex and larger ventricles);
//! - the grey/white T1 contrast falls.
//!
//! Subjects vary in head size and shape (axis ratios, low-order surface bumps), gyral pattern,
//! intensity scale, bias field (smooth multiplicative) and noise. Partial volume comes from
//! 2×2×2 supersampling. Intensities lie in `[0, 1]`, background exactly 0 (skull-stripped).
//!
//! Labels: 0 outside the brain, 1 CSF (external and sulcal), 2 grey matter (cortex and deep
//! nuclei), 3 white matter, 4 ventricles. Layout: x fastest (left→right), then y
//! (posterior→anterior), then z (inferior→superior).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::brain_phantom::item_seed;
use crate::{DataError, Result};

/// Names of the labels of [`AgeSubject::labels`], index = value.
pub const AGE_TISSUE_LABELS: [&str; 5] = ["outside", "csf", "grey", "white", "ventricles"];

/// Settings of the ageing brain phantom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgePhantomConfig {
    /// Side of the cubic volume in voxels (16..=256, a multiple of 16).
    pub size: usize,
    /// Youngest and oldest age, years (ages are uniform in between).
    pub ages: [f64; 2],
    /// Standard deviation of the biological-minus-chronological age gap, years.
    pub age_gap_sd: f64,
    /// Gaussian noise, relative to white matter (0..=0.5).
    pub noise: f32,
    /// Strength of the multiplicative bias field (0 = none, 1 = about ±15 %).
    pub bias: f32,
}

impl Default for AgePhantomConfig {
    fn default() -> Self {
        Self {
            size: 64,
            ages: [20.0, 90.0],
            age_gap_sd: 3.0,
            noise: 0.02,
            bias: 1.0,
        }
    }
}

/// One synthetic subject.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeSubject {
    /// Chronological age, years (the label).
    pub age: f64,
    /// Side of the cubic volume.
    pub size: usize,
    /// T1-like intensities in `[0, 1]`, `size³` values, x fastest.
    pub t1: Vec<f32>,
    /// Tissue label of each voxel (see [`AGE_TISSUE_LABELS`]).
    pub labels: Vec<u8>,
}

impl AgeSubject {
    /// Voxels of label `l`.
    pub fn volume(&self, l: u8) -> usize {
        self.labels.iter().filter(|&&v| v == l).count()
    }
}

impl AgePhantomConfig {
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
        if !(16..=256).contains(&self.size) || !self.size.is_multiple_of(16) {
            return bad("size", "must be a multiple of 16 in 16..=256");
        }
        let [lo, hi] = self.ages;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi && hi <= 120.0) {
            return bad("ages", "need 0 <= youngest < oldest <= 120");
        }
        if !(0.0..=20.0).contains(&self.age_gap_sd) {
            return bad("age_gap_sd", "must be in [0, 20] years");
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return bad("noise", "must be in [0, 0.5]");
        }
        if !(0.0..=3.0).contains(&self.bias) {
            return bad("bias", "must be in [0, 3]");
        }
        Ok(())
    }

    /// Subjects `first .. first + n` of the set `seed` (subject `i` depends only on
    /// `(seed, i)`), generated on up to `threads` threads.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate(
        &self,
        seed: u64,
        first: usize,
        n: usize,
        threads: usize,
    ) -> Result<Vec<AgeSubject>> {
        self.validate()?;
        let threads = threads.clamp(1, 64).min(n.max(1));
        let mut out: Vec<Option<AgeSubject>> = vec![None; n];
        let per = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (k, chunk) in out.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        let i = first + k * per + j;
                        *slot = Some(self.subject(item_seed(seed ^ 0x5EED_A6E5, i)));
                    }
                });
            }
        });
        Ok(out.into_iter().map(|s| s.expect("generated")).collect())
    }

    /// One subject from its own seed.
    fn subject(&self, seed: u64) -> AgeSubject {
        let mut rng = StdRng::seed_from_u64(seed);
        let age = rng.random_range(self.ages[0]..=self.ages[1]);
        let a = Anatomy::draw(&mut rng, age, self.age_gap_sd);
        let n = self.size;
        let bias = Bias::draw(&mut rng, self.bias);
        let scale = 1.0 + 0.05 * normal(&mut rng) as f32;
        let noise = Normal::new(0.0f32, self.noise.max(1e-9)).expect("valid sd");
        let (mut t1, mut labels) = (vec![0.0f32; n * n * n], vec![0u8; n * n * n]);
        let h = 1.0 / n as f64;
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let c = |i: usize| (2 * i + 1) as f64 * h - 1.0;
                    let p = [c(x), c(y), c(z)];
                    let label = a.label(p);
                    let mut sum = 0.0;
                    for s in 0..8 {
                        let o = |bit: usize| if s >> bit & 1 == 1 { 0.5 * h } else { -0.5 * h };
                        sum += a.intensity(a.label([p[0] + o(0), p[1] + o(1), p[2] + o(2)]));
                    }
                    let idx = (z * n + y) * n + x;
                    labels[idx] = label;
                    let v = sum / 8.0;
                    if v > 0.0 {
                        let e = if self.noise > 0.0 {
                            noise.sample(&mut rng)
                        } else {
                            0.0
                        };
                        t1[idx] = (v as f32 * bias.at(p) * scale + e).clamp(0.0, 1.0);
                    }
                }
            }
        }
        AgeSubject {
            age,
            size: n,
            t1,
            labels,
        }
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormalF64.sample(rng)
}

/// A standard normal draw (shared with the MNI-based subjects).
pub(crate) fn standard_normal(rng: &mut StdRng) -> f64 {
    normal(rng)
}

struct StandardNormalF64;

impl Distribution<f64> for StandardNormalF64 {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        rand_distr::StandardNormal.sample(rng)
    }
}

/// A subject's geometry, in normalised coordinates `[-1, 1]³`.
struct Anatomy {
    /// Intracranial semi-axes.
    axes: [f64; 3],
    /// Low-order surface bumps.
    bumps: [f64; 4],
    /// Brain surface, as a share of the intracranial radius.
    brain: f64,
    /// Cortical thickness, normalised radius units.
    cortex: f64,
    /// Half-width of sulci in gyroid units.
    sulcus: f64,
    /// Gyral pattern: frequency and phases.
    gyri: (f64, [f64; 3]),
    /// Ventricle linear scale.
    ventricles: f64,
    /// Intensities of CSF, GM, WM.
    tissue: [f64; 3],
}

impl Anatomy {
    fn draw(rng: &mut StdRng, age: f64, gap_sd: f64) -> Self {
        let bio = age + gap_sd * normal(rng);
        let t = (bio - 20.0).max(-20.0);
        let head = 1.0 + 0.04 * normal(rng);
        let axes = [
            0.70 * head * (1.0 + 0.03 * normal(rng)),
            0.86 * head * (1.0 + 0.03 * normal(rng)),
            0.72 * head * (1.0 + 0.03 * normal(rng)),
        ];
        let bumps = [0; 4].map(|_| 0.03 * normal(rng));
        let ventricle_volume = 1.0 + 0.012 * t + 0.00025 * t * t;
        let wm = 0.78 - 0.0009 * t;
        Self {
            axes,
            bumps,
            brain: 0.965 - 0.0011 * t + 0.006 * normal(rng),
            cortex: (0.13 - 0.0004 * t) * (1.0 + 0.04 * normal(rng)),
            sulcus: 0.10 + 0.0045 * t.max(0.0),
            gyri: (
                rng.random_range(8.5..10.5),
                [0; 3].map(|_| rng.random_range(0.0..std::f64::consts::TAU)),
            ),
            ventricles: ventricle_volume.max(0.3).cbrt() * (1.0 + 0.06 * normal(rng)),
            tissue: [0.14, 0.47, wm],
        }
    }

    /// The ellipsoidal radius of `p` (1 on the intracranial surface).
    fn radius(&self, p: [f64; 3]) -> f64 {
        let q = [
            p[0] / self.axes[0],
            p[1] / self.axes[1],
            p[2] / self.axes[2],
        ];
        let r = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
        let d = [q[0] / r.max(1e-9), q[1] / r.max(1e-9), q[2] / r.max(1e-9)];
        let b = &self.bumps;
        r / (1.0
            + b[0] * d[0] * d[1]
            + b[1] * d[1] * d[2]
            + b[2] * (d[2] * d[2] - 0.3)
            + b[3] * d[0] * d[2])
    }

    fn label(&self, p: [f64; 3]) -> u8 {
        let r = self.radius(p);
        if r > 1.0 {
            return 0;
        }
        let v = self.ventricles;
        let in_ellipsoid = |c: [f64; 3], s: [f64; 3]| {
            (0..3).map(|k| ((p[k] - c[k]) / s[k]).powi(2)).sum::<f64>() <= 1.0
        };
        let lateral = [-1.0, 1.0].iter().any(|&side| {
            in_ellipsoid(
                [side * 0.11 * self.axes[0] / 0.7, 0.02, 0.12],
                [0.075 * v, 0.32 * v, 0.12 * v],
            )
        });
        if lateral || in_ellipsoid([0.0, -0.02, 0.02], [0.02 * v, 0.13 * v, 0.09 * v]) {
            return 4;
        }
        if r > self.brain {
            return 1;
        }
        let depth = self.brain - r;
        if depth < 1.6 * self.cortex {
            let (f, ph) = self.gyri;
            let g = (f * p[0] + ph[0]).sin() * (f * p[1] + ph[1]).cos()
                + (f * p[1] + ph[1]).sin() * (f * p[2] + ph[2]).cos()
                + (f * p[2] + ph[2]).sin() * (f * p[0] + ph[0]).cos();
            // Sulci are deepest where the gyroid sheet is, widening with age.
            let reach = self.sulcus * (1.0 - depth / (1.6 * self.cortex));
            if g.abs() < reach {
                return 1;
            }
            if depth < self.cortex {
                return 2;
            }
        }
        let thalamus = [-1.0, 1.0]
            .iter()
            .any(|&side| in_ellipsoid([side * 0.09, -0.08, -0.04], [0.07, 0.10, 0.07]));
        if thalamus { 2 } else { 3 }
    }

    fn intensity(&self, label: u8) -> f64 {
        match label {
            1 | 4 => self.tissue[0],
            2 => self.tissue[1],
            3 => self.tissue[2],
            _ => 0.0,
        }
    }
}

/// `exp` of a random quadratic polynomial: a smooth multiplicative coil bias.
pub(crate) struct Bias([f64; 9]);

impl Bias {
    pub(crate) fn draw(rng: &mut StdRng, strength: f32) -> Self {
        Self([0; 9].map(|_| 0.05 * strength as f64 * normal(rng)))
    }

    pub(crate) fn at(&self, p: [f64; 3]) -> f32 {
        let c = &self.0;
        let [x, y, z] = p;
        (c[0] * x
            + c[1] * y
            + c[2] * z
            + c[3] * x * y
            + c[4] * y * z
            + c[5] * x * z
            + c[6] * x * x
            + c[7] * y * y
            + c[8] * z * z)
            .exp() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(n: usize) -> Vec<AgeSubject> {
        let cfg = AgePhantomConfig {
            size: 32,
            ..Default::default()
        };
        cfg.generate(7, 0, n, 2).unwrap()
    }

    /// Pearson correlation.
    fn corr(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn anatomy_ages_as_brains_do() {
        let subjects = cohort(24);
        let ages: Vec<f64> = subjects.iter().map(|s| s.age).collect();
        let frac = |l: u8| -> Vec<f64> {
            subjects
                .iter()
                .map(|s| s.volume(l) as f64 / s.labels.iter().filter(|&&v| v > 0).count() as f64)
                .collect()
        };
        // Ventricles and CSF grow, grey and white matter shrink, as shares of the
        // intracranial volume.
        assert!(corr(&ages, &frac(4)) > 0.7, "{}", corr(&ages, &frac(4)));
        assert!(corr(&ages, &frac(1)) > 0.7, "{}", corr(&ages, &frac(1)));
        assert!(corr(&ages, &frac(2)) < -0.5, "{}", corr(&ages, &frac(2)));
        assert!(corr(&ages, &frac(3)) < -0.3, "{}", corr(&ages, &frac(3)));
    }

    #[test]
    fn subjects_are_seeded_bounded_and_skull_stripped() {
        let a = cohort(3);
        let cfg = AgePhantomConfig {
            size: 32,
            ..Default::default()
        };
        // Subject i depends on (seed, i) only, whatever the split into threads.
        assert_eq!(cfg.generate(7, 1, 1, 1).unwrap()[0], a[1]);
        assert_ne!(a[0].t1, a[1].t1);
        for s in &a {
            assert_eq!(s.t1.len(), 32 * 32 * 32);
            assert!(s.t1.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!((20.0..=90.0).contains(&s.age));
            // Outside the intracranial volume the image is exactly zero.
            for (v, l) in s.t1.iter().zip(&s.labels) {
                if *l == 0 {
                    assert!(*v < 0.3, "background voxel {v} (partial volume only)");
                }
            }
            assert_eq!(s.t1[0], 0.0);
            for l in 1..=4 {
                assert!(s.volume(l) > 20, "label {l} nearly absent");
            }
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        for cfg in [
            AgePhantomConfig {
                size: 40,
                ..Default::default()
            },
            AgePhantomConfig {
                ages: [50.0, 40.0],
                ..Default::default()
            },
            AgePhantomConfig {
                noise: f32::NAN,
                ..Default::default()
            },
        ] {
            assert!(cfg.generate(0, 0, 1, 1).is_err());
        }
    }
}
