//! Small DICOM files written with dicom-object, for tests that must not need ../shared.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

/// An 8×6 CT slice (12-bit, intercept −1024, spacing 0.5 mm) at height `z` mm, pixel `i`
/// = `base + 7 i`; with the 128-byte preamble.
pub fn ct_slice(z: f64, instance: i32, base: u16) -> Vec<u8> {
    let (rows, cols) = (8u16, 6u16);
    let pixels: Vec<u16> = (0..rows * cols).map(|i| base + i * 7).collect();
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, v));
    };
    put(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
    );
    put(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(format!("1.2.3.4.5.6.{instance}")),
    );
    put(tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
    put(
        tags::INSTANCE_NUMBER,
        VR::IS,
        PrimitiveValue::from(instance.to_string()),
    );
    put(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        PrimitiveValue::from(format!("-10\\-20\\{z}")),
    );
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        PrimitiveValue::from("1\\0\\0\\0\\1\\0"),
    );
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(cols));
    put(
        tags::PIXEL_SPACING,
        VR::DS,
        PrimitiveValue::from("0.5\\0.5"),
    );
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(
        tags::RESCALE_INTERCEPT,
        VR::DS,
        PrimitiveValue::from("-1024"),
    );
    put(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("1"));
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into()));
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1"))
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    if bytes.get(128..132) != Some(b"DICM".as_slice()) {
        bytes.splice(0..0, [0u8; 128]);
    }
    bytes
}
