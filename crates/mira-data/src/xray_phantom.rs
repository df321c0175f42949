//! Seeded procedural chest radiograph (posterior-anterior, MONOCHROME2: dense = bright), the
//! embedded stand-in for real X-rays in study S0.
//!
//! Built as a line integral of attenuation: a soft-tissue body whose thickness falls off
//! towards the edges, two air-filled lung fields with vessel markings, the heart shadow and
//! diaphragm domes, the spine (vertebral bodies with darker disc spaces), clavicles and ribs
//! (curved bands with brighter cortical edges), band-limited parenchymal texture — then a smooth exposure gradient, blur and
//! quantum noise, and a robust scaling to `[0, 1]`. Every choice depends on the seed only.

use std::f32::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::raster::{gaussian_blur, texture};

/// A `size × size` chest-radiograph phantom for `seed`, values in `[0, 1]`.
pub fn xray_phantom(size: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5852_4159);
    let n = size as f32;
    let u = |rng: &mut StdRng, a: f32, b: f32| rng.random_range(a..b);
    // Geometry in units of the image side, jittered per subject.
    let cx = 0.5 + u(&mut rng, -0.04, 0.04);
    let body_w = u(&mut rng, 0.40, 0.47);
    let lung_w = u(&mut rng, 0.15, 0.19);
    let lung_h = u(&mut rng, 0.28, 0.34);
    let lung_y = u(&mut rng, 0.40, 0.46);
    let lung_dx = u(&mut rng, 0.17, 0.21);
    let heart = [
        cx + u(&mut rng, 0.02, 0.06),
        lung_y + 0.16,
        u(&mut rng, 0.10, 0.13),
    ];
    let spine_w = u(&mut rng, 0.035, 0.05);
    let rib_gap = u(&mut rng, 0.055, 0.07);
    let rib_curve = u(&mut rng, 2.5, 3.5);
    let rib_tilt = u(&mut rng, 0.15, 0.3);
    let vessels: Vec<[f32; 4]> = (0..70)
        .map(|_| {
            let side = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
            let ang = u(&mut rng, -0.9, 0.9) + if side < 0.0 { PI } else { 0.0 };
            [
                side,
                ang,
                u(&mut rng, 0.05, 0.16),
                u(&mut rng, 0.004, 0.009),
            ]
        })
        .collect();
    let mut img = vec![0.0f32; size * size];
    for (i, v) in img.iter_mut().enumerate() {
        let x = ((i % size) as f32 + 0.5) / n;
        let y = ((i / size) as f32 + 0.5) / n;
        let dx = x - cx;
        // Soft tissue: an elliptic body, thicker in the middle.
        let body = 1.0 - (dx / body_w).powi(2);
        let mut a = if body > 0.0 { 0.55 * body.sqrt() } else { 0.0 };
        a += 0.15 * (y - 0.1).max(0.0); // more tissue towards the abdomen
        // Lungs: air replaces tissue; the domes of the diaphragm close them below.
        let mut in_lung = false;
        for side in [-1.0f32, 1.0] {
            let lx = (x - (cx + side * lung_dx)) / lung_w;
            let ly = (y - lung_y) / lung_h;
            let r = lx * lx + ly * ly;
            if r < 1.0 {
                in_lung = true;
                a -= 0.32 * (1.0 - r).powf(0.3);
            }
        }
        // Heart shadow (left of the patient = right of the image) and mediastinum.
        let hr = ((x - heart[0]).powi(2) + (y - heart[1]).powi(2) * 1.6).sqrt() / heart[2];
        if hr < 1.0 {
            a += 0.4 * (1.0 - hr * hr).sqrt();
        }
        if dx.abs() < 0.07 && y < lung_y + 0.1 {
            a += 0.1 * (1.0 - dx.abs() / 0.07);
        }
        // Vessel markings fan out from the hila inside the lungs.
        if in_lung {
            for vs in &vessels {
                let hx = cx + vs[0] * 0.08;
                let hy = lung_y - 0.02;
                let (px, py) = (x - hx, y - hy);
                let along = px * vs[1].cos() + py * vs[1].sin();
                let across = -px * vs[1].sin() + py * vs[1].cos();
                if along > 0.0 && along < vs[2] * 2.5 {
                    let width = vs[3] * (1.0 - along / (vs[2] * 2.5));
                    a += 0.1 * (-(across / width.max(1e-4)).powi(2)).exp();
                }
            }
        }
        // Spine: vertebral bodies with darker disc spaces.
        if dx.abs() < spine_w {
            let level = (y / 0.06).fract();
            let disc = if level < 0.18 { 0.5 } else { 1.0 };
            a += 0.35 * disc * (1.0 - (dx / spine_w).powi(2)).sqrt();
        }
        // Ribs: curved bands on both sides with brighter cortical edges.
        if body > 0.0 {
            let d = dx.abs();
            let yr = y - rib_curve * d * d * 0.9 + rib_tilt * d;
            let k = (yr - 0.12) / rib_gap;
            if k > 0.0 && k < 10.0 && d > spine_w * 0.8 {
                let f = k.fract();
                if f < 0.42 {
                    let edge = if !(0.06..=0.36).contains(&f) {
                        1.6
                    } else {
                        1.0
                    };
                    a += 0.12 * edge * (1.0 - d / (body_w * 1.05)).max(0.0).sqrt();
                }
            }
        }
        // Clavicles.
        let cl = y - 0.17 + 0.2 * dx.abs() - 0.8 * (dx.abs() - 0.15).powi(2);
        if dx.abs() > 0.03 && dx.abs() < 0.3 && cl.abs() < 0.015 {
            a += 0.25;
        }
        *v = a.max(0.0);
    }
    // Exposure gradient, detector blur and quantum noise.
    let gx = u(&mut rng, -0.15, 0.15);
    let gy = u(&mut rng, -0.15, 0.15);
    // Parenchymal and soft-tissue texture: band-limited structure at two scales, inside the body.
    let fine = texture(size, n / 120.0, &mut rng);
    let coarse = texture(size, n / 40.0, &mut rng);
    for (i, v) in img.iter_mut().enumerate() {
        if *v > 0.0 {
            *v += 0.025 * fine[i] + 0.03 * coarse[i];
        }
    }
    let mut img = gaussian_blur(&img, size, size, n / 200.0);
    let noise = Normal::new(0.0f32, 0.012).expect("valid normal");
    for (i, v) in img.iter_mut().enumerate() {
        let x = (i % size) as f32 / n - 0.5;
        let y = (i / size) as f32 / n - 0.5;
        *v = *v * (1.0 + gx * x + gy * y) + noise.sample(&mut rng);
    }
    robust_unit(&mut img);
    img
}

/// Scales to `[0, 1]` between the 0.5th and 99.5th percentiles, clamped.
pub(crate) fn robust_unit(img: &mut [f32]) {
    let mut s = img.to_vec();
    s.sort_by(f32::total_cmp);
    let q = |p: f32| s[((s.len() - 1) as f32 * p).round() as usize];
    let (lo, hi) = (q(0.005), q(0.995));
    let span = (hi - lo).max(1e-6);
    for v in img.iter_mut() {
        *v = ((*v - lo) / span).clamp(0.0, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_is_seeded_in_range_and_has_chest_contrast() {
        let a = xray_phantom(96, 3);
        assert_eq!(a, xray_phantom(96, 3));
        assert_ne!(a, xray_phantom(96, 4));
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        // Lung fields (left and right of the centre at mid height) are darker than the spine.
        let at = |x: usize, y: usize| a[y * 96 + x];
        let lung = (at(29, 40) + at(67, 40)) / 2.0;
        let spine = at(48, 40).max(at(47, 40)).max(at(49, 40));
        assert!(spine > lung + 0.15, "spine {spine} lung {lung}");
    }
}
