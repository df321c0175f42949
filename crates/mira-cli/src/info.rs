//! `mira info FILE`: what Mira reads from an image file, or why it cannot.

use std::path::PathBuf;

use anyhow::Result;

use crate::InvalidInput;

/// Arguments of `mira info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image file (.nii, .nii.gz).
    pub file: PathBuf,
}

pub fn main(a: Args) -> Result<()> {
    let name = a.file.display().to_string();
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".nii") || lower.ends_with(".nii.gz")) {
        return Err(InvalidInput(format!(
            "{name}: unknown format (this version of mira reads NIfTI .nii / .nii.gz)"
        ))
        .into());
    }
    let (v, info) = mira_io::read_nifti(&a.file).map_err(|e| InvalidInput(e.to_string()))?;
    let join = |xs: Vec<String>| xs.join(" x ");
    println!("file         {name}");
    println!("format       NIfTI-1 ({} endian)", info.endianness);
    println!(
        "dims         {}",
        join(v.dims.iter().map(|d| d.to_string()).collect())
    );
    println!(
        "spacing      {}",
        join(v.spacing.iter().map(|s| format!("{s}")).collect())
    );
    println!(
        "orientation  {} (sform_code {}, qform_code {})",
        info.orientation, info.xform_codes.0, info.xform_codes.1
    );
    println!("data type    {}", info.datatype);
    let scaled = info.scl_slope != 0.0 && (info.scl_slope != 1.0 || info.scl_inter != 0.0);
    if scaled {
        println!(
            "scaling      value * {} + {}",
            info.scl_slope, info.scl_inter
        );
    }
    match v.range() {
        Some((lo, hi)) => println!(
            "range        {lo} .. {hi}{}",
            if scaled { " (after scaling)" } else { "" }
        ),
        None => println!("range        no finite values"),
    }
    for (i, row) in v.affine.iter().enumerate() {
        println!(
            "{}  {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
            if i == 0 { "affine     " } else { "           " },
            row[0],
            row[1],
            row[2],
            row[3]
        );
    }
    Ok(())
}
