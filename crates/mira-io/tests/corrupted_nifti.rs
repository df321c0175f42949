//! Readers refuse corrupted NIfTI input with an error: never a panic, a hang or an allocation
//! sized by a lying header. 12,000 mutated files per run (plain and gzip), seeded by proptest's
//! deterministic default RNG.

use mira_io::{NiftiInfo, Volume, read_nifti_bytes, write_nifti_like};
use proptest::prelude::*;

/// A small valid file (plain and gzip bytes), written by Mira's own writer.
fn base_files() -> (Vec<u8>, Vec<u8>) {
    // One folder per call: the two tests of this file build the base files concurrently.
    static CALL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mira-io-fuzz-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let header = nifti::NiftiHeader {
        dim: [3, 6, 5, 4, 1, 1, 1, 1],
        pixdim: [1.0, 1.5, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0],
        sform_code: 1,
        srow_x: [1.5, 0.0, 0.0, -4.0],
        srow_y: [0.0, 2.0, 0.0, -5.0],
        srow_z: [0.0, 0.0, 3.0, -6.0],
        ..Default::default()
    };
    let info = NiftiInfo {
        header,
        datatype: "Float32".into(),
        endianness: "little",
        scl_slope: 1.0,
        scl_inter: 0.0,
        xform_codes: (1, 0),
        orientation: "RAS".into(),
    };
    let v = Volume {
        dims: vec![6, 5, 4],
        spacing: vec![1.5, 2.0, 3.0],
        affine: [
            [1.5, 0.0, 0.0, -4.0],
            [0.0, 2.0, 0.0, -5.0],
            [0.0, 0.0, 3.0, -6.0],
        ],
        data: (0..120).map(|i| i as f32 * 0.5).collect(),
    };
    let mut out = Vec::new();
    for name in ["base.nii", "base.nii.gz"] {
        let p = dir.join(name);
        write_nifti_like(&p, &v, &info).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let (back, _) = read_nifti_bytes(&bytes, name).unwrap();
        assert_eq!(back, v, "the base file must read back exactly");
        out.push(bytes);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    (out.remove(0), out.remove(0))
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBits(Vec<(usize, u8)>),
    /// Overwrite a header field region with arbitrary bytes (dims, datatype, offsets...).
    Header(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..900).prop_map(Mutation::Truncate),
        prop::collection::vec((0usize..900, 0u8..8), 1..8).prop_map(Mutation::FlipBits),
        (0usize..348, prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| Mutation::Header(at, b)),
    ]
}

fn apply(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    match m {
        Mutation::Truncate(n) => b.truncate(*n % (base.len() + 1)),
        Mutation::FlipBits(flips) => {
            for (at, bit) in flips {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
        }
        Mutation::Header(at, bytes) => {
            for (k, x) in bytes.iter().enumerate() {
                if let Some(slot) = b.get_mut(at + k) {
                    *slot = *x;
                }
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_files_are_errors_not_panics(m in mutation(), gz in any::<bool>()) {
        static BASE: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
        let (plain, packed) = BASE.get_or_init(base_files);
        let bytes = apply(if gz { packed } else { plain }, &m);
        if let Ok((v, _)) = read_nifti_bytes(&bytes, "fuzz.nii") {
            // Accepted input must be self-consistent.
            prop_assert_eq!(v.data.len(), v.dims.iter().product::<usize>());
            prop_assert_eq!(v.spacing.len(), v.dims.len());
        }
    }
}

#[test]
fn lying_header_is_refused_before_allocating() {
    let (plain, _) = base_files();
    let mut b = plain.clone();
    // dim = [3, 32767, 32767, 32767]: 3.5e13 voxels declared in a 832-byte file.
    for (k, d) in [3u16, 32767, 32767, 32767].iter().enumerate() {
        b[40 + 2 * k..42 + 2 * k].copy_from_slice(&d.to_le_bytes());
    }
    let err = read_nifti_bytes(&b, "lie.nii").unwrap_err().to_string();
    assert!(err.contains("exceed"), "{err}");
    // A plausible size that the file does not hold.
    b[40..48].copy_from_slice(&[3, 0, 64, 0, 64, 0, 64, 0]);
    let err = read_nifti_bytes(&b, "short.nii").unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}
