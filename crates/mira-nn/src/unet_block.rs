//! The UNet's convolution block: two (3×3 conv, BatchNorm, ReLU), optionally residual.

use crate::conv_bn::{conv_bn, conv_bn_relu};
use crate::fast_conv::conv2d_layer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// `2 × (conv3x3 pad 1 + BatchNorm + ReLU)`; with `skip`, a 1×1 projection of the input is
/// added before the last ReLU (a residual block).
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    skip: Option<Conv2d>,
}

impl ConvBlock {
    /// A block from `cin` to `cout` channels.
    pub fn new(cin: usize, cout: usize, residual: bool, device: &Device) -> Self {
        let conv = |a, b| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(cin, cout),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv(cout, cout),
            bn2: BatchNormConfig::new(cout).init(device),
            skip: residual.then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    /// The two convolutions and BatchNorms, for weight import.
    pub(crate) fn layers_mut(
        &mut self,
    ) -> (&mut Conv2d, &mut BatchNorm, &mut Conv2d, &mut BatchNorm) {
        (
            &mut self.conv1,
            &mut self.bn1,
            &mut self.conv2,
            &mut self.bn2,
        )
    }

    /// # Shapes
    /// `[B, cin, H, W] -> [B, cout, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = conv_bn_relu(&self.conv1, &self.bn1, x.clone());
        match &self.skip {
            Some(skip) => relu(conv_bn(&self.conv2, &self.bn2, h) + conv2d_layer(skip, x)),
            None => conv_bn_relu(&self.conv2, &self.bn2, h),
        }
    }
}
