//! Host-side metrics of every task, each a pure function with a test table of reference
//! values: Dice per label and of binary masks (segmentation, polygon overlap), target
//! agreement (targeted segmentation), point distances (TRE of registration, MRSE of contours),
//! scalar errors (brain age), ROC AUC (out-of-distribution detection) and the percentile
//! Hausdorff distance of masks (HD95, volumetric segmentation); SSIM and PSNR (the
//! perceptibility of a perturbation).

mod auc;
mod dice;
mod errors;
mod hausdorff;
mod lesions;
mod points;
mod ssim;
mod target;

pub use auc::roc_auc;
pub use dice::{DiceOptions, dice_per_label, mask_dice, mean_defined, paired_means};
pub use errors::{mean_absolute_error, mean_signed_error};
pub use hausdorff::hausdorff_distance;
pub use lesions::{connected_components, lesion_dice, lesion_hd95};
pub use points::{mean_distance, rms_distance};
pub use ssim::{SsimOptions, psnr, ssim_per_channel};
pub use target::target_agreement;
