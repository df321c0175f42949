//! Seeded phantom of 4-channel brain MR slices with a glioma, for study S1.
//!
//! A BraTS-like axial slice: scalp fat, skull, cerebrospinal fluid around a folded cortex
//! (grey matter ribbon over white matter), lateral ventricles, and a tumour made of a
//! necrotic / non-enhancing core, an enhancing rim and surrounding oedema. Each tissue has a
//! relative intensity per contrast taken from the usual MR appearance (T1: WM > GM > CSF;
//! T1c: enhancing rim bright; T2: CSF and oedema bright; FLAIR: CSF suppressed, oedema
//! bright), then partial-volume blur, a smooth multiplicative bias field, Rician noise, and a
//! per-channel robust scaling to `[0, 1]` (99.5th percentile inside the head).
//!
//! Labels follow BraTS: 0 background, 1 necrotic / non-enhancing core, 2 oedema,
//! 3 enhancing tumour.

use std::f32::consts::TAU;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::raster::{gaussian_blur, masked_quantile};
use crate::{DataError, Result, SegDataset, SegSlice};

/// Channel names of the brain MR phantom, in order.
pub const BRAIN_MR_CHANNELS: [&str; 4] = ["T1", "T1c", "T2", "FLAIR"];
/// Label names of the brain tumour phantom, index = label value.
pub const BRAIN_TUMOUR_LABELS: [&str; 4] = ["background", "core", "edema", "enhancing"];

/// Settings of the brain MR phantom. Defaults give 64×64 slices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrainPhantomConfig {
    /// Side of the square slice in pixels (16..=512).
    pub size: usize,
    /// Rician noise level relative to white matter on T1 (0..=0.5).
    pub noise: f32,
    /// Strength of the multiplicative bias field (0 = none, 1 = about ±15 %).
    pub bias: f32,
    /// Smallest and largest tumour core+rim radius, as a fraction of the brain radius.
    pub tumour_radius: [f32; 2],
}

impl Default for BrainPhantomConfig {
    fn default() -> Self {
        Self {
            size: 64,
            noise: 0.03,
            bias: 1.0,
            tumour_radius: [0.14, 0.3],
        }
    }
}

/// Tissue classes before the tumour is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tissue {
    Air,
    Scalp,
    Skull,
    Csf,
    Grey,
    White,
    Necrosis,
    Enhancing,
    Edema,
}

impl Tissue {
    /// Relative intensity on (T1, T1c, T2, FLAIR).
    pub(crate) fn contrast(self) -> [f32; 4] {
        match self {
            Tissue::Air => [0.0, 0.0, 0.0, 0.0],
            Tissue::Scalp => [0.95, 0.95, 0.55, 0.6],
            Tissue::Skull => [0.08, 0.08, 0.06, 0.05],
            Tissue::Csf => [0.18, 0.18, 1.0, 0.12],
            Tissue::Grey => [0.5, 0.52, 0.62, 0.55],
            Tissue::White => [0.72, 0.72, 0.42, 0.42],
            Tissue::Necrosis => [0.22, 0.26, 0.88, 0.45],
            Tissue::Enhancing => [0.42, 1.0, 0.62, 0.7],
            Tissue::Edema => [0.4, 0.42, 0.82, 0.9],
        }
    }
}

impl Tissue {
    /// BraTS label of the tissue.
    pub(crate) fn label(self) -> u8 {
        match self {
            Tissue::Necrosis => 1,
            Tissue::Edema => 2,
            Tissue::Enhancing => 3,
            _ => 0,
        }
    }

    /// Whether the tissue carries parenchymal texture.
    fn textured(self) -> bool {
        matches!(self, Tissue::Grey | Tissue::White | Tissue::Edema)
    }
}

/// A glioma in brain coordinates (the brain is roughly the unit disc): necrotic core,
/// enhancing rim and oedema, each with an irregular outline.
pub(crate) struct Tumour {
    radius: f32,
    centre: (f32, f32),
    harm: Vec<(f32, f32)>,
    edema_harm: Vec<(f32, f32)>,
    core_frac: f32,
    rim_frac: f32,
    edema_scale: f32,
}

