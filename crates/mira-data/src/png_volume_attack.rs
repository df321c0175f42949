//! The attack picture of a volume: the five panels of `save_attack_png` (truth, clean
//! prediction, perturbation, attacked image, attacked prediction) on its axial, coronal and
//! sagittal sections through the centre of the truth's foreground.

use std::path::Path;

use crate::png::{attack_image, save};
use crate::{DataError, Result, SegSlice};

/// Maps a section pixel `(row, column)` to its voxel index.
type PixelIndex = Box<dyn Fn(usize, usize) -> usize>;

/// Which section of a `[D, H, W]` volume (D inferior → superior, H anterior → posterior, W the
/// subject's right → left).
#[derive(Clone, Copy)]
enum Section {
    /// Plane `d`: rows H (anterior up), columns W (radiological).
    Axial(usize),
    /// Plane `h`: rows D (superior up), columns W.
    Coronal(usize),
    /// Plane `w`: rows D (superior up), columns H (anterior left).
    Sagittal(usize),
}

impl Section {
    /// Rows, columns, and the volume index of section pixel `(r, c)`.
    fn geometry(self, [d, h, w]: [usize; 3]) -> (usize, usize, PixelIndex) {
        match self {
            Section::Axial(p) => (h, w, Box::new(move |r, c| (p * h + r) * w + c)),
            Section::Coronal(p) => (d, w, Box::new(move |r, c| ((d - 1 - r) * h + p) * w + c)),
            Section::Sagittal(p) => (d, h, Box::new(move |r, c| ((d - 1 - r) * h + c) * w + p)),
        }
    }
}

/// Saves the attack picture of a volume stored as a tall slice `[C, D·H, W]` of depth
/// `depth`: three rows (axial, coronal, sagittal) of five panels, on `channel`, the
/// perturbation amplified by `gain`, each pixel `zoom`-fold.
///
/// # Errors
/// Sizes that disagree; encoding or writing the file.
#[allow(clippy::too_many_arguments)]
pub fn save_volume_attack_png(
    clean: &SegSlice,
    depth: usize,
    adversarial: &[f32],
    channel: usize,
    (clean_pred, adv_pred): (&[u8], &[u8]),
    gain: f32,
    zoom: usize,
    path: &Path,
) -> Result<()> {
    let n = clean.height * clean.width;
    if depth == 0
        || !clean.height.is_multiple_of(depth)
        || adversarial.len() != clean.image.len()
        || clean_pred.len() != n
        || adv_pred.len() != n
        || channel >= clean.channels
    {
        return Err(DataError::Shape(format!(
            "volume picture of {} rows at depth {depth}, {} adversarial values, {}/{} labels",
            clean.height,
            adversarial.len(),
            clean_pred.len(),
            adv_pred.len()
        )));
    }
    let dims = [depth, clean.height / depth, clean.width];
    let centre = foreground_centre(&clean.labels, dims);
    let sections = [
        Section::Axial(centre[0]),
        Section::Coronal(centre[1]),
        Section::Sagittal(centre[2]),
    ];
    let mut rows = Vec::with_capacity(3);
    for s in sections {
        let (rh, rw, at) = s.geometry(dims);
        let pick = |v: &[f32]| -> Vec<f32> {
            (0..clean.channels)
                .flat_map(|c| {
                    let at = &at;
                    (0..rh * rw).map(move |i| v[c * n + at(i / rw, i % rw)])
                })
                .collect()
        };
        let labels =
            |l: &[u8]| -> Vec<u8> { (0..rh * rw).map(|i| l[at(i / rw, i % rw)]).collect() };
        let section = SegSlice {
            image: pick(&clean.image),
            labels: labels(&clean.labels),
            channels: clean.channels,
            height: rh,
            width: rw,
        };
        let (cp, ap) = (labels(clean_pred), labels(adv_pred));
        rows.push(attack_image(
            &section,
            &pick(adversarial),
            channel,
            (&cp, &ap),
            gain,
            zoom,
        )?);
    }
    let gap = 2;
    let width = rows.iter().map(|r| r.width()).max().unwrap_or(1);
    let height = rows.iter().map(|r| r.height()).sum::<u32>() + gap * (rows.len() as u32 - 1);
    let mut img = image::RgbImage::from_pixel(width, height, image::Rgb([40, 40, 40]));
    let mut y0 = 0;
    for r in &rows {
        for (x, y, px) in r.enumerate_pixels() {
            img.put_pixel(x, y0 + y, *px);
        }
        y0 += r.height() + gap;
    }
    save(path, img)
}

/// The voxel nearest the centroid of the foreground (labels > 0), or the volume's centre.
fn foreground_centre(labels: &[u8], [d, h, w]: [usize; 3]) -> [usize; 3] {
    let (mut sum, mut count) = ([0usize; 3], 0usize);
    for (i, _) in labels.iter().enumerate().filter(|(_, l)| **l > 0) {
        let p = [i / (h * w), (i / w) % h, i % w];
        (0..3).for_each(|k| sum[k] += p[k]);
        count += 1;
    }
    if count == 0 {
        return [d / 2, h / 2, w / 2];
    }
    sum.map(|s| (s as f64 / count as f64).round() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_pass_through_the_foreground_and_the_picture_is_three_rows() {
        let (d, h, w) = (4, 6, 5);
        let n = d * h * w;
        let mut labels = vec![0u8; n];
        labels[(2 * h + 3) * w + 1] = 1; // voxel (d 2, h 3, w 1)
        assert_eq!(foreground_centre(&labels, [d, h, w]), [2, 3, 1]);
        // Each section shows that voxel: axial at d 2 (row 3, col 1), coronal at h 3 (row
        // d-1-2 = 1, col 1), sagittal at w 1 (row 1, col 3).
        for (s, (r, c)) in [
            (Section::Axial(2), (3, 1)),
            (Section::Coronal(3), (1, 1)),
            (Section::Sagittal(1), (1, 3)),
        ] {
            let (_, _, at) = s.geometry([d, h, w]);
            assert_eq!(labels[at(r, c)], 1);
        }
        let clean = SegSlice {
            image: vec![0.5; n],
            labels: labels.clone(),
            channels: 1,
            height: d * h,
            width: w,
        };
        let dir = std::env::temp_dir().join(format!("mira-volattack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.png");
        save_volume_attack_png(
            &clean,
            d,
            &[0.6; 120],
            0,
            (&labels, &labels),
            10.0,
            2,
            &path,
        )
        .unwrap();
        let img = image::open(&path).unwrap();
        // Rows of 6, 4 and 4 pixels (×2) with two gaps; panels 5 × the widest section.
        assert_eq!(
            (img.width(), img.height()),
            (5 * 6 * 2, (6 + 4 + 4) * 2 + 4)
        );
        assert!(
            save_volume_attack_png(&clean, 7, &[0.6; 120], 0, (&labels, &labels), 1.0, 1, &path)
                .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
