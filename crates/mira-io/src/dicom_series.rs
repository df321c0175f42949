//! A folder of single-frame DICOM slices read as one volume.

use std::path::{Path, PathBuf};

use crate::{DicomInfo, IoError, Result, Volume, read_dicom};

/// Reads every DICOM file in `dir` (files without the DICM marker are skipped) as slices of
/// one volume, sorted by position along the slice normal (Image Position / Orientation
/// (Patient)), else by Instance Number, else by file name. The slice step is the median
/// distance between neighbouring positions (1 mm without positions).
///
/// # Errors
/// No DICOM files, multi-frame or colour files, slices of different sizes, or duplicate
/// positions; any slice's read error.
pub fn read_dicom_series(dir: &Path) -> Result<(Volume, DicomInfo)> {
    read_dicom_series_files(dir).map(|(v, i, _)| (v, i))
}

/// The files of a series in volume order, each with its header.
pub type SeriesFiles = Vec<(PathBuf, DicomInfo)>;

/// [`read_dicom_series`], also returning each slice's file and header in volume order
/// (slice `k` of the volume came from entry `k`), for writing a derived series back.
///
/// # Errors
/// As [`read_dicom_series`].
pub fn read_dicom_series_files(dir: &Path) -> Result<(Volume, DicomInfo, SeriesFiles)> {
    let name = dir.display().to_string();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| IoError::Io {
            path: name.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut slices = Vec::new();
    for p in &paths {
        match read_dicom(p) {
            Ok((v, i)) => slices.push((v, i, p.clone())),
            Err(IoError::Malformed { reason, .. }) if reason.starts_with("not a DICOM file") => {}
            Err(e) => return Err(e),
        }
    }
    let Some((first, info0, _)) = slices.first() else {
        return Err(IoError::malformed(&name, "no DICOM files in the folder"));
    };
    let (w, h) = (first.dims[0], first.dims[1]);
    let (sx, sy) = (first.spacing[0] as f64, first.spacing[1] as f64);
    let o = info0.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    for (v, i, _) in &slices {
        if v.dims != [w, h, 1] || i.samples_per_pixel != 1 {
            return Err(IoError::Unsupported {
                path: name,
                reason: format!(
                    "a series needs single-frame grey slices of one size; found dims {:?} \
                     beside {:?}",
                    v.dims,
                    [w, h, 1]
                ),
            });
        }
    }
    let normal = [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ];
    let depth = |i: &DicomInfo| {
        i.position
            .map(|p| p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2])
    };
    let positioned = slices.iter().all(|(_, i, _)| i.position.is_some());
    if positioned {
        slices.sort_by(|a, b| {
            depth(&a.1)
                .unwrap_or(0.0)
                .total_cmp(&depth(&b.1).unwrap_or(0.0))
        });
    } else if slices.iter().all(|(_, i, _)| i.instance.is_some()) {
        slices.sort_by_key(|(_, i, _)| i.instance.unwrap_or(0));
    }
    let mut steps: Vec<f64> = slices
        .windows(2)
        .filter_map(|p| Some(depth(&p[1].1)? - depth(&p[0].1)?))
        .collect();
    if positioned && steps.iter().any(|s| s.abs() < 1e-6) {
        return Err(IoError::malformed(&name, "two slices share one position"));
    }
    steps.sort_by(f64::total_cmp);
    let dz = steps.get(steps.len() / 2).copied().unwrap_or(1.0);
    let mut info = slices[0].1.clone();
    info.files = slices.len();
    let affine = info.affine(sx, sy, dz);
    let n = slices.len();
    let mut files = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(w * h * n);
    for (v, i, p) in slices {
        data.extend(v.data);
        files.push((p, i));
    }
    Ok((
        Volume {
            dims: vec![w, h, n],
            spacing: vec![sx as f32, sy as f32, dz as f32],
            affine,
            data,
        },
        info,
        files,
    ))
}
