//! `mira phantom-folder OUT`: a BraTS-like folder of phantom cases (NIfTI or PNG; or, with
//! `--format nifti3d`, volumes of the 3D phantom in MNI152), the layout that `[data.folder]`
//! experiments and `mira attack --input` read.

use std::path::PathBuf;

use anyhow::Result;
use mira_eval::PhantomFolderFormat;

use crate::InvalidInput;

/// Arguments of `mira phantom-folder`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder to write (`images/`, `labels/`).
    pub out: PathBuf,
    /// Cases.
    #[arg(long, default_value_t = 12)]
    pub cases: usize,
    /// Slices per case (NIfTI; PNG cases are single slices).
    #[arg(long, default_value_t = 8)]
    pub slices: usize,
    /// Side of the slices.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// nifti (stacks of 2D phantom slices), png, or nifti3d (volumes of `size`³ with the
    /// tumour drawn in 3D into MNI152, as `source = "brain_mr_mni_3d"`; `--slices` unused).
    #[arg(long, default_value = "nifti")]
    pub format: String,
    /// nifti3d: the MNI ICBM152 2009a folder (default: in the shared data folder).
    #[arg(long)]
    pub anatomy: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn main(a: Args) -> Result<()> {
    let format = match a.format.as_str() {
        "nifti" => PhantomFolderFormat::Nifti,
        "png" => PhantomFolderFormat::Png,
        "nifti3d" => return volumes(&a),
        f => return Err(InvalidInput(format!("--format {f}: use nifti, png or nifti3d")).into()),
    };
    if !(1..=10_000).contains(&a.cases) || !(1..=512).contains(&a.slices) {
        return Err(
            InvalidInput("--cases must be in 1..=10000, --slices in 1..=512".into()).into(),
        );
    }
    mira_eval::write_phantom_folder(&a.out, a.cases, a.slices, a.size, a.seed, format)
        .map_err(|e| InvalidInput(e.to_string()))?;
    println!(
        "{} case(s) in {}: images/caseNNN_{{t1,t1c,t2,flair}}, labels/caseNNN (values 0, 1, 2, 4)",
        a.cases,
        a.out.display()
    );
    Ok(())
}

/// `--format nifti3d`.
fn volumes(a: &Args) -> Result<()> {
    if !(1..=10_000).contains(&a.cases) || !(16..=128).contains(&a.size) {
        return Err(InvalidInput(
            "--cases must be in 1..=10000, --size in 16..=128 for volumes".into(),
        )
        .into());
    }
    let mni = a.anatomy.clone().unwrap_or_else(|| {
        mira_io::shared_data_dir()
            .map(|d| d.join("mni_icbm152_2009a_sym"))
            .unwrap_or_else(|| "../shared/data/mni_icbm152_2009a_sym".into())
    });
    mira_eval::write_volume_phantom_folder(&a.out, a.cases, a.size, a.seed, &mni)
        .map_err(|e| InvalidInput(e.to_string()))?;
    println!(
        "{} volume(s) of {s}³ in {}: images/caseNNN_{{t1,t1c,t2,flair}}, labels/caseNNN (values \
         0, 1, 2, 4); 3D models read them with --axes zyx",
        a.cases,
        a.out.display(),
        s = a.size
    );
    Ok(())
}
