//! The DICOM reader refuses corrupted input with an error: no panic, no hang, no allocation
//! sized by a lying length. The base file is a small CT-like image written with dicom-object;
//! 12,000 mutated copies (truncated, bit-flipped, overwritten) per run. Panics inside
//! third-party pixel decoders are caught by the reader and reported as errors, so the test
//! output may show their messages.

mod common;

use mira_io::read_dicom_bytes;
use proptest::prelude::*;

fn base_file() -> Vec<u8> {
    let bytes = common::ct_slice(0.0, 1, 100);
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
