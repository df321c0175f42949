//! The one projected-gradient engine behind FGSM, i-FGSM and PGD.

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::ball::keep_best;
use crate::{Attack, AttackError, LpBall, Objective, Result};

/// Projected steepest ascent on an [`Objective`] inside an [`LpBall`].
///
/// Each restart starts at `x0` (or at a random point of the ball), takes `steps` steps of size
/// `rel_step * epsilon` along the ball's steepest-ascent direction, projecting after each; the
/// result of restart 1 is kept, and later restarts replace it per sample where they reach a
/// higher objective value (best of restarts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedGradient {
    /// Gradient steps per restart (>= 1).
    pub steps: usize,
    /// Step size as a fraction of epsilon (> 0).
    pub rel_step: f32,
    /// Start from a uniform random point of the ball instead of `x0`.
    pub random_start: bool,
    /// Number of restarts (>= 1).
    pub restarts: usize,
}

impl ProjectedGradient {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`AttackError::InvalidParameter`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(AttackError::InvalidParameter {
                field,
                reason: reason.into(),
            })
        };
        if self.steps == 0 || self.steps > 100_000 {
            return bad("steps", "must be in 1..=100000");
        }
        if !(self.rel_step.is_finite() && self.rel_step > 0.0 && self.rel_step <= 10.0) {
            return bad("rel_step", "must be in (0, 10]");
        }
        if self.restarts == 0 || self.restarts > 1000 {
            return bad("restarts", "must be in 1..=1000");
        }
        Ok(())
    }

    /// Number of objective gradients one call of [`Attack::perturb`] evaluates per sample.
    pub fn gradient_evaluations(&self) -> usize {
        self.steps * self.restarts
    }
}

pub(crate) fn check_finite(v: &Tensor<1>, what: &'static str, step: usize) -> Result<()> {
    let finite = v.clone().is_finite().all().into_scalar::<bool>();
    if finite {
        Ok(())
    } else {
        Err(AttackError::NonFinite { what, step })
    }
}

/// `f.value_and_grad(x)`, refusing a non-finite value or gradient (reported at `step`): the
/// checked gradient every gradient attack's step starts from.
pub(crate) fn checked_value_and_grad<const D: usize>(
    f: &dyn Objective<D>,
    x: Tensor<D>,
    step: usize,
) -> Result<(Tensor<1>, Tensor<D>)> {
    let (v, g) = f.value_and_grad(x);
    check_finite(&v, "objective value", step)?;
    let gsum = g.clone().abs().sum().reshape([1]);
    check_finite(&gsum, "input gradient", step)?;
    Ok((v, g))
}

impl<const D: usize> Attack<D> for ProjectedGradient {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        let alpha = self.rel_step * ball.epsilon;
        let mut best: Option<(Tensor<D>, Tensor<1>)> = None;
        for _ in 0..self.restarts {
            let mut x = if self.random_start {
                ball.random_start(&x0, rng)
            } else {
                x0.clone()
            };
            for step in 0..self.steps {
                let (_, g) = checked_value_and_grad(f, x.clone(), step)?;
                x = ball.project(x + ball.steepest_ascent(g) * alpha, &x0);
            }
            best = Some(match best {
                None if self.restarts == 1 => (x, Tensor::zeros([1], &x0.device())),
                None => {
                    let v = f.value(x.clone());
                    (x, v)
                }
                Some(b) => {
                    let v = f.value(x.clone());
                    keep_best(Some(b), &x, &v)
                }
            });
        }
        Ok(best.map(|(x, _)| x).expect("restarts >= 1"))
    }
}
