//! Seeded phantom of 2D axial abdominal CT slices in Hounsfield units, for study S2.
//!
//! A slice at the level of the kidneys, liver and spleen, in the radiological convention
//! (patient's right on the image's left, anterior up): air outside an elliptical body with a
//! flattened back; subcutaneous fat, an abdominal muscle wall and a bowel / visceral-fat
//! interior; a vertebral body with cortical rim and posterior elements between paraspinal
//! muscles; the aorta and vena cava; and five labelled organs with shapes drawn from radial
//! Fourier perturbations of ellipses, positions and sizes varied per case: liver (1), spleen
//! (2), right kidney (3), left kidney (4; cortex brighter than the medulla and a hilum facing
//! the spine) and stomach (5; wall, fluid and sometimes an air cap). Values in HU of a portal
//! venous phase; partial volume from 2×2 supersampling, then Gaussian noise.
//!
//! The model sees the slice through a CT window (`window = [level, width]`, abdomen
//! `[40, 400]` by default) mapped to `[0, 1]`.

use std::f32::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::brain_phantom::item_seed;
use crate::raster::{gaussian_blur, texture};
use crate::{DataError, Result, SegDataset, SegSlice};

/// Label names of the abdominal phantom, index = label value.
pub const ABDOMEN_LABELS: [&str; 6] = [
    "background",
    "liver",
    "spleen",
    "kidney_r",
    "kidney_l",
    "stomach",
];

/// Settings of the abdominal CT phantom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbdomenPhantomConfig {
    /// Side of the square slice in pixels (64..=512, default 128).
    pub size: usize,
    /// Pixel spacing in mm for the default 128 px field of view (scaled with `size` so the
    /// field of view stays 128 × `pixel_mm`).
    pub pixel_mm: f32,
    /// Gaussian noise in HU.
    pub noise_hu: f32,
    /// CT window `[level, width]` in HU, mapped to `[0, 1]`.
    pub window: [f32; 2],
}

impl Default for AbdomenPhantomConfig {
    fn default() -> Self {
        Self {
            size: 128,
            pixel_mm: 2.8,
            noise_hu: 12.0,
            window: [40.0, 400.0],
        }
    }
}

/// One slice in HU with its labels (row-major, `size × size`).
#[derive(Debug, Clone, PartialEq)]
pub struct CtSlice {
    /// Side in pixels.
    pub size: usize,
    /// Attenuation in HU.
    pub hu: Vec<f32>,
    /// Labels, see [`ABDOMEN_LABELS`].
    pub labels: Vec<u8>,
}

/// An organ outline: an ellipse at `centre` with half-axes `axes` turned by `angle`, its
/// radius modulated by `1 + Σ a_k cos(k φ + p_k)` for k = 2, 3, 4.
#[derive(Debug, Clone, Copy)]
struct Blob {
    centre: [f32; 2],
    axes: [f32; 2],
    angle: f32,
    harmonics: [(f32, f32); 3],
}

impl Blob {
    fn draw(rng: &mut StdRng, centre: [f32; 2], axes: [f32; 2], angle: f32, wobble: f32) -> Self {
        let mut harmonics = [(0.0, 0.0); 3];
        for h in &mut harmonics {
            *h = (
                rng.random_range(-wobble..=wobble),
                rng.random_range(0.0..TAU),
            );
        }
        Self {
            centre,
            axes,
            angle,
            harmonics,
        }
    }

    /// Normalised radius at `(x, y)`: < 1 inside.
    fn rho(&self, x: f32, y: f32) -> f32 {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        let u = (c * dx + s * dy) / self.axes[0];
        let v = (-s * dx + c * dy) / self.axes[1];
        let phi = v.atan2(u);
        let m: f32 = 1.0
            + self
                .harmonics
                .iter()
                .enumerate()
                .map(|(k, (a, p))| a * ((k as f32 + 2.0) * phi + p).cos())
                .sum::<f32>();
        (u * u + v * v).sqrt() / m.max(0.3)
    }
}

