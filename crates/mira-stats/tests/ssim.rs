//! SSIM and PSNR against scikit-image 0.25.2 and MONAI 1.6.1 (values printed by
//! scripts/ssim_fixture.py, run 2026-12-06 with torch 2.15.0 and numpy 2; the images are the
//! formulas below, built the same way there): 2D two-channel 24 × 29 (scikit-image's Gaussian
//! SSIM with Wang et al.'s settings, per channel and mean; MONAI's `SSIMMetric` 2D), 3D
//! 13 × 14 × 15 with windows 7 and 11 (MONAI), PSNR of both.

use mira_stats::{SsimOptions, psnr, ssim_per_channel};

fn pair(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
        .collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| (v + 0.08 * (0.37 * i as f64).sin()).clamp(0.0, 1.0))
        .collect();
    let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect();
    (f(x), f(y))
}

#[test]
fn ssim_2d_equals_scikit_image_and_monai() {
    let (x, y) = pair(2 * 24 * 29);
    let s = ssim_per_channel(&x, &y, &[2, 24, 29], SsimOptions::gaussian(11)).unwrap();
    // scikit-image per channel, and their mean (its channel_axis result); MONAI's 2D metric
    // (computed in float32 there) 0.9818663597106934.
    for (got, want) in s.iter().zip([0.9818347314039826, 0.9818981078121608]) {
        assert!((got - want).abs() < 1e-6, "{got} vs scikit-image {want}");
    }
    let mean = (s[0] + s[1]) / 2.0;
    assert!((mean - 0.9818664196080717).abs() < 1e-6);
    assert!((mean - 0.9818663597106934).abs() < 1e-5);
    let p = psnr(&x, &y, 1.0).unwrap();
    assert!((p - 25.13225495745992).abs() < 1e-4, "{p}");
}

#[test]
fn ssim_3d_equals_monai_for_both_windows() {
    let (x, y) = pair(13 * 14 * 15);
    for (w, want) in [(7, 0.9815663695335388), (11, 0.9819638729095459)] {
        let s = ssim_per_channel(&x, &y, &[1, 13, 14, 15], SsimOptions::gaussian(w)).unwrap();
        assert!(
            (s[0] - want).abs() < 1e-5,
            "window {w}: {} vs MONAI {want}",
            s[0]
        );
    }
    let p = psnr(&x, &y, 1.0).unwrap();
    assert!((p - 25.1454019990691).abs() < 1e-4, "{p}");
}
