//! Writes the first six S4 spine phantom slices side by side, the target disk's 176 contour
//! points in red: `cargo run --release -p mira-data --example s4_phantoms DIR [MODES]`.

use mira_data::SpinePhantomConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let modes = args.next().map_or(Ok(10), |m| m.parse())?;
    std::fs::create_dir_all(&dir)?;
    let cfg = SpinePhantomConfig {
        modes,
        ..Default::default()
    };
    let samples = cfg.generate(1, 0, 6)?;
    let (n, z) = (cfg.size, 2);
    let mut img = image::RgbImage::new((6 * n * z) as u32, (n * z) as u32);
    for (k, s) in samples.iter().enumerate() {
        for (i, v) in s.image.iter().enumerate() {
            let g = (v * 255.0).round() as u8;
            for dy in 0..z {
                for dx in 0..z {
                    let (x, y) = (k * n * z + (i % n) * z + dx, (i / n) * z + dy);
                    img.put_pixel(x as u32, y as u32, image::Rgb([g, g, g]));
                }
            }
        }
        for p in &s.points {
            let (x, y) = ((k * n) as f64 * z as f64 + p[0] * z as f64, p[1] * z as f64);
            if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
                img.put_pixel(x as u32, y as u32, image::Rgb([255, 40, 40]));
            }
        }
    }
    img.save(dir.join(format!("s4_phantom_p{modes}.png")))?;
    Ok(())
}
