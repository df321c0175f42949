//! FGSM equals `clip(x + eps * sign(grad), lo, hi)` exactly, on a hand-checked linear case.

mod common;
use burn::prelude::*;
use common::*;
use mira_attack::{Attack, Bounds, LpBall, Norm, Objective, fgsm};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// f(x) = sum_i w_i x_i per sample; gradient w.
struct Linear(Vec<f32>);

impl Objective<2> for Linear {
    fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let [b, n] = x.dims();
        let w = tensor(self.0.repeat(b), [b, n]);
        ((x * w.clone()).sum_dim(1).reshape([b]), w)
    }
    fn value(&self, x: Tensor<2>) -> Tensor<1> {
        self.value_and_grad(x).0
    }
}

#[test]
fn fgsm_is_a_clipped_signed_step() {
    let f = Linear(vec![1.0, -2.0, 0.0, 3.0, 0.5]);
    let x0 = tensor(vec![0.5, 0.98, 0.02, 0.3, 0.97], [1, 5]);
    let ball = LpBall::new(Norm::Linf, 0.05, Bounds::default()).unwrap();
    let adv = fgsm()
        .perturb(&f, x0, &ball, &mut StdRng::seed_from_u64(0))
        .unwrap();
    // By hand: sign(w) = (+, -, 0, +, +); 0.97 + 0.05 clips to 1.0.
    let want = [0.5f32 + 0.05, 0.98 - 0.05, 0.02, 0.3 + 0.05, 1.0];
    assert_eq!(vals(adv), want.to_vec());
}

#[test]
fn fgsm_l2_steps_along_the_normalised_gradient() {
    let f = Linear(vec![3.0, 4.0]);
    let x0 = tensor(vec![0.0, 0.0], [1, 2]);
    let ball = LpBall::new(Norm::L2, 0.5, Bounds { lo: -1.0, hi: 1.0 }).unwrap();
    let adv = vals(
        fgsm()
            .perturb(&f, x0, &ball, &mut StdRng::seed_from_u64(0))
            .unwrap(),
    );
    // ε · g/‖g‖ = (0.3, 0.4), projected to 0.01 % inside the ball (`L2_INSIDE`).
    let k = mira_attack::L2_INSIDE;
    assert!(
        (adv[0] - 0.3 * k).abs() < 1e-6 && (adv[1] - 0.4 * k).abs() < 1e-6,
        "{adv:?}"
    );
}

/// A scheduled, nonlinear objective: `Σ w_i x_i² + λ Σ x_i` with `λ = step / (2·steps)` as
/// SegPGD's weight moves (so step 0 is told of the number of steps, and later steps differ).
struct Scheduled {
    w: Vec<f32>,
    lambda: std::cell::Cell<f32>,
}

impl Objective<2> for Scheduled {
    fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let [b, n] = x.dims();
        let w = tensor(self.w.repeat(b), [b, n]);
        let l = self.lambda.get();
        let v = (x.clone() * x.clone() * w.clone() + x.clone() * l)
            .sum_dim(1)
            .reshape([b]);
        (v, x * w * 2.0 + l)
    }
    fn value(&self, x: Tensor<2>) -> Tensor<1> {
        self.value_and_grad(x).0
    }
    fn schedule(&self, step: usize, steps: usize) {
        self.lambda.set(step as f32 / (2.0 * steps as f32));
    }
    fn scheduled(&self) -> bool {
        true
    }
}

