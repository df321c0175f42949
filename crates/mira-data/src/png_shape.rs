//! PNG pictures of attacked shape-regression cases: images with contours drawn over them.

use std::path::Path;

use crate::{DataError, Result};

/// One attacked case (`size × size`, row-major, `[0, 1]`); contours in pixel coordinates
/// (`[x, y]`, pixel centres at `+0.5`).
pub struct ShapePicture<'a> {
    /// Side of the images.
    pub size: usize,
    /// The test slice.
    pub slice: &'a [f32],
    /// Where the attack started (the slice itself in distribution; noise, CT or X-ray out of it).
    pub start: &'a [f32],
    /// The adversarial image.
    pub adv: &'a [f32],
    /// The reference contour (green): the truth, or out of distribution the model's output on
    /// the slice that the attack tries to match.
    pub reference: &'a [[f64; 2]],
    /// The model's contour on the clean slice (blue).
    pub clean: &'a [[f64; 2]],
    /// The model's contour on the adversarial image (red).
    pub adversarial: &'a [[f64; 2]],
}

/// Four panels, upscaled by `zoom`: the slice with the reference (green) and clean (blue)
/// contours; the start of the attack; the perturbation (adversarial − start) amplified `gain`
/// times on a diverging map (blue negative, red positive, white 0); the adversarial image with
/// the reference (green) and adversarial (red) contours.
///
/// # Errors
/// Sizes that disagree; encoding or writing the file.
pub fn save_shape_png(p: &ShapePicture<'_>, gain: f32, zoom: usize, path: &Path) -> Result<()> {
    let (n, z) = (p.size, zoom.max(1));
    if [p.slice, p.start, p.adv].iter().any(|v| v.len() != n * n) {
        return Err(DataError::Shape(format!(
            "shape picture of side {n} with images of {}/{}/{} pixels",
            p.slice.len(),
            p.start.len(),
            p.adv.len()
        )));
    }
    let w = n * z;
    let mut img = image::RgbImage::new((4 * w) as u32, w as u32);
    let grey = |v: f32| image::Rgb([(v.clamp(0.0, 1.0) * 255.0).round() as u8; 3]);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (panel, xx, yy) = (x as usize / w, (x as usize % w) / z, y as usize / z);
        let i = yy * n + xx;
        *px = match panel {
            0 => grey(p.slice[i]),
            1 => grey(p.start[i]),
            2 => crate::png::diverging((p.adv[i] - p.start[i]) * gain),
            _ => grey(p.adv[i]),
        };
    }
    let mut draw = |panel: usize, contour: &[[f64; 2]], colour: [u8; 3]| {
        let m = contour.len();
        for k in 0..m {
            let (a, b) = (contour[k], contour[(k + 1) % m]);
            let steps =
                (((b[0] - a[0]).abs() + (b[1] - a[1]).abs()) * z as f64).ceil() as usize + 1;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let (qx, qy) = (
                    (a[0] + t * (b[0] - a[0])) * z as f64,
                    (a[1] + t * (b[1] - a[1])) * z as f64,
                );
                if qx.is_finite()
                    && qy.is_finite()
                    && qx >= 0.0
                    && qy >= 0.0
                    && qx < w as f64
                    && qy < w as f64
                {
                    img.put_pixel(
                        (panel * w) as u32 + qx as u32,
                        qy as u32,
                        image::Rgb(colour),
                    );
                }
            }
        }
    };
    let (green, blue, red) = ([40, 200, 60], [60, 120, 255], [230, 40, 40]);
    draw(0, p.reference, green);
    draw(0, p.clean, blue);
    draw(3, p.reference, green);
    draw(3, p.adversarial, red);
    img.save(path).map_err(|source| DataError::Image {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contours_land_on_their_pixels_and_bad_sizes_are_refused() {
        let n = 16;
        let flat = vec![0.5f32; n * n];
        let mut adv = flat.clone();
        adv[0] = 0.6;
        let square = [[4.5, 4.5], [10.5, 4.5], [10.5, 10.5], [4.5, 10.5]];
        let moved = [[6.5, 6.5], [12.5, 6.5], [12.5, 12.5], [6.5, 12.5]];
        let path = std::env::temp_dir().join(format!("mira-shape-{}.png", std::process::id()));
        let p = ShapePicture {
            size: n,
            slice: &flat,
            start: &flat,
            adv: &adv,
            reference: &square,
            clean: &square,
            adversarial: &moved,
        };
        save_shape_png(&p, 10.0, 2, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (4 * 32, 32));
        // Panel 0: the clean contour (drawn last) at pixel (4, 7) x2 zoom = (9, 14).
        assert_eq!(img.get_pixel(9, 14).0, [60, 120, 255]);
        // Panel 3: the adversarial contour at (12.5, 9) x2 = (25, 18), offset 3 panels.
        assert_eq!(img.get_pixel(3 * 32 + 25, 18).0, [230, 40, 40]);
        // Panel 2: a positive perturbation of 0.1 x 10 is full red; elsewhere white.
        assert_eq!(img.get_pixel(2 * 32, 0).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2 * 32 + 20, 20).0, [255, 255, 255]);
        let bad = ShapePicture {
            adv: &adv[..10],
            ..p
        };
        assert!(save_shape_png(&bad, 10.0, 2, &path).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
