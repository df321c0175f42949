//! A small 3D CNN regressor: the `Reg3d` of the reference benchmark, also the 3D toy model of
//! the gradient tests and the starting point of the brain-age network.
//!
//! Four `conv3d(k3, stride 2, pad 1)` with widths 8/16/32/32 and ReLU, global average pool,
//! linear to `outputs`. With one input channel and one output: 45,265 parameters, as in
//! ../shared/bench/reference_models.py.

use crate::fast_conv::conv3d_layer;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig3d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::Forward;

/// Configuration of [`Reg3d`].
#[derive(Config, Debug, PartialEq)]
pub struct Reg3dConfig {
    /// Input channels.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Regressed values.
    #[config(default = 1)]
    pub outputs: usize,
}

/// See [`Reg3dConfig`].
#[derive(Module, Debug)]
pub struct Reg3d {
    convs: Vec<Conv3d>,
    fc: Linear,
}

impl Reg3dConfig {
    /// Builds the network with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Reg3d {
        let widths = [self.in_channels, 8, 16, 32, 32];
        let convs = widths
            .windows(2)
            .map(|w| {
                Conv3dConfig::new([w[0], w[1]], [3, 3, 3])
                    .with_stride([2, 2, 2])
                    .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                    .init(device)
            })
            .collect();
        Reg3d {
            convs,
            fc: LinearConfig::new(32, self.outputs).init(device),
        }
    }
}

impl Reg3dConfig {
    /// Builds and materialises the network from `seed` (see [`crate::seeded`]).
    pub fn init_seeded(&self, seed: u64, device: &Device) -> Reg3d {
        crate::seeded(device, seed, |d| {
            let net = self.init(d);
            let _ = net.forward(Tensor::zeros([1, self.in_channels, 16, 16, 16], d));
            net
        })
    }
}

impl Forward<5, 2> for Reg3d {
    /// # Shapes
    /// `[B, C, D, H, W] -> [B, outputs]`.
    fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        let mut h = x;
        for c in &self.convs {
            h = relu(conv3d_layer(c, h));
        }
        let [b, c, _, _, _] = h.dims();
        self.fc.forward(
            h.reshape([b as i64, c as i64, -1])
                .mean_dim(2)
                .reshape([b, c]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_benchmark_parameter_count() {
        // ../shared/bench/reference_models.py: Reg3d() has 45,265 parameters.
        let net = Reg3dConfig::new().init(&crate::default_device());
        assert_eq!(net.num_params(), 45_265);
        let y = net.forward(Tensor::zeros([2, 1, 16, 16, 16], &crate::default_device()));
        assert_eq!(y.dims(), [2, 1]);
    }
}
