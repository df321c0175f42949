//! Every NIfTI file of ../shared/data reads as nibabel reads it.
//!
//! Reference values from nibabel 5.3 / NumPy 2.4.6 on 2026-11-23:
//! `d = nib.load(f).get_fdata(dtype=np.float32)`; shape, `header.get_zooms()`, `img.affine`,
//! `nib.aff2axcodes`, `d.astype(np.float64).sum()`, `d.min()`, `d.max()`, `d[mid]` with
//! `mid = tuple(s // 2 for s in d.shape)`.

// Reference values are pasted as NumPy printed them (f64), compared as f32.
#![allow(clippy::excessive_precision)]

use mira_io::{read_nifti, write_nifti_like};
use mira_testkit::shared_data_for_test;

struct Expect {
    file: &'static str,
    dims: &'static [usize],
    spacing: &'static [f32],
    orientation: &'static str,
    endianness: &'static str,
    sum: f64,
    min: f32,
    max: f32,
    mid: f32,
    translation: [f64; 3],
}

const FILES: &[Expect] = &[
    Expect {
        file: "mni_icbm152_2009a_sym/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
        dims: &[197, 233, 189],
        spacing: &[1.0, 1.0, 1.0],
        orientation: "RAS",
        endianness: "little",
        sum: 333468829.0,
        min: 0.0,
        max: 255.0,
        mid: 198.0,
        translation: [-98.0, -134.0, -72.0],
    },
    Expect {
        file: "mni_icbm152_2009a_sym/derived_tissue_labels_argmax.nii.gz",
        dims: &[197, 233, 189],
        spacing: &[1.0, 1.0, 1.0],
        orientation: "RAS",
        endianness: "little",
        sum: 4244815.0,
        min: 0.0,
        max: 3.0,
        mid: 2.0,
        translation: [-98.0, -134.0, -72.0],
    },
    Expect {
        file: "mni_icbm152_2009a_sym/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
        dims: &[197, 233, 189],
        spacing: &[1.0, 1.0, 1.0],
        orientation: "RAS",
        endianness: "little",
        sum: 257090788.0,
        min: 0.0,
        max: 255.0,
        mid: 126.0,
        translation: [-98.0, -134.0, -72.0],
    },
    Expect {
        file: "mni_icbm152_2009a_sym/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
        dims: &[197, 233, 189],
        spacing: &[1.0, 1.0, 1.0],
        orientation: "RAS",
        endianness: "little",
        sum: 170935158.0,
        min: 0.0,
        max: 255.0,
        mid: 124.0,
        translation: [-98.0, -134.0, -72.0],
    },
    // nibabel keeps the trailing axis of length 1 (128, 128, 10, 1); Mira drops it.
    Expect {
        file: "nifti_small/S0_10slices.nii.gz",
        dims: &[128, 128, 10],
        spacing: &[2.0, 2.0, 53.141319],
        orientation: "RAS",
        endianness: "little",
        sum: 23236154.0,
        min: 0.0,
        max: 4095.0,
        mid: 386.0,
        translation: [-123.359253, -102.854736, -38.755863],
    },
    Expect {
        file: "nifti_small/anatomical.nii",
        dims: &[33, 41, 25],
        spacing: &[2.0, 2.0, 2.0],
        orientation: "LAS",
        endianness: "big",
        sum: 284166082.0,
        min: -610.0,
        max: 30393.0,
        mid: 11881.0,
        translation: [32.0, -40.0, -16.0],
    },
    Expect {
        file: "nifti_small/aniso_vox.nii.gz",
        dims: &[58, 58, 24],
        spacing: &[4.0, 4.0, 5.0],
        orientation: "LPS",
        endianness: "little",
        sum: 7763280.0,
        min: 0.0,
        max: 2149.0,
        mid: 900.0,
        translation: [118.763443, 132.198181, 22.819555],
    },
    Expect {
        file: "nifti_small/example4d.nii.gz",
        dims: &[128, 96, 24, 2],
        spacing: &[2.0, 2.0, 2.199999, 2000.0],
        orientation: "LAS",
        endianness: "little",
        sum: 101985356.0,
        min: 0.0,
        max: 1162.0,
        mid: 266.0,
        translation: [117.855103, -35.722942, -7.248798],
    },
    // scl_slope/scl_inter applied: non-integer values from int16 storage.
    Expect {
        file: "nifti_small/functional.nii",
        dims: &[17, 21, 3, 20],
        spacing: &[4.0, 4.0, 8.0, 2.0],
        orientation: "LAS",
        endianness: "little",
        sum: 77913290.39703369,
        min: 629.826171875,
        max: 5571.6220703125,
        mid: 3937.251220703125,
        translation: [32.0, -40.0, 0.0],
    },
    Expect {
        file: "nifti_small/standard.nii.gz",
        dims: &[4, 5, 7],
        spacing: &[1.0, 3.0, 2.0],
        orientation: "RAS",
        endianness: "little",
        sum: 7650.0,
        min: 0.0,
        max: 255.0,
        mid: 0.0,
        translation: [0.0, 0.0, 0.0],
    },
];

