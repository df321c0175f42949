//! Checkpoints of the S2 learned attacker ([`DeformGenerator`]): the folder layout of
//! [`crate::checkpoint`] with the architecture and training provenance in `model.json`.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_weights, read_tagged_meta, save_folder};
use crate::{DeformGenerator, DeformGeneratorConfig, Result};

/// Format tag of generator checkpoints.
pub const GENERATOR_FORMAT: &str = "mira-deformgen/1";

/// What a generator checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorMeta {
    /// Always [`GENERATOR_FORMAT`].
    pub format: String,
    /// The architecture.
    pub net: DeformGeneratorConfig,
    /// Free-form training provenance.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Saves `model` and `meta` into `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save_generator(dir: &Path, model: &DeformGenerator, meta: &GeneratorMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Loads a generator checkpoint onto `device`.
///
/// # Errors
/// A missing or malformed file, another format, or missing or mismatched weights.
pub fn load_generator(dir: &Path, device: &Device) -> Result<(DeformGenerator, GeneratorMeta)> {
    let meta: GeneratorMeta = read_tagged_meta(dir, GENERATOR_FORMAT, "synthesis generator")?;
    meta.net.validate()?;
    let model = load_weights(dir, meta.net.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_device, tensor_to_vec};

    #[test]
    fn generator_round_trip_and_format_check() {
        let dev = default_device();
        let cfg = DeformGeneratorConfig {
            width: 2,
            ..Default::default()
        };
        let model = cfg.init_seeded(5, &dev).unwrap();
        let meta = GeneratorMeta {
            format: GENERATOR_FORMAT.into(),
            net: cfg,
            training: serde_json::Value::Null,
        };
        let dir = std::env::temp_dir().join(format!("mira-deformgen-{}", std::process::id()));
        save_generator(&dir, &model, &meta).unwrap();
        let (loaded, m2) = load_generator(&dir, &dev).unwrap();
        assert_eq!(m2, meta);
        let x = Tensor::<4>::ones([1, 1, 32, 32], &dev) * 0.3;
        let t = Tensor::<1>::from_floats([0.2], &dev);
        assert_eq!(
            tensor_to_vec(model.forward(x.clone(), t.clone()).0),
            tensor_to_vec(loaded.forward(x, t).0)
        );
        let text = std::fs::read_to_string(dir.join("model.json")).unwrap();
        std::fs::write(
            dir.join("model.json"),
            text.replace(GENERATOR_FORMAT, "other/1"),
        )
        .unwrap();
        assert!(load_generator(&dir, &dev).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
