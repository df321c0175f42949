//! A derived DICOM (e.g. an adversarial image) reads back with the written values, the
//! source's geometry and a new SOP Instance UID.

mod common;

use mira_io::{read_dicom, write_dicom_like};
use mira_testkit::shared_data_for_test;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mira-dcmw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn derived_dicom_round_trips() {
    let dir = tmp("synthetic");
    let src = dir.join("src.dcm");
    std::fs::write(&src, common::ct_slice(12.5, 7, 100)).unwrap();
    let (mut v, info) = read_dicom(&src).unwrap();
    for (i, x) in v.data.iter_mut().enumerate() {
        *x += if i % 2 == 0 { 3.0 } else { -2.0 }; // a perturbation in HU
    }
    let out = dir.join("adv.dcm");
    write_dicom_like(&out, &v, &src, &info, "Mira test perturbation").unwrap();
    let (back, binfo) = read_dicom(&out).unwrap();
    assert_eq!(back.data, v.data);
    assert_eq!(back.affine, v.affine);
    assert_eq!(binfo.pixel_spacing, info.pixel_spacing);
    assert_eq!(binfo.position, info.position);
    let uid = |p: &std::path::Path| {
        let o = dicom_object::open_file(p).unwrap();
        o.meta().media_storage_sop_instance_uid().to_string()
    };
    assert_ne!(uid(&out), uid(&src));
    assert!(uid(&out).starts_with("2.25."));
    // Values beyond the stored range are clipped to it (12 bits: 0..4095 → −1024..3071 HU).
    v.data[0] = 1e6;
    write_dicom_like(&out, &v, &src, &info, "clip").unwrap();
    assert_eq!(read_dicom(&out).unwrap().0.data[0], 3071.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn derived_dicom_of_real_files_shared_data() {
    let Some(root) = shared_data_for_test("derived_dicom_of_real_files_shared_data") else {
        return;
    };
    let dir = tmp("real");
    // CT in HU (signed rescale) and the MONOCHROME1 radiograph (inverted on read, re-inverted
    // on write), plus a JPEG 2000 source written back uncompressed.
    for file in [
        "ct/CT_small.dcm",
        "radiograph/RG1_UNCR.dcm",
        "codec_variants/MR_small_jp2klossless.dcm",
    ] {
        let src = root.join("dicom").join(file);
        let (mut v, info) = read_dicom(&src).unwrap();
        for x in v.data.iter_mut().step_by(3) {
            *x += 5.0;
        }
        let out = dir.join("out.dcm");
        write_dicom_like(&out, &v, &src, &info, "Mira").unwrap();
        let (back, binfo) = read_dicom(&out).unwrap();
        assert_eq!(back.data, v.data, "{file}");
        assert_eq!(binfo.photometric, info.photometric, "{file}");
        assert_eq!(
            binfo.transfer_syntax_name, "Explicit VR Little Endian",
            "{file}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
