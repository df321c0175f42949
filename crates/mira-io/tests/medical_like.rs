//! Reading any supported image by path and writing a derived one back in the same format:
//! a DICOM series folder, NIfTI, 8- and 16-bit PNG.

mod common;

use mira_io::{MedicalSource, Volume, read_medical, write_medical_like};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mira-like-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_dicom_series_is_written_back_slice_by_slice() {
    let dir = tmp("series");
    let src = dir.join("in");
    std::fs::create_dir_all(&src).unwrap();
    for (file, z, inst, base) in [("a.dcm", 10.0, 1, 300), ("b.dcm", 0.0, 3, 100)] {
        std::fs::write(src.join(file), common::ct_slice(z, inst, base)).unwrap();
    }
    let (v, s) = read_medical(&src).unwrap();
    let MedicalSource::DicomSeries(files) = &s else {
        panic!("a folder is a series, got {}", s.format())
    };
    // Volume order follows position: b.dcm (z = 0) first.
    assert!(files[0].0.ends_with("b.dcm") && files[1].0.ends_with("a.dcm"));
    let mut changed = v.clone();
    for (i, x) in changed.data.iter_mut().enumerate() {
        *x += if i % 2 == 0 { 7.0 } else { -3.0 };
    }
    let out = write_medical_like(&dir.join("out"), &changed, &s, "Mira test").unwrap();
    assert_eq!(out, dir.join("out"));
    assert!(out.join("a.dcm").is_file() && out.join("b.dcm").is_file());
    let (back, s2) = read_medical(&out).unwrap();
    assert_eq!(back.dims, v.dims);
    assert_eq!(back.affine, v.affine);
    assert_eq!(
        back.data, changed.data,
        "integer HU changes survive exactly"
    );
    let MedicalSource::DicomSeries(f2) = &s2 else {
        panic!()
    };
    assert_eq!(s2.format(), "DICOM series");
    assert_eq!(f2[0].1.position, files[0].1.position);
    // A volume of the wrong depth is refused.
    let mut short = changed.clone();
    short.dims[2] = 1;
    short.data.truncate(48);
    let e = write_medical_like(&dir.join("bad"), &short, &s, "x").unwrap_err();
    assert!(e.to_string().contains("series of 2 slices"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn plane(w: usize, h: usize, data: Vec<f32>) -> Volume {
    Volume {
        dims: vec![w, h],
        spacing: vec![1.0, 1.0],
        affine: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        data,
    }
}

#[test]
fn png_and_nifti_are_written_like_their_sources() {
    let dir = tmp("png");
    for (bits, max) in [(8, 255.0), (16, 65535.0)] {
        let p = dir.join(format!("g{bits}.png"));
        let v = plane(
            5,
            3,
            (0..15).map(|i| (i as f32 * 1000.0).min(max)).collect(),
        );
        mira_io::write_png(&p, &v, bits == 16).unwrap();
        let (r, s) = read_medical(&p).unwrap();
        assert_eq!(r, v);
        let mut adv = r.clone();
        adv.data[4] = 2.4; // rounds to 2
        adv.data[5] = -9.0; // clipped to 0
        adv.data[6] = 1e9; // clipped to the maximum
        let out = write_medical_like(&dir.join(format!("adv{bits}")), &adv, &s, "").unwrap();
        assert_eq!(out, dir.join(format!("adv{bits}.png")));
        let (back, s2) = read_medical(&out).unwrap();
        assert_eq!(s2.format(), "PNG");
        assert_eq!((back.data[4], back.data[5], back.data[6]), (2.0, 0.0, max));
        assert_eq!(back.data[7], r.data[7]);
    }
    let n = dir.join("v.nii.gz");
    let mut v = plane(4, 3, (0..24).map(|i| i as f32 * 0.5).collect());
    v.dims = vec![4, 3, 2];
    v.spacing = vec![0.8, 0.9, 2.5];
    mira_io::write_nifti(&n, &v).unwrap();
    let (r, s) = read_medical(&n).unwrap();
    let out = write_medical_like(&dir.join("adv"), &r, &s, "").unwrap();
    assert_eq!(out, dir.join("adv.nii.gz"));
    assert_eq!(read_medical(&out).unwrap().0, r);
    assert_eq!(mira_io::image_stem(&out), "adv");
    std::fs::remove_dir_all(&dir).unwrap();
}
