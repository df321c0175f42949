//! Writes one X-ray phantom and one natural-like image (256 px) and a registration pair of
//! each to the folder given as the first argument, for looking at.

use mira_data::{RegPairConfig, RegSource, make_pair, natural_phantom, xray_phantom};

fn save(path: &std::path::Path, px: &[f32], w: usize, h: usize) {
    let img = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
        image::Luma([(px[y as usize * w + x as usize] * 255.0).round() as u8])
    });
    img.save(path).expect("write png");
}

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&out).expect("create folder");
    for (name, px) in [
        ("xray", xray_phantom(256, 1)),
        ("natural", natural_phantom(256, 1)),
    ] {
        save(&out.join(format!("{name}_source.png")), &px, 256, 256);
        let src = RegSource::whole(256, 256, px).expect("source");
        let pair = make_pair(&[src], &RegPairConfig::default(), 5, 0).expect("pair");
        let both: Vec<f32> = (0..64)
            .flat_map(|y| {
                let (f, m) = (&pair.fixed, &pair.moving);
                (0..128).map(move |x| {
                    if x < 64 {
                        f[y * 64 + x]
                    } else {
                        m[y * 64 + x - 64]
                    }
                })
            })
            .collect();
        save(&out.join(format!("{name}_pair.png")), &both, 128, 64);
    }
}
