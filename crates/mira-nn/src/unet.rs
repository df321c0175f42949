//! 2D UNet for segmentation (Ronneberger et al. 2015), plain or residual.
//!
//! The plain variant with `base_width = 16, depth = 3` is layer for layer the `UNet2d` of the
//! reference benchmark (../shared/bench/reference_models.py): widths 16/32/64/128, 2×2 max-pool
//! down, 2×2 stride-2 transposed convolution up, skip concatenation, 1×1 head; 483,636
//! parameters. The residual variant adds a 1×1 projection shortcut to every block and is
//! usually built one level deeper.

use crate::fast_conv::{conv_transpose2d_layer, conv2d_layer, max_pool2d_layer};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

use crate::unet_block::ConvBlock;
use crate::{Forward, NnError};

/// Configuration of a [`UNet`].
#[derive(Config, Debug, PartialEq)]
pub struct UNetConfig {
    /// Input channels (4 for T1, T1c, T2, FLAIR).
    #[config(default = 4)]
    pub in_channels: usize,
    /// Output classes, background included.
    #[config(default = 4)]
    pub classes: usize,
    /// Channels of the first level; level `i` has `base_width * 2^i`.
    #[config(default = 16)]
    pub base_width: usize,
    /// Number of 2× down-samplings (input sides must be divisible by `2^depth`).
    #[config(default = 3)]
    pub depth: usize,
    /// Residual blocks (1×1 projection shortcut) instead of plain ones.
    #[config(default = false)]
    pub residual: bool,
}

/// A 2D UNet; see [`UNetConfig`].
#[derive(Module, Debug)]
pub struct UNet {
    encoders: Vec<ConvBlock>,
    pool: MaxPool2d,
    ups: Vec<ConvTranspose2d>,
    decoders: Vec<ConvBlock>,
    head: Conv2d,
}

impl UNetConfig {
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
        if self.in_channels == 0 || self.in_channels > 64 {
            return bad("in_channels", "must be in 1..=64");
        }
        if !(2..=64).contains(&self.classes) {
            return bad("classes", "must be in 2..=64");
        }
        if !(1..=128).contains(&self.base_width) {
            return bad("base_width", "must be in 1..=128");
        }
        if !(1..=6).contains(&self.depth) {
            return bad("depth", "must be in 1..=6");
        }
        Ok(())
    }

    /// Builds the network with freshly initialised weights (seed the device first).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init(&self, device: &Device) -> crate::Result<UNet> {
        self.validate()?;
        let w = |i: usize| self.base_width << i;
        let encoders = (0..=self.depth)
            .map(|i| {
                ConvBlock::new(
                    if i == 0 { self.in_channels } else { w(i - 1) },
                    w(i),
                    self.residual,
                    device,
                )
            })
            .collect();
        let ups = (0..self.depth)
            .rev()
            .map(|i| {
                ConvTranspose2dConfig::new([w(i + 1), w(i)], [2, 2])
                    .with_stride([2, 2])
                    .init(device)
            })
            .collect();
        let decoders = (0..self.depth)
            .rev()
            .map(|i| ConvBlock::new(2 * w(i), w(i), self.residual, device))
            .collect();
        Ok(UNet {
            encoders,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            ups,
            decoders,
            head: Conv2dConfig::new([w(0), self.classes], [1, 1]).init(device),
        })
    }
}

impl UNetConfig {
    /// Builds and materialises the network from `seed`, reproducibly even with other threads
    /// drawing random numbers (see [`crate::seeded`]).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> crate::Result<UNet> {
        crate::seeded(device, seed, |d| {
            let net = self.init(d)?;
            let side = 1usize << self.depth;
            let _ = net.logits(Tensor::zeros([1, self.in_channels, side, side], d));
            Ok(net)
        })
    }
}

impl UNet {
    /// Logits.
    ///
    /// # Shapes
    /// `[B, in_channels, H, W] -> [B, classes, H, W]`, `H` and `W` divisible by `2^depth`.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<4> {
        let depth = self.ups.len();
        let mut skips = Vec::with_capacity(depth);
        let mut h = x;
        for (i, enc) in self.encoders.iter().enumerate() {
            if i > 0 {
                h = max_pool2d_layer(&self.pool, h);
            }
            h = enc.forward(h);
            if i < depth {
                skips.push(h.clone());
            }
        }
        for (up, dec) in self.ups.iter().zip(&self.decoders) {
            let skip = skips.pop().expect("one skip per level");
            h = dec.forward(Tensor::cat(vec![conv_transpose2d_layer(up, h), skip], 1));
        }
        conv2d_layer(&self.head, h)
    }
}

impl UNet {
    /// Encoders, up-convolutions, decoders and head, for weight import.
    pub(crate) fn layers_mut(
        &mut self,
    ) -> (
        &mut [ConvBlock],
        &mut [ConvTranspose2d],
        &mut [ConvBlock],
        &mut Conv2d,
    ) {
        (
            &mut self.encoders,
            &mut self.ups,
            &mut self.decoders,
            &mut self.head,
        )
    }

    /// The same network with its logits multiplied by `factor` (the 1×1 head's weights and bias
    /// scaled). Defensive distillation trains `g = z / T` and deploys `z = T g` this way.
    pub fn scale_logits(mut self, factor: f32) -> Self {
        let w = (self.head.weight.val() * factor).detach();
        self.head.weight = burn::module::Param::from_tensor(w);
        if let Some(b) = self.head.bias.take() {
            self.head.bias = Some(burn::module::Param::from_tensor(
                (b.val() * factor).detach(),
            ));
        }
        self
    }
}

impl Forward<4, 4> for UNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.logits(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unet_matches_the_reference_benchmark_parameter_count() {
        // ../shared/bench/reference_models.py: UNet2d() has 483,636 parameters.
        let net = UNetConfig::new().init(&crate::default_device()).unwrap();
        // BatchNorm running mean/var are buffers in PyTorch, parameters in burn: 2 per channel
        // of the 14 BatchNorms (16*4 + 32*4 + 64*4 + 128*2 channels... counted below).
        let bn_channels: usize = [16, 16, 32, 32, 64, 64, 128, 128, 64, 64, 32, 32, 16, 16]
            .iter()
            .sum();
        assert_eq!(net.num_params() - 2 * bn_channels, 483_636);
    }

    #[test]
    fn shapes_for_both_variants() {
        let dev = crate::default_device();
        for (residual, depth) in [(false, 2), (true, 3)] {
            let cfg = UNetConfig::new()
                .with_base_width(4)
                .with_depth(depth)
                .with_residual(residual);
            let net = cfg.init(&dev).unwrap();
            let y = net.logits(Tensor::zeros([2, 4, 16, 16], &dev));
            assert_eq!(y.dims(), [2, 4, 16, 16]);
        }
        assert!(UNetConfig::new().with_depth(0).init(&dev).is_err());
    }

    #[test]
    fn scaled_logits_are_exactly_scaled() {
        let dev = crate::default_device();
        let net = UNetConfig::new()
            .with_base_width(4)
            .with_depth(2)
            .init_seeded(1, &dev)
            .unwrap();
        let x = Tensor::<4>::ones([1, 4, 8, 8], &dev) * 0.3;
        let a = crate::tensor_to_vec(net.logits(x.clone()));
        let b = crate::tensor_to_vec(net.scale_logits(50.0).logits(x));
        for (p, q) in a.iter().zip(&b) {
            assert!((p * 50.0 - q).abs() <= 1e-4 * q.abs().max(1.0), "{p} {q}");
        }
    }
}
