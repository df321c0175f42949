//! Metrics and statistics for robustness studies, on plain host data.
//!
//! This crate knows nothing about tensors or models: it takes label maps, points, per-case
//! scores and paired samples, and returns numbers whose definitions match the references used in the
//! field (Dice as in BraTS with undefined cases skipped; Wilcoxon signed-rank as in SciPy's
//! `scipy.stats.wilcoxon` defaults; Holm's step-down correction). Every reference value in the
//! tests says where it came from.

mod bootstrap;
mod holm;
pub mod metrics;
mod summary;
mod wilcoxon;

pub use bootstrap::bootstrap_mean_ci;
pub use holm::holm;
pub use metrics::{
    DiceOptions, SsimOptions, connected_components, dice_per_label, hausdorff_distance,
    lesion_dice, lesion_hd95, mask_dice, mean_absolute_error, mean_defined, mean_distance,
    mean_signed_error, paired_means, psnr, rms_distance, roc_auc, ssim_per_channel,
    target_agreement,
};
pub use summary::{Summary, quantile};
pub use wilcoxon::{Wilcoxon, WilcoxonMethod, wilcoxon_signed_rank};

/// Errors from statistics on user data.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    /// Two inputs that must pair up element by element have different lengths.
    #[error("length mismatch: {left} vs {right}")]
    LengthMismatch { left: usize, right: usize },
    /// A value was NaN or infinite.
    #[error("non-finite value at index {index}")]
    NonFinite { index: usize },
    /// A test needs at least one informative pair.
    #[error("no informative data: {0}")]
    Empty(&'static str),
    /// A label was outside the declared number of labels.
    #[error("label {label} at index {index} is outside 0..{n_labels}")]
    LabelOutOfRange {
        label: u8,
        index: usize,
        n_labels: usize,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, StatsError>;
