//! The one projected-gradient engine behind FGSM, i-FGSM, PGD, MI-FGSM and PGD-Adamax.

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::ball::{keep_best, per_sample};
use crate::{Attack, AttackError, LpBall, Norm, Objective, Result};

/// How a step turns the gradient into a direction (the engine's hook): the ball's steepest
/// ascent of the gradient itself, of a momentum of L1-normalised gradients (MI-FGSM), or of
/// the Adamax update (PGD-Adamax).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum StepRule {
    /// `sign(g)` for L∞, `g / ||g||₂` for L2 (FGSM, i-FGSM, PGD).
    #[default]
    Sign,
    /// `m ← μ m + g / ||g||₁` per sample, then the steepest ascent of `m` (Dong et al. 2018).
    Momentum {
        /// μ.
        decay: f32,
    },
    /// `m ← β₁ m + (1 − β₁) g`, `u ← max(β₂ u, |g|)`, direction `m̂ / u` with
    /// `m̂ = m / (1 − β₁ᵗ)` (every element in [−1, 1]); normalised per sample for L2
    /// (Kingma & Ba 2015).
    Adamax {
        /// β₁.
        beta1: f32,
        /// β₂.
        beta2: f32,
    },
}

/// The state a step rule carries from step to step (per restart).
pub(crate) struct StepState<const D: usize> {
    m: Option<Tensor<D>>,
    u: Option<Tensor<D>>,
    decay1: f32,
}

impl StepRule {
    /// A fresh state for a restart from `x`.
    pub(crate) fn start<const D: usize>(&self) -> StepState<D> {
        StepState {
            m: None,
            u: None,
            decay1: 1.0,
        }
    }

    /// The direction of a step from gradient `g` (`state` updated).
    pub(crate) fn direction<const D: usize>(
        &self,
        state: &mut StepState<D>,
        g: Tensor<D>,
        ball: &LpBall<D>,
    ) -> Tensor<D> {
        match *self {
            StepRule::Sign => ball.steepest_ascent(g),
            StepRule::Momentum { decay } => {
                let b = g.dims()[0];
                let l1 = g
                    .clone()
                    .abs()
                    .reshape([b as i64, -1])
                    .sum_dim(1)
                    .reshape([b]);
                let m = state.m.take().unwrap_or_else(|| g.zeros_like());
                let m = m * decay + g / per_sample::<D>(l1.clamp_min(1e-12));
                state.m = Some(m.clone());
                ball.steepest_ascent(m)
            }
            StepRule::Adamax { beta1, beta2 } => {
                state.decay1 *= beta1;
                let m = state.m.take().unwrap_or_else(|| g.zeros_like());
                let u = state.u.take().unwrap_or_else(|| g.zeros_like());
                let m = m * beta1 + g.clone() * (1.0 - beta1);
                let u = (u * beta2).max_pair(g.abs());
                let d = (m.clone() / (1.0 - state.decay1)) / u.clone().clamp_min(1e-12);
                (state.m, state.u) = (Some(m), Some(u));
                match ball.norm {
                    Norm::Linf => d,
                    Norm::L2 => ball.steepest_ascent(d),
                }
            }
        }
    }

    /// Keeps the state of the rows `rows` only (cases that leave an early-stopped batch).
    pub(crate) fn select_rows<const D: usize>(state: &mut StepState<D>, rows: &[usize]) {
        for t in [&mut state.m, &mut state.u].into_iter().flatten() {
            *t = crate::cascade::rows_of(t, rows);
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(AttackError::InvalidParameter {
                field,
                reason: reason.into(),
            })
        };
        match *self {
            StepRule::Sign => Ok(()),
            StepRule::Momentum { decay } => {
                if !(decay.is_finite() && (0.0..=10.0).contains(&decay)) {
                    return bad("decay", "must be in [0, 10]");
                }
                Ok(())
            }
            StepRule::Adamax { beta1, beta2 } => {
                for (field, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                        return bad(field, "must be in [0, 1)");
                    }
                }
                Ok(())
            }
        }
    }
}

