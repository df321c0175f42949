//! The DICOM reader refuses corrupted input with an error: no panic, no hang, no allocation
//! sized by a lying length. The base file is a small CT-like image written with dicom-object;
//! 12,000 mutated copies (truncated, bit-flipped, overwritten) per run. Panics inside
//! third-party pixel decoders are caught by the reader and reported as errors, so the test
//! output may show their messages.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use mira_io::read_dicom_bytes;
use proptest::prelude::*;

fn base_file() -> Vec<u8> {
    let (rows, cols) = (8u16, 6u16);
    let pixels: Vec<u16> = (0..rows * cols).map(|i| 100 + i * 7).collect();
    let mut obj = InMemDicomObject::new_empty();
    let put = |o: &mut InMemDicomObject, tag, vr, v: PrimitiveValue| {
        o.put(DataElement::new(tag, vr, v));
    };
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
    );
    put(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("1.2.3.4.5.6.7"),
    );
    put(&mut obj, tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
    put(
        &mut obj,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    );
    put(&mut obj, tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(&mut obj, tags::COLUMNS, VR::US, PrimitiveValue::from(cols));
    put(
        &mut obj,
        tags::PIXEL_SPACING,
        VR::DS,
        PrimitiveValue::from("0.5\\0.5"),
    );
    put(
        &mut obj,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    );
    put(
        &mut obj,
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(12u16),
    );
    put(
        &mut obj,
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(11u16),
    );
    put(
        &mut obj,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(
        &mut obj,
        tags::RESCALE_INTERCEPT,
        VR::DS,
        PrimitiveValue::from("-1024"),
    );
    put(
        &mut obj,
        tags::RESCALE_SLOPE,
        VR::DS,
        PrimitiveValue::from("1"),
    );
    put(
        &mut obj,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    );
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1"))
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    if !bytes.starts_with(&[0; 128]) || bytes.get(128..132) != Some(b"DICM".as_slice()) {
        bytes.splice(0..0, [0u8; 128]); // a preamble, as files on disk have
    }
    let (v, info) = read_dicom_bytes(&bytes, "base.dcm").unwrap();
    assert_eq!(v.dims, [6, 8, 1]);
    assert_eq!(v.data[0], 100.0 - 1024.0, "rescaled");
    assert_eq!(info.pixel_spacing, Some((0.5, 0.5)));
    bytes
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBits(Vec<(usize, u8)>),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..2000).prop_map(Mutation::Truncate),
        prop::collection::vec((0usize..2000, 0u8..8), 1..6).prop_map(Mutation::FlipBits),
        (128usize..700, prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Overwrite(at, b)),
    ]
}

fn apply(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    match m {
        Mutation::Truncate(n) => b.truncate(n % (base.len() + 1)),
        Mutation::FlipBits(f) => {
            for (at, bit) in f {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
        }
        Mutation::Overwrite(at, bytes) => {
            for (k, x) in bytes.iter().enumerate() {
                if let Some(s) = b.get_mut((at + k) % base.len()) {
                    *s = *x;
                }
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_dicom_is_an_error_not_a_panic(m in mutation()) {
        static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = apply(BASE.get_or_init(base_file), &m);
        if let Ok((v, _)) = read_dicom_bytes(&bytes, "fuzz.dcm") {
            prop_assert_eq!(v.data.len(), v.dims.iter().product::<usize>());
        }
    }
}
