//! Universal adversarial perturbation: **one** δ for a whole population (Moosavi-Dezfooli et
//! al. 2017, fitted by projected gradient ascent on the summed objective, as in the
//! data-driven UAP variants; S3 used it for brain age).
//!
//! Threat model: δ lies in the L∞ or L2 ball of radius ε (and the ball's mask); it is added
//! unchanged to every input, `x = clip(x0 + δ, lo, hi)` (clipping to the valid range can only
//! shrink a voxel's change, so every adversarial input is inside the ball around its own x0).
//! The fit maximises the mean objective over a *fitting set* given as chunks (each chunk an
//! objective bound to its own targets and its clean inputs): each step sums the input
//! gradients of every chunk over its samples, then takes a steepest-ascent step of
//! `rel_step · ε` and projects δ. The δ with the highest fitting-set objective is returned,
//! so more steps never make it worse. Evaluate it on held-out inputs with [`apply_universal`].
//! Defaults: 40 steps of ε/10.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::check_finite;
use crate::{AttackError, LpBall, Norm, Objective, Result, per_sample_norm};

/// Parameters of the universal-perturbation fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UniversalConfig {
    /// Full passes over the fitting set (one δ step each).
    pub steps: usize,
    /// Step size as a fraction of ε.
    pub rel_step: f32,
}

impl Default for UniversalConfig {
    fn default() -> Self {
        Self {
            steps: 40,
            rel_step: 0.1,
        }
    }
}

/// What the fit did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniversalFit {
    /// Mean fitting-set objective with δ = 0.
    pub start_objective: f64,
    /// Mean fitting-set objective of the returned δ.
    pub best_objective: f64,
    /// The step that produced it (0: δ = 0 was never beaten).
    pub best_step: usize,
}

/// `clip(x0 + δ)` for a batch `x0 [B, ...]` and one `δ [1, ...]`.
pub fn apply_universal<const D: usize>(
    delta: &Tensor<D>,
    x0: &Tensor<D>,
    ball: &LpBall<D>,
) -> Tensor<D> {
    let b = x0.dims()[0];
    (x0.clone() + delta.clone().repeat_dim(0, b)).clamp(ball.bounds.lo, ball.bounds.hi)
}

