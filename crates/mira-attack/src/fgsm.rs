//! FGSM: Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial examples".
//!
//! Threat model: L∞ (or L2 with the normalised gradient) ball of radius ε in input units.
//! One step: `x = clip(x0 + ε · sign(∇x L(x0)), lo, hi)`. No parameters besides ε.
//!
//! The gradient is taken at `x0` whatever ε is, so a sweep over ε needs it once: split the
//! attack into [`crate::first_direction`] (the gradient's steepest-ascent direction, ε-free)
//! and [`crate::ProjectedGradient::perturb_from_first`] (the step of length ε and the
//! projection). Together they compute exactly what `fgsm().perturb` computes, for every ε of
//! balls with the same norm and mask.
//!
//! ```
//! let engine = mira_attack::fgsm();
//! assert_eq!((engine.steps, engine.rel_step, engine.random_start), (1, 1.0, false));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::method::pgd_with_restarts;
use crate::{
    Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, IfgsmConfig, LpBall, Objective,
    ProjectedGradient, Result, StepRule,
};

/// FGSM as a preset of the projected-gradient engine: 1 step of size ε from `x0`.
pub fn fgsm() -> ProjectedGradient {
    ProjectedGradient {
        steps: 1,
        rel_step: 1.0,
        random_start: false,
        restarts: 1,
        step: StepRule::Sign,
        best_iterate: false,
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("fgsm"),
    name: "FGSM",
    paper: "Goodfellow, Shlens & Szegedy 2015",
    threat: "L∞ or L2 ball of radius ε, [0, 1] bounds, optional mask",
    parameters: "none (one step of ε)",
    access: "input gradient",
};

/// FGSM's parameters: none besides the ball's ε.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FgsmConfig;

impl<const D: usize> Attack<D> for FgsmConfig {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        fgsm().perturb(f, x0, ball, rng)
    }
}

impl AttackMethod for FgsmConfig {
    const KIND: &'static str = "fgsm";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["steps", "rel_step", "restarts", "queries"])?;
        Ok(FgsmConfig)
    }

    fn validate(&self) -> Result<()> {
        fgsm().validate()
    }

    fn steps(&self) -> usize {
        1
    }

    fn gradient_evaluations(&self) -> usize {
        1
    }

    /// i-FGSM with steps of ε/4.
    fn with_steps(&self, steps: usize) -> AttackSpec {
        IfgsmConfig {
            steps,
            rel_step: 0.25,
        }
        .into()
    }

    /// PGD with one step of ε.
    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        pgd_with_restarts(1, 1.0, restarts)
    }

    fn engine(&self) -> Option<ProjectedGradient> {
        Some(fgsm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attack, Bounds, Norm};
    use burn::tensor::TensorData;
    use rand::SeedableRng;

    /// f(x) = Σ w ⊙ x² per sample: its gradient 2 w ⊙ x has mixed signs and magnitudes.
    struct Quadratic(Tensor<2>);

    impl Objective<2> for Quadratic {
        fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
            let v = (self.0.clone() * x.clone() * x.clone())
                .sum_dim(1)
                .reshape([-1]);
            (v, self.0.clone() * x * 2.0)
        }

        fn value(&self, x: Tensor<2>) -> Tensor<1> {
            (self.0.clone() * x.clone() * x).sum_dim(1).reshape([-1])
        }
    }

    #[test]
    fn split_fgsm_equals_the_engine_for_every_epsilon_and_norm() {
        let dev = mira_nn::default_device();
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 4]), &dev);
        let x0 = t(vec![0.2, 0.5, 0.9, 0.0, 0.7, 0.1, 0.4, 0.6]);
        let f = Quadratic(t(vec![1.0, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0, -0.5]));
        for norm in [Norm::Linf, Norm::L2] {
            let unit = LpBall::new(norm, 1.0, Bounds::default()).unwrap();
            let dir = crate::first_direction(&f, x0.clone(), &unit, 1).unwrap();
            for eps in [0.0, 0.01, 0.05, 0.3] {
                let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
                let mut rng = rand::rngs::StdRng::seed_from_u64(0);
                let engine = mira_nn::tensor_to_vec(
                    fgsm().perturb(&f, x0.clone(), &ball, &mut rng).unwrap(),
                );
                let split = mira_nn::tensor_to_vec(
                    fgsm()
                        .perturb_from_first(&f, x0.clone(), &ball, dir.clone())
                        .unwrap(),
                );
                // Bit for bit: the same operations in the same order.
                assert_eq!(engine, split, "{norm:?} eps={eps}");
            }
        }
    }
}