impl Tumour {
    /// Draws a tumour whose core+rim radius lies in `radius` (fraction of the brain radius),
    /// centred well inside the brain.
    pub(crate) fn draw(rng: &mut StdRng, radius: [f32; 2]) -> Self {
        let tr = rng.random_range(radius[0]..=radius[1]);
        let (ang, dist) = (
            rng.random_range(0.0..TAU),
            rng.random_range(0.0..(0.62 - tr).max(0.01)),
        );
        let harm = (0..3)
            .map(|_| (rng.random_range(0.0..0.12f32), rng.random_range(0.0..TAU)))
            .collect();
        let edema_harm = (0..3)
            .map(|_| (rng.random_range(0.0..0.18f32), rng.random_range(0.0..TAU)))
            .collect();
        let core_frac = rng.random_range(0.3..0.6f32);
        let rim_frac = rng.random_range(0.65..0.85f32).max(core_frac + 0.15);
        let edema_scale = rng.random_range(1.35..2.1f32);
        Self {
            radius: tr,
            centre: (dist * ang.cos(), dist * ang.sin()),
            harm,
            edema_harm,
            core_frac,
            rim_frac,
            edema_scale,
        }
    }

    /// The tumour tissue at brain coordinates `(px, py)`, if any.
    pub(crate) fn tissue_at(&self, px: f32, py: f32) -> Option<Tissue> {
        let outline = |h: &[(f32, f32)], theta: f32| {
            1.0 + h
                .iter()
                .enumerate()
                .map(|(k, (a, p))| a * ((k as f32 + 2.0) * theta + p).cos())
                .sum::<f32>()
        };
        let (dx, dy) = (px - self.centre.0, py - self.centre.1);
        let dt = (dx * dx + dy * dy).sqrt();
        let phi = dy.atan2(dx);
        let d_core = dt / (self.radius * outline(&self.harm, phi));
        let d_edema = dt / (self.radius * self.edema_scale * outline(&self.edema_harm, phi));
        layer(d_core, d_edema, self.core_frac, self.rim_frac)
    }
}

/// The tumour tissue at normalised distances `d_core` (1 at the core+rim outline) and
/// `d_edema` (1 at the oedema outline): necrosis inside `core_frac`, enhancing rim inside
/// `rim_frac`, oedema out to the larger outline. Shared by the 2D and 3D tumours.
pub(crate) fn layer(d_core: f32, d_edema: f32, core_frac: f32, rim_frac: f32) -> Option<Tissue> {
    if d_core < core_frac {
        Some(Tissue::Necrosis)
    } else if d_core < rim_frac {
        Some(Tissue::Enhancing)
    } else if d_core < 1.0 || d_edema < 1.0 {
        Some(Tissue::Edema)
    } else {
        None
    }
}

