//! Properties of every corruption family (issue 30's acceptance): the DFT round-trips, matches
//! the defining sum and passes gradients (finite differences); a spike adds energy at its
//! k-space location (and its mirror, the image being real) only; motion with zero
//! displacement is the identity, one segment is a translation or a rotation, and rotations
//! turn images as stated; Rician noise has its stated
//! σ; every family at its zero parameter is the identity; draws are seeded and checked.

use burn::prelude::*;
use mira_corrupt::axis::{fft, ifft_real, index_of};
use mira_corrupt::{Corruption, Family, intensity, kspace, resolution};
use mira_nn::{default_device, tensor_to_vec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn image(shape: [usize; 5], seed: u64) -> Tensor<5> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(0.1..0.9)).collect();
    Tensor::from_data(TensorData::new(v, shape), &default_device())
}

fn max_diff(a: Tensor<5>, b: Tensor<5>) -> f32 {
    tensor_to_vec(a)
        .iter()
        .zip(tensor_to_vec(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_dft_round_trips_and_matches_its_definition() {
    for shape in [[2, 1, 1, 12, 10], [1, 2, 5, 6, 7]] {
        let x = image(shape, 1);
        assert!(max_diff(ifft_real(fft(x.clone())), x.clone()) < 1e-5);
    }
    // X[k] = Σ_n x[n] e^{−2πi kn/N} on a 1×7 signal, in f64 by hand.
    let v = [0.3f32, 0.9, 0.1, 0.5, 0.7, 0.2, 0.4];
    let x = Tensor::<5>::from_data(
        TensorData::new(v.to_vec(), [1, 1, 1, 1, 7]),
        &default_device(),
    );
    let z = fft(x);
    let (re, im) = (tensor_to_vec(z.re), tensor_to_vec(z.im));
    for k in 0..7 {
        let (mut r, mut i) = (0f64, 0f64);
        for (n, &xn) in v.iter().enumerate() {
            let a = -2.0 * std::f64::consts::PI * (k * n) as f64 / 7.0;
            r += f64::from(xn) * a.cos();
            i += f64::from(xn) * a.sin();
        }
        assert!((f64::from(re[k]) - r).abs() < 1e-5 && (f64::from(im[k]) - i).abs() < 1e-5);
    }
}

/// The gradient of k-space corruptions (ghosting, then motion with a rotated and shifted
/// segment, then a weighted sum) through burn's
/// autodiff against central finite differences along random directions.
#[test]
fn k_space_corruptions_pass_gradients() {
    let dev = mira_nn::autodiff_device();
    let shape = [1, 1, 1, 10, 12];
    let x0 = image(shape, 2);
    let w = image(shape, 3);
    let f = |x: Tensor<5>| -> Tensor<1> {
        let y = kspace::ghosting(x, 3, 4, 0.6);
        let y = kspace::motion(
            y,
            &[[0.0; 3], [0.0, 0.7, -1.3]],
            &[[0.0; 3], [3.0, 0.0, 0.0]],
        );
        (y * w.clone().to_device(&x0.device())).sum()
    };
    let xa = Tensor::<5>::from_data(x0.clone().into_data(), &dev).require_grad();
    let wa = Tensor::<5>::from_data(w.clone().into_data(), &dev);
    let y = kspace::motion(
        kspace::ghosting(xa.clone(), 3, 4, 0.6),
        &[[0.0; 3], [0.0, 0.7, -1.3]],
        &[[0.0; 3], [3.0, 0.0, 0.0]],
    );
    let grads = (y * wa).sum().backward();
    let g = tensor_to_vec(xa.grad(&grads).unwrap());
    let mut rng = StdRng::seed_from_u64(4);
    for _ in 0..3 {
        let d: Vec<f32> = (0..g.len()).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dt = Tensor::<5>::from_data(TensorData::new(d.clone(), shape), &default_device());
        let h = 1e-2f32;
        let fp = tensor_to_vec(f(x0.clone() + dt.clone() * h))[0];
        let fm = tensor_to_vec(f(x0.clone() - dt * h))[0];
        let fd = f64::from(fp - fm) / (2.0 * f64::from(h));
        let an: f64 = g
            .iter()
            .zip(&d)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        // Linear in x: the difference is rounding alone.
        assert!((fd - an).abs() <= 1e-3 * an.abs().max(1.0), "{fd} vs {an}");
    }
}

#[test]
fn a_spike_adds_energy_at_its_frequency_and_its_mirror_only() {
    let shape = [1, 1, 1, 16, 16];
    let x = image(shape, 5);
    let at = [0i64, 3, -5];
    let y = kspace::spike(x.clone(), at, 0.3);
    let d = fft(y - x);
    let (re, im) = (tensor_to_vec(d.re), tensor_to_vec(d.im));
    let power: Vec<f32> = re.iter().zip(&im).map(|(r, i)| r * r + i * i).collect();
    let total: f32 = power.iter().sum();
    let k = |f: [i64; 2]| index_of(f[0], 16) * 16 + index_of(f[1], 16);
    let here = power[k([3, -5])] + power[k([-3, 5])];
    assert!(
        here > 0.0 && (total - here) / total < 1e-6,
        "{here} of {total}"
    );
}

#[test]
fn motion_without_displacement_is_the_identity_and_one_segment_is_a_translation() {
    let x = image([1, 2, 1, 8, 10], 6);
    let still = kspace::motion(x.clone(), &[[0.0; 3], [0.0; 3], [0.0; 3]], &[[0.0; 3]; 3]);
    assert!(max_diff(still, x.clone()) < 1e-5);
    // One segment shifted by 2 voxels along W: the image rolled by 2 (circularly).
    let moved = tensor_to_vec(kspace::motion(x.clone(), &[[0.0, 0.0, 2.0]], &[]));
    let v = tensor_to_vec(x);
    for c in 0..2 {
        for h in 0..8 {
            for w in 0..10 {
                let at = |w: usize| v[(c * 8 + h) * 10 + w];
                assert!((moved[(c * 8 + h) * 10 + w] - at((w + 8) % 10)).abs() < 1e-4);
            }
        }
    }
}

#[test]
fn rician_noise_has_its_stated_sigma() {
    let sigma = 0.05f32;
    let mut rng = StdRng::seed_from_u64(7);
    // On a zero background the magnitude is Rayleigh: mean σ√(π/2).
    let zero = Tensor::<5>::zeros([1, 1, 1, 128, 128], &default_device());
    let v = tensor_to_vec(intensity::rician(zero, sigma, &mut rng));
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let want = f64::from(sigma) * (std::f64::consts::PI / 2.0).sqrt();
    assert!((mean - want).abs() < 0.02 * want, "{mean} vs {want}");
    // On a bright region (x = 0.5 ≫ σ) it is close to Gaussian of σ.
    let bright = Tensor::<5>::full([1, 1, 1, 128, 128], 0.5, &default_device());
    let v = tensor_to_vec(intensity::rician(bright, sigma, &mut rng));
    let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!(
        (sd - f64::from(sigma)).abs() < 0.03 * f64::from(sigma),
        "{sd}"
    );
}

#[test]
fn every_family_at_its_zero_parameter_is_the_identity() {
    let x = image([1, 2, 3, 8, 8], 8);
    let mut rng = StdRng::seed_from_u64(9);
    let same = |y: Tensor<5>| max_diff(y, x.clone()) < 1e-5;
    assert!(same(kspace::ghosting(x.clone(), 3, 4, 0.0)));
    assert!(same(kspace::spike(x.clone(), [1, 2, 3], 0.0)));
    assert!(same(kspace::gibbs(x.clone(), 1.0)));
    assert!(same(resolution::blur(x.clone(), 0.0)));
    assert!(same(resolution::anisotropy(x.clone(), 2, 1.0)));
    assert!(same(intensity::gamma(x.clone(), 0.0)));
    assert!(same(intensity::bias_field(x.clone(), 0.0, 3, &mut rng)));
    assert!(same(intensity::rician(x.clone(), 0.0, &mut rng)));
    assert!(same(intensity::window_shift(x.clone(), 0.0)));
    assert!(same(intensity::contrast(x.clone(), 1.0)));
    // Blur and thick slices keep a constant image constant.
    let c = Tensor::<5>::full([1, 1, 4, 9, 9], 0.4, &default_device());
    assert!(max_diff(resolution::blur(c.clone(), 1.5), c.clone()) < 1e-5);
    assert!(max_diff(resolution::anisotropy(c.clone(), 3, 3.0), c.clone()) < 1e-5);
    // Gibbs truncation changes an image with edges, and more at lower keep.
    let (g1, g2) = (kspace::gibbs(x.clone(), 0.8), kspace::gibbs(x.clone(), 0.5));
    assert!(max_diff(g1, x.clone()) < max_diff(g2, x));
}

#[test]
fn draws_are_seeded_stay_in_range_and_refuse_what_they_cannot_do() {
    let x = image([1, 1, 1, 16, 16], 10);
    for family in Family::ALL {
        for severity in 1..=5u8 {
            let draw = |seed| {
                family
                    .draw(
                        severity,
                        [1, 16, 16],
                        Some(400.0),
                        &mut StdRng::seed_from_u64(seed),
                    )
                    .unwrap()
            };
            let (a, b): (Corruption, Corruption) = (draw(11), draw(11));
            assert_eq!(a, b, "{family:?} {severity}");
            let y = tensor_to_vec(a.apply(x.clone()));
            assert!(
                y.iter().all(|v| (0.0..=1.0).contains(v)),
                "{family:?} {severity}"
            );
        }
    }
    let mut rng = StdRng::seed_from_u64(1);
    assert!(Family::Blur.draw(0, [1, 8, 8], None, &mut rng).is_err());
    assert!(Family::Blur.draw(6, [1, 8, 8], None, &mut rng).is_err());
    let e = Family::CtNoise
        .draw(2, [1, 8, 8], None, &mut rng)
        .unwrap_err();
    assert!(e.to_string().contains("window"), "{e}");
}

#[test]
fn family_names_are_the_serde_names() {
    for f in Family::ALL {
        let v = serde_json::to_value(f).unwrap();
        assert_eq!(v.as_str(), Some(f.name()));
    }
}

/// Rotations turn about the centre as stated: 90° about D maps `out[h][w] = in[w][n−1−h]`
/// exactly (grid points land on grid points), four quarter turns are the identity, a 3D
/// volume's turn about H moves (d, w) likewise; one motion segment rotated is that rotation.
#[test]
fn rotations_turn_about_the_centre_and_one_motion_segment_is_a_rotation() {
    use mira_corrupt::rigid::rotate;
    let n = 9;
    let x = image([1, 2, 1, n, n], 8);
    let v = tensor_to_vec(x.clone());
    let r = tensor_to_vec(rotate(x.clone(), [90.0, 0.0, 0.0]));
    for c in 0..2 {
        for h in 0..n {
            for w in 0..n {
                let want = v[(c * n + w) * n + (n - 1 - h)];
                assert!((r[(c * n + h) * n + w] - want).abs() < 1e-5);
            }
        }
    }
    let mut y = x.clone();
    for _ in 0..4 {
        y = rotate(y, [90.0, 0.0, 0.0]);
    }
    assert!(max_diff(y, x.clone()) < 1e-4);
    // A 2D image does not turn about H or W (they would tilt it out of its plane).
    assert!(max_diff(rotate(x.clone(), [0.0, 30.0, 45.0]), x.clone()) == 0.0);
    let vol = image([1, 1, 5, 5, 5], 9);
    let vv = tensor_to_vec(vol.clone());
    let t = tensor_to_vec(rotate(vol, [0.0, 90.0, 0.0]));
    for d in 0..5 {
        for h in 0..5 {
            for w in 0..5 {
                // About H: out(d, w) samples in(q_d, q_w) with q_d = −(w − 2) + 2, q_w = d.
                let want = vv[((4 - w) * 5 + h) * 5 + d];
                assert!((t[(d * 5 + h) * 5 + w] - want).abs() < 1e-5);
            }
        }
    }
    let one = kspace::motion(x.clone(), &[[0.0; 3]], &[[7.0, 0.0, 0.0]]);
    assert!(max_diff(one, rotate(x, [7.0, 0.0, 0.0])) < 1e-4);
}
