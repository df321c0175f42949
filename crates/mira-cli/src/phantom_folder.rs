//! `mira phantom-folder OUT`: a BraTS-like folder of phantom cases (NIfTI or PNG), the layout
//! that `[data.folder]` experiments and `mira attack --input` read.

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
    /// nifti or png.
    #[arg(long, default_value = "nifti")]
    pub format: String,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn main(a: Args) -> Result<()> {
    let format = match a.format.as_str() {
        "nifti" => PhantomFolderFormat::Nifti,
        "png" => PhantomFolderFormat::Png,
        f => return Err(InvalidInput(format!("--format {f}: use nifti or png")).into()),
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
