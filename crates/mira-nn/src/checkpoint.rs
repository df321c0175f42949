//! Model checkpoints: a folder with `model.json` (architecture and data description) and
//! `weights.bpk` (burn's burnpack record), each written to a temporary file and renamed, so a
//! reader never sees a half-written checkpoint.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use crate::{NnError, Result, UNet, UNetConfig};

/// Format tag written into every `model.json`.
pub const FORMAT: &str = "mira-checkpoint/1";

/// Name of the weights file inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "weights.bpk";

/// What a checkpoint holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// The architecture and its configuration.
    pub unet: UNetConfig,
    /// Names of the input channels the model was trained on, in order.
    pub channel_names: Vec<String>,
    /// Names of the output labels, index = label value.
    pub label_names: Vec<String>,
    /// Free-form training provenance (seed, epochs, validation Dice, ...).
    #[serde(default)]
    pub training: serde_json::Value,
}

fn err(path: &Path, reason: impl ToString) -> NnError {
    NnError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads `dir/model.json`, refuses another `format` tag (naming `what` the folder should
/// hold), and deserialises it: the shared reader of the typed checkpoints (registration,
/// brain age, shape).
pub(crate) fn read_tagged_meta<T: serde::de::DeserializeOwned>(
    dir: &Path,
    format: &str,
    what: &str,
) -> Result<T> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(&path, e))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(format) {
        return Err(err(
            &path,
            format!("not a {what} checkpoint (format is not `{format}`)"),
        ));
    }
    serde_json::from_value(v).map_err(|e| err(&path, e))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// Any I/O failure, naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))
}

/// Saves `model` and `meta` into the folder `dir` (created if needed).
///
/// # Errors
/// I/O or serialisation failures.
pub fn save(dir: &Path, model: &UNet, meta: &CheckpointMeta) -> Result<()> {
    save_folder(dir, model, meta)
}

/// Writes `model`'s weights (`weights.bpk`) and `meta` (`model.json`) into `dir`, each
/// atomically: the layout of every Mira checkpoint.
pub(crate) fn save_folder<M: Module, T: Serialize>(dir: &Path, model: &M, meta: &T) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| err(dir, e))?;
    write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    let json = serde_json::to_vec_pretty(meta).map_err(|e| err(dir, e))?;
    write_atomic(&dir.join("model.json"), &json)
}

/// Loads the weights of the checkpoint folder `dir` into `model` (freshly built from the
/// folder's config).
pub(crate) fn load_weights<M: Module>(dir: &Path, model: M) -> Result<M> {
    let path: PathBuf = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        return Err(err(&path, "file not found"));
    }
    let record = ModuleRecord::load(&path).map_err(|e| err(&path, e))?;
    model.try_load_record(record).map_err(|e| err(&path, e))
}

/// Reads only `model.json` of a checkpoint folder.
///
/// # Errors
/// A missing folder or file, malformed JSON, or an unknown format.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
    let meta: CheckpointMeta = serde_json::from_str(&text).map_err(|e| err(&path, e))?;
    if meta.format != FORMAT {
        return Err(err(
            &path,
            format!("format `{}` is not `{FORMAT}`", meta.format),
        ));
    }
    meta.unet.validate()?;
    Ok(meta)
}

/// Loads a checkpoint folder onto `device`.
///
/// # Errors
/// As [`read_meta`], plus missing or mismatched weights.
pub fn load(dir: &Path, device: &Device) -> Result<(UNet, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let model = load_weights(dir, meta.unet.init(device)?)?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Forward, default_device, tensor_to_vec};

    #[test]
    fn round_trip_reproduces_outputs_and_rejects_bad_folders() {
        let dev = default_device();
        dev.seed(3);
        let cfg = UNetConfig::new().with_base_width(4).with_depth(2);
        let model = cfg.init(&dev).unwrap();
        let meta = CheckpointMeta {
            format: FORMAT.into(),
            unet: cfg,
            channel_names: vec!["a".into(); 4],
            label_names: vec!["b".into(); 4],
            training: serde_json::json!({"seed": 3}),
        };
        let dir = std::env::temp_dir().join(format!("mira-ckpt-{}", std::process::id()));
        save(&dir, &model, &meta).unwrap();
        let x = Tensor::<4>::random([1, 4, 8, 8], burn::tensor::Distribution::Default, &dev);
        let (loaded, meta2) = load(&dir, &dev).unwrap();
        assert_eq!(meta2, meta);
        assert_eq!(
            tensor_to_vec(model.forward(x.clone())),
            tensor_to_vec(loaded.forward(x))
        );
        std::fs::write(dir.join("model.json"), b"{\"format\": 1}").unwrap();
        assert!(
            load(&dir, &dev)
                .unwrap_err()
                .to_string()
                .contains("model.json")
        );
        assert!(load(&dir.join("missing"), &dev).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
