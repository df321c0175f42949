//! The corruption families, their severities 1–5, and seeded draws.
//!
//! A family at a severity fixes a parameter range; a draw picks the parameters (and the noise
//! seed) from a generator, so one (family, severity, seed) gives one corrupted image. The
//! tables below are the documentation (docs/corruptions.md repeats them); they follow TorchIO's
//! transforms where one exists and say where they differ.

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use burn::prelude::*;

use crate::{CorruptError, Result, intensity, kspace, resolution};

/// A family of corruptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// MR rigid motion: k-space in 3 segments along the last axis, 2 of them acquired after a
    /// rotation of up to 0.5, 1, 2, 3, 4 degrees about each axis that turns (2D: in plane)
    /// and a translation of up to as many voxels per axis (TorchIO `RandomMotion` with
    /// `num_transforms = 2`).
    Motion,
    /// MR ghosting: every n-th plane (n in 4..=10) along a random axis scaled by 1 − s,
    /// s = 0.1, 0.2, 0.3, 0.5, 0.7 (TorchIO `RandomGhosting`; its default s is 0.5–1).
    Ghosting,
    /// MR spike: one k-space spike at a random frequency of intensity 0.02, 0.05, 0.1, 0.2, 0.4
    /// of the spectrum's maximum (TorchIO `RandomSpike`'s default, 1–3, is beyond severity 5).
    Spike,
    /// MR bias field: exp of a cubic polynomial with coefficients up to 0.05, 0.1, 0.15, 0.2,
    /// 0.3 (TorchIO `RandomBiasField`; its default 0.5 saturates a [0, 1] image and is beyond
    /// severity 5).
    Bias,
    /// MR Rician noise of σ 0.01, 0.02, 0.03, 0.05, 0.08 model units.
    Rician,
    /// Gaussian blur of σ 0.5, 0.75, 1, 1.5, 2 voxels (TorchIO `RandomBlur`, in voxels).
    Blur,
    /// Gamma with |log γ| 0.1, 0.2, 0.3, 0.4, 0.5, random sign (TorchIO `RandomGamma`, default
    /// ±0.3).
    Gamma,
    /// MR Gibbs ringing: k-space kept to the central 80, 60, 45, 35, 25 % of each axis.
    Gibbs,
    /// Thick slices along a random spatial axis: factor 1.5, 2, 3, 4, 6 (TorchIO
    /// `RandomAnisotropy`, linear).
    Anisotropy,
    /// CT quantum noise of σ 5, 10, 20, 30, 50 HU (needs the window width).
    CtNoise,
    /// CT window centre shifted by 10, 20, 40, 60, 100 HU, random sign (needs the width).
    WindowShift,
    /// X-ray contrast scaled by 0.9, 0.8, 0.7, 0.6, 0.5 or its inverse, at random.
    Contrast,
    /// Gaussian noise of σ 0.01, 0.02, 0.03, 0.05, 0.08 model units (X-ray, any image).
    Noise,
}

/// A drawn corruption: a family's parameters, ready to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Corruption {
    Motion {
        shifts: Vec<[f32; 3]>,
        /// Degrees about the D, H and W axes per segment (absent in older draws: none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rotations: Vec<[f32; 3]>,
    },
    Ghosting {
        axis: usize,
        num_ghosts: usize,
        intensity: f32,
    },
    Spike {
        at: [i64; 3],
        intensity: f32,
    },
    Bias {
        magnitude: f32,
        seed: u64,
    },
    Rician {
        sigma: f32,
        seed: u64,
    },
    Blur {
        sigma: f32,
    },
    Gamma {
        log_gamma: f32,
    },
    Gibbs {
        keep: f32,
    },
    Anisotropy {
        axis: usize,
        factor: f32,
    },
    /// σ in model units (HU / width).
    CtNoise {
        sigma: f32,
        seed: u64,
    },
    /// Shift in model units (HU / width).
    WindowShift {
        shift: f32,
    },
    Contrast {
        factor: f32,
    },
    Noise {
        sigma: f32,
        seed: u64,
    },
}

/// The axes a rotation can turn about for images of spatial size `spatial`: those whose two
/// other axes are longer than 1 (a 2D image: D alone, the in-plane rotation).
pub(crate) fn rotation_axes(spatial: [usize; 3]) -> Vec<usize> {
    (0..3)
        .filter(|&i| (0..3).filter(|&j| j != i).all(|j| spatial[j] > 1))
        .collect()
}

