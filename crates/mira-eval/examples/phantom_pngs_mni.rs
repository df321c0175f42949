//! Writes example pictures of the S1 phantom on MNI152 anatomy:
//! `cargo run --release -p mira-eval --example phantom_pngs_mni -- docs/`
//! (needs ../shared/data, or `MIRA_SHARED_DATA` pointing at it).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs".into()));
    std::fs::create_dir_all(&dir)?;
    let shared = mira_io::shared_data_dir().ok_or("../shared/data not found")?;
    let anatomy = mira_eval::load_mni(&shared.join("mni_icbm152_2009a_sym"))?;
    let cfg = mira_data::BrainPhantomConfig {
        size: 128,
        ..Default::default()
    };
    let ds = cfg.generate_on(&anatomy, 2024, 0, 3)?;
    for (i, s) in ds.items.iter().enumerate() {
        mira_data::save_mosaic_png(s, 2, &dir.join(format!("phantom_s1_mni_{i}.png")))?;
    }
    Ok(())
}
