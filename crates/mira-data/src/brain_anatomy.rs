//! S1 slices on real anatomy: the brain tumour phantom drawn into axial slices of a tissue
//! label volume such as the MNI ICBM152 template (0 background, 1 CSF, 2 grey, 3 white matter)
//! with its T1 image.
//!
//! Each slice picks an axial level through the brain (the 36–64 % band of its height, where
//! the lateral ventricles are), a small in-plane rotation, scale and shift, and supersamples the
//! volume 3×3 per output pixel, so partial volume comes from the anatomy itself. T1 and T1c
//! follow the template's T1 intensities (normalised to white matter); T2 and FLAIR mix the
//! tissue contrasts by the class fractions. The tumour (same model as the synthetic phantom)
//! replaces tissue inside the brain mask, in brain coordinates (centroid and equivalent radius
//! of the slice's brain). Noise, bias field and scaling are those of the synthetic phantom.
//! Images are skull-stripped, as BraTS images are.

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::brain_phantom::{Tissue, Tumour, item_seed};
use crate::{
    BRAIN_MR_CHANNELS, BRAIN_TUMOUR_LABELS, BrainPhantomConfig, DataError, Result, SegDataset,
    SegSlice,
};

/// A tissue label volume and its T1 image (same dims, first axis fastest; axes x = left→right,
/// y = posterior→anterior, z = inferior→superior, as in RAS-oriented NIfTI).
#[derive(Debug, Clone)]
pub struct BrainAnatomy {
    dims: [usize; 3],
    labels: Vec<u8>,
    t1: Vec<f32>,
    /// Brain bounding box (min, max) per axis.
    bbox: [(usize, usize); 3],
    /// Median T1 of white matter.
    t1_white: f32,
}

impl BrainAnatomy {
    /// Checks and indexes an anatomy.
    ///
    /// # Errors
    /// Sizes that disagree, labels outside 0..=3, non-finite T1, or no white matter.
    pub fn new(dims: [usize; 3], labels: Vec<u8>, t1: Vec<f32>) -> Result<Self> {
        let n = dims.iter().product::<usize>();
        if labels.len() != n || t1.len() != n || dims.iter().any(|&d| d < 8) {
            return Err(DataError::Shape(format!(
                "anatomy dims {dims:?} need {n} labels and T1 values (each axis >= 8), got {} and {}",
                labels.len(),
                t1.len()
            )));
        }
        if let Some(l) = labels.iter().find(|&&l| l > 3) {
            return Err(DataError::Shape(format!(
                "anatomy label {l}: expected 0 background, 1 CSF, 2 grey, 3 white matter"
            )));
        }
        if t1.iter().any(|v| !v.is_finite()) {
            return Err(DataError::Shape("anatomy T1 has non-finite values".into()));
        }
        let mut bbox = [(usize::MAX, 0); 3];
        let mut white = Vec::new();
        for (idx, &l) in labels.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let c = [
                idx % dims[0],
                (idx / dims[0]) % dims[1],
                idx / (dims[0] * dims[1]),
            ];
            for a in 0..3 {
                bbox[a] = (bbox[a].0.min(c[a]), bbox[a].1.max(c[a]));
            }
            if l == 3 {
                white.push(t1[idx]);
            }
        }
        if white.is_empty() {
            return Err(DataError::Shape(
                "anatomy has no white matter (label 3)".into(),
            ));
        }
        white.sort_by(f32::total_cmp);
        let t1_white = white[white.len() / 2];
        if t1_white <= 0.0 {
            return Err(DataError::Shape(
                "anatomy white matter T1 is not positive".into(),
            ));
        }
        Ok(Self {
            dims,
            labels,
            t1,
            bbox,
            t1_white,
        })
    }

    /// Voxels per axis (x fastest).
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Tissue label per voxel (0 background, 1 CSF, 2 grey, 3 white matter).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Brain bounding box (min, max voxel) per axis.
    pub fn bbox(&self) -> [(usize, usize); 3] {
        self.bbox
    }

    /// The voxel nearest to `(x, y, z)`, if inside the volume.
    pub(crate) fn at3(&self, p: [f32; 3]) -> Option<usize> {
        let r = p.map(f32::round);
        let ok = |v: f32, n: usize| v >= 0.0 && v < n as f32;
        (ok(r[0], self.dims[0]) && ok(r[1], self.dims[1]) && ok(r[2], self.dims[2]))
            .then(|| r[0] as usize + self.dims[0] * (r[1] as usize + self.dims[1] * r[2] as usize))
    }

    /// T1 of voxel `idx`.
    pub(crate) fn t1_at(&self, idx: usize) -> f32 {
        self.t1[idx]
    }

    /// Median T1 of white matter.
    pub(crate) fn t1_white(&self) -> f32 {
        self.t1_white
    }

    fn at(&self, x: f32, y: f32, z: usize) -> Option<usize> {
        let (xi, yi) = (x.round(), y.round());
        let ok = |v: f32, n: usize| v >= 0.0 && v < n as f32;
        (ok(xi, self.dims[0]) && ok(yi, self.dims[1]))
            .then(|| xi as usize + self.dims[0] * (yi as usize + self.dims[1] * z))
    }
}

