//! PNG and JPEG read as Pillow reads them.
//!
//! Reference: Pillow 11 / NumPy 2.4.6 on 2026-11-23, `np.asarray(Image.open(f))`: shape, sum,
//! first and middle flat values. JPEG decoders differ in IDCT rounding, so the JPEG sum is
//! compared within 0.1 %.

use mira_io::read_image_2d;
use mira_testkit::shared_data_for_test;

#[test]
fn png_and_jpeg_match_pillow_shared_data() {
    let Some(root) = shared_data_for_test("png_and_jpeg_match_pillow_shared_data") else {
        return;
    };
    let (v, info) = read_image_2d(&root.join("fundus_2d/microaneurysms.png")).unwrap();
    assert_eq!((info.format.as_str(), info.channels), ("PNG", 1));
    assert_eq!(v.dims, [102, 102]);
    assert_eq!(v.data.iter().map(|&x| x as f64).sum::<f64>(), 1033532.0);
    assert_eq!(&v.data[..3], &[96.0, 95.0, 93.0]);
    assert_eq!(v.data[v.data.len() / 2], 110.0);

    let (v, info) = read_image_2d(&root.join("fundus_2d/retina.jpg")).unwrap();
    assert_eq!((info.format.as_str(), info.channels), ("JPEG", 3));
    assert_eq!(v.dims, [3, 1411, 1411]);
    let sum = v.data.iter().map(|&x| x as f64).sum::<f64>();
    assert!((sum / 535744832.0 - 1.0).abs() < 1e-3, "{sum}");
    assert_eq!(&v.data[..3], &[0.0, 0.0, 0.0]);
}

#[test]
fn non_images_are_errors() {
    let p = std::env::temp_dir().join(format!("mira-notimg-{}.png", std::process::id()));
    std::fs::write(&p, b"definitely not a png").unwrap();
    assert!(read_image_2d(&p).is_err());
    std::fs::remove_file(&p).unwrap();
}
