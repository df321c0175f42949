//! The 3D UNet's convolution block: two (3×3×3 conv, norm, LeakyReLU 0.01), the first one
//! strided to down-sample, optionally residual; and its normalisation layer.
//!
//! nnU-Net's `PlainConvUNet` and `ResidualEncoderUNet` build their stages this way (strided
//! convolution instead of pooling, instance norm, LeakyReLU 0.01); MONAI's `UNet` likewise
//! down-samples with strided convolutions.

use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, InstanceNorm, InstanceNormConfig, PaddingConfig3d};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use serde::{Deserialize, Serialize};

use crate::fast_conv::conv3d_layer;

/// Slope of the LeakyReLU after every normalisation (nnU-Net's 0.01).
pub const LEAKY_SLOPE: f64 = 0.01;

/// Which normalisation the blocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// Instance norm with affine parameters (nnU-Net's default): per sample and channel, so
    /// samples never mix, in training as in evaluation.
    #[default]
    Instance,
    /// BatchNorm (running statistics in evaluation).
    Batch,
}

/// A normalisation layer of either kind.
#[derive(Module, Debug)]
pub enum Norm3d {
    /// Instance norm.
    Instance(InstanceNorm),
    /// BatchNorm.
    Batch(BatchNorm),
}

impl Norm3d {
    fn new(kind: NormKind, channels: usize, device: &Device) -> Self {
        match kind {
            NormKind::Instance => Norm3d::Instance(InstanceNormConfig::new(channels).init(device)),
            NormKind::Batch => Norm3d::Batch(BatchNormConfig::new(channels).init(device)),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        match self {
            Norm3d::Instance(n) => n.forward(x),
            Norm3d::Batch(n) => crate::fast_conv::batch_norm_layer(n, x),
        }
    }
}

/// `conv3 (stride s) → norm → LeakyReLU → conv3 → norm (+ 1×1×1 projection of the input,
/// stride s, when residual) → LeakyReLU`.
#[derive(Module, Debug)]
pub struct Block3d {
    conv1: Conv3d,
    norm1: Norm3d,
    conv2: Conv3d,
    norm2: Norm3d,
    skip: Option<Conv3d>,
}

impl Block3d {
    /// A block from `cin` to `cout` channels whose first convolution has stride `stride`.
    pub fn new(
        (cin, cout): (usize, usize),
        stride: usize,
        residual: bool,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        let conv = |a, b, s| {
            Conv3dConfig::new([a, b], [3, 3, 3])
                .with_stride([s; 3])
                .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(cin, cout, stride),
            norm1: Norm3d::new(norm, cout, device),
            conv2: conv(cout, cout, 1),
            norm2: Norm3d::new(norm, cout, device),
            skip: residual.then(|| {
                Conv3dConfig::new([cin, cout], [1, 1, 1])
                    .with_stride([stride; 3])
                    .init(device)
            }),
        }
    }

    /// # Shapes
    /// `[B, cin, D, H, W] -> [B, cout, D/s, H/s, W/s]`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let h = leaky_relu(
            self.norm1.forward(conv3d_layer(&self.conv1, x.clone())),
            LEAKY_SLOPE,
        );
        let h = self.norm2.forward(conv3d_layer(&self.conv2, h));
        let h = match &self.skip {
            Some(skip) => h + conv3d_layer(skip, x),
            None => h,
        };
        leaky_relu(h, LEAKY_SLOPE)
    }
}
