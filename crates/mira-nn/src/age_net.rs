//! The S3 brain-age networks: a 3D CNN regressor, and the hybrid that joins it with
//! anatomical-context features (regional tissue fractions, [`crate::tissue_features`]).
//!
//! CNN branch: four `conv3d(k3, stride 2, pad 1)` + ReLU with widths `w, 2w, 4w, 8w` (the
//! `Reg3d` of the benchmark, wider at the end), flattened (the coarse 4³ grid keeps *where*
//! atrophy is), `Linear → hidden`, ReLU, dropout. Hybrid branch: the 27 tissue fractions,
//! standardised with training statistics, `Linear → embed`, ReLU. The head maps the
//! concatenation to one value, rescaled to years (`age_mean + age_sd · out`), so attacks and
//! metrics work in years directly.

use crate::fast_conv::conv3d_layer;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig3d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::tissue_features::{TISSUE_FEATURES, TissueMode, TissueModel, tissue_features};
use crate::{Forward, NnError};

/// The anatomical-context branch of the hybrid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeFeatureConfig {
    /// The tissue model (class means and width).
    pub tissue: TissueModel,
    /// Soft (differentiable) or hard (argmax) tissue maps.
    pub mode: TissueMode,
    /// Training mean of each of the 27 raw features.
    pub mean: Vec<f32>,
    /// Training standard deviation of each raw feature.
    pub sd: Vec<f32>,
    /// Width of the feature embedding.
    pub embed: usize,
}

/// Configuration of [`AgeNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeNetConfig {
    /// Side of the cubic input (a multiple of 16).
    pub size: usize,
    /// Width of the first convolution.
    pub width: usize,
    /// Width of the CNN branch's dense layer.
    pub hidden: usize,
    /// Dropout after it, during training.
    pub dropout: f64,
    /// Age that an output of 0 means, years.
    pub age_mean: f32,
    /// Years per output unit.
    pub age_sd: f32,
    /// The anatomical-context branch (`None`: the plain CNN).
    pub features: Option<AgeFeatureConfig>,
}

impl AgeNetConfig {
    /// A plain CNN for `size`³ inputs with ages around `age_mean ± age_sd`.
    pub fn cnn(size: usize, age_mean: f32, age_sd: f32) -> Self {
        Self {
            size,
            width: 8,
            hidden: 64,
            dropout: 0.2,
            age_mean,
            age_sd,
            features: None,
        }
    }

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
        if !(16..=256).contains(&self.size) || !self.size.is_multiple_of(16) {
            return bad("size", "must be a multiple of 16 in 16..=256");
        }
        if !(1..=128).contains(&self.width) || !(1..=4096).contains(&self.hidden) {
            return bad("width", "width must be in 1..=128 and hidden in 1..=4096");
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 0.95)");
        }
        if !(self.age_mean.is_finite() && self.age_sd.is_finite() && self.age_sd > 0.0) {
            return bad("age_sd", "age_mean must be finite and age_sd > 0");
        }
        if let Some(f) = &self.features {
            if f.mean.len() != TISSUE_FEATURES || f.sd.len() != TISSUE_FEATURES {
                return bad("features", "mean and sd need 27 values each");
            }
            if f.sd.iter().chain(&f.mean).any(|v| !v.is_finite()) || f.sd.iter().any(|&s| s <= 0.0)
            {
                return bad("features", "feature statistics must be finite, sd > 0");
            }
            if !(f.tissue.sigma.is_finite() && f.tissue.sigma > 0.0)
                || f.tissue.means.iter().any(|m| !m.is_finite())
            {
                return bad("features.tissue", "means must be finite and sigma > 0");
            }
            if !(1..=1024).contains(&f.embed) {
                return bad("features.embed", "must be in 1..=1024");
            }
        }
        Ok(())
    }

    /// Builds the network with fresh weights.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init(&self, device: &Device) -> crate::Result<AgeNet> {
        self.validate()?;
        let w = self.width;
        let widths = [1, w, 2 * w, 4 * w, 8 * w];
        let convs = widths
            .windows(2)
            .map(|p| {
                Conv3dConfig::new([p[0], p[1]], [3, 3, 3])
                    .with_stride([2, 2, 2])
                    .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                    .init(device)
            })
            .collect();
        let flat = 8 * w * (self.size / 16).pow(3);
        let embed = self.features.as_ref().map_or(0, |f| f.embed);
        Ok(AgeNet {
            convs,
            fc: LinearConfig::new(flat, self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            feature_fc: self
                .features
                .as_ref()
                .map(|f| LinearConfig::new(TISSUE_FEATURES, f.embed).init(device)),
            head: LinearConfig::new(self.hidden + embed, 1).init(device),
            age: [self.age_mean, self.age_sd],
            tissue_means: self.features.as_ref().map_or([0.0; 4], |f| f.tissue.means),
            tissue_sigma: self.features.as_ref().map_or(1.0, |f| f.tissue.sigma),
            hard: self
                .features
                .as_ref()
                .is_some_and(|f| f.mode == TissueMode::Hard),
            straight_through: false,
            feature_mean: self.features.as_ref().map_or(vec![], |f| f.mean.clone()),
            feature_sd: self.features.as_ref().map_or(vec![], |f| f.sd.clone()),
        })
    }

    /// Builds and materialises the network from `seed` (see [`crate::seeded`]).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> crate::Result<AgeNet> {
        self.validate()?;
        crate::seeded(device, seed, |d| {
            let net = self.init(d).expect("validated");
            let _ = net.forward(Tensor::zeros([1, 1, self.size, self.size, self.size], d));
            Ok(net)
        })
    }
}

