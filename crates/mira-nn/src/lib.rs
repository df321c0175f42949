//! Networks and tasks for Mira, on burn 0.22 (`Tensor`, `Module` and `Device` are not generic
//! over a backend; the backend is chosen by the [`Device`]).
//!
//! - Models implement [`Forward`]: one input tensor in, one output tensor out. That is all an
//!   attack needs from a network.
//! - Tasks turn a model output and a target into a **per-sample** differentiable loss (`[B]`),
//!   so that every attack can maximise it sample by sample, and into host-side clinical
//!   scores (Dice per label, ...).
//! - [`checkpoint`] saves and loads a model as its config (JSON) plus its weights (burnpack),
//!   written atomically; [`load_torch_unet`] imports PyTorch weights from safetensors.

mod age_checkpoint;
mod age_net;
pub mod checkpoint;
pub mod conv_bn;
mod deform_generator;
mod device;
pub mod fast_conv;
mod forward;
mod generator_checkpoint;
mod pair_checkpoint;
mod pair_net;
mod reg3d;
pub mod regression;
pub mod segmentation;
mod shape_checkpoint;
mod shape_net;
pub mod sliding_window;
mod tensor_io;
pub mod tissue_features;
mod torch_import;
mod unet;
mod unet3d;
mod unet3d_block;
mod unet3d_checkpoint;
mod unet_block;

pub use age_checkpoint::{AGE_FORMAT, AgeNetMeta, load_age_net, read_age_meta, save_age_net};
pub use age_net::{AgeFeatureConfig, AgeNet, AgeNetConfig};
pub use deform_generator::{DeformGenerator, DeformGeneratorConfig};
pub use device::{
    DeviceChoice, autodiff_device, default_device, default_is_cpu, seeded, select_device,
};
pub use forward::Forward;
pub use generator_checkpoint::{GENERATOR_FORMAT, GeneratorMeta, load_generator, save_generator};
pub use pair_checkpoint::{PAIR_FORMAT, PairNetMeta, load_pair_net, read_pair_meta, save_pair_net};
pub use pair_net::{PairMode, PairNet, PairNetConfig};
pub use reg3d::{Reg3d, Reg3dConfig};
pub use shape_checkpoint::{
    SHAPE_FORMAT, ShapeNetMeta, load_shape_net, read_shape_meta, save_shape_net,
};
pub use shape_net::{ShapeNet, ShapeNetConfig, ShapeOutput};
pub use sliding_window::{Blend, SlidingWindow, WindowPlan};
pub use tensor_io::{argmax_labels, images_to_tensor, one_hot, tensor_to_vec};
pub use tissue_features::{TissueMode, TissueModel};
pub use torch_import::load_torch_unet;
pub use unet::{UNet, UNetConfig};
pub use unet3d::{UNet3d, UNet3dConfig};
pub use unet3d_block::NormKind;
pub use unet3d_checkpoint::{
    UNET3D_FORMAT, UNet3dMeta, load_unet3d, read_unet3d_meta, save_unet3d,
};

/// Errors from models, tasks and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// Sizes of host data and tensors disagree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A model configuration is invalid.
    #[error("invalid model config `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    /// The requested compute device is not built in or not usable.
    #[error("device: {0}")]
    Device(String),
    /// A model run inside an inferer failed.
    #[error("{0}")]
    Model(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, NnError>;
