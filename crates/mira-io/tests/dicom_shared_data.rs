//! Every DICOM file of ../shared/data reads as pydicom reads it, or fails with an error that
//! names its transfer syntax.
//!
//! Reference values from pydicom 3.0 (+ pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-libjpeg,
//! Pillow) on 2026-11-23: `a = pydicom.pixels.apply_rescale(ds.pixel_array, ds)`, for
//! MONOCHROME1 then `(2**BitsStored - 1) - a` (Mira's inversion), flattened in C order (samples,
//! columns, rows, frames — Mira's order); sum (f64) and the values at flat indices
//! 0, n/3, n/2, n-1. Lossy JPEG baseline decoders differ in rounding, so that one file is
//! compared with a tolerance.

use mira_io::read_dicom;
use mira_testkit::shared_data_for_test;

struct Expect {
    file: &'static str,
    dims: &'static [usize],
    sum: f64,
    values: [f32; 4],
    syntax: &'static str,
}

const OK: &[Expect] = &[
    Expect {
        file: "codec_variants/JPEG-LL.dcm",
        dims: &[256, 1024, 1],
        sum: 3596452.0,
        values: [0.0, 20.0, 0.0, 0.0],
        syntax: "JPEG Lossless",
    },
    Expect {
        file: "codec_variants/MR_small_RLE.dcm",
        dims: &[64, 64, 1],
        sum: 2125338.0,
        values: [905.0, 446.0, 482.0, 862.0],
        syntax: "RLE Lossless",
    },
    Expect {
        file: "codec_variants/MR_small_bigendian.dcm",
        dims: &[64, 64, 1],
        sum: 2125338.0,
        values: [905.0, 446.0, 482.0, 862.0],
        syntax: "Explicit VR Big Endian",
    },
    Expect {
        file: "codec_variants/MR_small_implicit.dcm",
        dims: &[64, 64, 1],
        sum: 2125338.0,
        values: [905.0, 446.0, 482.0, 862.0],
        syntax: "Implicit VR Little Endian",
    },
    Expect {
        file: "codec_variants/MR_small_jp2klossless.dcm",
        dims: &[64, 64, 1],
        sum: 2125338.0,
        values: [905.0, 446.0, 482.0, 862.0],
        syntax: "JPEG 2000",
    },
    Expect {
        file: "codec_variants/RG1_J2KR.dcm",
        dims: &[1841, 1955, 1],
        sum: 91330511719.0,
        values: [13878.0, 16058.0, 29326.0, 29859.0],
        syntax: "JPEG 2000",
    },
    Expect {
        file: "codec_variants/emri_small_RLE.dcm",
        dims: &[64, 64, 10],
        sum: 4493276.0,
        values: [31.0, 12.0, 99.0, 147.0],
        syntax: "RLE Lossless",
    },
    Expect {
        file: "codec_variants/image_dfl.dcm",
        dims: &[512, 512, 1],
        sum: 33322688.0,
        values: [213.0, 184.0, 138.0, 188.0],
        syntax: "Deflated Explicit VR Little Endian",
    },
    Expect {
        file: "ct/CT_small.dcm",
        dims: &[128, 128, 1],
        sum: -1950906.0,
        values: [-849.0, 16.0, -68.0, -115.0],
        syntax: "Explicit VR Little Endian",
    },
    Expect {
        file: "mr/MR_small.dcm",
        dims: &[64, 64, 1],
        sum: 2125338.0,
        values: [905.0, 446.0, 482.0, 862.0],
        syntax: "Explicit VR Little Endian",
    },
    Expect {
        file: "mr/nibabel_siemens_dti_0.dcm",
        dims: &[256, 256, 1],
        sum: 134184960.0,
        values: [0.0, 1365.0, 0.0, 4095.0],
        syntax: "Implicit VR Little Endian",
    },
    Expect {
        file: "radiograph/RG1_UNCR.dcm",
        dims: &[1841, 1955, 1],
        sum: 91330511719.0,
        values: [13878.0, 16058.0, 29326.0, 29859.0],
        syntax: "Explicit VR Little Endian",
    },
    Expect {
        file: "seg/liver.dcm",
        dims: &[512, 512, 3],
        sum: 107098.0,
        values: [0.0, 0.0, 0.0, 0.0],
        syntax: "Explicit VR Little Endian",
    },
    Expect {
        file: "seg/liver_1frame.dcm",
        dims: &[512, 512, 1],
        sum: 36233.0,
        values: [0.0, 0.0, 0.0, 0.0],
        syntax: "Explicit VR Little Endian",
    },
];

fn picks(data: &[f32]) -> [f32; 4] {
    let n = data.len();
    [data[0], data[n / 3], data[n / 2], data[n - 1]]
}

