//! MI-FGSM and PGD-Adamax are presets of the projected-gradient engine (a step rule and the
//! best iterate). Here each is checked bit for bit against its paper's loop written out as it
//! stood before it became a preset, on a UNet objective, in L∞ and L2, with restarts.

mod common;
use burn::prelude::*;
use common::*;
use mira_attack::{Attack, Bounds, LpBall, MiFgsmConfig, Norm, Objective, PgdAdamaxConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A per-sample `[B]` tensor broadcast to rank 4.
fn per_sample(v: Tensor<1>) -> Tensor<4> {
    let b = v.dims()[0];
    v.reshape([b, 1, 1, 1])
}

/// Per sample, `x` where `v` beats the best so far (strictly), else the best.
fn keep_best(
    best: Option<(Tensor<4>, Tensor<1>)>,
    x: &Tensor<4>,
    v: &Tensor<1>,
) -> (Tensor<4>, Tensor<1>) {
    match best {
        None => (x.clone(), v.clone()),
        Some((bx, bv)) => {
            let better = v.clone().greater(bv.clone());
            let keep = per_sample(better.clone().float()).bool();
            (
                bx.mask_where(keep, x.clone()),
                bv.mask_where(better, v.clone()),
            )
        }
    }
}

/// MI-FGSM as written in `mifgsm.rs` before the step-rule hook.
fn mifgsm_reference(
    c: &MiFgsmConfig,
    f: &dyn Objective<4>,
    x0: Tensor<4>,
    ball: &LpBall<4>,
) -> Tensor<4> {
    let alpha = c.rel_step * ball.epsilon;
    let mut x = x0.clone();
    let mut m = x0.zeros_like();
    let mut best = None;
    for _ in 0..c.steps {
        let (v, g) = f.value_and_grad(x.clone());
        let b = g.dims()[0];
        let l1 = g
            .clone()
            .abs()
            .reshape([b as i64, -1])
            .sum_dim(1)
            .reshape([b]);
        best = Some(keep_best(best, &x, &v));
        m = m * c.decay + g / per_sample(l1.clamp_min(1e-12));
        x = ball.project(x + ball.steepest_ascent(m.clone()) * alpha, &x0);
    }
    let v = f.value(x.clone());
    keep_best(best, &x, &v).0
}

/// PGD-Adamax as written in `pgd_adamax.rs` before the step-rule hook.
fn adamax_reference(
    c: &PgdAdamaxConfig,
    f: &dyn Objective<4>,
    x0: Tensor<4>,
    ball: &LpBall<4>,
    rng: &mut StdRng,
) -> Tensor<4> {
    let alpha = c.rel_step * ball.epsilon;
    let mut best = None;
    for _ in 0..c.restarts {
        let mut x = ball.random_start(&x0, rng);
        let mut m = x0.zeros_like();
        let mut u = x0.zeros_like();
        let mut decay1 = 1.0f32;
        for _ in 0..c.steps {
            let (v, g) = f.value_and_grad(x.clone());
            best = Some(keep_best(best, &x, &v));
            decay1 *= c.beta1;
            m = m * c.beta1 + g.clone() * (1.0 - c.beta1);
            u = (u * c.beta2).max_pair(g.abs());
            let d = (m.clone() / (1.0 - decay1)) / u.clone().clamp_min(1e-12);
            let d = match ball.norm {
                Norm::Linf => d,
                Norm::L2 => ball.steepest_ascent(d),
            };
            x = ball.project(x + d * alpha, &x0);
        }
        let v = f.value(x.clone());
        best = Some(keep_best(best, &x, &v));
    }
    best.expect("restarts >= 1").0
}

#[test]
fn momentum_and_adamax_presets_equal_their_loops_bit_for_bit() {
    let model = tiny_unet(3);
    let labels = random_labels(3, 16 * 16, 4, 5);
    let f = seg_objective(&model, seg_goal(&labels, 16, 16, false));
    let x0 = random_input([3, 4, 16, 16], 7);
    for (norm, eps) in [(Norm::Linf, 0.05), (Norm::L2, 1.5)] {
        let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
        let mi = MiFgsmConfig {
            steps: 6,
            rel_step: 0.2,
            decay: 0.9,
        };
        let got = mi
            .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(0))
            .unwrap();
        let want = mifgsm_reference(&mi, &f, x0.clone(), &ball);
        assert_eq!(vals(got), vals(want), "MI-FGSM {norm:?}");

        let ad = PgdAdamaxConfig {
            steps: 5,
            rel_step: 0.25,
            restarts: 2,
            ..Default::default()
        };
        let got = ad
            .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(11))
            .unwrap();
        let want = adamax_reference(&ad, &f, x0.clone(), &ball, &mut StdRng::seed_from_u64(11));
        assert_eq!(vals(got), vals(want), "PGD-Adamax {norm:?}");
    }
}
