//! 2D PNG and JPEG images (photographs such as fundus images, screenshots of radiographs).

use std::path::Path;

use crate::{IoError, MAX_VOXELS, Result, Volume};

/// What a 2D image file held.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// `PNG` or `JPEG`.
    pub format: String,
    /// The stored colour type (e.g. `L8`, `Rgb8`, `L16`).
    pub color: String,
    /// Channels read (1 grey, 3 colour; alpha is dropped).
    pub channels: usize,
}

/// Reads a PNG or JPEG as `f32` in stored units (0..255 for 8-bit, 0..65535 for 16-bit),
/// dims `[channels, width, height]` (channels fastest, interleaved as stored) for colour and
/// `[width, height]` for grey. Spacing is 1 (files carry no physical size).
///
/// # Errors
/// Unreadable files, unknown formats, images larger than [`MAX_VOXELS`].
pub fn read_image_2d(path: &Path) -> Result<(Volume, ImageInfo)> {
    let name = path.display().to_string();
    let reader = image::ImageReader::open(path)
        .map_err(|source| IoError::Io {
            path: name.clone(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| IoError::Io {
            path: name.clone(),
            source,
        })?;
    let format = match reader.format() {
        Some(image::ImageFormat::Png) => "PNG",
        Some(image::ImageFormat::Jpeg) => "JPEG",
        other => {
            return Err(IoError::Unsupported {
                path: name,
                reason: format!("image format {other:?} (Mira reads PNG and JPEG)"),
            });
        }
    };
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| IoError::malformed(&name, e.to_string()))?;
    if (w as usize).saturating_mul(h as usize).saturating_mul(3) > MAX_VOXELS {
        return Err(IoError::malformed(
            &name,
            format!("{w} x {h} pixels is too large"),
        ));
    }
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| IoError::Io {
            path: name.clone(),
            source,
        })?
        .decode()
        .map_err(|e| IoError::malformed(&name, format!("cannot decode: {e}")))?;
    let color = format!("{:?}", img.color());
    let grey = !img.color().has_color();
    let (w, h) = (w as usize, h as usize);
    let (dims, data, channels): (Vec<usize>, Vec<f32>, usize) = match (
        grey,
        img.color().bytes_per_pixel() / img.color().channel_count() > 1,
    ) {
        (true, false) => (
            vec![w, h],
            img.to_luma8()
                .into_raw()
                .into_iter()
                .map(f32::from)
                .collect(),
            1,
        ),
        (true, true) => (
            vec![w, h],
            img.to_luma16()
                .into_raw()
                .into_iter()
                .map(f32::from)
                .collect(),
            1,
        ),
        (false, false) => (
            vec![3, w, h],
            img.to_rgb8()
                .into_raw()
                .into_iter()
                .map(f32::from)
                .collect(),
            3,
        ),
        (false, true) => (
            vec![3, w, h],
            img.to_rgb16()
                .into_raw()
                .into_iter()
                .map(f32::from)
                .collect(),
            3,
        ),
    };
    let spacing = vec![1.0; dims.len()];
    Ok((
        Volume {
            dims,
            spacing,
            affine: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ],
            data,
        },
        ImageInfo {
            format: format.into(),
            color,
            channels,
        },
    ))
}

/// Writes a volume shaped as [`read_image_2d`] returns it (`[width, height]` grey or
/// `[3, width, height]` colour, stored units) as a PNG of 8 or 16 bits per sample; values are
/// rounded and clipped to the sample range. Written beside the target and renamed.
///
/// # Errors
/// Other shapes, or a failed write.
pub fn write_png(path: &Path, volume: &Volume, sixteen_bit: bool) -> Result<()> {
    let name = path.display().to_string();
    let (colour, w, h) = match volume.dims.as_slice() {
        [w, h] => (false, *w, *h),
        [3, w, h] => (true, *w, *h),
        d => {
            return Err(IoError::malformed(
                &name,
                format!("a PNG is written from [w, h] or [3, w, h], not {d:?}"),
            ));
        }
    };
    if volume.data.len() != w * h * if colour { 3 } else { 1 } || w > u32::MAX as usize {
        return Err(IoError::malformed(
            &name,
            "data length does not match the dims",
        ));
    }
    let max = if sixteen_bit { 65535.0 } else { 255.0 };
    let q = |v: &f32| {
        if v.is_finite() {
            v.round().clamp(0.0, max)
        } else {
            0.0
        }
    };
    let (w32, h32) = (w as u32, h as u32);
    let img: image::DynamicImage = match (colour, sixteen_bit) {
        (false, false) => {
            image::GrayImage::from_raw(w32, h32, volume.data.iter().map(|v| q(v) as u8).collect())
                .map(Into::into)
        }
        (false, true) => image::ImageBuffer::<image::Luma<u16>, _>::from_raw(
            w32,
            h32,
            volume.data.iter().map(|v| q(v) as u16).collect(),
        )
        .map(Into::into),
        (true, false) => {
            image::RgbImage::from_raw(w32, h32, volume.data.iter().map(|v| q(v) as u8).collect())
                .map(Into::into)
        }
        (true, true) => image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(
            w32,
            h32,
            volume.data.iter().map(|v| q(v) as u16).collect(),
        )
        .map(Into::into),
    }
    .ok_or_else(|| IoError::malformed(&name, "data length does not match the dims"))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map_or("image".into(), |n| n.to_string_lossy()),
        crate::unique_suffix()
    ));
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| IoError::malformed(&name, format!("cannot write PNG: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|source| IoError::Io { path: name, source })
}
