//! Writes example pictures of the S1 brain MR phantom: `cargo run -p mira-data --example phantom_pngs -- docs/`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs".into()));
    std::fs::create_dir_all(&dir)?;
    let cfg = mira_data::BrainPhantomConfig {
        size: 128,
        ..Default::default()
    };
    let ds = cfg.generate(2024, 0, 3)?;
    for (i, s) in ds.items.iter().enumerate() {
        mira_data::save_mosaic_png(s, 2, &dir.join(format!("phantom_s1_{i}.png")))?;
    }
    Ok(())
}
