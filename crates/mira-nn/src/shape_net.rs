//! The S4 disk-shape network: a ResNet-18-style encoder with three heads, after the S4 study.
//!
//! Encoder: `conv3×3 stride 2 (w) BN ReLU`, then four stages of two basic residual blocks
//! (ResNet-18's `[2, 2, 2, 2]`) with widths `w, 2w, 4w, 8w`, stages 2–4 halving the
//! resolution (128² → 8² at the default size). Heads:
//! - **points**: the flattened 8² map → `Linear → 2·points`, added to the mean contour (pixels)
//!   after scaling by `point_scale`, so an untrained network predicts the mean shape;
//! - **segmentation**: four `ConvTranspose(k2, s2)` + ReLU stages back to full size, `1×1` to
//!   one logit per pixel (the disk mask);
//! - **reconstruction**: the same decoder shape, sigmoid, reproducing the input (its error is
//!   the out-of-distribution score).
//!
//! [`Forward`] returns the points (`[B, 2·points]`, x then y per point, pixels): what the
//! in-distribution attacks differentiate through. [`ShapeNet::heads`] returns all three.

use crate::conv_bn::{conv_bn, conv_bn_relu};
use crate::fast_conv::{conv_transpose2d_layer, conv2d_layer};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use serde::{Deserialize, Serialize};

use crate::{Forward, NnError};

/// Configuration of a [`ShapeNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeNetConfig {
    /// Side of the square input (a multiple of 16).
    pub size: usize,
    /// Width of the stem; stages have 1×, 2×, 4×, 8×.
    pub width: usize,
    /// Contour points.
    pub points: usize,
    /// Pixels per unit of the point head's raw output.
    pub point_scale: f32,
    /// The mean contour, `[x0, y0, x1, y1, …]` pixels (`2·points` values).
    pub mean_points: Vec<f32>,
}

/// What all three heads say.
#[derive(Debug, Clone)]
pub struct ShapeOutput {
    /// Contour points, `[B, 2·points]` pixels.
    pub points: Tensor<2>,
    /// Mask logits, `[B, 1, S, S]`.
    pub mask_logits: Tensor<4>,
    /// Reconstruction in `[0, 1]`, `[B, 1, S, S]`.
    pub recon: Tensor<4>,
}

/// A basic residual block; the shortcut projects (1×1, BN) when the shape changes.
#[derive(Module, Debug)]
struct Basic {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    proj: Option<Conv2d>,
    bnp: Option<BatchNorm>,
}

impl Basic {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let c3 = |a, b, s| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        let project = stride != 1 || cin != cout;
        Self {
            conv1: c3(cin, cout, stride),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: c3(cout, cout, 1),
            bn2: BatchNormConfig::new(cout).init(device),
            proj: project.then(|| {
                Conv2dConfig::new([cin, cout], [1, 1])
                    .with_stride([stride, stride])
                    .with_bias(false)
                    .init(device)
            }),
            bnp: project.then(|| BatchNormConfig::new(cout).init(device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = conv_bn_relu(&self.conv1, &self.bn1, x.clone());
        let h = conv_bn(&self.conv2, &self.bn2, h);
        let skip = match (&self.proj, &self.bnp) {
            (Some(p), Some(b)) => conv_bn(p, b, x),
            _ => x,
        };
        relu(h + skip)
    }
}

/// Four 2× transposed-convolution stages and a 1×1 to one channel.
#[derive(Module, Debug)]
struct Decoder {
    ups: Vec<ConvTranspose2d>,
    out: Conv2d,
}

impl Decoder {
    fn new(w: usize, device: &Device) -> Self {
        let widths = [8 * w, 4 * w, 2 * w, w, w];
        Self {
            ups: widths
                .windows(2)
                .map(|p| {
                    ConvTranspose2dConfig::new([p[0], p[1]], [2, 2])
                        .with_stride([2, 2])
                        .init(device)
                })
                .collect(),
            out: Conv2dConfig::new([w, 1], [1, 1]).init(device),
        }
    }

    fn forward(&self, mut h: Tensor<4>) -> Tensor<4> {
        for u in &self.ups {
            h = relu(conv_transpose2d_layer(u, h));
        }
        conv2d_layer(&self.out, h)
    }
}

/// See [`ShapeNetConfig`].
#[derive(Module, Debug)]
pub struct ShapeNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<Basic>,
    points: Linear,
    seg: Decoder,
    recon: Decoder,
    point_scale: f32,
    mean_points: Vec<f32>,
}

impl ShapeNetConfig {
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
        if !(32..=512).contains(&self.size) || !self.size.is_multiple_of(16) {
            return bad("size", "must be a multiple of 16 in 32..=512");
        }
        if !(1..=128).contains(&self.width) {
            return bad("width", "must be in 1..=128");
        }
        if !(3..=4096).contains(&self.points) || self.mean_points.len() != 2 * self.points {
            return bad("mean_points", "need 2 values per point (3..=4096 points)");
        }
        if !(self.point_scale.is_finite() && self.point_scale > 0.0)
            || self.mean_points.iter().any(|v| !v.is_finite())
        {
            return bad("point_scale", "point_scale > 0 and finite mean points");
        }
        Ok(())
    }

