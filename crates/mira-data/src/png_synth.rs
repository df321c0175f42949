//! The S2 picture of one synthesis attack: six panels of one slice.

use std::path::Path;

use crate::png::{overlay, save};
use crate::{DataError, Result, SegSlice};

/// One synthesised case for [`save_synthesis_png`]; all maps `height × width`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct SynthPicture<'a> {
    /// The clean slice (channel 0 is drawn) with its truth.
    pub clean: &'a [f32],
    /// Truth of the clean slice.
    pub truth: &'a [u8],
    /// The synthesised slice (channel 0).
    pub adversarial: &'a [f32],
    /// Dense displacement, `(dx, dy)` planes (px).
    pub displacement: &'a [f32],
    /// Multiplicative bias field.
    pub bias: &'a [f32],
    /// The bias amplitude that saturates the colour map.
    pub max_bias: f32,
    /// Prediction on the synthesised slice.
    pub prediction: &'a [u8],
    /// Truth warped by the displacement.
    pub warped_truth: &'a [u8],
}

/// Six panels, upscaled by `zoom`: clean slice with the truth; synthesised slice with the
/// deformed grid (lines every 8 source pixels, yellow); bias field (blue darker, red brighter,
/// saturating at ±`max_bias`); synthesised slice; its segmentation; the warped truth.
///
/// # Errors
/// Sizes that disagree with `slice`; encoding or writing the file.
pub fn save_synthesis_png(
    slice: &SegSlice,
    p: &SynthPicture<'_>,
    zoom: usize,
    path: &Path,
) -> Result<()> {
    let (h, w, z) = (slice.height, slice.width, zoom.max(1));
    let n = h * w;
    let sizes = [
        p.clean.len(),
        p.truth.len(),
        p.adversarial.len(),
        p.bias.len(),
        p.prediction.len(),
        p.warped_truth.len(),
    ];
    if sizes.iter().any(|&s| s != n) || p.displacement.len() != 2 * n {
        return Err(DataError::Shape(format!(
            "synthesis picture of a {h}x{w} slice with sizes {sizes:?} and {} displacements",
            p.displacement.len()
        )));
    }
    let grey = |v: f32| v.clamp(0.0, 1.0) * 255.0;
    let spacing = 8.0f32;
    let mut img = image::RgbImage::new((6 * w * z) as u32, (h * z) as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (panel, xz, yz) = (x as usize / (w * z), x as usize % (w * z), y as usize);
        let (xx, yy) = (xz / z, yz / z);
        let i = yy * w + xx;
        *px = match panel {
            0 => overlay(grey(p.clean[i]), p.truth[i]),
            1 => {
                // Where this (sub-)pixel samples the source; a line where that is on the grid.
                let sx = (xz as f32 + 0.5) / z as f32 + p.displacement[i];
                let sy = (yz as f32 + 0.5) / z as f32 + p.displacement[n + i];
                let near = |s: f32| {
                    let f = (s / spacing).fract().abs();
                    f.min(1.0 - f) * spacing < 0.5 / z as f32 + 0.15
                };
                if near(sx) || near(sy) {
                    image::Rgb([250, 210, 30])
                } else {
                    image::Rgb([grey(p.adversarial[i]) as u8; 3])
                }
            }
            2 => crate::png::diverging((p.bias[i] - 1.0) / p.max_bias.max(1e-6)),
            3 => image::Rgb([grey(p.adversarial[i]) as u8; 3]),
            4 => overlay(grey(p.adversarial[i]), p.prediction[i]),
            _ => overlay(grey(p.adversarial[i]), p.warped_truth[i]),
        };
    }
    save(path, img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_six_panels_and_refuses_wrong_sizes() {
        let (h, w) = (16, 16);
        let slice = SegSlice {
            image: vec![0.5; h * w],
            labels: vec![1; h * w],
            channels: 1,
            height: h,
            width: w,
        };
        let ones = vec![1.0f32; h * w];
        let disp = vec![0.0f32; 2 * h * w];
        let labels = vec![1u8; h * w];
        let pic = SynthPicture {
            clean: &slice.image,
            truth: &labels,
            adversarial: &slice.image,
            displacement: &disp,
            bias: &ones,
            max_bias: 0.2,
            prediction: &labels,
            warped_truth: &labels,
        };
        let path = std::env::temp_dir().join(format!("mira-synth-{}.png", std::process::id()));
        save_synthesis_png(&slice, &pic, 2, &path).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (6 * 32, 32));
        // The zero field draws straight grid lines: source column 0 is on a line.
        assert_eq!(img.to_rgb8().get_pixel(32, 5).0, [250, 210, 30]);
        std::fs::remove_file(&path).ok();
        let short = SynthPicture {
            bias: &ones[1..],
            ..pic
        };
        assert!(save_synthesis_png(&slice, &short, 2, &path).is_err());
    }
}
