//! PNG pictures of registration cases: images, perturbation and the fixed image's grid
//! mapped by the true and the predicted transforms.

use std::path::Path;

use crate::{DataError, Result, Rigid2d};

/// The images of one attacked registration case (`size × size`, row-major, `[0, 1]`).
pub struct RegPicture<'a> {
    /// Side of the images.
    pub size: usize,
    /// Clean fixed image.
    pub fixed: &'a [f32],
    /// Clean moving image.
    pub moving: &'a [f32],
    /// Adversarial fixed image.
    pub adv_fixed: &'a [f32],
    /// Adversarial moving image.
    pub adv_moving: &'a [f32],
    /// The true transform.
    pub truth: Rigid2d,
    /// The prediction on the clean pair.
    pub clean_pred: Rigid2d,
    /// The prediction on the adversarial pair.
    pub adv_pred: Rigid2d,
}

/// Six panels, upscaled by `zoom`: fixed, moving, the perturbation (fixed and moving summed,
/// amplified `gain` times on a diverging map: blue negative, red positive, white 0), the
/// adversarial moving image, then the clean and the adversarial moving image each with a
/// grid of lines of the fixed image mapped by the true transform (green) and by the
/// prediction (red; clean prediction on panel 5, adversarial on panel 6).
///
/// # Errors
/// Sizes that disagree; encoding or writing the file.
pub fn save_registration_png(
    p: &RegPicture<'_>,
    gain: f32,
    zoom: usize,
    path: &Path,
) -> Result<()> {
    let (n, z) = (p.size, zoom.max(1));
    let nn = n * n;
    if [p.fixed, p.moving, p.adv_fixed, p.adv_moving]
        .iter()
        .any(|v| v.len() != nn)
    {
        return Err(DataError::Shape(format!(
            "registration picture of side {n} with images of {}/{}/{}/{} pixels",
            p.fixed.len(),
            p.moving.len(),
            p.adv_fixed.len(),
            p.adv_moving.len()
        )));
    }
    let w = n * z;
    let mut img = image::RgbImage::new((6 * w) as u32, w as u32);
    let grey = |v: f32| image::Rgb([(v.clamp(0.0, 1.0) * 255.0).round() as u8; 3]);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (panel, xx, yy) = (x as usize / w, (x as usize % w) / z, y as usize / z);
        let i = yy * n + xx;
        *px = match panel {
            0 => grey(p.fixed[i]),
            1 => grey(p.moving[i]),
            2 => crate::png::diverging(
                (p.adv_fixed[i] - p.fixed[i] + p.adv_moving[i] - p.moving[i]) * gain,
            ),
            3 => grey(p.adv_moving[i]),
            4 => grey(p.moving[i]),
            _ => grey(p.adv_moving[i]),
        };
    }
    // Grid lines of the fixed image (every eighth of the side), mapped and drawn densely.
    let half = (n as f64 - 1.0) / 2.0;
    let lines = 8;
    let mut draw = |panel: usize, t: &Rigid2d, colour: [u8; 3]| {
        let steps = 8 * n * z;
        for k in 0..=lines {
            let a = -half + 2.0 * half * k as f64 / lines as f64;
            for s in 0..=steps {
                let b = -half + 2.0 * half * s as f64 / steps as f64;
                for p0 in [[a, b], [b, a]] {
                    let q = t.apply(p0);
                    let (qx, qy) = (
                        (q[0] + half + 0.5) * z as f64,
                        (q[1] + half + 0.5) * z as f64,
                    );
                    if qx >= 0.0 && qy >= 0.0 && qx < w as f64 && qy < w as f64 {
                        img.put_pixel(
                            (panel * w) as u32 + qx as u32,
                            qy as u32,
                            image::Rgb(colour),
                        );
                    }
                }
            }
        }
    };
    draw(4, &p.truth, [40, 200, 60]);
    draw(4, &p.clean_pred, [230, 40, 40]);
    draw(5, &p.truth, [40, 200, 60]);
    draw(5, &p.adv_pred, [230, 40, 40]);
    img.save(path).map_err(|source| DataError::Image {
        path: path.display().to_string(),
        source,
    })
}
