//! The picture of docs/corruptions.md: one S1 phantom slice (FLAIR channel, 128 px, seed 3)
//! under every MR family at severities 1–5 (rows: families; columns: clean, then severity 1–5;
//! each draw seeded by family and severity).
//!
//!     cargo run --release -p mira-corrupt --example gallery -- docs/corruptions.png

use burn::prelude::*;
use mira_corrupt::Family;
use mira_nn::{default_device, tensor_to_vec};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corruptions.png".into());
    let size = 128;
    let data = mira_data::BrainPhantomConfig {
        size,
        ..Default::default()
    }
    .generate(3, 0, 1)?;
    let slice = &data.items[0];
    let flair = slice.image[3 * size * size..4 * size * size].to_vec();
    let x = Tensor::<5>::from_data(
        TensorData::new(flair.clone(), [1, 1, 1, size, size]),
        &default_device(),
    );
    // The MR families: the first nine of `Family::ALL` (the rest are CT and X-ray).
    let families = &Family::ALL[..9];
    let (cols, gap) = (6, 2);
    let (w, h) = (cols * (size + gap), families.len() * (size + gap));
    let mut canvas = vec![255f32; w * h];
    for (r, family) in families.iter().enumerate() {
        for c in 0..cols {
            let img = if c == 0 {
                flair.clone()
            } else {
                let mut rng = StdRng::seed_from_u64(100 * r as u64 + c as u64);
                let draw = family.draw(c as u8, [1, size, size], None, &mut rng)?;
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
    mira_io::write_png(std::path::Path::new(&out), &volume, false)?;
    println!("wrote {out}");
    Ok(())
}