    /// Builds the network with fresh weights.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init(&self, device: &Device) -> crate::Result<ShapeNet> {
        self.validate()?;
        let w = self.width;
        let mut blocks = Vec::new();
        for (stage, cout) in [w, 2 * w, 4 * w, 8 * w].into_iter().enumerate() {
            let cin = if stage == 0 { w } else { cout / 2 };
            blocks.push(Basic::new(
                cin,
                cout,
                if stage == 0 { 1 } else { 2 },
                device,
            ));
            blocks.push(Basic::new(cout, cout, 1, device));
        }
        let side = self.size / 16;
        Ok(ShapeNet {
            stem: Conv2dConfig::new([1, w], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(w).init(device),
            blocks,
            points: LinearConfig::new(8 * w * side * side, 2 * self.points).init(device),
            seg: Decoder::new(w, device),
            recon: Decoder::new(w, device),
            point_scale: self.point_scale,
            mean_points: self.mean_points.clone(),
        })
    }

    /// Builds and materialises the network from `seed` (see [`crate::seeded`]).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> crate::Result<ShapeNet> {
        self.validate()?;
        crate::seeded(device, seed, |d| {
            let net = self.init(d).expect("validated");
            let _ = net.heads(Tensor::zeros([1, 1, self.size, self.size], d));
            Ok(net)
        })
    }
}

impl ShapeNet {
    fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = conv_bn_relu(&self.stem, &self.stem_bn, x);
        for b in &self.blocks {
            h = b.forward(h);
        }
        h
    }

    fn point_head(&self, h: Tensor<4>) -> Tensor<2> {
        let b = h.dims()[0];
        let n = self.mean_points.len();
        let mean =
            Tensor::<1>::from_floats(self.mean_points.as_slice(), &h.device()).reshape([1, n]);
        self.points
            .forward(h.reshape([b as i64, -1]))
            .mul_scalar(self.point_scale)
            + mean
    }

    /// All three heads.
    ///
    /// # Shapes
    /// `[B, 1, S, S]` → points `[B, 2·points]`, mask logits and reconstruction `[B, 1, S, S]`.
    pub fn heads(&self, x: Tensor<4>) -> ShapeOutput {
        let h = self.encode(x);
        ShapeOutput {
            points: self.point_head(h.clone()),
            mask_logits: self.seg.forward(h.clone()),
            recon: sigmoid(self.recon.forward(h)),
        }
    }
}

impl Forward<4, 2> for ShapeNet {
    /// # Shapes
    /// `[B, 1, S, S] -> [B, 2·points]` contour points in pixels.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.point_head(self.encode(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_device, tensor_to_vec};

    fn config(size: usize) -> ShapeNetConfig {
        let mean: Vec<f32> = (0..176)
            .flat_map(|k| {
                let t = std::f32::consts::TAU * k as f32 / 176.0;
                [
                    size as f32 / 2.0 + 19.0 * t.cos(),
                    size as f32 / 2.0 - 5.5 * t.sin(),
                ]
            })
            .collect();
        ShapeNetConfig {
            size,
            width: 4,
            points: 176,
            point_scale: 10.0,
            mean_points: mean,
        }
    }

    #[test]
    fn heads_have_the_documented_shapes_and_the_resnet18_layout() {
        let dev = default_device();
        let cfg = config(64);
        let net = cfg.init_seeded(1, &dev).unwrap().valid();
        let x = Tensor::<4>::random([2, 1, 64, 64], burn::tensor::Distribution::Default, &dev);
        let out = net.heads(x.clone());
        assert_eq!(out.points.dims(), [2, 352]);
        assert_eq!(out.mask_logits.dims(), [2, 1, 64, 64]);
        assert_eq!(out.recon.dims(), [2, 1, 64, 64]);
        let r = tensor_to_vec(out.recon);
        assert!(r.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(
            tensor_to_vec(net.forward(x)),
            tensor_to_vec(out.points.clone())
        );
        // ResNet-18 layout: 8 basic blocks, projections in the first block of stages 2–4.
        assert_eq!(net.blocks.len(), 8);
        assert_eq!(net.blocks.iter().filter(|b| b.proj.is_some()).count(), 3);
        let bad = ShapeNetConfig {
            mean_points: vec![0.0; 10],
            ..cfg
        };
        assert!(bad.init(&dev).is_err());
    }
}