impl BrainPhantomConfig {
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
        if !(16..=512).contains(&self.size) {
            return bad("size", "must be in 16..=512 pixels");
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return bad("noise", "must be in [0, 0.5]");
        }
        if !(0.0..=3.0).contains(&self.bias) {
            return bad("bias", "must be in [0, 3]");
        }
        let [lo, hi] = self.tumour_radius;
        if !(0.02..=0.6).contains(&lo) || !(lo..=0.6).contains(&hi) {
            return bad(
                "tumour_radius",
                "must be [lo, hi] with 0.02 <= lo <= hi <= 0.6",
            );
        }
        Ok(())
    }

    /// `n` slices; item `i` depends only on `(seed, first + i)`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate(&self, seed: u64, first: usize, n: usize) -> Result<SegDataset> {
        self.validate()?;
        let items = (first..first + n)
            .map(|i| self.slice(item_seed(seed, i)))
            .collect();
        Ok(SegDataset {
            items,
            channel_names: BRAIN_MR_CHANNELS.iter().map(|s| s.to_string()).collect(),
            label_names: BRAIN_TUMOUR_LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn slice(&self, seed: u64) -> SegSlice {
        let mut rng = StdRng::seed_from_u64(seed);
        let tissue = self.anatomy(&mut rng);
        let base: Vec<[f32; 4]> = tissue.iter().map(|t| t.contrast()).collect();
        let textured: Vec<f32> = tissue
            .iter()
            .map(|t| f32::from(u8::from(t.textured())))
            .collect();
        let head: Vec<bool> = tissue.iter().map(|t| *t != Tissue::Air).collect();
        let labels = tissue.iter().map(|t| t.label()).collect();
        self.render(&mut rng, &base, &textured, &head, labels)
    }

    /// Turns per-pixel relative intensities (T1, T1c, T2, FLAIR) into a noisy MR slice:
    /// per-channel gain, tissue texture (weight `textured`), partial-volume blur, bias field,
    /// Rician noise, robust scaling to `[0, 1]` inside `head`.
    pub(crate) fn render(
        &self,
        rng: &mut StdRng,
        base: &[[f32; 4]],
        textured: &[f32],
        head: &[bool],
        labels: Vec<u8>,
    ) -> SegSlice {
        let n = self.size;
        let bias = bias_field(rng, n, 0.15 * self.bias);
        let texture = smooth_texture(rng, n, 0.04);
        let noise = Normal::new(0.0f32, self.noise.max(1e-9)).expect("finite sigma");
        let mut image = Vec::with_capacity(4 * n * n);
        for c in 0..4 {
            let gain = 1.0 + rng.random_range(-0.05..0.05);
            let clean: Vec<f32> = base
                .iter()
                .zip(&texture)
                .zip(textured)
                .map(|((b, tex), w)| {
                    let base = b[c] * gain;
                    if *w > 0.0 {
                        base * (1.0 + tex * w)
                    } else {
                        base
                    }
                })
                .collect();
            let blurred = gaussian_blur(&clean, n, n, 0.7);
            image.extend(biased_rician_scaled(&blurred, &bias, &noise, rng, head));
        }
        SegSlice {
            image,
            labels,
            channels: 4,
            height: n,
            width: n,
        }
    }

    /// Tissue map of one slice.
    fn anatomy(&self, rng: &mut StdRng) -> Vec<Tissue> {
        let n = self.size;
        let (ax, ay) = (
            rng.random_range(0.78..0.9f32),
            rng.random_range(0.66..0.8f32),
        );
        let rot = rng.random_range(-0.15..0.15f32);
        let (cx, cy) = (
            rng.random_range(-0.04..0.04f32),
            rng.random_range(-0.04..0.04f32),
        );
        let gyri = rng.random_range(7..12) as f32;
        let (phase, fold) = (rng.random_range(0.0..TAU), rng.random_range(0.03..0.06f32));
        let vent = rng.random_range(0.6..1.4f32);
        let tumour = Tumour::draw(rng, self.tumour_radius);
        let (cr, sr) = (rot.cos(), rot.sin());
        let mut out = Vec::with_capacity(n * n);
        for y in 0..n {
            for x in 0..n {
                let u = 2.0 * (x as f32 + 0.5) / n as f32 - 1.0 - cx;
                let v = 2.0 * (y as f32 + 0.5) / n as f32 - 1.0 - cy;
                let (ur, vr) = (cr * u + sr * v, -sr * u + cr * v);
                let (bx, by) = (ur / ax, vr / ay); // unit disc = head outline
                let rho = (bx * bx + by * by).sqrt();
                let theta = by.atan2(bx);
                let t = if rho > 1.0 {
                    Tissue::Air
                } else if rho > 0.93 {
                    Tissue::Scalp
                } else if rho > 0.86 {
                    Tissue::Skull
                } else if rho > 0.82 {
                    Tissue::Csf
                } else {
                    // Brain: coordinates relative to the brain radius 0.82.
                    let (px, py) = (bx / 0.82, by / 0.82);
                    let cortex = 0.8 + fold * (gyri * theta + phase).sin();
                    let ventricle = |sx: f32| {
                        let (qx, qy) = (
                            (px - sx * 0.13) / (0.08 * vent),
                            (py + 0.02) / (0.32 * vent),
                        );
                        qx * qx + qy * qy < 1.0
                    };
                    if let Some(t) = tumour.tissue_at(px, py) {
                        t
                    } else if ventricle(1.0) || ventricle(-1.0) {
                        Tissue::Csf
                    } else if rho / 0.82 > cortex {
                        Tissue::Grey
                    } else {
                        Tissue::White
                    }
                };
                out.push(t);
            }
        }
        out
    }
}

/// `blurred · bias` with Rician noise (the magnitude of a complex Gaussian sample around it),
/// scaled to `[0, 1]` by its 99.5th percentile inside `mask`: the last steps of every brain
/// phantom image, 2D or 3D.
pub(crate) fn biased_rician_scaled(
    blurred: &[f32],
    bias: &[f32],
    noise: &Normal<f32>,
    rng: &mut StdRng,
    mask: &[bool],
) -> Vec<f32> {
    let noisy: Vec<f32> = blurred
        .iter()
        .zip(bias)
        .map(|(v, b)| {
            let (re, im) = (v * b + noise.sample(rng), noise.sample(rng));
            (re * re + im * im).sqrt()
        })
        .collect();
    let scale = masked_quantile(&noisy, mask, 0.995).max(1e-6);
    noisy.iter().map(|v| (v / scale).clamp(0.0, 1.0)).collect()
}

/// Seed of item `i`: a SplitMix64 step, so neighbouring items get unrelated streams.
pub(crate) fn item_seed(seed: u64, i: usize) -> u64 {
    let mut z = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `exp(quadratic in u, v)` with coefficients up to `strength`: a smooth coil-like bias field.
fn bias_field(rng: &mut StdRng, n: usize, strength: f32) -> Vec<f32> {
    let c: Vec<f32> = (0..5)
        .map(|_| rng.random_range(-1.0..1.0f32) * strength)
        .collect();
    let mut out = Vec::with_capacity(n * n);
    for y in 0..n {
        for x in 0..n {
            let u = 2.0 * x as f32 / n as f32 - 1.0;
            let v = 2.0 * y as f32 / n as f32 - 1.0;
            out.push(
                (c[0] * u
                    + c[1] * v
                    + c[2] * u * v
                    + c[3] * (u * u - v * v)
                    + c[4] * (u * u + v * v))
                    .exp(),
            );
        }
    }
    out
}

/// A few random low-frequency waves: tissue texture of relative amplitude about `amp`.
fn smooth_texture(rng: &mut StdRng, n: usize, amp: f32) -> Vec<f32> {
    let waves: Vec<[f32; 4]> = (0..6)
        .map(|_| {
            [
                rng.random_range(2.0..9.0f32),
                rng.random_range(0.0..TAU),
                rng.random_range(0.0..TAU),
                amp / 3.0,
            ]
        })
        .collect();
    let mut out = Vec::with_capacity(n * n);
    for y in 0..n {
        for x in 0..n {
            let (u, v) = (x as f32 / n as f32, y as f32 / n as f32);
            out.push(
                waves
                    .iter()
                    .map(|[f, dir, p, a]| a * (f * (u * dir.cos() + v * dir.sin()) * TAU + p).sin())
                    .sum(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_where(s: &SegSlice, c: usize, label: u8) -> f32 {
        let v: Vec<f32> = s
            .channel(c)
            .iter()
            .zip(&s.labels)
            .filter(|(_, l)| **l == label)
            .map(|(v, _)| *v)
            .collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    }

    #[test]
    fn deterministic_per_item_and_valid() {
        let cfg = BrainPhantomConfig::default();
        let a = cfg.generate(7, 0, 4).unwrap();
        let b = cfg.generate(7, 2, 2).unwrap();
        assert_eq!(a.items[2], b.items[0]);
        assert_ne!(a.items[0], a.items[1]);
        a.validate().unwrap();
        assert_ne!(cfg.generate(8, 0, 1).unwrap().items[0], a.items[0]);
    }

    #[test]
    fn every_slice_has_all_tumour_labels_and_mr_contrasts() {
        let ds = BrainPhantomConfig::default().generate(1, 0, 12).unwrap();
        for s in &ds.items {
            for l in 1..4u8 {
                assert!(s.labels.contains(&l), "label {l} missing");
            }
            // Enhancing rim is brightest on T1c (1) relative to T1 (0).
            assert!(mean_where(s, 1, 3) > mean_where(s, 0, 3) + 0.2);
            // Oedema is brighter than the core on FLAIR (3), and bright on T2 (2).
            assert!(mean_where(s, 3, 2) > mean_where(s, 3, 1));
            assert!(mean_where(s, 2, 2) > mean_where(s, 0, 2));
            assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn bad_config_names_the_field() {
        let cfg = BrainPhantomConfig {
            size: 4,
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("`size`"));
        let cfg = BrainPhantomConfig {
            tumour_radius: [0.4, 0.1],
            ..Default::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("tumour_radius")
        );
    }
}
