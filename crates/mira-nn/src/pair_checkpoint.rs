//! Checkpoints of the registration network: the same folder layout as [`crate::checkpoint`]
//! (`model.json` + `weights.bpk`, each written atomically) with a registration description.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_weights, read_tagged_meta, save_folder};
use crate::{PairNet, PairNetConfig, Result};

/// Format tag of registration checkpoints.
pub const PAIR_FORMAT: &str = "mira-pairnet/1";

/// What a registration checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PairNetMeta {
    /// Always [`PAIR_FORMAT`].
    pub format: String,
    /// The architecture.
    pub net: PairNetConfig,
    /// Side of the square input images.
    pub size: usize,
    /// The image source it was trained on (`xray_phantom`, `radiograph`, `natural`).
    pub source: String,
    /// Nominal pixel spacing in mm (`None`: pixels only).
    pub spacing_mm: Option<f64>,
    /// Free-form training provenance.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Saves `model` and `meta` into `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save_pair_net(dir: &Path, model: &PairNet, meta: &PairNetMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Reads `model.json` of a registration checkpoint.
///
/// # Errors
/// A missing or malformed file, another format (a segmentation checkpoint, say).
pub fn read_pair_meta(dir: &Path) -> Result<PairNetMeta> {
    let meta: PairNetMeta = read_tagged_meta(dir, PAIR_FORMAT, "registration")?;
    meta.net.validate()?;
    Ok(meta)
}

/// Loads a registration checkpoint onto `device`.
///
/// # Errors
/// As [`read_pair_meta`], plus missing or mismatched weights.
pub fn load_pair_net(dir: &Path, device: &Device) -> Result<(PairNet, PairNetMeta)> {
    let meta = read_pair_meta(dir)?;
    let model = load_weights(dir, meta.net.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Forward, default_device, tensor_to_vec};

    #[test]
    fn pair_net_round_trip_and_format_check() {
        let dev = default_device();
        let cfg = PairNetConfig {
            width: 4,
            scales: [7.0, 3.0, 2.0],
            ..Default::default()
        };
        let model = cfg.init_seeded(5, &dev).unwrap().valid();
        let meta = PairNetMeta {
            format: PAIR_FORMAT.into(),
            net: cfg,
            size: 32,
            source: "natural".into(),
            spacing_mm: None,
            training: serde_json::Value::Null,
        };
        let dir = std::env::temp_dir().join(format!("mira-pairckpt-{}", std::process::id()));
        save_pair_net(&dir, &model, &meta).unwrap();
        let (loaded, m2) = load_pair_net(&dir, &dev).unwrap();
        assert_eq!(m2, meta);
        let x = Tensor::<4>::random([2, 2, 32, 32], burn::tensor::Distribution::Default, &dev);
        assert_eq!(
            tensor_to_vec(model.forward(x.clone())),
            tensor_to_vec(loaded.valid().forward(x))
        );
        std::fs::write(
            dir.join("model.json"),
            b"{\"format\": \"mira-checkpoint/1\"}",
        )
        .unwrap();
        let e = load_pair_net(&dir, &dev).unwrap_err().to_string();
        assert!(e.contains("not a registration checkpoint"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
