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
