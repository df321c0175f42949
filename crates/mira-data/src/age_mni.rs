//! S3 subjects on real anatomy: the MNI152 template's tissue labels, warped and aged.
//!
//! Each subject resamples a cubic field of view around the template's brain (`size`³ voxels)
//! through a subject transform, output → template:
//! 1. head size and shape: per-axis scale (4 % head size, 3 % per axis);
//! 2. a smooth random deformation (three low-frequency sinusoids per axis, about 5 mm at most,
//!    Jacobian kept positive by the amplitude bound);
//! 3. ventricular expansion with age: a radial warp about the lateral ventricles' centroid that
//!    enlarges them by the same volume law as the synthetic phantom (the template counts as
//!    25 years old, the ICBM152 cohort's young adults).
//!
//! Each output voxel takes 3×3×3 template samples (partial volumes of outside, CSF, grey and
//! white matter); cortical atrophy then turns a share of grey matter into CSF where CSF or the
//! outside is near (sulci and the brain surface widen), growing with biological age. The T1
//! image is drawn from the fractions with the synthetic phantom's contrasts (grey/white
//! contrast falling with age), bias field and noise; the labels are the dominant class, CSF
//! near the ventricles' centroid labelled as ventricle.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::age_phantom::{Bias, standard_normal};
use crate::brain_phantom::item_seed;
use crate::{AgePhantomConfig, AgeSubject, BrainAnatomy, Result};

/// Age of the template, years.
const TEMPLATE_AGE: f64 = 25.0;

/// What every subject shares: the template, its field of view and derived maps.
struct Template<'a> {
    anatomy: &'a BrainAnatomy,
    /// Centre of the field of view (template voxels).
    centre: [f64; 3],
    /// Half of the field of view (template voxels).
    half: f64,
    /// CSF-or-outside fraction in a 5³ window around each template voxel.
    context: Vec<f32>,
    /// Ventricles' centroid, normalised output coordinates.
    ventricles: [f64; 3],
}

impl<'a> Template<'a> {
    fn new(anatomy: &'a BrainAnatomy) -> Self {
        let dims = anatomy.dims();
        let bbox = anatomy.bbox();
        let centre = [0, 1, 2].map(|a| 0.5 * (bbox[a].0 + bbox[a].1) as f64);
        let half = 0.6
            * (0..3)
                .map(|a| (bbox[a].1 - bbox[a].0) as f64)
                .fold(0.0, f64::max);
        let labels = anatomy.labels();
        let open: Vec<f32> = labels.iter().map(|&l| f32::from(l <= 1)).collect();
        let context = box_blur(&open, dims, 2);
        // Lateral ventricles: CSF in the central box of the brain.
        let (mut sum, mut n) = ([0.0f64; 3], 0usize);
        for (i, &l) in labels.iter().enumerate() {
            if l != 1 {
                continue;
            }
            let v = [
                i % dims[0],
                (i / dims[0]) % dims[1],
                i / (dims[0] * dims[1]),
            ];
            let u = [0, 1, 2].map(|a| (v[a] as f64 - centre[a]) / half);
            if u[0].abs() < 0.25 && u[1].abs() < 0.35 && u[2].abs() < 0.3 {
                for a in 0..3 {
                    sum[a] += u[a];
                }
                n += 1;
            }
        }
        let ventricles = if n > 0 {
            sum.map(|s| s / n as f64)
        } else {
            [0.0; 3]
        };
        Self {
            anatomy,
            centre,
            half,
            context,
            ventricles,
        }
    }

    /// Template voxel index of normalised coordinates (`None` outside the template).
    fn index(&self, u: [f64; 3]) -> Option<usize> {
        let dims = self.anatomy.dims();
        let mut idx = 0;
        let mut stride = 1;
        for a in 0..3 {
            let v = (self.centre[a] + u[a] * self.half).round();
            if v < 0.0 || v >= dims[a] as f64 {
                return None;
            }
            idx += v as usize * stride;
            stride *= dims[a];
        }
        Some(idx)
    }
}

/// Mean over a `(2r+1)³` window, clamped at the borders (separable running sums).
fn box_blur(v: &[f32], dims: [usize; 3], r: usize) -> Vec<f32> {
    let mut cur = v.to_vec();
    let strides = [1, dims[0], dims[0] * dims[1]];
    for a in 0..3 {
        let mut next = vec![0.0f32; cur.len()];
        let n = dims[a];
        for (i, out) in next.iter_mut().enumerate() {
            let pos = (i / strides[a]) % n;
            let (lo, hi) = (pos.saturating_sub(r), (pos + r).min(n - 1));
            let base = i - pos * strides[a];
            let s: f32 = (lo..=hi).map(|k| cur[base + k * strides[a]]).sum();
            *out = s / (hi - lo + 1) as f32;
        }
        cur = next;
    }
    cur
}

