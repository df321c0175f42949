//! The worst case within a family: parameters and bounds agree with the draws, the search
//! stays in bounds, is never below the random draw it starts from by its score, and finds the
//! bound where the damage is monotone in the parameter.

use burn::prelude::*;
use mira_corrupt::{Corruption, Family, WorstCase};
use mira_nn::{default_device, tensor_to_vec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn image() -> Tensor<5> {
    let mut rng = StdRng::seed_from_u64(3);
    let v: Vec<f32> = (0..16 * 16)
        .map(|i| {
            let (y, x) = ((i / 16) as f32 - 7.5, (i % 16) as f32 - 7.5);
            let inside = if x * x + y * y < 30.0 { 0.7 } else { 0.2 };
            inside + rng.random_range(-0.05..0.05)
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [1, 1, 1, 16, 16]), &default_device())
}

/// Mean squared change of the image under `c`: a damage that needs no model.
fn change(x: &Tensor<5>, c: &Corruption) -> f64 {
    let a = tensor_to_vec(c.apply(x.clone()));
    let b = tensor_to_vec(x.clone());
    a.iter()
        .zip(&b)
        .map(|(p, q)| f64::from(p - q).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

const SEARCHABLE: [Family; 10] = [
    Family::Motion,
    Family::Ghosting,
    Family::Spike,
    Family::Bias,
    Family::Blur,
    Family::Gamma,
    Family::Gibbs,
    Family::Anisotropy,
    Family::WindowShift,
    Family::Contrast,
];

#[test]
fn the_worst_case_is_in_bounds_and_never_below_its_random_start() {
    let x = image();
    for family in SEARCHABLE {
        for severity in [1u8, 3, 5] {
            for seed in 0..3u64 {
                let mut rng = StdRng::seed_from_u64(seed);
                let draw = family
                    .draw(severity, [1, 16, 16], Some(400.0), &mut rng)
                    .unwrap();
                let bounds = family.bounds(severity, [1, 16, 16], Some(400.0)).unwrap();
                let p = draw.params();
                assert_eq!(p.len(), bounds.len(), "{family:?}");
                assert_eq!(draw.with_params(&p), draw);
                for (v, (lo, hi)) in p.iter().zip(&bounds) {
                    assert!(
                        *lo <= *v && *v <= *hi,
                        "{family:?} {severity}: {v} not in [{lo}, {hi}]"
                    );
                }
                let start = change(&x, &draw);
                let mut f = |c: &Corruption| Ok(change(&x, c));
                let mut s = |c: &Corruption| Ok(change(&x, c));
                let (worst, score) = WorstCase::default()
                    .search(&draw, &bounds, &mut f, &mut s)
                    .unwrap();
                assert!(
                    score >= start,
                    "{family:?} {severity} {seed}: {score} < {start}"
                );
                for (v, (lo, hi)) in worst.params().iter().zip(&bounds) {
                    assert!(*lo <= *v && *v <= *hi);
                }
            }
        }
    }
}

/// Gamma's change grows with |log γ|: the search ends on the bound.
#[test]
fn the_search_finds_the_bound_of_a_monotone_damage() {
    let x = image();
    let draw = Corruption::Gamma { log_gamma: 0.05 };
    let bounds = Family::Gamma.bounds(3, [1, 16, 16], None).unwrap();
    let mut f = |c: &Corruption| Ok(change(&x, c));
    let mut s = |c: &Corruption| Ok(change(&x, c));
    let (worst, _) = WorstCase::default()
        .search(&draw, &bounds, &mut f, &mut s)
        .unwrap();
    assert_eq!(worst.params(), vec![0.3]);
}

#[test]
fn noise_families_have_nothing_to_search() {
    for f in [Family::Rician, Family::Noise, Family::CtNoise] {
        let e = f.bounds(2, [1, 8, 8], Some(400.0)).unwrap_err();
        assert!(e.to_string().contains("no parameters"), "{e}");
    }
}
