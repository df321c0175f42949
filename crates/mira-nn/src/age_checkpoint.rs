//! Checkpoints of the brain-age networks: the folder layout of [`crate::checkpoint`]
//! (`model.json` + `weights.bpk`, each written atomically) with the architecture, including
//! the tissue model and feature statistics of a hybrid, in `model.json`.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_weights, read_tagged_meta, save_folder};
use crate::{AgeNet, AgeNetConfig, Result};

/// Format tag of brain-age checkpoints.
pub const AGE_FORMAT: &str = "mira-agenet/1";

/// What a brain-age checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgeNetMeta {
    /// Always [`AGE_FORMAT`].
    pub format: String,
    /// The architecture.
    pub net: AgeNetConfig,
    /// Free-form training provenance.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Saves `model` and `meta` into `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save_age_net(dir: &Path, model: &AgeNet, meta: &AgeNetMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Reads `model.json` of a brain-age checkpoint.
///
/// # Errors
/// A missing or malformed file, or another format.
pub fn read_age_meta(dir: &Path) -> Result<AgeNetMeta> {
    let meta: AgeNetMeta = read_tagged_meta(dir, AGE_FORMAT, "brain-age")?;
    meta.net.validate()?;
    Ok(meta)
}

/// Loads a brain-age checkpoint onto `device`.
///
/// # Errors
/// As [`read_age_meta`], plus missing or mismatched weights.
pub fn load_age_net(dir: &Path, device: &Device) -> Result<(AgeNet, AgeNetMeta)> {
    let meta = read_age_meta(dir)?;
    let model = load_weights(dir, meta.net.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tissue_features::{TISSUE_FEATURES, TissueMode, TissueModel};
    use crate::{AgeFeatureConfig, Forward, default_device, tensor_to_vec};

    fn hybrid(mode: TissueMode) -> AgeNetConfig {
        AgeNetConfig {
            features: Some(AgeFeatureConfig {
                tissue: TissueModel {
                    means: [0.0, 0.15, 0.5, 0.8],
                    sigma: 0.08,
                },
                mode,
                mean: vec![0.3; TISSUE_FEATURES],
                sd: vec![0.1; TISSUE_FEATURES],
                embed: 8,
            }),
            ..AgeNetConfig::cnn(16, 55.0, 20.0)
        }
    }

    #[test]
    fn hybrid_round_trip_keeps_outputs_and_constants() {
        let dev = default_device();
        let cfg = hybrid(TissueMode::Hard);
        let model = cfg.init_seeded(3, &dev).unwrap();
        let meta = AgeNetMeta {
            format: AGE_FORMAT.into(),
            net: cfg,
            training: serde_json::Value::Null,
        };
        let dir = std::env::temp_dir().join(format!("mira-agenet-{}", std::process::id()));
        save_age_net(&dir, &model, &meta).unwrap();
        let (loaded, m2) = load_age_net(&dir, &dev).unwrap();
        assert_eq!(m2, meta);
        assert!(loaded.has_hard_features());
        let x = Tensor::<5>::random(
            [2, 1, 16, 16, 16],
            burn::tensor::Distribution::Default,
            &dev,
        );
        let a = tensor_to_vec(model.valid().forward(x.clone()));
        assert_eq!(a, tensor_to_vec(loaded.valid().forward(x.clone())));
        // BPDA never changes what the network outputs.
        let st = loaded.with_straight_through(true);
        assert_eq!(a, tensor_to_vec(st.valid().forward(x)));
        std::fs::write(dir.join("model.json"), b"{\"format\": \"mira-pairnet/1\"}").unwrap();
        let e = load_age_net(&dir, &dev).unwrap_err().to_string();
        assert!(e.contains("not a brain-age checkpoint"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cnn_output_is_in_years_and_bad_configs_are_refused() {
        let dev = default_device();
        let cfg = AgeNetConfig::cnn(32, 55.0, 20.0);
        let net = cfg.init_seeded(1, &dev).unwrap();
        assert!(!net.is_hybrid());
        let y = net.forward(Tensor::zeros([3, 1, 32, 32, 32], &dev));
        assert_eq!(y.dims(), [3, 1]);
        let mut bad = hybrid(TissueMode::Soft);
        bad.features.as_mut().unwrap().sd[4] = 0.0;
        assert!(bad.init(&dev).is_err());
        assert!(AgeNetConfig::cnn(40, 55.0, 20.0).init(&dev).is_err());
    }
}