/// i-FGSM continued from the first step's direction (`first_direction` + `perturb_from_first`,
/// what the sweep's memo serves) is i-FGSM bit for bit, L∞ and L2, on a scheduled objective;
/// attacks whose first step is not a function of `x0` alone (a random start) refuse it.
#[test]
fn ifgsm_from_its_first_direction_is_ifgsm() {
    let f = Scheduled {
        w: vec![0.7, -1.3, 0.2, 2.1, -0.4, 0.9],
        lambda: std::cell::Cell::new(0.0),
    };
    let x0 = tensor(
        vec![
            0.31, 0.62, 0.05, 0.47, 0.88, 0.13, 0.5, 0.41, 0.77, 0.2, 0.66, 0.93,
        ],
        [2, 6],
    );
    let engine = mira_attack::IfgsmConfig {
        steps: 5,
        rel_step: 0.3,
    }
    .engine();
    assert!(engine.first_step_shared());
    for (norm, eps) in [(Norm::Linf, 0.06), (Norm::L2, 0.2)] {
        let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
        let want = vals(
            engine
                .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(0))
                .unwrap(),
        );
        let dir = mira_attack::first_direction(&f, x0.clone(), &ball, engine.steps).unwrap();
        let got = vals(
            engine
                .perturb_from_first(&f, x0.clone(), &ball, dir)
                .unwrap(),
        );
        assert_same_bits(&want, &got, norm);
        assert_ne!(want, vals(x0.clone()), "{norm:?}: the attack moved");
    }
    let pgd = mira_attack::PgdConfig {
        steps: 5,
        rel_step: 0.3,
        restarts: 1,
    }
    .engine();
    assert!(!pgd.first_step_shared());
    let ball = LpBall::new(Norm::Linf, 0.06, Bounds::default()).unwrap();
    let dir = mira_attack::first_direction(&f, x0.clone(), &ball, 5).unwrap();
    assert!(pgd.perturb_from_first(&f, x0, &ball, dir).is_err());
}

/// [`Scheduled`] frozen at one λ: the same function at every step.
struct Frozen(Scheduled);

impl Objective<2> for Frozen {
    fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        self.0.value_and_grad(x)
    }
    fn value(&self, x: Tensor<2>) -> Tensor<1> {
        self.0.value(x)
    }
}

/// i-FGSM with 2n steps continued from its n-step result (`perturb_continued`, what the
/// convergence probe does) is the 2n-step run bit for bit, L∞ and L2, on a nonlinear objective
/// that ignores the schedule; a scheduled objective, a random start and `done` out of range
/// refuse it.
#[test]
fn doubled_ifgsm_continued_from_the_shorter_run_is_the_doubled_run() {
    let w = vec![0.7, -1.3, 0.2, 2.1, -0.4, 0.9];
    let f = Frozen(Scheduled {
        w: w.clone(),
        lambda: std::cell::Cell::new(0.3),
    });
    let x0 = tensor(
        vec![
            0.31, 0.62, 0.05, 0.47, 0.88, 0.13, 0.5, 0.41, 0.77, 0.2, 0.66, 0.93,
        ],
        [2, 6],
    );
    let engine = |steps| {
        mira_attack::IfgsmConfig {
            steps,
            rel_step: 0.1,
        }
        .engine()
    };
    let (short, long) = (engine(4), engine(8));
    let mut rng = StdRng::seed_from_u64(0);
    for (norm, eps) in [(Norm::Linf, 0.06), (Norm::L2, 0.2)] {
        let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
        let want = vals(long.perturb(&f, x0.clone(), &ball, &mut rng).unwrap());
        let half = short.perturb(&f, x0.clone(), &ball, &mut rng).unwrap();
        let got = vals(
            long.perturb_continued(&f, (x0.clone(), &ball), half.clone(), 4)
                .unwrap(),
        );
        assert_same_bits(&want, &got, norm);
        assert_ne!(vals(half), want, "{norm:?}: the last steps moved");
    }
    let ball = LpBall::new(Norm::Linf, 0.06, Bounds::default()).unwrap();
    let scheduled = Scheduled {
        w,
        lambda: std::cell::Cell::new(0.0),
    };
    assert!(
        long.perturb_continued(&scheduled, (x0.clone(), &ball), x0.clone(), 4)
            .is_err()
    );
    for done in [0, 8] {
        assert!(
            long.perturb_continued(&f, (x0.clone(), &ball), x0.clone(), done)
                .is_err()
        );
    }
    let pgd = mira_attack::PgdConfig {
        steps: 8,
        rel_step: 0.3,
        restarts: 1,
    }
    .engine();
    assert!(
        pgd.perturb_continued(&f, (x0.clone(), &ball), x0, 4)
            .is_err()
    );
}

/// `want` and `got` hold the same values, bit for bit.
fn assert_same_bits(want: &[f32], got: &[f32], norm: Norm) {
    let same = want.len() == got.len()
        && want
            .iter()
            .zip(got)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "{norm:?}: {want:?} vs {got:?}");
}
