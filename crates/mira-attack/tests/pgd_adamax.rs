//! PGD with the Adamax update: a signed step on constant gradients (so it reaches the same
//! corner as PGD on a linear objective) and steps that shrink where the gradient's sign flips
//! (so it settles on an interior maximum that sign steps only circle).

mod common;
use burn::prelude::*;
use common::*;
use mira_attack::{Attack, Bounds, LpBall, Norm, Objective, PgdAdamaxConfig};
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

/// f(x) = -sum_i (x_i - c)^2; maximum at c.
struct Bowl(f32);

impl Objective<2> for Bowl {
    fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let [b, _] = x.dims();
        let d = x - self.0;
        let v = (d.clone() * d.clone()).sum_dim(1).reshape([b]).neg();
        (v, d * -2.0)
    }
    fn value(&self, x: Tensor<2>) -> Tensor<1> {
        self.value_and_grad(x).0
    }
}

#[test]
fn on_a_linear_objective_it_reaches_the_signed_corner() {
    let f = Linear(vec![1.0, -2.0, 3.0, 0.5]);
    let x0 = tensor(vec![0.5, 0.4, 0.3, 0.97], [1, 4]);
    let ball = LpBall::new(Norm::Linf, 0.05, Bounds::default()).unwrap();
    let cfg = PgdAdamaxConfig {
        steps: 10,
        ..Default::default()
    };
    let adv = vals(
        cfg.perturb(&f, x0, &ball, &mut StdRng::seed_from_u64(3))
            .unwrap(),
    );
    // d = m̂ / u = sign(w) for a constant gradient: ten steps of ε/5 from anywhere in the ball
    // end on the corner x0 + ε sign(w), clipped to [0, 1].
    let want = [0.55f32, 0.35, 0.35, 1.0];
    for (a, w) in adv.iter().zip(want) {
        assert!((a - w).abs() < 1e-6, "{adv:?} vs {want:?}");
    }
}

#[test]
fn adamax_steps_settle_on_an_interior_maximum() {
    // The maximum 0.53 lies inside the ball around 0.5 (ε = 0.1); steps of ε/5 = 0.02.
    let f = Bowl(0.53);
    let x0 = tensor(vec![0.5; 8], [2, 4]);
    let ball = LpBall::new(Norm::Linf, 0.1, Bounds::default()).unwrap();
    let adv = vals(
        PgdAdamaxConfig {
            steps: 200,
            ..Default::default()
        }
        .perturb(&f, x0, &ball, &mut StdRng::seed_from_u64(1))
        .unwrap(),
    );
    let worst = adv.iter().map(|a| (a - 0.53).abs()).fold(0.0f32, f32::max);
    assert!(
        worst < 0.004,
        "Adamax ends {worst} from the maximum: {adv:?}"
    );
}

#[test]
fn bad_parameters_are_named() {
    let f = Linear(vec![1.0]);
    let ball = LpBall::new(Norm::Linf, 0.1, Bounds::default()).unwrap();
    for (cfg, field) in [
        (
            PgdAdamaxConfig {
                beta2: 1.0,
                ..Default::default()
            },
            "beta2",
        ),
        (
            PgdAdamaxConfig {
                steps: 0,
                ..Default::default()
            },
            "steps",
        ),
    ] {
        let e = cfg
            .perturb(
                &f,
                tensor(vec![0.5], [1, 1]),
                &ball,
                &mut StdRng::seed_from_u64(0),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{e}");
    }
}