impl BrainPhantomConfig {
    /// `n` slices on `anatomy`; item `i` depends only on `(seed, first + i)`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn generate_on(
        &self,
        anatomy: &BrainAnatomy,
        seed: u64,
        first: usize,
        n: usize,
    ) -> Result<SegDataset> {
        self.validate()?;
        let items = (first..first + n)
            .map(|i| self.slice_on(anatomy, item_seed(seed, i)))
            .collect();
        Ok(SegDataset {
            items,
            channel_names: BRAIN_MR_CHANNELS.iter().map(|s| s.to_string()).collect(),
            label_names: BRAIN_TUMOUR_LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn slice_on(&self, a: &BrainAnatomy, seed: u64) -> SegSlice {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = self.size;
        let (z0, z1) = a.bbox[2];
        let zf = rng.random_range(0.36..0.64f32);
        let z = (z0 as f32 + zf * (z1 - z0) as f32).round() as usize;
        let rot = rng.random_range(-0.15..0.15f32);
        let scale = rng.random_range(0.92..1.08f32);
        let shift = (
            rng.random_range(-0.04..0.04f32),
            rng.random_range(-0.04..0.04f32),
        );
        let tumour = Tumour::draw(&mut rng, self.tumour_radius);
        let (cx, cy) = (
            (a.bbox[0].0 + a.bbox[0].1) as f32 / 2.0,
            (a.bbox[1].0 + a.bbox[1].1) as f32 / 2.0,
        );
        let half = 0.54 * ((a.bbox[0].1 - a.bbox[0].0).max(a.bbox[1].1 - a.bbox[1].0) as f32);
        let (cr, sr) = (rot.cos(), rot.sin());
        // Class fractions and mean T1 per output pixel (3×3 supersampling).
        let mut frac = vec![[0.0f32; 4]; n * n];
        let mut t1 = vec![0.0f32; n * n];
        for r in 0..n {
            for c in 0..n {
                for (sy, sx) in (0..9).map(|k| (k / 3, k % 3)) {
                    let u = 2.0 * (c as f32 + (sx as f32 + 0.5) / 3.0) / n as f32 - 1.0 - shift.0;
                    let v = 2.0 * (r as f32 + (sy as f32 + 0.5) / 3.0) / n as f32 - 1.0 - shift.1;
                    let (ur, vr) = (cr * u + sr * v, -sr * u + cr * v);
                    // Row 0 is anterior (high y); column 0 is the subject's right (low x),
                    // the radiological convention.
                    let (x, y) = (cx + ur * half * scale, cy - vr * half * scale);
                    let k = r * n + c;
                    match a.at(x, y, z) {
                        Some(idx) => {
                            frac[k][a.labels[idx] as usize] += 1.0 / 9.0;
                            t1[k] += a.t1[idx] / 9.0;
                        }
                        None => frac[k][0] += 1.0 / 9.0,
                    }
                }
            }
        }
        let brain: Vec<bool> = frac.iter().map(|f| f[0] < 0.5).collect();
        // Brain coordinates: centroid and equivalent-disc radius of this slice's brain.
        let count = brain.iter().filter(|b| **b).count().max(1) as f32;
        let (mut mx, mut my) = (0.0f32, 0.0f32);
        for (k, _) in brain.iter().enumerate().filter(|(_, b)| **b) {
            mx += (k % n) as f32 / count;
            my += (k / n) as f32 / count;
        }
        let radius = (count / std::f32::consts::PI).sqrt().max(1.0);
        let mut base = Vec::with_capacity(n * n);
        let mut textured = Vec::with_capacity(n * n);
        let mut labels = Vec::with_capacity(n * n);
        for k in 0..n * n {
            let (px, py) = (
                ((k % n) as f32 - mx) / radius,
                ((k / n) as f32 - my) / radius,
            );
            let lesion = brain[k].then(|| tumour.tissue_at(px, py)).flatten();
            let (b, tex, label) = voxel_contrast(lesion, frac[k], t1[k] / a.t1_white);
            base.push(b);
            textured.push(tex);
            labels.push(label);
        }
        self.render(&mut rng, &base, &textured, &brain, labels)
    }
}

/// One pixel or voxel of a phantom on anatomy: its relative intensities (T1, T1c, T2, FLAIR),
/// texture weight and label. The tumour's tissue where `lesion` is one; else the mix of the
/// anatomy's class fractions `frac` (T2, FLAIR), with T1 and T1c from the template's T1
/// relative to white matter (`t1_rel`).
pub(crate) fn voxel_contrast(
    lesion: Option<Tissue>,
    frac: [f32; 4],
    t1_rel: f32,
) -> ([f32; 4], f32, u8) {
    if let Some(t) = lesion {
        let tex = if t == Tissue::Edema { 1.0 } else { 0.0 };
        return (t.contrast(), tex, t.label());
    }
    let mix = |ch: usize| {
        frac[1] * Tissue::Csf.contrast()[ch]
            + frac[2] * Tissue::Grey.contrast()[ch]
            + frac[3] * Tissue::White.contrast()[ch]
    };
    let t1n = t1_rel * Tissue::White.contrast()[0];
    ([t1n, t1n * 1.02, mix(2), mix(3)], frac[2] + frac[3], 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 40³ "brain": white-matter core, grey shell, CSF rim, ventricles; T1 by tissue.
    pub(crate) fn toy() -> BrainAnatomy {
        let d = 40;
        let mut labels = vec![0u8; d * d * d];
        let mut t1 = vec![0.0f32; d * d * d];
        for z in 0..d {
            for y in 0..d {
                for x in 0..d {
                    let p = |v: usize| (v as f32 - 19.5) / 18.0;
                    let rho = (p(x).powi(2) + p(y).powi(2) / 1.2 + p(z).powi(2)).sqrt();
                    let vent = (p(x).abs() - 0.15).abs() < 0.06 && p(y).abs() < 0.3;
                    let l = if rho > 1.0 {
                        0
                    } else if rho > 0.93 || vent {
                        1
                    } else if rho > 0.75 {
                        2
                    } else {
                        3
                    };
                    let i = x + d * (y + d * z);
                    labels[i] = l;
                    t1[i] = [0.0, 40.0, 120.0, 200.0][l as usize];
                }
            }
        }
        BrainAnatomy::new([d; 3], labels, t1).unwrap()
    }

    #[test]
    fn slices_on_anatomy_are_deterministic_and_carry_tumour_and_contrasts() {
        let cfg = BrainPhantomConfig::default();
        let a = toy();
        let ds = cfg.generate_on(&a, 3, 0, 6).unwrap();
        ds.validate().unwrap();
        assert_eq!(cfg.generate_on(&a, 3, 4, 1).unwrap().items[0], ds.items[4]);
        for s in &ds.items {
            for l in 1..4u8 {
                assert!(s.labels.contains(&l), "label {l} missing");
            }
            let mean = |c: usize, l: u8| {
                let v: Vec<f32> = s
                    .channel(c)
                    .iter()
                    .zip(&s.labels)
                    .filter(|(_, x)| **x == l)
                    .map(|(v, _)| *v)
                    .collect();
                v.iter().sum::<f32>() / v.len() as f32
            };
            assert!(mean(1, 3) > mean(0, 3) + 0.2, "enhancing rim bright on T1c");
            assert!(mean(3, 2) > mean(3, 1), "oedema bright on FLAIR");
            // Outside the brain the image is dark (skull-stripped).
            assert!(s.channel(0)[0] < 0.1);
        }
    }

    #[test]
    fn malformed_anatomy_is_an_error() {
        assert!(BrainAnatomy::new([8; 3], vec![0; 10], vec![0.0; 512]).is_err());
        assert!(BrainAnatomy::new([8; 3], vec![7; 512], vec![0.0; 512]).is_err());
        assert!(
            BrainAnatomy::new([8; 3], vec![1; 512], vec![1.0; 512]).is_err(),
            "no WM"
        );
    }
}