fn mid_value(v: &mira_io::Volume) -> f32 {
    let mut idx = 0;
    let mut stride = 1;
    for &d in &v.dims {
        idx += (d / 2) * stride;
        stride *= d;
    }
    v.data[idx]
}

#[test]
fn nifti_files_match_nibabel_shared_data() {
    let Some(root) = shared_data_for_test("nifti_files_match_nibabel_shared_data") else {
        return;
    };
    for e in FILES {
        let (v, info) = read_nifti(&root.join(e.file)).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(v.dims, e.dims, "{}", e.file);
        for (a, b) in v.spacing.iter().zip(e.spacing) {
            assert!((a - b).abs() < 1e-5, "{} spacing {:?}", e.file, v.spacing);
        }
        assert_eq!(info.orientation, e.orientation, "{}", e.file);
        assert_eq!(info.endianness, e.endianness, "{}", e.file);
        let sum: f64 = v.data.iter().map(|&x| x as f64).sum();
        assert!(
            (sum - e.sum).abs() <= 1e-6 * e.sum.abs().max(1.0),
            "{} sum {sum}",
            e.file
        );
        assert_eq!(v.range(), Some((e.min, e.max)), "{}", e.file);
        assert_eq!(mid_value(&v), e.mid, "{}", e.file);
        for i in 0..3 {
            assert!(
                (v.affine[i][3] - e.translation[i]).abs() < 1e-4,
                "{} {:?}",
                e.file,
                v.affine
            );
        }
    }
}

#[test]
fn written_nifti_round_trips_with_source_geometry_shared_data() {
    let Some(root) =
        shared_data_for_test("written_nifti_round_trips_with_source_geometry_shared_data")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mira-io-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["nifti_small/aniso_vox.nii.gz", "nifti_small/anatomical.nii"] {
        let (mut v, info) = read_nifti(&root.join(file)).unwrap();
        for x in &mut v.data {
            *x += 0.25; // a perturbed image, as an attack would write
        }
        for out in ["adv.nii.gz", "adv.nii"] {
            let path = dir.join(out);
            write_nifti_like(&path, &v, &info).unwrap();
            let (back, binfo) = read_nifti(&path).unwrap();
            assert_eq!(back.dims, v.dims);
            assert_eq!(back.data, v.data, "{file} → {out}");
            assert_eq!(back.spacing, v.spacing);
            for (r, s) in back.affine.iter().zip(&v.affine) {
                for (a, b) in r.iter().zip(s) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{file}: {:?} vs {:?}",
                        back.affine,
                        v.affine
                    );
                }
            }
            assert_eq!(binfo.orientation, info.orientation);
            assert_eq!(binfo.datatype, "Float32");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
