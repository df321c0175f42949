//! Data for Mira: multi-channel 2D slices with label maps, and the seeded phantoms that stand in
//! for cohorts that cannot be shipped (BraTS-like brain tumour MR for study S1).
//!
//! Everything here is plain host memory (`Vec<f32>` in channel-major order), so the data layer
//! can be tested, generated and written without a tensor library. Every random choice takes an
//! explicit seed, and item `i` of a phantom set depends only on `(seed, i)`: subsets and
//! resumed runs see the same images.

mod brain_anatomy;
mod brain_phantom;
mod png;
mod raster;
mod slice;

pub use brain_anatomy::BrainAnatomy;
pub use brain_phantom::{BRAIN_MR_CHANNELS, BRAIN_TUMOUR_LABELS, BrainPhantomConfig};
pub use png::{save_attack_png, save_label_overlay_png, save_mosaic_png};
pub use slice::{SegDataset, SegSlice};

/// Errors from data generation and I/O.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A configuration value is out of range.
    #[error("invalid data config `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// Array sizes that must agree do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Encoding an image failed.
    #[error("{path}: {source}")]
    Image {
        path: String,
        source: image::ImageError,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DataError>;