impl AbdomenPhantomConfig {
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
        if !(self.pixel_mm.is_finite() && self.pixel_mm > 0.1 && self.pixel_mm < 20.0) {
            return bad("pixel_mm", "must be in (0.1, 20) mm");
        }
        if !(self.noise_hu.is_finite() && (0.0..=200.0).contains(&self.noise_hu)) {
            return bad("noise_hu", "must be in 0..=200 HU");
        }
        let [level, width] = self.window;
        if !(level.is_finite() && width.is_finite() && width >= 1.0) {
            return bad("window", "level must be finite and width >= 1 HU");
        }
        Ok(())
    }

    /// Pixel spacing of the generated slices in mm.
    pub fn spacing_mm(&self) -> f32 {
        self.pixel_mm * 128.0 / self.size as f32
    }

    /// Maps HU through the window to `[0, 1]`.
    pub fn windowed(&self, hu: f32) -> f32 {
        let [level, width] = self.window;
        ((hu - (level - width / 2.0)) / width).clamp(0.0, 1.0)
    }

    /// Slices `first .. first + n` of the set of `seed` in HU.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate_hu(&self, seed: u64, first: usize, n: usize) -> Result<Vec<CtSlice>> {
        self.validate()?;
        Ok((first..first + n)
            .map(|i| self.render(item_seed(seed ^ 0xABD0_0C70, i)))
            .collect())
    }

    /// Slices `first .. first + n` of the set of `seed`, windowed to `[0, 1]`, as a one-channel
    /// segmentation dataset with [`ABDOMEN_LABELS`].
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate(&self, seed: u64, first: usize, n: usize) -> Result<SegDataset> {
        let items = self
            .generate_hu(seed, first, n)?
            .into_iter()
            .map(|s| SegSlice {
                image: s.hu.iter().map(|&v| self.windowed(v)).collect(),
                labels: s.labels,
                channels: 1,
                height: s.size,
                width: s.size,
            })
            .collect();
        Ok(SegDataset {
            items,
            channel_names: vec!["CT".into()],
            label_names: ABDOMEN_LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn render(&self, seed: u64) -> CtSlice {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 1.0).expect("unit normal");
        let g = |rng: &mut StdRng, sd: f32| sd * normal.sample(rng).clamp(-2.5, 2.5);
        let n = self.size;
        let k = n as f32 / 128.0;
        // Geometry in 128-px units, scaled by k at rendering.
        let cx = 64.0 + g(&mut rng, 2.0);
        let cy = 66.0 + g(&mut rng, 2.0);
        let body = [50.0 + g(&mut rng, 3.0), 38.0 + g(&mut rng, 2.5)];
        let fat = 3.0 + rng.random_range(0.0..5.0f32);
        let spine = [cx + g(&mut rng, 0.8), cy + 13.0 + g(&mut rng, 1.5)];
        // (centre, centre sd, half-axes, axes sd, angle, angle sd, wobble)
        let mut organ =
            |c: [f32; 2], c_sd: f32, ax: [f32; 2], ax_sd: f32, a: f32, a_sd: f32, w: f32| {
                let centre = [c[0] + g(&mut rng, c_sd), c[1] + g(&mut rng, c_sd)];
                let axes = [ax[0] + g(&mut rng, ax_sd), ax[1] + g(&mut rng, ax_sd * 1.3)];
                let angle = a + g(&mut rng, a_sd);
                Blob::draw(&mut rng, centre, axes, angle, w)
            };
        let liver = organ(
            [cx - 24.0, cy - 6.0],
            2.5,
            [19.0, 24.0],
            1.8,
            0.35,
            0.12,
            0.08,
        );
        let spleen = organ(
            [cx + 30.0, cy + 8.0],
            2.2,
            [7.0, 13.0],
            1.0,
            -0.5,
            0.15,
            0.1,
        );
        let kidney_r = organ(
            [spine[0] - 20.0, spine[1] - 3.0],
            1.7,
            [6.5, 10.0],
            0.6,
            -0.45,
            0.12,
            0.05,
        );
        let kidney_l = organ(
            [spine[0] + 20.0, spine[1] - 3.0],
            1.7,
            [6.5, 10.0],
            0.6,
            0.45,
            0.12,
            0.05,
        );
        let stomach = organ([cx + 14.0, cy - 20.0], 2.7, [12.0, 7.0], 1.5, 0.3, 0.2, 0.1);
        let gas_cap = rng.random_bool(0.6);
        let hu_liver = 100.0 + g(&mut rng, 10.0);
        let hu_spleen = 110.0 + g(&mut rng, 10.0);
        let hu_cortex = 160.0 + g(&mut rng, 15.0);
        let bowel = texture(2 * n, 5.0 * k, &mut rng);
        // Supersampled rendering: label by the sub-pixel at the pixel centre's quadrant.
        let m = 2 * n;
        let mut hu = vec![0.0f32; m * m];
        let mut fine_labels = vec![0u8; m * m];
        for fy in 0..m {
            for fx in 0..m {
                let x = (fx as f32 + 0.5) / 2.0 / k;
                let y = (fy as f32 + 0.5) / 2.0 / k;
                let (label, v) = tissue(
                    x,
                    y,
                    cx,
                    cy,
                    body,
                    fat,
                    spine,
                    &liver,
                    &spleen,
                    &kidney_r,
                    &kidney_l,
                    &stomach,
                    gas_cap,
                    [hu_liver, hu_spleen, hu_cortex],
                    bowel[fy * m + fx],
                );
                hu[fy * m + fx] = v;
                fine_labels[fy * m + fx] = label;
            }
        }
        let hu = gaussian_blur(&hu, m, m, 0.6);
        let mut out = vec![0.0f32; n * n];
        let mut labels = vec![0u8; n * n];
        for y in 0..n {
            for x in 0..n {
                let idx = |dy: usize, dx: usize| (2 * y + dy) * m + 2 * x + dx;
                out[y * n + x] = (hu[idx(0, 0)] + hu[idx(0, 1)] + hu[idx(1, 0)] + hu[idx(1, 1)])
                    / 4.0
                    + self.noise_hu * normal.sample(&mut rng);
                labels[y * n + x] = fine_labels[idx(1, 1)];
            }
        }
        CtSlice {
            size: n,
            hu: out,
            labels,
        }
    }
}

/// Label and HU at `(x, y)` (128-px units).
#[allow(clippy::too_many_arguments)]
fn tissue(
    x: f32,
    y: f32,
    cx: f32,
    cy: f32,
    body: [f32; 2],
    fat: f32,
    spine: [f32; 2],
    liver: &Blob,
    spleen: &Blob,
    kidney_r: &Blob,
    kidney_l: &Blob,
    stomach: &Blob,
    gas_cap: bool,
    [hu_liver, hu_spleen, hu_cortex]: [f32; 3],
    bowel: f32,
) -> (u8, f32) {
    // Body: an ellipse, its posterior third flattened.
    let (dx, dy) = (x - cx, y - cy);
    let yb = if dy > 0.0 { dy * 1.25 } else { dy };
    let r_body = ((dx / body[0]).powi(2) + (yb / body[1]).powi(2)).sqrt();
    if r_body >= 1.0 {
        return (0, -1000.0);
    }
    let depth = (1.0 - r_body) * body[1];
    if depth < fat {
        return (0, -100.0 + 10.0 * bowel);
    }
    if depth < fat + 2.5 {
        return (0, 50.0);
    }
    // Spine: vertebral body, cortical rim, spinous process; paraspinal muscles.
    let (sx, sy) = (x - spine[0], y - spine[1]);
    let r_vert = (sx * sx + sy * sy).sqrt();
    if r_vert < 8.0 {
        return (
            0,
            if r_vert > 6.8 {
                700.0
            } else {
                250.0 + 30.0 * bowel
            },
        );
    }
    if sx.abs() < 2.0 && sy > 6.0 && sy < 20.0 {
        return (0, 500.0);
    }
    if sy > 4.0 && ((sx.abs() - 9.0) / 6.5).powi(2) + ((sy - 12.0) / 7.0).powi(2) < 1.0 {
        return (0, 55.0);
    }
    // Vessels anterior to the spine: aorta (left of midline on the patient), vena cava.
    let vessel = |vx: f32, vy: f32, r: f32| (x - vx).powi(2) + (y - vy).powi(2) < r * r;
    if vessel(spine[0] + 4.0, spine[1] - 11.0, 3.2) {
        return (0, 170.0);
    }
    if vessel(spine[0] - 6.0, spine[1] - 11.0, 3.6) {
        return (0, 120.0);
    }
    let kidney_hu = |b: &Blob, side: f32| {
        let rho = b.rho(x, y);
        // The hilum faces the spine: medial pixels near the centre are the renal pelvis.
        let medial = (x - b.centre[0]) * -side > 0.0;
        if rho < 0.45 && medial {
            10.0
        } else if rho < 0.7 {
            hu_cortex - 60.0
        } else {
            hu_cortex
        }
    };
    if kidney_r.rho(x, y) < 1.0 {
        return (3, kidney_hu(kidney_r, -1.0));
    }
    if kidney_l.rho(x, y) < 1.0 {
        return (4, kidney_hu(kidney_l, 1.0));
    }
    if liver.rho(x, y) < 1.0 {
        // A few darker vessels inside the liver.
        let v = ((x * 0.37).sin() * (y * 0.41).cos() * PI).abs();
        return (
            1,
            if v < 0.12 {
                hu_liver + 40.0
            } else {
                hu_liver + 6.0 * bowel
            },
        );
    }
    if spleen.rho(x, y) < 1.0 {
        return (2, hu_spleen + 5.0 * bowel);
    }
    let rs = stomach.rho(x, y);
    if rs < 1.0 {
        let content = if gas_cap && y < stomach.centre[1] - 0.3 * stomach.axes[1] {
            -900.0
        } else {
            15.0
        };
        return (5, if rs > 0.8 { 60.0 } else { content });
    }
    // Bowel and visceral fat.
    let hu = if bowel > 0.4 {
        30.0 + 15.0 * bowel
    } else if bowel < -1.5 {
        -700.0
    } else {
        -90.0 + 20.0 * bowel
    };
    (0, hu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organs_are_present_plausible_and_seeded() {
        let cfg = AbdomenPhantomConfig::default();
        let a = cfg.generate_hu(7, 0, 4).unwrap();
        let b = cfg.generate_hu(7, 2, 2).unwrap();
        assert_eq!(a[2], b[0], "item i depends only on (seed, i)");
        assert_ne!(a[0].hu, a[1].hu);
        for s in &a {
            let count = |l: u8| s.labels.iter().filter(|&&v| v == l).count();
            // Liver is the largest organ; every organ is present with a plausible area
            // (128 px at 2.8 mm: liver ~ 1100-1900 px, kidney ~ 100-250 px).
            let (liver, spleen, kr, kl, st) = (count(1), count(2), count(3), count(4), count(5));
            assert!((800..2600).contains(&liver), "liver {liver}");
            for (name, c) in [
                ("spleen", spleen),
                ("kidney_r", kr),
                ("kidney_l", kl),
                ("stomach", st),
            ] {
                assert!((60..900).contains(&c), "{name} {c}");
                assert!(c < liver, "{name} larger than the liver");
            }
            // Air at the corner, soft tissue in the liver.
            assert!(s.hu[0] < -900.0);
            let mean_hu = |l: u8| {
                let (sum, n) =
                    s.hu.iter()
                        .zip(&s.labels)
                        .filter(|(_, v)| **v == l)
                        .fold((0.0f64, 0usize), |(a, n), (h, _)| (a + *h as f64, n + 1));
                sum / n as f64
            };
            assert!((60.0..140.0).contains(&mean_hu(1)), "liver {}", mean_hu(1));
            assert!(mean_hu(3) > 60.0, "kidney enhances");
        }
    }

    #[test]
    fn window_maps_to_unit_range_and_config_is_checked() {
        let cfg = AbdomenPhantomConfig::default();
        assert_eq!(cfg.windowed(-160.0), 0.0);
        assert_eq!(cfg.windowed(240.0), 1.0);
        assert!((cfg.windowed(40.0) - 0.5).abs() < 1e-6);
        let d = cfg.generate(1, 0, 2).unwrap();
        assert_eq!(d.n_labels(), 6);
        for s in &d.items {
            s.validate(6).unwrap();
        }
        for bad in [
            AbdomenPhantomConfig {
                size: 32,
                ..cfg.clone()
            },
            AbdomenPhantomConfig {
                pixel_mm: f32::NAN,
                ..cfg.clone()
            },
            AbdomenPhantomConfig {
                window: [40.0, 0.0],
                ..cfg.clone()
            },
        ] {
            assert!(bad.validate().is_err());
        }
        assert!((AbdomenPhantomConfig { size: 256, ..cfg }.spacing_mm() - 1.4).abs() < 1e-6);
    }
}
