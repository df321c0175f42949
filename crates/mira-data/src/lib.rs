//! Data for Mira: multi-channel 2D slices with label maps, and the seeded phantoms that stand in
//! for cohorts that cannot be shipped (BraTS-like brain tumour MR for study S1; chest
//! radiographs and natural-like images with known rigid transforms for study S0; ageing 3D
//! brains for study S3).
//!
//! Everything here is plain host memory (`Vec<f32>` in channel-major order), so the data layer
//! can be tested, generated and written without a tensor library. Every random choice takes an
//! explicit seed, and item `i` of a phantom set depends only on `(seed, i)`: subsets and
//! resumed runs see the same images.

mod abdomen_phantom;
mod age_mni;
mod age_phantom;
mod brain_anatomy;
mod brain_phantom;
mod brain_volume;
mod contour;
mod natural_phantom;
mod png;
mod png_reg;
mod png_shape;
mod png_synth;
mod png_volume;
mod png_volume_attack;
mod raster;
mod reg_pairs;
mod rigid;
mod slice;
mod spine_phantom;
mod xray_phantom;

pub use abdomen_phantom::{ABDOMEN_LABELS, AbdomenPhantomConfig, CtSlice};
pub use age_phantom::{AGE_TISSUE_LABELS, AgePhantomConfig, AgeSubject};
pub use brain_anatomy::BrainAnatomy;
pub use brain_phantom::{BRAIN_MR_CHANNELS, BRAIN_TUMOUR_LABELS, BrainPhantomConfig};
pub use contour::{mask_dice, mean_point_distance, polygon_area, polygon_mask, resample_closed};
pub use natural_phantom::natural_phantom;
pub use png::{save_attack_png, save_label_overlay_png, save_mosaic_png};
pub use png_reg::{RegPicture, save_registration_png};
pub use png_shape::{ShapePicture, save_shape_png};
pub use png_synth::{SynthPicture, save_synthesis_png};
pub use png_volume::{VolumeRow, save_volume_slices_png};
pub use png_volume_attack::save_volume_attack_png;
pub use reg_pairs::{RegPair, RegPairConfig, RegSource, downsample, make_pair, make_pairs};
pub use rigid::{Rigid2d, bilinear, rigid_pair, tre, tre_grid};
pub use slice::{SegDataset, SegSlice};
pub use spine_phantom::{DISK_POINTS, SHAPE_MODES, ShapeSample, SpinePhantomConfig, disk_shape};
pub use xray_phantom::xray_phantom;

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
