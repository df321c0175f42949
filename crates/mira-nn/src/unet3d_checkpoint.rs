//! Checkpoints of the 3D segmentation UNet: the folder layout of [`crate::checkpoint`]
//! (`model.json` + `weights.bpk`, each written atomically), tagged [`UNET3D_FORMAT`].

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_weights, read_tagged_meta, save_folder};
use crate::{Result, UNet3d, UNet3dConfig};

/// Format tag of 3D UNet checkpoints.
pub const UNET3D_FORMAT: &str = "mira-unet3d/1";

/// What a 3D UNet checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UNet3dMeta {
    /// Always [`UNET3D_FORMAT`].
    pub format: String,
    /// The architecture.
    pub unet: UNet3dConfig,
    /// Names of the input channels, in order.
    pub channel_names: Vec<String>,
    /// Names of the output labels, index = label value.
    pub label_names: Vec<String>,
    /// Free-form training provenance (patch size, epochs, validation Dice, ...).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Saves `model` and `meta` into `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save_unet3d(dir: &Path, model: &UNet3d, meta: &UNet3dMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Reads `model.json` of a 3D UNet checkpoint.
///
/// # Errors
/// A missing or malformed file, or another format.
pub fn read_unet3d_meta(dir: &Path) -> Result<UNet3dMeta> {
    let meta: UNet3dMeta = read_tagged_meta(dir, UNET3D_FORMAT, "3D UNet")?;
    meta.unet.validate()?;
    Ok(meta)
}

/// Loads a 3D UNet checkpoint onto `device`.
///
/// # Errors
/// As [`read_unet3d_meta`], plus missing or mismatched weights.
pub fn load_unet3d(dir: &Path, device: &Device) -> Result<(UNet3d, UNet3dMeta)> {
    let meta = read_unet3d_meta(dir)?;
    let model = load_weights(dir, meta.unet.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NormKind, default_device, tensor_to_vec};

    #[test]
    fn round_trip_keeps_outputs_and_refuses_other_formats() {
        let dev = default_device();
        let cfg = UNet3dConfig {
            residual: true,
            norm: NormKind::Batch,
            ..UNet3dConfig::new(2, 3, 2, 1)
        };
        let model = cfg.init_seeded(4, &dev).unwrap();
        let meta = UNet3dMeta {
            format: UNET3D_FORMAT.into(),
            unet: cfg,
            channel_names: vec!["a".into(), "b".into()],
            label_names: vec!["bg".into(), "x".into(), "y".into()],
            training: serde_json::json!({"seed": 4}),
        };
        let dir = std::env::temp_dir().join(format!("mira-unet3d-{}", std::process::id()));
        save_unet3d(&dir, &model, &meta).unwrap();
        let x = Tensor::<5>::random([1, 2, 4, 4, 4], burn::tensor::Distribution::Default, &dev);
        let (loaded, meta2) = load_unet3d(&dir, &dev).unwrap();
        assert_eq!(meta2, meta);
        assert_eq!(
            tensor_to_vec(model.logits(x.clone())),
            tensor_to_vec(loaded.logits(x))
        );
        // A 2D checkpoint's meta is not a 3D one.
        std::fs::write(
            dir.join("model.json"),
            br#"{"format": "mira-checkpoint/1"}"#,
        )
        .unwrap();
        let e = load_unet3d(&dir, &dev).unwrap_err().to_string();
        assert!(e.contains("3D UNet"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
