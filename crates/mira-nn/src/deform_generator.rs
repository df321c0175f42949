//! The learned synthesis attacker of study S2: a small CNN that maps an image and a requested
//! damage Δ to deformation and bias-field control values, so one network attacks unseen images
//! without a per-image optimisation.
//!
//! Input: the image channels plus one constant channel holding Δ. Four stride-2 3×3
//! convolutions with ReLU (widths w, 2w, 4w, 4w), then adaptive average pooling to each
//! control grid and a 1×1 convolution head per output, squashed by `tanh` into `(-1, 1)`: the
//! caller multiplies by the threat model's bounds, so the generator can never leave them. No
//! BatchNorm: training and evaluation compute the same function.

use crate::fast_conv::conv2d_layer;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::NnError;

/// Configuration of a [`DeformGenerator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeformGeneratorConfig {
    /// Image channels.
    pub in_channels: usize,
    /// Width of the first convolution.
    pub width: usize,
    /// Deformation control points per side.
    pub grid: usize,
    /// Bias control points per side.
    pub bias_grid: usize,
}

impl Default for DeformGeneratorConfig {
    fn default() -> Self {
        Self {
            in_channels: 1,
            width: 8,
            grid: 6,
            bias_grid: 4,
        }
    }
}

/// See [`DeformGeneratorConfig`].
#[derive(Module, Debug)]
pub struct DeformGenerator {
    convs: Vec<Conv2d>,
    pool_disp: AdaptiveAvgPool2d,
    pool_bias: AdaptiveAvgPool2d,
    head_disp: Conv2d,
    head_bias: Conv2d,
}

impl DeformGeneratorConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`NnError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: &str| {
            Err(NnError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if !(1..=64).contains(&self.in_channels) {
            return bad("in_channels", "must be in 1..=64");
        }
        if !(1..=64).contains(&self.width) {
            return bad("width", "must be in 1..=64");
        }
        if !(4..=64).contains(&self.grid) || !(4..=64).contains(&self.bias_grid) {
            return bad("grid", "control grids need 4..=64 points per side");
        }
        Ok(())
    }

    /// Builds the generator (call under [`crate::seeded`] for reproducible weights).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init(&self, device: &Device) -> crate::Result<DeformGenerator> {
        self.validate()?;
        let w = self.width;
        let widths = [self.in_channels + 1, w, 2 * w, 4 * w, 4 * w];
        let convs = widths
            .windows(2)
            .map(|p| {
                Conv2dConfig::new([p[0], p[1]], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        let head = |cout| Conv2dConfig::new([4 * w, cout], [1, 1]).init(device);
        let net = DeformGenerator {
            convs,
            pool_disp: AdaptiveAvgPool2dConfig::new([self.grid, self.grid]).init(),
            pool_bias: AdaptiveAvgPool2dConfig::new([self.bias_grid, self.bias_grid]).init(),
            head_disp: head(2),
            head_bias: head(1),
        };
        let _ = net.forward(
            Tensor::zeros([1, self.in_channels, 32, 32], device),
            Tensor::zeros([1], device),
        );
        Ok(net)
    }

    /// [`Self::init`] under a seed.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> crate::Result<DeformGenerator> {
        crate::seeded(device, seed, |d| self.init(d))
    }
}

impl DeformGenerator {
    /// Control values in `(-1, 1)`: displacements `[B, 2, g, g]` and log-bias `[B, 1, gb, gb]`,
    /// for images `x` `[B, C, H, W]` and requested damages `target` `[B]`.
    pub fn forward(&self, x: Tensor<4>, target: Tensor<1>) -> (Tensor<4>, Tensor<4>) {
        let [b, _, h, w] = x.dims();
        let t = target.reshape([b, 1, 1, 1]).expand([b, 1, h, w]);
        let mut z = Tensor::cat(vec![x, t], 1);
        for c in &self.convs {
            z = relu(conv2d_layer(c, z));
        }
        let disp = self
            .head_disp
            .forward(self.pool_disp.forward(z.clone()))
            .tanh();
        let bias = self.head_bias.forward(self.pool_bias.forward(z)).tanh();
        (disp, bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_device;

    #[test]
    fn outputs_have_the_grid_shapes_and_stay_in_the_open_unit_interval() {
        let dev = default_device();
        let g = DeformGeneratorConfig::default()
            .init_seeded(3, &dev)
            .unwrap();
        let x = Tensor::<4>::random([2, 1, 64, 64], burn::tensor::Distribution::Default, &dev);
        let (d, b) = g.forward(x.clone(), Tensor::from_floats([0.1, 0.3], &dev));
        assert_eq!(d.dims(), [2, 2, 6, 6]);
        assert_eq!(b.dims(), [2, 1, 4, 4]);
        let d = crate::tensor_to_vec(d);
        assert!(d.iter().all(|v| v.abs() < 1.0));
        // The target channel changes the output.
        let (d2, _) = g.forward(x, Tensor::from_floats([0.5, 0.3], &dev));
        assert_ne!(d[..72], crate::tensor_to_vec(d2)[..72]);
        assert!(
            DeformGeneratorConfig {
                grid: 2,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
