//! Any image Mira reads, by path: a NIfTI file, a DICOM file, a folder of DICOM slices, or a
//! PNG/JPEG; and writing a derived image (an adversarial version) back in the source's format.

use std::path::{Path, PathBuf};

use crate::{
    DicomInfo, ImageInfo, IoError, NiftiInfo, Result, Volume, read_dicom, read_dicom_series_files,
    read_image_2d, read_nifti, write_dicom_like, write_nifti_like, write_png,
};

/// Where a volume came from, with what is needed to write a derived image like it.
#[derive(Debug, Clone)]
pub enum MedicalSource {
    /// A `.nii` / `.nii.gz` file.
    Nifti(NiftiInfo),
    /// One DICOM file.
    Dicom(PathBuf, DicomInfo),
    /// A folder of DICOM slices; entry `k` is slice `k` of the volume.
    DicomSeries(Vec<(PathBuf, DicomInfo)>),
    /// A PNG or JPEG.
    Image2d(ImageInfo),
}

impl MedicalSource {
    /// Short name of the format: `NIfTI`, `DICOM`, `DICOM series`, `PNG`, `JPEG`.
    pub fn format(&self) -> String {
        match self {
            MedicalSource::Nifti(_) => "NIfTI".into(),
            MedicalSource::Dicom(..) => "DICOM".into(),
            MedicalSource::DicomSeries(_) => "DICOM series".into(),
            MedicalSource::Image2d(i) => i.format.clone(),
        }
    }
}

/// Whether `path` names something [`read_medical`] would try: a folder, or a file ending in
/// `.nii`, `.nii.gz`, `.png`, `.jpg`, `.jpeg`, `.dcm`, or a file without an extension (DICOM
/// files often have none). Hidden files are never images.
pub fn is_medical_path(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.starts_with('.') {
        return false;
    }
    if path.is_dir() {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    [".nii", ".nii.gz", ".png", ".jpg", ".jpeg", ".dcm"]
        .iter()
        .any(|e| lower.ends_with(e))
        || !lower.contains('.')
}

/// The file name of `path` without its image extension (`case_t1.nii.gz` → `case_t1`).
pub fn image_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for ext in [".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".dcm"] {
        if lower.ends_with(ext) {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    name
}

/// Reads any supported image: a folder is a DICOM series; `.nii`/`.nii.gz` NIfTI;
/// `.png`/`.jpg`/`.jpeg` a 2D image; anything else is tried as DICOM.
///
/// # Errors
/// The reader's error, which names the file.
pub fn read_medical(path: &Path) -> Result<(Volume, MedicalSource)> {
    if path.is_dir() {
        let (v, _, files) = read_dicom_series_files(path)?;
        return Ok((v, MedicalSource::DicomSeries(files)));
    }
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        let (v, i) = read_nifti(path)?;
        return Ok((v, MedicalSource::Nifti(i)));
    }
    if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) {
        let (v, i) = read_image_2d(path)?;
        return Ok((v, MedicalSource::Image2d(i)));
    }
    let (v, i) = read_dicom(path)?;
    Ok((v, MedicalSource::Dicom(path.to_path_buf(), i)))
}

/// Writes `volume` (same dims and units as the source read by [`read_medical`]) in the
/// source's format to `out`, a file path without extension: the extension of the format is
/// added (`.nii.gz`, `.dcm`, `.png`; a DICOM series becomes a folder `out` holding one file per
/// slice under the source files' names). JPEG sources are written as PNG, since lossy
/// compression would alter the perturbation. `description` goes into DICOM Derivation
/// Description. Every file is written atomically. Returns the path written.
///
/// # Errors
/// A volume that does not match the source, or a failed write.
pub fn write_medical_like(
    out: &Path,
    volume: &Volume,
    source: &MedicalSource,
    description: &str,
) -> Result<PathBuf> {
    let with = |ext: &str| {
        let mut s = out.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    match source {
        MedicalSource::Nifti(info) => {
            let p = with(".nii.gz");
            write_nifti_like(&p, volume, info)?;
            Ok(p)
        }
        MedicalSource::Dicom(src, info) => {
            let p = with(".dcm");
            write_dicom_like(&p, volume, src, info, description)?;
            Ok(p)
        }
        MedicalSource::DicomSeries(files) => {
            let name = out.display().to_string();
            let (w, h) = (volume.dims[0], volume.dims.get(1).copied().unwrap_or(1));
            if volume.dims.len() != 3 || volume.dims[2] != files.len() {
                return Err(IoError::malformed(
                    &name,
                    format!(
                        "volume dims {:?} do not match a series of {} slices",
                        volume.dims,
                        files.len()
                    ),
                ));
            }
            std::fs::create_dir_all(out).map_err(|source| IoError::Io {
                path: name.clone(),
                source,
            })?;
            for (k, (src, info)) in files.iter().enumerate() {
                let slice = Volume {
                    dims: vec![w, h, 1],
                    spacing: volume.spacing.clone(),
                    affine: volume.affine,
                    data: volume.data[k * w * h..(k + 1) * w * h].to_vec(),
                };
                let file = src
                    .file_name()
                    .map_or_else(|| PathBuf::from(format!("slice{k:04}.dcm")), PathBuf::from);
                write_dicom_like(&out.join(file), &slice, src, info, description)?;
            }
            Ok(out.to_path_buf())
        }
        MedicalSource::Image2d(info) => {
            let p = with(".png");
            let sixteen = info.color.contains("16");
            write_png(&p, volume, sixteen)?;
            Ok(p)
        }
    }
}