/// The value of a severity 1..=5 in a table of five.
fn at(table: [f32; 5], severity: u8) -> f32 {
    table[usize::from(severity.clamp(1, 5)) - 1]
}

fn sign(rng: &mut StdRng) -> f32 {
    if rng.random_bool(0.5) { 1.0 } else { -1.0 }
}

impl Family {
    /// The family's parameter at each severity 1..=5 (the docs' table: its `Family` variant
    /// says what the value is), the one source of [`Family::draw`] and [`Family::bounds`].
    pub(crate) fn levels(self) -> [f32; 5] {
        match self {
            Family::Motion => [0.5, 1.0, 2.0, 3.0, 4.0],
            Family::Ghosting => [0.1, 0.2, 0.3, 0.5, 0.7],
            Family::Spike => [0.02, 0.05, 0.1, 0.2, 0.4],
            Family::Bias => [0.05, 0.1, 0.15, 0.2, 0.3],
            Family::Rician => [0.01, 0.02, 0.03, 0.05, 0.08],
            Family::Blur => [0.5, 0.75, 1.0, 1.5, 2.0],
            Family::Gamma => [0.1, 0.2, 0.3, 0.4, 0.5],
            Family::Gibbs => [0.8, 0.6, 0.45, 0.35, 0.25],
            Family::Anisotropy => [1.5, 2.0, 3.0, 4.0, 6.0],
            Family::CtNoise => [5.0, 10.0, 20.0, 30.0, 50.0],
            Family::WindowShift => [10.0, 20.0, 40.0, 60.0, 100.0],
            Family::Contrast => [0.9, 0.8, 0.7, 0.6, 0.5],
            Family::Noise => [0.01, 0.02, 0.03, 0.05, 0.08],
        }
    }

    /// The family's parameter at `severity` (clamped to 1..=5).
    pub(crate) fn level(self, severity: u8) -> f32 {
        at(self.levels(), severity)
    }

    /// The family's name as experiment files write it (`ct_noise`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Motion => "motion",
            Family::Ghosting => "ghosting",
            Family::Spike => "spike",
            Family::Bias => "bias",
            Family::Rician => "rician",
            Family::Blur => "blur",
            Family::Gamma => "gamma",
            Family::Gibbs => "gibbs",
            Family::Anisotropy => "anisotropy",
            Family::CtNoise => "ct_noise",
            Family::WindowShift => "window_shift",
            Family::Contrast => "contrast",
            Family::Noise => "noise",
        }
    }

    /// Every family, in the order of the docs.
    pub const ALL: [Family; 13] = [
        Family::Motion,
        Family::Ghosting,
        Family::Spike,
        Family::Bias,
        Family::Rician,
        Family::Blur,
        Family::Gamma,
        Family::Gibbs,
        Family::Anisotropy,
        Family::CtNoise,
        Family::WindowShift,
        Family::Contrast,
        Family::Noise,
    ];

    /// A draw of this family at `severity` (1..=5) for images of spatial size `spatial`
    /// (`[D, H, W]`, D = 1 for 2D); `hu_per_unit` is the CT window's width (HU per model unit),
    /// needed by the CT families.
    ///
    /// # Errors
    /// A severity outside 1..=5; a CT family without a window width.
    pub fn draw(
        self,
        severity: u8,
        spatial: [usize; 3],
        hu_per_unit: Option<f32>,
        rng: &mut StdRng,
    ) -> Result<Corruption> {
        if !(1..=5).contains(&severity) {
            return Err(CorruptError::Invalid(format!(
                "severity {severity} is not in 1..=5"
            )));
        }
        let axes: Vec<usize> = (0..3).filter(|&a| spatial[a] > 1).collect();
        let pick_axis = |rng: &mut StdRng| match axes.len() {
            0 => 4,
            n => 2 + axes[rng.random_range(0..n)],
        };
        let seed = rng.random::<u64>();
        let hu = |what: &str| {
            hu_per_unit.filter(|w| *w > 0.0).ok_or_else(|| {
                CorruptError::Invalid(format!("{what} is in HU: it needs the CT window's width"))
            })
        };
        Ok(match self {
            Family::Motion => {
                let t = self.level(severity);
                let mut shifts = vec![[0.0f32; 3]];
                for _ in 0..2 {
                    let mut s = [0.0f32; 3];
                    for &a in &axes {
                        s[a] = rng.random_range(-t..=t);
                    }
                    shifts.push(s);
                }
                // Drawn after the shifts, so the shifts are those translation-only draws had.
                let mut rotations = vec![[0.0f32; 3]];
                for _ in 0..2 {
                    let mut r = [0.0f32; 3];
                    for a in rotation_axes(spatial) {
                        r[a] = rng.random_range(-t..=t);
                    }
                    rotations.push(r);
                }
                Corruption::Motion { shifts, rotations }
            }
            Family::Ghosting => Corruption::Ghosting {
                axis: pick_axis(rng),
                num_ghosts: rng.random_range(4..=10),
                intensity: self.level(severity),
            },
            Family::Spike => {
                let mut f = [0i64; 3];
                for &a in &axes {
                    let half = (spatial[a] / 2) as i64;
                    f[a] = rng.random_range(-half..=half.max(1) - 1);
                }
                Corruption::Spike {
                    at: f,
                    intensity: self.level(severity),
                }
            }
            Family::Bias => Corruption::Bias {
                magnitude: self.level(severity),
                seed,
            },
            Family::Rician => Corruption::Rician {
                sigma: self.level(severity),
                seed,
            },
            Family::Blur => Corruption::Blur {
                sigma: self.level(severity),
            },
            Family::Gamma => Corruption::Gamma {
                log_gamma: sign(rng) * self.level(severity),
            },
            Family::Gibbs => Corruption::Gibbs {
                keep: self.level(severity),
            },
            Family::Anisotropy => Corruption::Anisotropy {
                axis: pick_axis(rng),
                factor: self.level(severity),
            },
            Family::CtNoise => Corruption::CtNoise {
                sigma: self.level(severity) / hu("ct_noise")?,
                seed,
            },
            Family::WindowShift => Corruption::WindowShift {
                shift: sign(rng) * self.level(severity) / hu("window_shift")?,
            },
            Family::Contrast => {
                let c = self.level(severity);
                Corruption::Contrast {
                    factor: if rng.random_bool(0.5) { c } else { 1.0 / c },
                }
            }
            Family::Noise => Corruption::Noise {
                sigma: self.level(severity),
                seed,
            },
        })
    }
}