/// Projected steepest ascent on an [`Objective`] inside an [`LpBall`].
///
/// Each restart starts at `x0` (or at a random point of the ball), takes `steps` steps of size
/// `rel_step * epsilon` along the direction the [`StepRule`] makes of the gradient, projecting
/// after each; a restart ends at its last iterate, or with `best_iterate` at its iterate of
/// highest objective value per sample. The result of restart 1 is kept, and later restarts
/// replace it per sample where they reach a higher objective value (best of restarts).
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
    /// How a step turns the gradient into a direction.
    pub step: StepRule,
    /// A restart returns its best iterate per sample instead of its last.
    pub best_iterate: bool,
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
        self.step.validate()
    }

    /// Number of objective gradients one call of [`Attack::perturb`] evaluates per sample.
    pub fn gradient_evaluations(&self) -> usize {
        self.steps * self.restarts
    }

    /// Whether the first step's direction is a function of `x0` alone, the same at every ε of
    /// a ball's norm and mask, so that [`Self::perturb_from_first`] may be given it: one
    /// restart from `x0` (no random start), the plain steepest ascent ([`StepRule::Sign`]) and
    /// the last iterate kept. FGSM and i-FGSM are such attacks.
    pub fn first_step_shared(&self) -> bool {
        self.restarts == 1
            && !self.random_start
            && self.step == StepRule::Sign
            && !self.best_iterate
    }

    /// [`Attack::perturb`] given the first step's direction `first`, the ball's steepest ascent
    /// of the gradient at `x0` at step 0 ([`first_direction`] with this attack's steps; FGSM's
    /// is its whole step, i-FGSM's its first) instead of computing it:
    /// bit for bit the result of `perturb`, one gradient pass fewer. Only where
    /// [`Self::first_step_shared`] holds.
    ///
    /// # Errors
    /// Invalid parameters or an attack that is not [`Self::first_step_shared`]; those of the
    /// later steps.
    pub fn perturb_from_first<const D: usize>(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        first: Tensor<D>,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        if !self.first_step_shared() {
            return Err(AttackError::InvalidParameter {
                field: "first step",
                reason: "only one restart from x0 with the plain steepest ascent and the last \
                         iterate shares its first step"
                    .into(),
            });
        }
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        let x1 = ball.project(x0.clone() + first * (self.rel_step * ball.epsilon), &x0);
        Ok(self.climb_from(f, x1, &x0, ball, 1)?.0)
    }

    /// [`Attack::perturb`] continued from `x`, the result of this attack with `done` steps
    /// (`1 ≤ done < self.steps`, the rest equal) from `x0` in `ball`: only the remaining steps
    /// are taken, bit for bit the whole run's result, where [`Self::first_step_shared`] holds
    /// (one restart from `x0`, a step rule without state, the last iterate) and the objective
    /// is the same function at every step (not [`Objective::scheduled`]). The convergence
    /// probe doubles the steps of the attack it has just run.
    ///
    /// # Errors
    /// Invalid parameters, an attack or objective outside those conditions, `done` out of
    /// range; those of the remaining steps.
    pub fn perturb_continued<const D: usize>(
        &self,
        f: &dyn Objective<D>,
        (x0, ball): (Tensor<D>, &LpBall<D>),
        x: Tensor<D>,
        done: usize,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        if !self.first_step_shared() || f.scheduled() || done == 0 || done >= self.steps {
            return Err(AttackError::InvalidParameter {
                field: "continued steps",
                reason: "only one restart from x0 with the plain steepest ascent and the last \
                         iterate, on an unscheduled objective, continues a shorter run"
                    .into(),
            });
        }
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        Ok(self.climb_from(f, x, &x0, ball, done)?.0)
    }

    /// One restart from step `first` on, `x` the iterate before it (`first > 0` only for rules
    /// without state and without best-iterate): its end point, and (best-iterate) its best
    /// value per sample.
    fn climb_from<const D: usize>(
        &self,
        f: &dyn Objective<D>,
        mut x: Tensor<D>,
        x0: &Tensor<D>,
        ball: &LpBall<D>,
        first: usize,
    ) -> Result<(Tensor<D>, Option<Tensor<1>>)> {
        let alpha = self.rel_step * ball.epsilon;
        let mut state = self.step.start();
        let mut best: Option<(Tensor<D>, Tensor<1>)> = None;
        for step in first..self.steps {
            let (v, g) = checked_value_and_grad(f, x.clone(), step, self.steps)?;
            if self.best_iterate {
                best = Some(keep_best(best, &x, &v));
            }
            let d = self.step.direction(&mut state, g, ball);
            x = ball.project(x + d * alpha, x0);
        }
        if !self.best_iterate {
            return Ok((x, None));
        }
        let v = f.value(x.clone());
        let (x, v) = keep_best(best, &x, &v);
        Ok((x, Some(v)))
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

/// `f.value_and_grad(x)` at step `step` of `steps` (told to the objective's
/// [`Objective::schedule`] first), refusing a non-finite value or gradient: the checked
/// gradient every gradient attack's step starts from.
pub(crate) fn checked_value_and_grad<const D: usize>(
    f: &dyn Objective<D>,
    x: Tensor<D>,
    step: usize,
    steps: usize,
) -> Result<(Tensor<1>, Tensor<D>)> {
    f.schedule(step, steps);
    let (v, g) = f.value_and_grad(x);
    check_finite(&v, "objective value", step)?;
    let gsum = g.clone().abs().sum().reshape([1]);
    check_finite(&gsum, "input gradient", step)?;
    Ok((v, g))
}

/// The first step's direction of a [`ProjectedGradient`] of `steps` steps from `x0` (for
/// [`ProjectedGradient::perturb_from_first`]): the ball's steepest ascent of the checked
/// gradient at `x0`, the objective told it is step 0 of `steps`.
///
/// # Errors
/// A non-finite value or gradient.
pub fn first_direction<const D: usize>(
    f: &dyn Objective<D>,
    x0: Tensor<D>,
    ball: &LpBall<D>,
    steps: usize,
) -> Result<Tensor<D>> {
    let (_, g) = checked_value_and_grad(f, x0, 0, steps)?;
    Ok(ball.steepest_ascent(g))
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
        let mut best: Option<(Tensor<D>, Tensor<1>)> = None;
        for _ in 0..self.restarts {
            let start = if self.random_start {
                ball.random_start(&x0, rng)
            } else {
                x0.clone()
            };
            let (x, value) = self.climb_from(f, start, &x0, ball, 0)?;
            best = Some(match (best, value) {
                (None, _) if self.restarts == 1 => (x, Tensor::zeros([1], &x0.device())),
                (b, Some(v)) => keep_best(b, &x, &v),
                (None, None) => {
                    let v = f.value(x.clone());
                    (x, v)
                }
                (b, None) => {
                    let v = f.value(x.clone());
                    keep_best(b, &x, &v)
                }
            });
        }
        Ok(best.map(|(x, _)| x).expect("restarts >= 1"))
    }
}
