//! Starting images of the S4 out-of-distribution attacks: uniform noise, a CT slice, an X-ray.
//!
//! CT: `../shared/data/dicom/ct/CT_small.dcm` in an abdominal window (W 400, L 40 HU), or,
//! without the shared data, a procedural axial CT stand-in (air, body ellipse with a fat rim,
//! a bright vertebra). X-ray: crops of the chest radiograph `RG1_UNCR.dcm`, or the seeded
//! X-ray phantom. Each case gets its own random crop (scale, offset, flip), so the starts
//! differ; everything is resampled bilinearly to the slice size and lies in `[0, 1]`.

use mira_data::{bilinear, xray_phantom};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Result;
use crate::run::mix;
use crate::tasks::shape::OodSource;

/// `n` starting images of `size²` for `source`, and a name saying what was used
/// (`noise`, `ct-file`, `ct-phantom`, `xray-file`, `xray-phantom`).
///
/// # Errors
/// A shared file that exists but cannot be read.
pub(crate) fn ood_images(
    source: OodSource,
    n: usize,
    size: usize,
    seed: u64,
) -> Result<(Vec<Vec<f32>>, String)> {
    let shared = mira_io::shared_data_dir();
    let (base, w, h, name): (Vec<f32>, usize, usize, &str) = match source {
        OodSource::Noise => {
            let images = (0..n)
                .map(|i| {
                    let mut rng = StdRng::seed_from_u64(mix(seed, i as u64));
                    (0..size * size).map(|_| rng.random::<f32>()).collect()
                })
                .collect();
            return Ok((images, "noise".into()));
        }
        OodSource::Ct => match shared.map(|d| d.join("dicom").join("ct").join("CT_small.dcm")) {
            Some(p) if p.is_file() => {
                let (vol, _) = mira_io::read_dicom(&p).map_err(|e| crate::EvalError::io(&p, e))?;
                let (w, h) = (vol.dims[0], vol.dims[1]);
                let px = vol
                    .data
                    .iter()
                    .map(|hu| ((hu + 160.0) / 400.0).clamp(0.0, 1.0))
                    .collect();
                (px, w, h, "ct-file")
            }
            _ => (ct_stand_in(256), 256, 256, "ct-phantom"),
        },
        OodSource::Xray => {
            let file = shared
                .map(|d| d.join("dicom").join("radiograph").join("RG1_UNCR.dcm"))
                .filter(|p| p.is_file());
            match file {
                Some(p) => {
                    let (px, w, h) = crate::tasks::registration::load_radiograph(&p, 4)?;
                    (px, w, h, "xray-file")
                }
                None => (xray_phantom(384, seed), 384, 384, "xray-phantom"),
            }
        }
    };
    let images = (0..n)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(mix(seed, 1000 + i as u64));
            let side = (w.min(h) as f64) * rng.random_range(0.6..1.0);
            let x0 = rng.random_range(0.0..=(w as f64 - side));
            let y0 = rng.random_range(0.0..=(h as f64 - side));
            let flip = rng.random::<bool>();
            (0..size * size)
                .map(|k| {
                    let (r, c) = ((k / size) as f64, (k % size) as f64);
                    let u = if flip { size as f64 - 1.0 - c } else { c };
                    let x = x0 + (u + 0.5) * side / size as f64;
                    let y = y0 + (r + 0.5) * side / size as f64;
                    bilinear(&base, h, w, x, y).clamp(0.0, 1.0)
                })
                .collect()
        })
        .collect();
    Ok((images, name.into()))
}

/// An axial CT-like slice in the abdominal window: air, a body ellipse (soft tissue with a fat
/// rim), a bright vertebral body and two darker kidney-like ellipses.
fn ct_stand_in(n: usize) -> Vec<f32> {
    let inside = |x: f64, y: f64, cx: f64, cy: f64, a: f64, b: f64| {
        ((x - cx) / a).powi(2) + ((y - cy) / b).powi(2) <= 1.0
    };
    (0..n * n)
        .map(|k| {
            let (x, y) = ((k % n) as f64 / n as f64, (k / n) as f64 / n as f64);
            if inside(x, y, 0.5, 0.72, 0.07, 0.06) {
                0.95
            } else if inside(x, y, 0.36, 0.62, 0.06, 0.08) || inside(x, y, 0.64, 0.62, 0.06, 0.08) {
                0.62
            } else if inside(x, y, 0.5, 0.55, 0.36, 0.28) {
                0.55
            } else if inside(x, y, 0.5, 0.55, 0.40, 0.32) {
                0.2
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_seeded_images_in_range_for_every_source() {
        for source in [OodSource::Noise, OodSource::Ct, OodSource::Xray] {
            let (a, name) = ood_images(source, 3, 32, 5).unwrap();
            let (b, _) = ood_images(source, 3, 32, 5).unwrap();
            assert_eq!(a, b, "{name}: not deterministic");
            assert_eq!(a.len(), 3);
            for img in &a {
                assert_eq!(img.len(), 32 * 32);
                assert!(img.iter().all(|v| (0.0..=1.0).contains(v)), "{name}");
                let mean = img.iter().sum::<f32>() / img.len() as f32;
                let var = img.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / img.len() as f32;
                assert!(var > 1e-4, "{name}: a flat start image");
            }
            assert_ne!(a[0], a[1], "{name}: every case gets its own start");
        }
        assert!(ct_stand_in(64).iter().any(|&v| v > 0.9));
    }

    #[test]
    fn ood_starts_use_the_real_ct_and_radiograph_shared_data() {
        if mira_testkit::shared_data_for_test(
            "ood_starts_use_the_real_ct_and_radiograph_shared_data",
        )
        .is_none()
        {
            return;
        }
        assert_eq!(ood_images(OodSource::Ct, 1, 32, 1).unwrap().1, "ct-file");
        assert_eq!(
            ood_images(OodSource::Xray, 1, 32, 1).unwrap().1,
            "xray-file"
        );
    }
}