impl Corruption {
    /// The corrupted images `[B, C, D, H, W]` (model units in [0, 1], clipped back to it: what a
    /// model fed normalised images sees; a batch shares the draw, noise differs per voxel).
    pub fn apply(&self, x: Tensor<5>) -> Tensor<5> {
        self.apply_unclipped(x).clamp(0.0, 1.0)
    }

    /// The corruption without the final clip: for file values on the normalisation's scale
    /// (`(v − lo) / (hi − lo)`, beyond [0, 1] outside the range), corrupted before the
    /// normalisation clips them, where scanners corrupt them.
    pub fn apply_unclipped(&self, x: Tensor<5>) -> Tensor<5> {
        let rng = |seed: u64| StdRng::seed_from_u64(seed);
        match self {
            Corruption::Motion { shifts, rotations } => kspace::motion(x, shifts, rotations),
            Corruption::Ghosting {
                axis,
                num_ghosts,
                intensity,
            } => kspace::ghosting(x, *axis, *num_ghosts, *intensity),
            Corruption::Spike { at, intensity } => kspace::spike(x, *at, *intensity),
            Corruption::Bias { magnitude, seed } => {
                intensity::bias_field(x, *magnitude, 3, &mut rng(*seed))
            }
            Corruption::Rician { sigma, seed } => intensity::rician(x, *sigma, &mut rng(*seed)),
            Corruption::Blur { sigma } => resolution::blur(x, *sigma),
            Corruption::Gamma { log_gamma } => intensity::gamma(x, *log_gamma),
            Corruption::Gibbs { keep } => kspace::gibbs(x, *keep),
            Corruption::Anisotropy { axis, factor } => resolution::anisotropy(x, *axis, *factor),
            Corruption::CtNoise { sigma, seed } | Corruption::Noise { sigma, seed } => {
                intensity::gaussian_noise(x, *sigma, &mut rng(*seed))
            }
            Corruption::WindowShift { shift } => intensity::window_shift(x, *shift),
            Corruption::Contrast { factor } => intensity::contrast(x, *factor),
        }
    }
}