impl UniversalConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// Zero steps or a step size outside `(0, 2]`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=100_000).contains(&self.steps) {
            return Err(AttackError::InvalidParameter {
                field: "steps",
                reason: format!("{} must be in 1..=100000", self.steps),
            });
        }
        if !(self.rel_step > 0.0 && self.rel_step <= 2.0) {
            return Err(AttackError::InvalidParameter {
                field: "rel_step",
                reason: format!("{} must be in (0, 2]", self.rel_step),
            });
        }
        Ok(())
    }

    /// Fits δ (`[1, ...]`, the shape of one input) on `chunks` of the fitting set.
    ///
    /// # Errors
    /// Invalid parameters, an empty fitting set, or a non-finite objective or gradient.
    pub fn fit<const D: usize>(
        &self,
        chunks: &[(&dyn Objective<D>, Tensor<D>)],
        ball: &LpBall<D>,
    ) -> Result<(Tensor<D>, UniversalFit)> {
        self.validate()?;
        let Some((_, first)) = chunks.first() else {
            return Err(AttackError::InvalidParameter {
                field: "fitting set",
                reason: "needs at least one input".into(),
            });
        };
        let mut shape = first.dims();
        shape[0] = 1;
        let n: usize = chunks.iter().map(|(_, x)| x.dims()[0]).sum();
        let mut delta = Tensor::<D>::zeros(shape, &first.device());
        let mut best: Option<(f64, Tensor<D>, usize)> = None;
        let mut start = 0.0;
        for step in 0..=self.steps {
            let mut total = 0.0f64;
            let mut grad = Tensor::<D>::zeros(shape, &first.device());
            for (f, x0) in chunks {
                let x = apply_universal(&delta, x0, ball);
                f.schedule(step, self.steps + 1);
                let (v, g) = f.value_and_grad(x);
                check_finite(&v, "objective", step)?;
                total += v.sum().into_scalar::<f32>() as f64;
                grad = grad + g.sum_dim(0);
            }
            let mean = total / n as f64;
            if step == 0 {
                start = mean;
            }
            if best.as_ref().is_none_or(|(b, _, _)| mean > *b) {
                best = Some((mean, delta.clone(), step));
            }
            if step == self.steps {
                break;
            }
            let g = ball.steepest_ascent(grad);
            check_finite(&per_sample_norm(g.clone(), Norm::L2), "gradient", step)?;
            delta = self.project(delta + g * (self.rel_step * ball.epsilon), ball);
        }
        let (best_objective, delta, best_step) = best.expect("step 0 is scored");
        Ok((
            delta,
            UniversalFit {
                start_objective: start,
                best_objective,
                best_step,
            },
        ))
    }

    /// δ projected into the ball (per voxel for L∞, rescaled for L2) and masked.
    fn project<const D: usize>(&self, delta: Tensor<D>, ball: &LpBall<D>) -> Tensor<D> {
        let d = match ball.norm {
            Norm::Linf => delta.clamp(-ball.epsilon, ball.epsilon),
            Norm::L2 => {
                let n = per_sample_norm(delta.clone(), Norm::L2).into_scalar::<f32>();
                let radius = ball.epsilon * crate::ball::L2_INSIDE;
                if n > radius {
                    delta * (radius / n)
                } else {
                    delta
                }
            }
        };
        match &ball.mask {
            Some(m) => d * m.clone(),
            None => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bounds, ModelObjective};
    use mira_nn::{Reg3dConfig, default_device, tensor_to_vec};

    #[test]
    fn one_delta_within_budget_raises_the_objective_of_every_chunk() {
        let dev = default_device();
        let net = Reg3dConfig::new().init_seeded(4, &dev);
        let loss = |y: Tensor<2>| {
            let b = y.dims()[0];
            y.reshape([b])
        };
        let f = ModelObjective::new(&net, loss, 1.0);
        let x = |seed: u64| {
            mira_nn::seeded(&dev, seed, |d| {
                Tensor::<5>::random([3, 1, 16, 16, 16], burn::tensor::Distribution::Default, d)
            })
        };
        let (a, b) = (x(1), x(2));
        for norm in [Norm::Linf, Norm::L2] {
            let eps = if norm == Norm::Linf { 0.05 } else { 1.0 };
            let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
            let chunks: Vec<(&dyn Objective<5>, Tensor<5>)> =
                vec![(&f, a.clone()), (&f, b.clone())];
            let (delta, fit) = UniversalConfig::default().fit(&chunks, &ball).unwrap();
            assert_eq!(delta.dims(), [1, 1, 16, 16, 16]);
            let n = tensor_to_vec(per_sample_norm(delta.clone(), norm))[0];
            assert!(n <= eps * (1.0 + 1e-5), "{norm:?}: {n} > {eps}");
            assert!(fit.best_objective > fit.start_objective, "{fit:?}");
            // Held-out inputs: the same δ, unchanged, still shifts the output up on average.
            let held = x(3);
            let adv = apply_universal(&delta, &held, &ball);
            let clean = tensor_to_vec(f.value(held));
            let moved = tensor_to_vec(f.value(adv));
            let mean_shift: f32 = moved.iter().zip(&clean).map(|(m, c)| m - c).sum::<f32>() / 3.0;
            assert!(mean_shift > 0.0, "{norm:?}: {mean_shift}");
        }
        let ball = LpBall::new(Norm::Linf, 0.05, Bounds::default()).unwrap();
        assert!(UniversalConfig::default().fit::<5>(&[], &ball).is_err());
        let bad = UniversalConfig {
            steps: 0,
            ..Default::default()
        };
        assert!(bad.fit(&[(&f as &dyn Objective<5>, a)], &ball).is_err());
    }
}
