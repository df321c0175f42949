//! Writes mid-slice pictures of the youngest and oldest of 16 S3 brain-age subjects and prints
//! their tissue shares:
//!
//!     cargo run --release -p mira-data --example s3_phantoms DIR [MNI_DIR]
//!
//! With `MNI_DIR` (the MNI152 folder of ../shared/data) the subjects are built on the template.

use mira_data::{
    AGE_TISSUE_LABELS, AgePhantomConfig, BrainAnatomy, VolumeRow, save_volume_slices_png,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let mni = args.next().map(std::path::PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let cfg = AgePhantomConfig::default();
    let t = std::time::Instant::now();
    let (mut subjects, tag) = match &mni {
        None => (cfg.generate(1, 0, 16, 2)?, "s3"),
        Some(d) => {
            let (t1, _) =
                mira_io::read_nifti(&d.join("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"))?;
            let (lab, _) = mira_io::read_nifti(&d.join("derived_tissue_labels_argmax.nii.gz"))?;
            let dims = [t1.dims[0], t1.dims[1], t1.dims[2]];
            let labels = lab.data.iter().map(|&v| v as u8).collect();
            let anatomy = BrainAnatomy::new(dims, labels, t1.data)?;
            (cfg.generate_on(&anatomy, 1, 0, 16, 2)?, "s3_mni")
        }
    };
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
    for (name, s) in [("young", &subjects[0]), ("old", &subjects[15])] {
        let row = VolumeRow {
            voxels: &s.t1,
            lo: 0.0,
            hi: 1.0,
        };
        save_volume_slices_png(&[row], s.size, 4, &dir.join(format!("{tag}_{name}.png")))?;
    }
    Ok(())
}
