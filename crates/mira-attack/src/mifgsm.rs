//! MI-FGSM: Dong et al. 2018, "Boosting adversarial attacks with momentum" (CVPR).
//!
//! Threat model: L∞ (or L2) ball of radius ε, from `x0` without random start. Each step
//! accumulates the L1-normalised gradient into a momentum buffer,
//! `m ← μ m + g / ||g||_1` (per sample), and steps `rel_step · ε` along the ball's
//! steepest-ascent direction of `m` (`sign(m)` for L∞, `m / ||m||_2` for L2), projecting after
//! each step. Momentum stabilises the direction across steps, which helps on objectives with
//! noisy or flat local gradients. Defaults from the paper: 10 steps of ε/10, μ = 1.
//! The best iterate per sample (highest objective) is returned.
//!
//! ```
//! let c = mira_attack::MiFgsmConfig::default();
//! assert_eq!((c.steps, c.decay), (10, 1.0));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::{keep_best, per_sample};
use crate::engine::check_finite;
use crate::{Attack, AttackError, LpBall, Objective, Result};

/// Parameters of MI-FGSM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MiFgsmConfig {
    /// Number of steps.
    pub steps: usize,
    /// Step size as a fraction of ε.
    pub rel_step: f32,
    /// Momentum decay μ (0 = i-FGSM).
    pub decay: f32,
}

impl Default for MiFgsmConfig {
    fn default() -> Self {
        Self {
            steps: 10,
            rel_step: 0.1,
            decay: 1.0,
        }
    }
}

impl MiFgsmConfig {
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
        if !(self.decay.is_finite() && (0.0..=10.0).contains(&self.decay)) {
            return bad("decay", "must be in [0, 10]");
        }
        Ok(())
    }
}

impl<const D: usize> Attack<D> for MiFgsmConfig {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        _rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        let alpha = self.rel_step * ball.epsilon;
        let mut x = x0.clone();
        let mut m = x0.zeros_like();
        let mut best: Option<(Tensor<D>, Tensor<1>)> = None;
        for step in 0..self.steps {
            let (v, g) = f.value_and_grad(x.clone());
            check_finite(&v, "objective value", step)?;
            let b = g.dims()[0];
            let l1 = g
                .clone()
                .abs()
                .reshape([b as i64, -1])
                .sum_dim(1)
                .reshape([b]);
            check_finite(&l1, "input gradient", step)?;
            best = Some(keep_best(best, &x, &v));
            m = m * self.decay + g / per_sample::<D>(l1.clamp_min(1e-12));
            x = ball.project(x + ball.steepest_ascent(m.clone()) * alpha, &x0);
        }
        let v = f.value(x.clone());
        Ok(keep_best(best, &x, &v).0)
    }
}
