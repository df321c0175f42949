//! `mira info DIR` on a checkpoint folder of Mira's (`model.json` + `weights.bpk`): its format,
//! and for a segmentation network its contract (channels, classes, 2D or 3D, parameters).

use std::path::Path;

use anyhow::Result;

use crate::InvalidInput;

/// Whether `dir` looks like a checkpoint folder.
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join("model.json").is_file()
}

pub fn main(dir: &Path) -> Result<()> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| InvalidInput(format!("{}: {e}", path.display())))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| InvalidInput(format!("{}: {e}", path.display())))?;
    let format = meta.get("format").and_then(|f| f.as_str()).unwrap_or("?");
    println!("checkpoint   {}", dir.display());
    println!("format       {format}");
    if format == mira_nn::checkpoint::FORMAT || format == mira_nn::UNET3D_FORMAT {
        let (_, info) = mira_eval::SegNet::load(dir).map_err(|e| InvalidInput(e.to_string()))?;
        let kind = if info.volumetric {
            "3D segmentation: [B, C, D, H, W] -> logits [B, K, D, H, W]"
        } else {
            "2D segmentation: [B, C, H, W] -> logits [B, K, H, W]"
        };
        println!("network      {kind}");
        println!(
            "inputs       {} channel(s): {}",
            info.in_channels,
            info.channel_names.join(", ")
        );
        println!(
            "classes      {}: {}",
            info.classes,
            info.label_names.join(", ")
        );
        println!("sides        multiples of {}", info.multiple);
        println!("parameters   {}", info.parameters);
    }
    for key in ["unet", "net"] {
        if let Some(arch) = meta.get(key) {
            println!("architecture {arch}");
        }
    }
    Ok(())
}
