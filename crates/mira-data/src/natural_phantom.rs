//! Seeded procedural "natural" images (grey level), the PASCAL VOC analogue of study S0:
//! a smoothly lit background with multi-scale texture, and a few occluding objects (ellipses,
//! rectangles, triangles) each with its own brightness, texture and soft shadow. Every choice
//! depends on the seed only.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::raster::{gaussian_blur, texture};
use crate::xray_phantom::robust_unit;

enum Shape {
    Ellipse {
        c: [f32; 2],
        r: [f32; 2],
        rot: f32,
    },
    Rect {
        c: [f32; 2],
        half: [f32; 2],
        rot: f32,
    },
    Triangle {
        p: [[f32; 2]; 3],
    },
}

impl Shape {
    fn contains(&self, x: f32, y: f32) -> bool {
        match self {
            Shape::Ellipse { c, r, rot } | Shape::Rect { c, half: r, rot } => {
                let (s, co) = rot.sin_cos();
                let (dx, dy) = (x - c[0], y - c[1]);
                let (u, v) = ((co * dx + s * dy) / r[0], (-s * dx + co * dy) / r[1]);
                if matches!(self, Shape::Ellipse { .. }) {
                    u * u + v * v < 1.0
                } else {
                    u.abs() < 1.0 && v.abs() < 1.0
                }
            }
            Shape::Triangle { p } => {
                let side = |a: [f32; 2], b: [f32; 2]| {
                    (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
                };
                let (d1, d2, d3) = (side(p[0], p[1]), side(p[1], p[2]), side(p[2], p[0]));
                (d1 >= 0.0 && d2 >= 0.0 && d3 >= 0.0) || (d1 <= 0.0 && d2 <= 0.0 && d3 <= 0.0)
            }
        }
    }
}

/// A `size × size` natural-like image for `seed`, values in `[0, 1]`.
pub fn natural_phantom(size: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x4E41_5455);
    let n = size as f32;
    let fine = texture(size, 1.0, &mut rng);
    let mid = texture(size, n / 40.0, &mut rng);
    let coarse = texture(size, n / 10.0, &mut rng);
    let (gx, gy) = (
        rng.random_range(-0.4..0.4f32),
        rng.random_range(-0.4..0.4f32),
    );
    let base = rng.random_range(0.3..0.6f32);
    let mut img: Vec<f32> = (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as f32 / n - 0.5, (i / size) as f32 / n - 0.5);
            base + gx * x + gy * y + 0.12 * coarse[i] + 0.06 * mid[i] + 0.03 * fine[i]
        })
        .collect();
    let objects = rng.random_range(6..12);
    for _ in 0..objects {
        let c = [rng.random_range(0.0..n), rng.random_range(0.0..n)];
        let s = rng.random_range(0.05..0.22) * n;
        let rot = rng.random_range(0.0..std::f32::consts::PI);
        let shape = match rng.random_range(0..3) {
            0 => Shape::Ellipse {
                c,
                r: [s, s * rng.random_range(0.4..1.0)],
                rot,
            },
            1 => Shape::Rect {
                c,
                half: [s, s * rng.random_range(0.3..1.0)],
                rot,
            },
            _ => Shape::Triangle {
                p: [0, 1, 2].map(|_| {
                    [
                        c[0] + rng.random_range(-s..s) * 1.5,
                        c[1] + rng.random_range(-s..s) * 1.5,
                    ]
                }),
            },
        };
        let level = rng.random_range(0.0..1.0f32);
        let tex = rng.random_range(0.0..0.12f32);
        let shade = rng.random_range(-0.3..0.3f32);
        let shadow = [rng.random_range(1.0..4.0f32), rng.random_range(1.0..4.0f32)];
        for (i, v) in img.iter_mut().enumerate() {
            let (x, y) = ((i % size) as f32 + 0.5, (i / size) as f32 + 0.5);
            if shape.contains(x, y) {
                let t = (x - c[0]) / n * shade;
                *v = level + t + tex * mid[(i + 7919) % (size * size)];
            } else if shape.contains(x - shadow[0], y - shadow[1]) {
                *v *= 0.8;
            }
        }
    }
    let mut img = gaussian_blur(&img, size, size, 0.6);
    robust_unit(&mut img);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_images_are_seeded_in_range_and_varied() {
        let a = natural_phantom(80, 1);
        assert_eq!(a, natural_phantom(80, 1));
        let b = natural_phantom(80, 2);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(diff > 0.05, "two seeds give near-identical images ({diff})");
        // Structure at several scales: not flat.
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(var > 0.01, "variance {var}");
    }
}
