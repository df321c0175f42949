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
