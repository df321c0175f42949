//! The S0 registration network: a (fixed, moving) pair in, 2D rigid parameters out.
//!
//! A small ResNet feature backbone — a stride-2 3×3 stem and three stride-2 residual blocks
//! (widths w, 2w, 4w, 4w; BatchNorm; 1×1 projection shortcuts) and a 4×4 adaptive average
//! pool, so features keep where things are — followed by an MLP head (hidden units, ReLU,
//! dropout) regressing (θ, tx, ty). Two ways to see the pair, a config choice:
//! - [`PairMode::Siamese`]: one backbone with shared weights sees each image alone; the two
//!   feature vectors are concatenated (late fusion).
//! - [`PairMode::Stacked`]: the backbone sees the two images as a 2-channel image (early fusion).
//!
//! The head regresses parameters in units of `scales` (so the three outputs are of comparable
//! size during training); [`Forward`] returns them in degrees and pixels.

use crate::conv_bn::{conv_bn, conv_bn_relu};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::{Forward, NnError};

/// How the network sees the two images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PairMode {
    /// Shared-weight backbone per image, features concatenated.
    #[default]
    Siamese,
    /// One backbone on the 2-channel stack.
    Stacked,
}

/// Configuration of a [`PairNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairNetConfig {
    /// Siamese (shared weights) or stacked (2-channel) input.
    pub mode: PairMode,
    /// Channels of the stem; the blocks have 2×, 4×, 4×.
    pub width: usize,
    /// Hidden units of the regression head.
    pub hidden: usize,
    /// Dropout probability in the head during training.
    pub dropout: f64,
    /// Output scales: degrees, pixels, pixels per unit of the head's raw output.
    pub scales: [f32; 3],
}

impl Default for PairNetConfig {
    fn default() -> Self {
        Self {
            mode: PairMode::Siamese,
            width: 16,
            hidden: 128,
            dropout: 0.05,
            scales: [15.0, 10.0, 10.0],
        }
    }
}

/// A residual block: `conv3x3(stride) BN ReLU conv3x3 BN` plus a strided 1×1 projection + BN.
#[derive(Module, Debug)]
struct ResBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    proj: Conv2d,
    bnp: BatchNorm,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        let c3 = |a, b, s| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: c3(cin, cout, 2),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: c3(cout, cout, 1),
            bn2: BatchNormConfig::new(cout).init(device),
            proj: Conv2dConfig::new([cin, cout], [1, 1])
                .with_stride([2, 2])
                .init(device),
            bnp: BatchNormConfig::new(cout).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = conv_bn_relu(&self.conv1, &self.bn1, x.clone());
        let h = conv_bn(&self.conv2, &self.bn2, h);
        relu(h + conv_bn(&self.proj, &self.bnp, x))
    }
}

/// See [`PairNetConfig`].
#[derive(Module, Debug)]
pub struct PairNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<ResBlock>,
    pool: AdaptiveAvgPool2d,
    fc1: Linear,
    dropout: Dropout,
    fc2: Linear,
    scales: [f32; 3],
    siamese: bool,
}

impl PairNetConfig {
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
        if !(1..=128).contains(&self.width) {
            return bad("width", "must be in 1..=128");
        }
        if !(1..=4096).contains(&self.hidden) {
            return bad("hidden", "must be in 1..=4096");
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 0.95)");
        }
        if self.scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return bad("scales", "must be finite and > 0");
        }
        Ok(())
    }

    /// Builds the network with freshly initialised weights (materialised by one forward on a
    /// 32×32 pair, so call it under [`crate::seeded`] for reproducible weights).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init(&self, device: &Device) -> crate::Result<PairNet> {
        self.validate()?;
        let w = self.width;
        let cin = match self.mode {
            PairMode::Siamese => 1,
            PairMode::Stacked => 2,
        };
        let feats = 4 * w * 16 * if self.mode == PairMode::Siamese { 2 } else { 1 };
        let net = PairNet {
            stem: Conv2dConfig::new([cin, w], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            stem_bn: BatchNormConfig::new(w).init(device),
            blocks: vec![
                ResBlock::new(w, 2 * w, device),
                ResBlock::new(2 * w, 4 * w, device),
                ResBlock::new(4 * w, 4 * w, device),
            ],
            pool: AdaptiveAvgPool2dConfig::new([4, 4]).init(),
            fc1: LinearConfig::new(feats, self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(self.hidden, 3).init(device),
            scales: self.scales,
            siamese: self.mode == PairMode::Siamese,
        };
        let _ = net.forward(Tensor::zeros([2, 2, 32, 32], device));
        Ok(net)
    }

    /// [`Self::init`] under a seed (see [`crate::seeded`]).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> crate::Result<PairNet> {
        crate::seeded(device, seed, |d| self.init(d))
    }
}

impl PairNet {
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = conv_bn_relu(&self.stem, &self.stem_bn, x);
        for b in &self.blocks {
            h = b.forward(h);
        }
        let h = self.pool.forward(h);
        let [b, c, hh, ww] = h.dims();
        h.reshape([b, c * hh * ww])
    }

    /// The head's raw output, in units of the scales.
    ///
    /// # Shapes
    /// `[B, 2, H, W] -> [B, 3]`.
    pub fn raw(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, _, h, w] = x.dims();
        let f = if self.siamese {
            // Both images through one backbone as one batch of 2B single-channel images.
            let f = self.features(x.reshape([b * 2, 1, h, w]));
            let d = f.dims()[1];
            f.reshape([b, 2 * d])
        } else {
            self.features(x)
        };
        let h = self.dropout.forward(relu(self.fc1.forward(f)));
        self.fc2.forward(h)
    }

    /// The output scales `[3]` (degrees, pixels, pixels per raw unit).
    pub fn scales(&self) -> [f32; 3] {
        self.scales
    }
}

impl Forward<4, 2> for PairNet {
    /// # Shapes
    /// `[B, 2, H, W]` (channel 0 fixed, 1 moving) `-> [B, 3]` (θ degrees, tx px, ty px).
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let device = x.device();
        self.raw(x) * Tensor::<1>::from_floats(self.scales, &device).unsqueeze::<2>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_device, tensor_to_vec};

    #[test]
    fn both_modes_map_pairs_to_three_parameters_without_mixing_samples() {
        let dev = default_device();
        for mode in [PairMode::Siamese, PairMode::Stacked] {
            let cfg = PairNetConfig {
                mode,
                width: 4,
                ..Default::default()
            };
            let net = cfg.init_seeded(1, &dev).unwrap().valid();
            let x = Tensor::<4>::random([3, 2, 32, 32], burn::tensor::Distribution::Default, &dev);
            let y = net.forward(x.clone());
            assert_eq!(y.dims(), [3, 3]);
            let y1 = net.forward(x.narrow(0, 1, 1));
            let (a, b) = (tensor_to_vec(y), tensor_to_vec(y1));
            for k in 0..3 {
                assert!((a[3 + k] - b[k]).abs() < 1e-4, "{mode:?}: {a:?} vs {b:?}");
            }
        }
        assert!(
            PairNetConfig {
                width: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
