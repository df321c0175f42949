//! Medical image I/O for Mira: NIfTI-1 volumes read as `f32` with their geometry, and written
//! back with the geometry of a source file; DICOM files read as `f32` after the modality LUT.
//!
//! Readers never trust a header: sizes are checked against the bytes actually present (and
//! against [`MAX_VOXELS`]) before anything is allocated, so truncated, corrupted or hostile
//! files give an [`IoError`], never a panic or an unbounded allocation.

mod dicom_frames;
mod dicom_read;
mod dicom_scan;
mod dicom_series;
mod dicom_write;
mod error;
mod image2d;
mod medical;
mod nifti_read;
mod nifti_write;
mod shared;
mod volume;

pub use dicom_read::{DicomInfo, read_dicom, read_dicom_bytes};
pub use dicom_series::{SeriesFiles, read_dicom_series, read_dicom_series_files};
pub use dicom_write::{new_uid, write_dicom_like};
pub use error::{IoError, Result};
pub use image2d::{ImageInfo, read_image_2d, write_png};
pub use medical::{MedicalSource, image_stem, is_medical_path, read_medical, write_medical_like};
pub use nifti_read::{NiftiInfo, read_nifti, read_nifti_bytes};
pub use nifti_write::{write_nifti, write_nifti_like};
pub use shared::shared_data_dir;
pub use volume::Volume;

/// Largest number of voxels a reader accepts (2^31, 8 GiB as f32).
pub const MAX_VOXELS: usize = 1 << 31;

/// `PID-N`, unique per call within the process: names temporary files so that concurrent
/// writers (threads or processes) in one folder never share one.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
