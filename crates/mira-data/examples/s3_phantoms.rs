//! Writes mid-slice pictures of the youngest and oldest of a few S3 brain-age phantom subjects
//! and prints their tissue shares: `cargo run --release -p mira-data --example s3_phantoms DIR`.

use mira_data::{AGE_TISSUE_LABELS, AgePhantomConfig, VolumeRow, save_volume_slices_png};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let cfg = AgePhantomConfig::default();
    let t = std::time::Instant::now();
    let mut subjects = cfg.generate(1, 0, 16, 2)?;
    println!(
        "16 subjects of {}³ in {:.2} s",
        cfg.size,
        t.elapsed().as_secs_f64()
    );
    subjects.sort_by(|a, b| a.age.total_cmp(&b.age));
    for s in &subjects {
        let brain = s.labels.iter().filter(|&&l| l > 0).count() as f64;
        let shares: Vec<String> = (1..=4)
            .map(|l| {
                format!(
                    "{} {:.3}",
                    AGE_TISSUE_LABELS[l as usize],
                    s.volume(l) as f64 / brain
                )
            })
            .collect();
        println!("age {:5.1}: {}", s.age, shares.join(", "));
    }
    for (tag, s) in [("young", &subjects[0]), ("old", &subjects[15])] {
        let row = VolumeRow {
            voxels: &s.t1,
            lo: 0.0,
            hi: 1.0,
        };
        save_volume_slices_png(&[row], s.size, 4, &dir.join(format!("s3_{tag}.png")))?;
    }
    Ok(())
}
