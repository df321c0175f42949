//! `mira info FILE`: what Mira reads from an image file (NIfTI, DICOM, a DICOM folder, PNG/JPEG),
//! an ONNX model (`info_onnx.rs`) or a checkpoint folder (`info_checkpoint.rs`), or why it
//! cannot.

use std::path::PathBuf;

use anyhow::Result;

use crate::InvalidInput;

/// Arguments of `mira info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image file (.nii, .nii.gz, DICOM, PNG/JPEG), a folder of DICOM slices, an ONNX model
    /// (.onnx: inputs, outputs, opset, operators and whether Mira runs each), or a checkpoint
    /// folder of Mira's (its format, and a segmentation network's contract).
    pub file: PathBuf,
}

pub fn main(a: Args) -> Result<()> {
    let name = a.file.display().to_string();
    let lower = name.to_ascii_lowercase();
    if mira_onnx::is_onnx_path(&a.file) {
        return crate::info_onnx::main(&a.file);
    }
    if a.file.is_dir() && crate::info_checkpoint::is_checkpoint(&a.file) {
        return crate::info_checkpoint::main(&a.file);
    }
    if a.file.is_dir() {
        let (v, info) =
            mira_io::read_dicom_series(&a.file).map_err(|e| InvalidInput(e.to_string()))?;
        return print_dicom(&name, &v, &info);
    }
    if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) {
        let (v, info) = mira_io::read_image_2d(&a.file).map_err(|e| InvalidInput(e.to_string()))?;
        println!("file         {name}");
        println!(
            "format       {} ({}, {} channel(s) read)",
            info.format, info.color, info.channels
        );
        let d = &v.dims;
        println!("dims         {} x {}", d[d.len() - 2], d[d.len() - 1]);
        println!("spacing      none (2D image files carry no physical size)");
        if let Some((lo, hi)) = v.range() {
            println!("range        {lo} .. {hi}");
        }
        return Ok(());
    }
    if !(lower.ends_with(".nii") || lower.ends_with(".nii.gz")) {
        let (v, info) = mira_io::read_dicom(&a.file).map_err(|e| InvalidInput(e.to_string()))?;
        return print_dicom(&name, &v, &info);
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

fn print_dicom(name: &str, v: &mira_io::Volume, i: &mira_io::DicomInfo) -> Result<()> {
    let join = |xs: Vec<String>| xs.join(" x ");
    println!("file         {name}");
    println!(
        "format       DICOM{} ({} file{})",
        i.modality
            .as_deref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default(),
        i.files,
        if i.files == 1 { "" } else { "s" }
    );
    println!(
        "syntax       {} ({})",
        i.transfer_syntax_name, i.transfer_syntax
    );
    println!(
        "dims         {}",
        join(v.dims.iter().map(|d| d.to_string()).collect())
    );
    match i.pixel_spacing {
        Some((r, c)) => println!(
            "spacing      {c} x {r} mm (columns x rows){}",
            if v.dims.len() > 2 && (i.files > 1 || i.frame_step.is_some()) {
                format!(", slices {} mm", v.spacing[2])
            } else {
                String::new()
            }
        ),
        None => println!("spacing      none given (PixelSpacing missing or zero)"),
    }
    println!(
        "pixels       {}, {} sample(s), {} bits stored{}",
        i.photometric,
        i.samples_per_pixel,
        i.bits_stored,
        if i.inverted {
            ", inverted to MONOCHROME2"
        } else {
            ""
        }
    );
    println!("rescale      value * {} + {}", i.rescale.0, i.rescale.1);
    if let Some((c, w)) = i.window {
        println!("window       centre {c}, width {w}");
    }
    match v.range() {
        Some((lo, hi)) => println!("range        {lo} .. {hi} (after rescale)"),
        None => println!("range        no finite values"),
    }
    Ok(())
}
