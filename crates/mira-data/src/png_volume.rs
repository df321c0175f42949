//! PNG pictures of 3D volumes: axial, coronal and sagittal mid-slices side by side.

use std::path::Path;

use crate::{DataError, Result};

/// One row of [`save_volume_slices_png`]: a cubic volume (`side³`, x fastest, then y, then
/// z) and how its values map to grey.
pub struct VolumeRow<'a> {
    /// The voxels.
    pub voxels: &'a [f32],
    /// Value shown black.
    pub lo: f32,
    /// Value shown white.
    pub hi: f32,
}

/// A grid of mid-slices: one row per volume, columns axial (z = mid), coronal (y = mid) and
/// sagittal (x = mid), each upscaled by `zoom`, rows separated by a 2-pixel gap. Images are
/// shown with superior / anterior up.
///
/// # Errors
/// A volume whose length is not `side³`, or encoding / writing the file.
pub fn save_volume_slices_png(
    rows: &[VolumeRow<'_>],
    side: usize,
    zoom: usize,
    path: &Path,
) -> Result<()> {
    let (n, z) = (side, zoom.max(1));
    if let Some(r) = rows.iter().find(|r| r.voxels.len() != n * n * n) {
        return Err(DataError::Shape(format!(
            "volume of {} voxels is not {n}³",
            r.voxels.len()
        )));
    }
    let gap = 2;
    let (w, h) = (3 * n * z + 2 * gap, rows.len() * (n * z + gap));
    let mut img = image::RgbImage::from_pixel(w as u32, h.max(1) as u32, image::Rgb([40, 40, 40]));
    let m = n / 2;
    for (ri, row) in rows.iter().enumerate() {
        let scale = 1.0 / (row.hi - row.lo).max(1e-12);
        for col in 0..3 {
            for v in 0..n * z {
                for u in 0..n * z {
                    let (a, b) = (u / z, n - 1 - v / z);
                    let idx = match col {
                        0 => (m * n + b) * n + a, // axial: x right, y up
                        1 => (b * n + m) * n + a, // coronal: x right, z up
                        _ => (b * n + a) * n + m, // sagittal: y right, z up
                    };
                    let g = ((row.voxels[idx] - row.lo) * scale).clamp(0.0, 1.0);
                    let g = (g * 255.0).round() as u8;
                    img.put_pixel(
                        (col * (n * z + gap) + u) as u32,
                        (ri * (n * z + gap) + v) as u32,
                        image::Rgb([g, g, g]),
                    );
                }
            }
        }
    }
    img.save(path).map_err(|source| DataError::Image {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_slices_land_in_their_columns() {
        let n = 4;
        // A single bright voxel at (x=1, y=2, z=2): on the axial (z=2) and coronal (y=2)
        // mid-slices, not on the sagittal one (x=2).
        let mut vol = vec![0.0f32; n * n * n];
        vol[(2 * n + 2) * n + 1] = 1.0;
        let dir = std::env::temp_dir().join(format!("mira-volpng-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.png");
        let rows = [VolumeRow {
            voxels: &vol,
            lo: 0.0,
            hi: 1.0,
        }];
        save_volume_slices_png(&rows, n, 1, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (3 * 4 + 4, 4 + 2));
        let bright: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        // Axial: (a = x = 1, row = n-1-y = 1); coronal: (a = 1, row = n-1-z = 1) in column 1.
        assert_eq!(bright, vec![(1, 1), (4 + 2 + 1, 1)]);
        let short = [VolumeRow {
            voxels: &vol[..10],
            lo: 0.0,
            hi: 1.0,
        }];
        assert!(save_volume_slices_png(&short, n, 1, &path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