impl AgePhantomConfig {
    /// Subjects `first .. first + n` built on `anatomy` (a label volume such as the MNI152
    /// template); subject `i` depends only on `(seed, i)`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate_on(
        &self,
        anatomy: &BrainAnatomy,
        seed: u64,
        first: usize,
        n: usize,
        threads: usize,
    ) -> Result<Vec<AgeSubject>> {
        self.validate()?;
        let template = Template::new(anatomy);
        let threads = threads.clamp(1, 64).min(n.max(1));
        let mut out: Vec<Option<AgeSubject>> = vec![None; n];
        let per = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (k, chunk) in out.chunks_mut(per).enumerate() {
                let template = &template;
                s.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        let i = first + k * per + j;
                        *slot = Some(self.subject_on(template, item_seed(seed ^ 0x3141_A6E5, i)));
                    }
                });
            }
        });
        Ok(out.into_iter().map(|s| s.expect("generated")).collect())
    }

    fn subject_on(&self, t: &Template<'_>, seed: u64) -> AgeSubject {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = |rng: &mut StdRng| standard_normal(rng);
        let age = rng.random_range(self.ages[0]..=self.ages[1]);
        let bio = age + self.age_gap_sd * normal(&mut rng);
        let since = (bio - TEMPLATE_AGE).max(-TEMPLATE_AGE);
        let head = 1.0 + 0.04 * normal(&mut rng);
        let scale = [0; 3].map(|_| head * (1.0 + 0.03 * normal(&mut rng)));
        // Three sinusoids per axis: amplitude a, wave vector k (|k| ≤ 2π), phase.
        let waves: Vec<[f64; 5]> = (0..9)
            .map(|_| {
                let f = std::f64::consts::PI * rng.random_range(1.0..2.0);
                let d = [0; 3].map(|_| normal(&mut rng));
                let norm = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt().max(1e-9);
                [
                    0.012 * normal(&mut rng),
                    f * d[0] / norm,
                    f * d[1] / norm,
                    f * d[2] / norm,
                    rng.random_range(0.0..std::f64::consts::TAU),
                ]
            })
            .collect();
        let expand = (1.0 + 0.012 * since + 0.00025 * since * since)
            .max(0.3)
            .cbrt();
        let atrophy = (0.006 * since).clamp(0.0, 0.6);
        let wm = 0.78 - 0.0009 * (bio - 20.0).max(-20.0);
        let tissue = [0.0, 0.14, 0.47, wm];
        let bias = Bias::draw(&mut rng, self.bias);
        let gain = 1.0 + 0.05 * normal(&mut rng) as f32;
        let noise = Normal::new(0.0f32, self.noise.max(1e-9)).expect("valid sd");
        let n = self.size;
        let h = 1.0 / n as f64;
        let cv = t.ventricles;
        let (mut t1, mut labels) = (vec![0.0f32; n * n * n], vec![0u8; n * n * n]);
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let c = |i: usize| (2 * i + 1) as f64 * h - 1.0;
                    let p = [c(x), c(y), c(z)];
                    let map = |q: [f64; 3]| -> [f64; 3] {
                        let mut u = [0, 1, 2].map(|a| q[a] / scale[a]);
                        for (j, w) in waves.iter().enumerate() {
                            let s = w[0] * (w[1] * u[0] + w[2] * u[1] + w[3] * u[2] + w[4]).sin();
                            u[j % 3] += s;
                        }
                        let d = [0, 1, 2].map(|a| u[a] - cv[a]);
                        let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                        let s = 1.0 + (expand - 1.0) * (-r2 / (2.0 * 0.15 * 0.15)).exp();
                        [0, 1, 2].map(|a| cv[a] + d[a] / s)
                    };
                    let centre = map(p);
                    let mut frac = [0.0f64; 4];
                    // The map is smooth at the voxel scale: sub-samples are offsets of the
                    // mapped centre, scaled like the head.
                    for k in 0..27 {
                        let o = |m: usize, a: usize| (m as f64 - 1.0) * 2.0 * h / 3.0 / scale[a];
                        let q = [
                            centre[0] + o(k % 3, 0),
                            centre[1] + o((k / 3) % 3, 1),
                            centre[2] + o(k / 9, 2),
                        ];
                        let l = t.index(q).map_or(0, |i| t.anatomy.labels()[i]);
                        frac[l as usize] += 1.0 / 27.0;
                    }
                    let context = t.index(centre).map_or(1.0, |i| t.context[i]) as f64;
                    let moved = atrophy * frac[2] * (2.0 * context).min(1.0);
                    frac[2] -= moved;
                    frac[1] += moved;
                    let idx = (z * n + y) * n + x;
                    let top = (0..4)
                        .max_by(|&a, &b| frac[a].total_cmp(&frac[b]))
                        .expect("4");
                    let d = [0, 1, 2].map(|a| centre[a] - cv[a]);
                    let near_ventricles = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < 0.2 * 0.2;
                    labels[idx] = if top == 1 && near_ventricles {
                        4
                    } else {
                        top as u8
                    };
                    if frac[0] < 1.0 {
                        let v: f64 = (0..4).map(|k| frac[k] * tissue[k]).sum();
                        let e = if self.noise > 0.0 {
                            noise.sample(&mut rng)
                        } else {
                            0.0
                        };
                        t1[idx] = (v as f32 * bias.at(p) * gain + e).clamp(0.0, 1.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_is_a_window_mean() {
        let dims = [5, 1, 1];
        let v = [0.0, 0.0, 3.0, 0.0, 0.0];
        let b = box_blur(&v, dims, 1);
        assert_eq!(b, vec![0.0, 1.0, 1.0, 1.0, 0.0]);
    }
}
