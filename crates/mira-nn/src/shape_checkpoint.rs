//! Checkpoints of the S4 disk-shape network: the folder layout of [`crate::checkpoint`]
//! (`model.json` + `weights.bpk`, each written atomically) with the architecture, including
//! the mean contour the point head is anchored to, in `model.json`.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_weights, read_tagged_meta, save_folder};
use crate::{Result, ShapeNet, ShapeNetConfig};

/// Format tag of shape checkpoints.
pub const SHAPE_FORMAT: &str = "mira-shapenet/1";

/// What a shape checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShapeNetMeta {
    /// Always [`SHAPE_FORMAT`].
    pub format: String,
    /// The architecture.
    pub net: ShapeNetConfig,
    /// Free-form training provenance.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Saves `model` and `meta` into `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save_shape_net(dir: &Path, model: &ShapeNet, meta: &ShapeNetMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Reads `model.json` of a shape checkpoint.
///
/// # Errors
/// A missing or malformed file, or another format.
pub fn read_shape_meta(dir: &Path) -> Result<ShapeNetMeta> {
    let meta: ShapeNetMeta = read_tagged_meta(dir, SHAPE_FORMAT, "shape")?;
    meta.net.validate()?;
    Ok(meta)
}

/// Loads a shape checkpoint onto `device`.
///
/// # Errors
/// As [`read_shape_meta`], plus missing or mismatched weights.
pub fn load_shape_net(dir: &Path, device: &Device) -> Result<(ShapeNet, ShapeNetMeta)> {
    let meta = read_shape_meta(dir)?;
    let model = load_weights(dir, meta.net.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Forward, default_device, tensor_to_vec};

    #[test]
    fn shape_net_round_trip_and_format_check() {
        let dev = default_device();
        let cfg = ShapeNetConfig {
            size: 32,
            width: 2,
            points: 4,
            point_scale: 3.0,
            mean_points: vec![10.0, 10.0, 20.0, 10.0, 20.0, 20.0, 10.0, 20.0],
        };
        let model = cfg.init_seeded(7, &dev).unwrap();
        let meta = ShapeNetMeta {
            format: SHAPE_FORMAT.into(),
            net: cfg,
            training: serde_json::Value::Null,
        };
        let dir = std::env::temp_dir().join(format!("mira-shapenet-{}", std::process::id()));
        save_shape_net(&dir, &model, &meta).unwrap();
        let (loaded, m2) = load_shape_net(&dir, &dev).unwrap();
        assert_eq!(m2, meta);
        let x = Tensor::<4>::random([2, 1, 32, 32], burn::tensor::Distribution::Default, &dev);
        assert_eq!(
            tensor_to_vec(model.valid().forward(x.clone())),
            tensor_to_vec(loaded.valid().forward(x))
        );
        std::fs::write(dir.join("model.json"), b"{\"format\": \"mira-agenet/1\"}").unwrap();
        let e = load_shape_net(&dir, &dev).unwrap_err().to_string();
        assert!(e.contains("not a shape checkpoint"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
