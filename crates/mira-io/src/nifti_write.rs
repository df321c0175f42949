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
    let mut header = like.header.clone();
    header.scl_slope = 1.0;
    header.scl_inter = 0.0;
    WriterOptions::new(&tmp)
        .reference_header(&header)
        .compress(gz)
        .write_nifti(&array)
        .map_err(|e| IoError::malformed(&name, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|source| IoError::Io { path: name, source })
}
