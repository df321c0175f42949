//! A BraTS-like folder made from the S1 phantom: the layout `[data.folder]` and
//! `mira attack --input` read, for trying them without patient data and for tests.
//!
//! `images/caseNNN_{t1,t1c,t2,flair}.nii.gz` (float32, MR-like units: 1000 × the phantom's
//! [0, 1] intensities + 100) and `labels/caseNNN.nii.gz` with BraTS label values
//! (0 background, 1 necrotic core, 2 oedema, 4 enhancing); or, as PNG, one 16-bit grey image
//! per case and channel (one slice per case) and an 8-bit label PNG.

use std::path::Path;

use mira_data::BrainPhantomConfig;
use mira_io::Volume;

use crate::{EvalError, Result};

/// File format of [`write_phantom_folder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhantomFolderFormat {
    /// 3D NIfTI volumes, `slices` per case.
    Nifti,
    /// 2D PNG, one slice per case.
    Png,
}

/// Channel names of the folder, as in BraTS file names.
pub const PHANTOM_FOLDER_CHANNELS: [&str; 4] = ["t1", "t1c", "t2", "flair"];
/// The label values of the folder (BraTS convention).
pub const PHANTOM_FOLDER_LABEL_VALUES: [i64; 4] = [0, 1, 2, 4];

/// Writes `cases` phantom cases of `slices` slices (`size × size`) under `dir`.
///
/// # Errors
/// Phantom or write failures.
pub fn write_phantom_folder(
    dir: &Path,
    cases: usize,
    slices: usize,
    size: usize,
    seed: u64,
    format: PhantomFolderFormat,
) -> Result<()> {
    let slices = if format == PhantomFolderFormat::Png {
        1
    } else {
        slices.max(1)
    };
    let cfg = BrainPhantomConfig {
        size,
        ..Default::default()
    };
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| EvalError::io(dir, e))?;
    }
    let px = size * size;
    for case in 0..cases {
        let set = cfg.generate(seed, case * slices, slices)?;
        let name = format!("case{case:03}");
        let mut labels = Vec::with_capacity(px * slices);
        for s in &set.items {
            labels.extend(
                s.labels
                    .iter()
                    .map(|&l| PHANTOM_FOLDER_LABEL_VALUES[l as usize] as f32),
            );
        }
        let volume = |data: Vec<f32>| Volume {
            dims: if format == PhantomFolderFormat::Png {
                vec![size, size]
            } else {
                vec![size, size, slices]
            },
            spacing: vec![
                1.0;
                if format == PhantomFolderFormat::Png {
                    2
                } else {
                    3
                }
            ],
            affine: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ],
            data,
        };
        let write = |path: &Path, v: &Volume, sixteen: bool| -> Result<()> {
            match format {
                PhantomFolderFormat::Nifti => mira_io::write_nifti(path, v)?,
                PhantomFolderFormat::Png => mira_io::write_png(path, v, sixteen)?,
            }
            Ok(())
        };
        let ext = match format {
            PhantomFolderFormat::Nifti => "nii.gz",
            PhantomFolderFormat::Png => "png",
        };
        for (c, ch) in PHANTOM_FOLDER_CHANNELS.iter().enumerate() {
            let data: Vec<f32> = set
                .items
                .iter()
                .flat_map(|s| s.channel(c).iter().map(|v| 1000.0 * v + 100.0))
                .collect();
            write(
                &dir.join("images").join(format!("{name}_{ch}.{ext}")),
                &volume(data),
                true,
            )?;
        }
        write(
            &dir.join("labels").join(format!("{name}.{ext}")),
            &volume(labels),
            false,
        )?;
    }
    Ok(())
}

/// Writes `cases` volumes of the 3D tumour phantom (`size³` voxels drawn into the MNI152
/// anatomy of `mni_dir`, the cases of `source = "brain_mr_mni_3d"`) under `dir` in the same
/// layout, as NIfTI with each case's voxel spacing (mm) and BraTS label values. The file's
/// `[x, y, z]` is the phantom's `[W, H, D]`, so a 3D model reads it with `--axes zyx`.
///
/// # Errors
/// A missing or unreadable template, phantom or write failures.
pub fn write_volume_phantom_folder(
    dir: &Path,
    cases: usize,
    size: usize,
    seed: u64,
    mni_dir: &Path,
) -> Result<()> {
    let anatomy = crate::anatomy::load_mni(mni_dir)?;
    let cfg = BrainPhantomConfig {
        size,
        ..Default::default()
    };
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| EvalError::io(dir, e))?;
    }
    for case in 0..cases {
        let (set, spacing) = cfg.generate_volumes_on(&anatomy, seed, case, 1)?;
        let (item, s) = (&set.items[0], spacing[0]);
        let name = format!("case{case:03}");
        let volume = |data: Vec<f32>| Volume {
            dims: vec![size, size, size],
            spacing: vec![s[2] as f32, s[1] as f32, s[0] as f32],
            affine: [
                [s[2], 0.0, 0.0, 0.0],
                [0.0, s[1], 0.0, 0.0],
                [0.0, 0.0, s[0], 0.0],
            ],
            data,
        };
        for (c, ch) in PHANTOM_FOLDER_CHANNELS.iter().enumerate() {
            let data = item.channel(c).iter().map(|v| 1000.0 * v + 100.0).collect();
            let path = dir.join("images").join(format!("{name}_{ch}.nii.gz"));
            mira_io::write_nifti(&path, &volume(data))?;
        }
        let labels = item
            .labels
            .iter()
            .map(|&l| PHANTOM_FOLDER_LABEL_VALUES[l as usize] as f32)
            .collect();
        mira_io::write_nifti(
            &dir.join("labels").join(format!("{name}.nii.gz")),
            &volume(labels),
        )?;
    }
    Ok(())
}
