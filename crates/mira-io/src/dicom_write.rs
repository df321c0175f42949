//! Writing a derived DICOM image: an adversarial (or any processed) version of a source file,
//! with the source's patient, study, series and geometry attributes, a new SOP Instance UID,
//! Image Type DERIVED\SECONDARY and a Derivation Description, as uncompressed explicit VR
//! little endian.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::dicom_read::open_bytes;
use crate::{DicomInfo, IoError, Result, Volume};

/// A new UID under the `2.25` root (a 128-bit number from the time, the process and a
/// counter, as ISO/IEC 9834-8 allows for UUID-derived UIDs).
pub fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let c = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let mut x = t ^ ((std::process::id() as u128) << 64) ^ (c << 100);
    // Mix (SplitMix-style on both halves) so consecutive UIDs differ in every digit.
    for _ in 0..2 {
        x = (x ^ (x >> 61)).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    }
    format!("2.25.{x}")
}

/// Writes `volume` (values in the source's rescaled units, as [`crate::read_dicom`] returned
/// them) as a DICOM file derived from the `source` file. `description` goes into Derivation
/// Description (e.g. "Mira FGSM eps=0.02"). Values are mapped back to stored values
/// (inverse rescale, MONOCHROME1 re-inverted, rounded and clipped to the stored range).
///
/// # Errors
/// The source cannot be read, is colour or multi-frame, or its size differs from `volume`.
pub fn write_dicom_like(
    path: &Path,
    volume: &Volume,
    source: &Path,
    info: &DicomInfo,
    description: &str,
) -> Result<()> {
    let name = path.display().to_string();
    let src_name = source.display().to_string();
    let bytes = std::fs::read(source).map_err(|source| IoError::Io {
        path: src_name.clone(),
        source,
    })?;
    let (mut obj, _) = open_bytes(&bytes, &src_name)?;
    let num = |tag| {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_int::<i64>().ok())
    };
    let (rows, cols) = (
        num(tags::ROWS).unwrap_or(0),
        num(tags::COLUMNS).unwrap_or(0),
    );
    let bits_allocated = num(tags::BITS_ALLOCATED).unwrap_or(16);
    let signed = num(tags::PIXEL_REPRESENTATION) == Some(1);
    let frames = num(tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if info.samples_per_pixel != 1 || frames != 1 || !(bits_allocated == 8 || bits_allocated == 16)
    {
        return Err(IoError::Unsupported {
            path: name,
            reason: "derived DICOM is written for single-frame grey 8- or 16-bit sources".into(),
        });
    }
    if volume.dims.iter().product::<usize>() != (rows * cols) as usize
        || volume.dims.first() != Some(&(cols as usize))
    {
        return Err(IoError::malformed(
            &name,
            format!(
                "volume dims {:?} do not match the source's {cols} x {rows}",
                volume.dims
            ),
        ));
    }
    let bits = info.bits_stored as i32;
    let (lo, hi) = if signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    };
    let (slope, intercept) = info.rescale;
    let flip = if info.inverted {
        (lo * slope + intercept) + (hi * slope + intercept)
    } else {
        0.0
    };
    let stored: Vec<f64> = volume
        .data
        .iter()
        .map(|&v| {
            let v = if info.inverted {
                flip - v as f64
            } else {
                v as f64
            };
            ((v - intercept) / slope).round().clamp(lo, hi)
        })
        .collect();
    let pixel = match (bits_allocated, signed) {
        (8, _) => DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(stored.iter().map(|&v| v as u8).collect()),
        ),
        (_, true) => DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::I16(stored.iter().map(|&v| v as i16).collect()),
        ),
        (_, false) => DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(stored.iter().map(|&v| v as u16).collect()),
        ),
    };
    obj.put(pixel);
    let uid = new_uid();
    let put_str = |o: &mut dicom_object::DefaultDicomObject, tag, vr, v: &str| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &uid);
    put_str(&mut obj, tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY");
    put_str(&mut obj, tags::DERIVATION_DESCRIPTION, VR::ST, description);
    let explicit = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.1")
        .ok_or_else(|| IoError::malformed(&name, "explicit VR little endian is not registered"))?;
    let meta = obj.meta_mut();
    meta.media_storage_sop_instance_uid = uid;
    meta.set_transfer_syntax(explicit);
    meta.update_information_group_length();
    let tmp = path.with_file_name(format!("mira-partial-{}.dcm", crate::unique_suffix()));
    obj.write_to_file(&tmp)
        .map_err(|e| IoError::malformed(&name, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|source| IoError::Io { path: name, source })
}