/// See [`AgeNetConfig`].
#[derive(Module, Debug)]
pub struct AgeNet {
    convs: Vec<Conv3d>,
    fc: Linear,
    dropout: Dropout,
    feature_fc: Option<Linear>,
    head: Linear,
    age: [f32; 2],
    tissue_means: [f32; 4],
    tissue_sigma: f32,
    hard: bool,
    straight_through: bool,
    feature_mean: Vec<f32>,
    feature_sd: Vec<f32>,
}

impl AgeNet {
    /// Whether the network has the anatomical-context branch.
    pub fn is_hybrid(&self) -> bool {
        self.feature_fc.is_some()
    }

    /// Whether its tissue maps are hard (argmax), so that BPDA differs from plain gradients.
    pub fn has_hard_features(&self) -> bool {
        self.is_hybrid() && self.hard
    }

    /// The same network with the BPDA (straight-through) backward pass through hard tissue
    /// maps switched on or off; forward values are unchanged.
    pub fn with_straight_through(mut self, on: bool) -> Self {
        self.straight_through = on;
        self
    }

    /// The standardised anatomical-context features (`None` for the plain CNN).
    ///
    /// # Shapes
    /// `[B, 1, S, S, S] -> [B, 27]`.
    pub fn features(&self, x: Tensor<5>) -> Option<Tensor<2>> {
        self.feature_fc.as_ref()?;
        let dev = x.device();
        let model = TissueModel {
            means: self.tissue_means,
            sigma: self.tissue_sigma,
        };
        let mode = if self.hard {
            TissueMode::Hard
        } else {
            TissueMode::Soft
        };
        let raw = tissue_features(x, &model, mode, self.straight_through);
        let mean = Tensor::<1>::from_floats(self.feature_mean.as_slice(), &dev)
            .reshape([1, TISSUE_FEATURES]);
        let sd = Tensor::<1>::from_floats(self.feature_sd.as_slice(), &dev)
            .reshape([1, TISSUE_FEATURES]);
        Some((raw - mean) / sd)
    }
}

impl Forward<5, 2> for AgeNet {
    /// # Shapes
    /// `[B, 1, S, S, S] -> [B, 1]` ages in years.
    fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        let b = x.dims()[0];
        let mut h = x.clone();
        for c in &self.convs {
            h = relu(conv3d_layer(c, h));
        }
        let h = self
            .dropout
            .forward(relu(self.fc.forward(h.reshape([b as i64, -1]))));
        let h = match (&self.feature_fc, self.features(x)) {
            (Some(fc), Some(f)) => Tensor::cat(vec![h, relu(fc.forward(f))], 1),
            _ => h,
        };
        self.head
            .forward(h)
            .mul_scalar(self.age[1])
            .add_scalar(self.age[0])
    }
}
