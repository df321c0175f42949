//! PNG pictures of slices for people to look at.

use std::path::Path;

use crate::{DataError, Result, SegSlice};

/// Colours of labels 1.. in overlays (red core, green oedema, yellow enhancing, then more).
const LABEL_RGB: [[u8; 3]; 6] = [
    [230, 40, 40],
    [40, 200, 60],
    [250, 220, 30],
    [60, 120, 250],
    [230, 60, 230],
    [40, 220, 230],
];

pub(crate) fn save(path: &Path, img: image::RgbImage) -> Result<()> {
    img.save(path).map_err(|source| DataError::Image {
        path: path.display().to_string(),
        source,
    })
}

/// All channels side by side (grey levels, `[0, 1]` mapped to `0..255`), then the label map in
/// colour, upscaled by `zoom`.
///
/// # Errors
/// Encoding or writing the file.
pub fn save_mosaic_png(slice: &SegSlice, zoom: usize, path: &Path) -> Result<()> {
    let (h, w, z) = (slice.height, slice.width, zoom.max(1));
    let panels = slice.channels + 1;
    let mut img = image::RgbImage::new((panels * w * z) as u32, (h * z) as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (panel, xx, yy) = (
            x as usize / (w * z),
            (x as usize % (w * z)) / z,
            y as usize / z,
        );
        *px = if panel < slice.channels {
            let g = (slice.channel(panel)[yy * w + xx].clamp(0.0, 1.0) * 255.0).round() as u8;
            image::Rgb([g, g, g])
        } else {
            match slice.labels[yy * w + xx] {
                0 => image::Rgb([0, 0, 0]),
                l => image::Rgb(LABEL_RGB[(l as usize - 1) % LABEL_RGB.len()]),
            }
        };
    }
    save(path, img)
}

/// One channel in grey with the labels blended on top (alpha 0.45), upscaled by `zoom`.
///
/// # Errors
/// Encoding or writing the file, or a channel index out of range.
pub fn save_label_overlay_png(
    slice: &SegSlice,
    channel: usize,
    labels: &[u8],
    zoom: usize,
    path: &Path,
) -> Result<()> {
    if channel >= slice.channels || labels.len() != slice.height * slice.width {
        return Err(DataError::Shape(format!(
            "overlay of channel {channel} with {} labels",
            labels.len()
        )));
    }
    let (w, z) = (slice.width, zoom.max(1));
    let mut img = image::RgbImage::new((w * z) as u32, (slice.height * z) as u32);
    let ch = slice.channel(channel);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let i = (y as usize / z) * w + x as usize / z;
        *px = overlay(ch[i].clamp(0.0, 1.0) * 255.0, labels[i]);
    }
    save(path, img)
}

pub(crate) fn overlay(g: f32, label: u8) -> image::Rgb<u8> {
    match label {
        0 => image::Rgb([g as u8; 3]),
        l => {
            let c = LABEL_RGB[(l as usize - 1) % LABEL_RGB.len()];
            image::Rgb(c.map(|c| (0.55 * g + 0.45 * c as f32).round() as u8))
        }
    }
}

/// One attacked case as five panels, upscaled by `zoom`: the clean image (channel `channel`)
/// with the truth, the clean image with the clean prediction, the perturbation of that
/// channel amplified `gain` times on a diverging map (blue negative, red positive, white 0),
/// the adversarial image, and the adversarial image with the adversarial prediction.
///
/// # Errors
/// Sizes that disagree; encoding or writing the file.
#[allow(clippy::too_many_arguments)]
pub fn save_attack_png(
    clean: &SegSlice,
    adversarial: &[f32],
    channel: usize,
    clean_pred: &[u8],
    adv_pred: &[u8],
    gain: f32,
    zoom: usize,
    path: &Path,
) -> Result<()> {
    let img = attack_image(
        clean,
        adversarial,
        channel,
        (clean_pred, adv_pred),
        gain,
        zoom,
    )?;
    save(path, img)
}

/// The five panels of [`save_attack_png`] as an image.
pub(crate) fn attack_image(
    clean: &SegSlice,
    adversarial: &[f32],
    channel: usize,
    (clean_pred, adv_pred): (&[u8], &[u8]),
    gain: f32,
    zoom: usize,
) -> Result<image::RgbImage> {
    let (h, w, z) = (clean.height, clean.width, zoom.max(1));
    let n = h * w;
    if channel >= clean.channels
        || adversarial.len() != clean.image.len()
        || clean_pred.len() != n
        || adv_pred.len() != n
    {
        return Err(DataError::Shape(format!(
            "attack picture of a {h}x{w} slice with {} adversarial values and {}/{} labels",
            adversarial.len(),
            clean_pred.len(),
            adv_pred.len()
        )));
    }
    let c0 = clean.channel(channel);
    let a0 = &adversarial[channel * n..(channel + 1) * n];
    let mut img = image::RgbImage::new((5 * w * z) as u32, (h * z) as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (panel, xx, yy) = (
            x as usize / (w * z),
            (x as usize % (w * z)) / z,
            y as usize / z,
        );
        let i = yy * w + xx;
        let grey = |v: f32| v.clamp(0.0, 1.0) * 255.0;
        *px = match panel {
            0 => overlay(grey(c0[i]), clean.labels[i]),
            1 => overlay(grey(c0[i]), clean_pred[i]),
            2 => diverging((a0[i] - c0[i]) * gain),
            3 => image::Rgb([grey(a0[i]) as u8; 3]),
            _ => overlay(grey(a0[i]), adv_pred[i]),
        };
    }
    Ok(img)
}

/// A signed value on the diverging map of every picture: white at 0, red towards +1, blue
/// towards −1 (clamped to [−1, 1]).
pub(crate) fn diverging(d: f32) -> image::Rgb<u8> {
    let d = d.clamp(-1.0, 1.0);
    let fade = (255.0 * (1.0 - d.abs())) as u8;
    if d >= 0.0 {
        image::Rgb([255, fade, fade])
    } else {
        image::Rgb([fade, fade, 255])
    }
}
