//! Writes the first four S2 abdominal CT phantom slices (abdomen window) and their labels
//! side by side: `cargo run --release -p mira-data --example s2_phantoms DIR`.

use mira_data::{AbdomenPhantomConfig, save_label_overlay_png};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let cfg = AbdomenPhantomConfig::default();
    let set = cfg.generate(1, 0, 4)?;
    for (k, s) in set.items.iter().enumerate() {
        save_label_overlay_png(
            s,
            0,
            &vec![0; s.labels.len()],
            2,
            &dir.join(format!("s2_ct_{k}.png")),
        )?;
        save_label_overlay_png(s, 0, &s.labels, 2, &dir.join(format!("s2_labels_{k}.png")))?;
    }
    Ok(())
}
