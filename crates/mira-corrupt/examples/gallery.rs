//! The pictures of docs/corruptions.md: one S1 phantom slice (FLAIR channel, 128 px, seed 3)
//! under every MR family, and one S2 abdominal CT phantom slice (128 px, seed 3, window
//! 40 ± 200 HU) under the CT and X-ray families, at severities 1–5 (rows: families; columns:
//! clean, then severity 1–5; each draw seeded by family and severity).
//!
//!     cargo run --release -p mira-corrupt --example gallery -- docs/corruptions.png \
//!         docs/corruptions_ct.png

use burn::prelude::*;
use mira_corrupt::Family;
use mira_nn::{default_device, tensor_to_vec};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Rows of `families` on `image` (a 2D slice of `size`², model units), written to `out`.
fn gallery(
    image: &[f32],
    size: usize,
    families: &[Family],
    hu_per_unit: Option<f32>,
    out: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let x = Tensor::<5>::from_data(
        TensorData::new(image.to_vec(), [1, 1, 1, size, size]),
        &default_device(),
    );
    let (cols, gap) = (6, 2);
    let (w, h) = (cols * (size + gap), families.len() * (size + gap));
    let mut canvas = vec![255f32; w * h];
    for (r, family) in families.iter().enumerate() {
        // Seeded by the family's place in `Family::ALL`, so each picture's draws stay put.
        let row = Family::ALL.iter().position(|f| f == family).unwrap_or(r);
        for c in 0..cols {
            let img = if c == 0 {
                image.to_vec()
            } else {
                let mut rng = StdRng::seed_from_u64(100 * row as u64 + c as u64);
                let draw = family.draw(c as u8, [1, size, size], hu_per_unit, &mut rng)?;
                tensor_to_vec(draw.apply(x.clone()))
            };
            for y in 0..size {
                for xx in 0..size {
                    canvas[(r * (size + gap) + y) * w + c * (size + gap) + xx] =
                        img[y * size + xx] * 255.0;
                }
            }
        }
    }
    let volume = mira_io::Volume {
        dims: vec![w, h],
        spacing: vec![1.0, 1.0],
        affine: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        data: canvas,
    };
    mira_io::write_png(std::path::Path::new(out), &volume, false)?;
    println!("wrote {out}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mr_out = args.next().unwrap_or_else(|| "corruptions.png".into());
    let size = 128;
    let data = mira_data::BrainPhantomConfig {
        size,
        ..Default::default()
    }
    .generate(3, 0, 1)?;
    let flair = data.items[0].image[3 * size * size..4 * size * size].to_vec();
    // The MR families: the first nine of `Family::ALL` (the rest are CT and X-ray).
    gallery(&flair, size, &Family::ALL[..9], None, &mr_out)?;
    if let Some(ct_out) = args.next() {
        let phantom = mira_data::AbdomenPhantomConfig {
            size,
            ..Default::default()
        };
        let ct = phantom.generate(3, 0, 1)?;
        let width = phantom.window[1];
        gallery(
            &ct.items[0].image,
            size,
            &Family::ALL[9..],
            Some(width),
            &ct_out,
        )?;
    }
    Ok(())
}
