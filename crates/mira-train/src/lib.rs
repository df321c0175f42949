//! Training loops for Mira's networks, written by hand on burn's autodiff and Adam.
//!
//! One loop for every trainer (`train_loop.rs`: step, validate every N, keep the best,
//! events); each trainer brings its step and its validation. The training-time defences
//! (defensive distillation, adversarial training) change what a batch contains (adversarial
//! examples, soft labels, temperature) rather than the loop.

mod adversarial_fast;
mod age;
mod batch;
mod defence;
mod evaluate;
mod patch3d;
mod registration;
mod segmentation;
mod shape;
mod shape_stop;
mod soft_labels;
mod synth_generator;
mod train_loop;

pub use age::{
    AgeTrainConfig, AgeTrainReport, AgeValidation, feature_stats, fit_tissue_model, predict_age,
    train_age, volumes_tensor,
};
pub use batch::{BatchMaker, TrainBatch};
pub use defence::{AdvAttack, Defence, INPUT_GRADIENT_COST};
pub use evaluate::{predict_labels, validation_dice};
pub use patch3d::{PatchSpec, train_unet3d};
pub use registration::{
    RegTrainConfig, RegTrainReport, RegValidation, pairs_tensor, predict_rigid, rigid_tensor,
    tensor_rigids, train_registration,
};
pub use segmentation::{
    EpochStats, TrainConfig, TrainReport, fit, train_defended, train_segmentation,
};
pub use shape::{
    ShapeTrainConfig, ShapeTrainReport, ShapeValidation, mean_contour, points_tensor,
    predict_points, slices_tensor, train_shape,
};
pub use synth_generator::{GeneratorReport, GeneratorTrainConfig, train_generator};
pub use train_loop::{Schedule, TrainEvent, Trained, Validated, cosine_lr, train_loop};

/// Errors from training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training setting is out of range.
    #[error("invalid training config `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// The data does not fit the model.
    #[error("data: {0}")]
    Data(String),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: loss is {loss}; lower the learning rate")]
    Diverged { step: usize, loss: f32 },
    /// A model or tensor error.
    #[error(transparent)]
    Nn(#[from] mira_nn::NnError),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
