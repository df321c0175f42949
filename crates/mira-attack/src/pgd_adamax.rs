//! PGD with an Adamax update: the variant the S4 disk-shape study used for its in-distribution
//! attacks (Adamax: Kingma & Ba 2015, Adam with the infinity norm; PGD: Madry et al. 2018).
//!
//! Threat model: L∞ or L2 ball of radius ε, random start, best of restarts, as PGD. Instead of
//! the sign of the gradient, each step follows the Adamax direction
//! `d = m̂ / u` with `m ← β₁ m + (1 − β₁) g`, `m̂ = m / (1 − β₁ᵗ)` and `u ← max(β₂ u, |g|)`
//! (element-wise; every element of `d` lies in [−1, 1], like a sign step, but it shrinks where
//! the gradient's sign keeps changing). For L∞ the step is `rel_step · ε · d`; for L2, `d` is
//! normalised to unit L2 norm per sample first. The iterate is projected after each step and
//! the best iterate per sample (highest objective) is returned. Defaults: 100 steps of ε/5
//! (the study's protocol), 1 restart, β₁ = 0.9, β₂ = 0.999.
//!
//! ```
//! let c = mira_attack::PgdAdamaxConfig::default();
//! assert_eq!((c.steps, c.rel_step), (100, 0.2));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::keep_best;
use crate::engine::checked_value_and_grad;
use crate::{Attack, AttackError, LpBall, Norm, Objective, ProjectedGradient, Result};

/// Parameters of PGD with the Adamax update.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgdAdamaxConfig {
    /// Steps per restart.
    pub steps: usize,
    /// Step size as a fraction of ε.
    pub rel_step: f32,
    /// Random restarts; the per-sample best is kept.
    pub restarts: usize,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the infinity-norm second moment.
    pub beta2: f32,
}

impl Default for PgdAdamaxConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            rel_step: 0.2,
            restarts: 1,
            beta1: 0.9,
            beta2: 0.999,
        }
    }
}

impl PgdAdamaxConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`AttackError::InvalidParameter`] naming the field.
    pub fn validate(&self) -> Result<()> {
        // Steps, step size and restarts obey PGD's limits.
        ProjectedGradient {
            steps: self.steps,
            rel_step: self.rel_step,
            random_start: true,
            restarts: self.restarts,
        }
        .validate()?;
        for (field, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                return Err(AttackError::InvalidParameter {
                    field,
                    reason: "must be in [0, 1)".into(),
                });
            }
        }
        Ok(())
    }
}

impl<const D: usize> Attack<D> for PgdAdamaxConfig {
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
            let mut x = ball.random_start(&x0, rng);
            let mut m = x0.zeros_like();
            let mut u = x0.zeros_like();
            let mut decay1 = 1.0f32;
            for step in 0..self.steps {
                let (v, g) = checked_value_and_grad(f, x.clone(), step)?;
                best = Some(keep_best(best, &x, &v));
                decay1 *= self.beta1;
                m = m * self.beta1 + g.clone() * (1.0 - self.beta1);
                u = (u * self.beta2).max_pair(g.abs());
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
        Ok(best.map(|(x, _)| x).expect("restarts >= 1"))
    }
}