#[test]
fn dicom_files_match_pydicom_shared_data() {
    let Some(root) = shared_data_for_test("dicom_files_match_pydicom_shared_data") else {
        return;
    };
    let root = root.join("dicom");
    for e in OK {
        let (v, info) = read_dicom(&root.join(e.file)).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(v.dims, e.dims, "{}", e.file);
        let sum: f64 = v.data.iter().map(|&x| x as f64).sum();
        assert_eq!(sum, e.sum, "{}", e.file);
        assert_eq!(picks(&v.data), e.values, "{}", e.file);
        assert!(
            info.transfer_syntax_name.contains(e.syntax),
            "{}: {}",
            e.file,
            info.transfer_syntax_name
        );
    }
    // CT in Hounsfield units; the radiograph is MONOCHROME1 (inverted) with no usable spacing.
    let (ct, info) = read_dicom(&root.join("ct/CT_small.dcm")).unwrap();
    assert_eq!(ct.range(), Some((-896.0, 1167.0)));
    assert_eq!(info.rescale, (1.0, -1024.0));
    assert_eq!(info.pixel_spacing, Some((0.661468, 0.661468)));
    let (_, rg) = read_dicom(&root.join("radiograph/RG1_UNCR.dcm")).unwrap();
    assert!(rg.inverted && rg.photometric == "MONOCHROME1" && rg.pixel_spacing.is_none());
    assert_eq!(rg.window, Some((15000.0, 30000.0)));

    // Lossy JPEG baseline, YBR_FULL → RGB: pydicom/Pillow sum 3832000 and picks
    // [254, 255, 125, 255]; decoders round differently, so allow a small difference.
    let (rgb, _) = read_dicom(&root.join("codec_variants/SC_rgb_jpeg_dcmtk.dcm")).unwrap();
    assert_eq!(rgb.dims, [3, 100, 100, 1]);
    let sum: f64 = rgb.data.iter().map(|&x| x as f64).sum();
    assert!((sum - 3832000.0).abs() / 3832000.0 < 1e-3, "{sum}");
    for (a, b) in picks(&rgb.data).iter().zip([254.0, 255.0, 125.0, 255.0]) {
        assert!((a - b).abs() <= 3.0, "{a} vs {b}");
    }
}

#[test]
fn undecodable_syntaxes_fail_naming_the_syntax_shared_data() {
    let Some(root) =
        shared_data_for_test("undecodable_syntaxes_fail_naming_the_syntax_shared_data")
    else {
        return;
    };
    for (file, syntax) in [
        (
            "codec_variants/MR_small_jpeg_ls_lossless.dcm",
            "JPEG-LS Lossless",
        ),
        ("codec_variants/JPGExtended.dcm", "JPEG Extended"),
    ] {
        let err = read_dicom(&root.join("dicom").join(file))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported") && err.contains(syntax),
            "{file}: {err}"
        );
    }
}

/// Enhanced multi-frame geometry from the functional groups (liver.dcm, a DICOM SEG: no
/// top-level Pixel Spacing). pydicom 3.0.1 (2026-12-06):
/// `ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing` = [0.810547,
/// 0.810547], `.SliceThickness` = `.SpacingBetweenSlices` = 1,
/// `...PlaneOrientationSequence[0].ImageOrientationPatient` = [1, 0, 0, 0, 1, 0],
/// `ds.PerFrameFunctionalGroupsSequence[i].PlanePositionSequence[0].ImagePositionPatient` =
/// [-235.2, -226.8, -128.69 + i] for the three frames.
#[test]
fn enhanced_multiframe_geometry_matches_pydicom_shared_data() {
    let Some(root) =
        shared_data_for_test("enhanced_multiframe_geometry_matches_pydicom_shared_data")
    else {
        return;
    };
    let (v, info) = read_dicom(&root.join("dicom/seg/liver.dcm")).unwrap();
    assert_eq!(info.pixel_spacing, Some((0.810547, 0.810547)));
    assert_eq!(info.frame_step, Some(1.0));
    assert_eq!(info.orientation, Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    let p = info.position.unwrap();
    assert!(
        (p[0] + 235.2).abs() < 1e-9 && (p[1] + 226.8).abs() < 1e-9 && (p[2] + 128.69).abs() < 1e-9
    );
    assert_eq!(v.dims, [512, 512, 3]);
    assert!((v.spacing[0] - 0.810547).abs() < 1e-6 && (v.spacing[2] - 1.0).abs() < 1e-6);
    // Voxel → RAS: LPS x and y flip sign; the origin is the first frame's position.
    let a = v.affine;
    assert!((a[0][0] + 0.810547).abs() < 1e-6 && (a[1][1] + 0.810547).abs() < 1e-6);
    assert!((a[2][2] - 1.0).abs() < 1e-9);
    assert!(
        (a[0][3] - 235.2).abs() < 1e-9
            && (a[1][3] - 226.8).abs() < 1e-9
            && (a[2][3] + 128.69).abs() < 1e-9
    );
}
