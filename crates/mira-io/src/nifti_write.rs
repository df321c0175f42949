//! NIfTI-1 writing: an adversarial (or any derived) volume saved with the geometry of its source.

use std::path::Path;

use ndarray::{Array, IxDyn, ShapeBuilder};
use nifti::writer::WriterOptions;

use crate::{IoError, NiftiInfo, Result, Volume};

/// Writes `volume` as float32 to `path` (`.nii` or `.nii.gz`), copying every geometric field
/// (pixdim, qform, sform, units, description) from the source header in `like`. The file is
/// written beside the target and renamed, so a reader never sees half a file.
///
/// # Errors
/// The volume's dimensions differ from the source's, or writing fails.
pub fn write_nifti_like(path: &Path, volume: &Volume, like: &NiftiInfo) -> Result<()> {
    let name = path.display().to_string();
    let nd = like.header.dim[0] as usize;
    let src: Vec<usize> = like.header.dim[1..=nd.min(7)]
        .iter()
        .map(|&d| d as usize)
        .collect();
    let trimmed = |v: &[usize]| {
        let mut v = v.to_vec();
        while v.len() > 3 && v.last() == Some(&1) {
            v.pop();
        }
        v
    };
    if trimmed(&src) != trimmed(&volume.dims) || volume.data.len() != volume.dims.iter().product() {
        return Err(IoError::malformed(
            &name,
            format!(
                "volume of dims {:?} cannot take the geometry of a source of dims {src:?}",
                volume.dims
            ),
        ));
    }
    let mut header = like.header.clone();
    header.scl_slope = 1.0;
    header.scl_inter = 0.0;
    write_with_header(path, volume, &header)
}

/// Writes `volume` as float32 to `path` (`.nii` or `.nii.gz`) with a fresh header: its dims,
/// its spacing as pixdim and its affine as the sform (code 2, aligned), millimetres. For
/// volumes Mira made itself (a universal perturbation, a phantom); written atomically.
///
/// # Errors
/// More than 7 dimensions, a data length that disagrees with the dims, or writing fails.
pub fn write_nifti(path: &Path, volume: &Volume) -> Result<()> {
    let name = path.display().to_string();
    if volume.dims.is_empty()
        || volume.dims.len() > 7
        || volume.data.len() != volume.dims.iter().product::<usize>()
        || volume.dims.iter().any(|&d| d == 0 || d > i16::MAX as usize)
    {
        return Err(IoError::malformed(
            &name,
            format!(
                "cannot write a volume of dims {:?} and {} values",
                volume.dims,
                volume.data.len()
            ),
        ));
    }
    let mut header = nifti::NiftiHeader {
        dim: [1; 8],
        ..Default::default()
    };
    header.dim[0] = volume.dims.len() as u16;
    header.pixdim = [1.0; 8];
    for (k, &d) in volume.dims.iter().enumerate() {
        header.dim[k + 1] = d as u16;
        header.pixdim[k + 1] = volume.spacing.get(k).copied().unwrap_or(1.0);
    }
    header.sform_code = 2;
    header.qform_code = 0;
    let row = |r: &[f64; 4]| r.map(|v| v as f32);
    header.srow_x = row(&volume.affine[0]);
    header.srow_y = row(&volume.affine[1]);
    header.srow_z = row(&volume.affine[2]);
    header.xyzt_units = 2;
    write_with_header(path, volume, &header)
}

fn write_with_header(path: &Path, volume: &Volume, header: &nifti::NiftiHeader) -> Result<()> {
    let name = path.display().to_string();
    // Data are x-fastest: a Fortran-order array indexed [x, y, z, ...].
    let array = Array::from_shape_vec(IxDyn(&volume.dims).f(), volume.data.clone())
        .map_err(|e| IoError::malformed(&name, e.to_string()))?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let gz = file_name.to_ascii_lowercase().ends_with(".gz");
    // The writer re-derives extensions from the first dot: no other dot in the temporary name.
    let tmp = path.with_file_name(format!(
        "mira-partial-{}{}",
        crate::unique_suffix(),
        if gz { ".nii.gz" } else { ".nii" }
    ));
    WriterOptions::new(&tmp)
        .reference_header(header)
        .compress(gz)
        .write_nifti(&array)
        .map_err(|e| IoError::malformed(&name, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|source| IoError::Io { path: name, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_header_round_trips_dims_spacing_affine_and_values() {
        let dir = std::env::temp_dir().join(format!("mira-niiw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vol = Volume {
            dims: vec![4, 3, 2],
            spacing: vec![3.0, 3.0, 2.5],
            affine: [
                [3.0, 0.0, 0.0, -6.0],
                [0.0, 3.0, 0.0, -4.5],
                [0.0, 0.0, 2.5, 1.0],
            ],
            data: (0..24).map(|i| i as f32 * 0.25 - 1.0).collect(),
        };
        for name in ["d.nii", "d.nii.gz"] {
            let path = dir.join(name);
            write_nifti(&path, &vol).unwrap();
            let (back, _) = crate::read_nifti(&path).unwrap();
            assert_eq!(back.dims, vol.dims);
            assert_eq!(back.spacing[..3], vol.spacing[..]);
            assert_eq!(back.affine, vol.affine);
            assert_eq!(back.data, vol.data);
        }
        let bad = Volume {
            data: vec![0.0; 5],
            ..vol
        };
        assert!(write_nifti(&dir.join("bad.nii"), &bad).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
