//! A folder of DICOM slices becomes one volume, sorted along the slice normal.

mod common;

use mira_io::read_dicom_series;

#[test]
fn series_folder_is_sorted_by_position_with_ras_geometry() {
    let dir = std::env::temp_dir().join(format!("mira-series-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // File names in the wrong order, instance numbers misleading, one stray non-DICOM file.
    for (file, z, inst, base) in [
        ("a.dcm", 10.0, 1, 300),
        ("b.dcm", 0.0, 3, 100),
        ("c.dcm", 5.0, 2, 200),
    ] {
        std::fs::write(dir.join(file), common::ct_slice(z, inst, base)).unwrap();
    }
    std::fs::write(dir.join("README.txt"), "not DICOM").unwrap();
    let (v, info) = read_dicom_series(&dir).unwrap();
    assert_eq!(v.dims, [6, 8, 3]);
    assert_eq!(info.files, 3);
    // Slice k starts with base 100 (z = 0), 200 (z = 5), 300 (z = 10), rescaled by −1024.
    for (k, base) in [100.0, 200.0, 300.0].iter().enumerate() {
        assert_eq!(v.data[k * 48], base - 1024.0, "slice {k}");
    }
    assert_eq!(v.spacing, [0.5, 0.5, 5.0]);
    // Identity orientation in LPS → RAS: x and y flip; origin (−10, −20, 0) LPS → (10, 20, 0).
    assert_eq!(v.affine[0], [-0.5, 0.0, 0.0, 10.0]);
    assert_eq!(v.affine[1], [0.0, -0.5, 0.0, 20.0]);
    assert_eq!(v.affine[2], [0.0, 0.0, 5.0, 0.0]);

    // Two slices at one position are refused.
    std::fs::write(dir.join("d.dcm"), common::ct_slice(5.0, 4, 400)).unwrap();
    let err = read_dicom_series(&dir).unwrap_err().to_string();
    assert!(err.contains("share one position"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
