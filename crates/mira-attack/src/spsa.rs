//! SPSA: Uesato, O'Donoghue, van den Oord & Kohli 2018, "Adversarial risk and the dangers of
//! evaluating against weak attacks" (ICML). Gradient-free.
//!
//! Threat model: L∞ or L2 ball of radius ε (with the ball's bounds and mask), score-based: it
//! calls only [`Objective::value`]. Each iteration estimates the gradient by simultaneous
//! perturbation, `ĝ = mean_k [f(x + δ v_k) − f(x − δ v_k)] / (2δ) · v_k` over `samples`
//! Rademacher directions `v_k ∈ {−1, +1}ⁿ`, takes an Adam step (learning rate `lr · ε` per
//! unit of the ball's steepest-ascent direction of `ĝ`) and projects. The per-sample best
//! iterate is returned. The budget `queries` pays for `queries / (2 · samples)` iterations;
//! each also evaluates its new iterate once (to keep the best). Defaults: 1,000 queries, 16
//! directions per iteration, δ = 0.01, `lr = 0.1`.
//!
//! ```
//! let c = mira_attack::SpsaConfig::default();
//! assert_eq!(c.iterations(), 1000 / 32);
//! ```

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::{keep_best, per_sample};
use crate::engine::check_finite;
use crate::{
    Attack, AttackError, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    Result,
};

/// Parameters of SPSA.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpsaConfig {
    /// Objective evaluations in all (two per direction).
    pub queries: usize,
    /// Random directions per gradient estimate.
    pub samples: usize,
    /// Finite-difference step, input units.
    pub delta: f32,
    /// Adam learning rate as a fraction of ε.
    pub lr: f32,
}

impl Default for SpsaConfig {
    fn default() -> Self {
        Self {
            queries: 1000,
            samples: 16,
            delta: 0.01,
            lr: 0.1,
        }
    }
}

impl SpsaConfig {
    /// Gradient estimates (iterations) the query budget pays for.
    pub fn iterations(&self) -> usize {
        self.queries / (2 * self.samples.max(1))
    }

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
        if !(1..=10_000).contains(&self.samples) {
            return bad("samples", "must be in 1..=10000");
        }
        if !(2 * self.samples..=10_000_000).contains(&self.queries) {
            return bad(
                "queries",
                "must be at least 2 · samples (one iteration) and at most 1e7",
            );
        }
        if !(self.delta > 0.0 && self.delta <= 0.5) {
            return bad("delta", "must be in (0, 0.5]");
        }
        if !(self.lr > 0.0 && self.lr <= 10.0) {
            return bad("lr", "must be in (0, 10]");
        }
        Ok(())
    }
}

impl<const D: usize> Attack<D> for SpsaConfig {
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
        let dims = x0.dims();
        let total: usize = dims.iter().product();
        let dev = x0.device();
        let to_tensor = |v: Vec<f32>| Tensor::<D>::from_data(TensorData::new(v, dims), &dev);
        let (beta1, beta2, tiny) = (0.9f32, 0.999f32, 1e-8f32);
        let mut m = Tensor::<D>::zeros(dims, &dev);
        let mut v = Tensor::<D>::zeros(dims, &dev);
        let mut x = x0.clone();
        let v0 = f.value(x.clone());
        check_finite(&v0, "objective value", 0)?;
        let mut best = Some((x.clone(), v0));
        for it in 1..=self.iterations() {
            let mut g = Tensor::<D>::zeros(dims, &dev);
            for _ in 0..self.samples {
                let dir: Vec<f32> = (0..total)
                    .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                    .collect();
                let dir = to_tensor(dir);
                let up = f.value(x.clone() + dir.clone() * self.delta);
                let down = f.value(x.clone() - dir.clone() * self.delta);
                let diff = (up - down) / (2.0 * self.delta);
                check_finite(&diff, "objective value", it)?;
                g = g + dir * per_sample::<D>(diff);
            }
            let g = g / self.samples as f32;
            // Adam on the ascent direction, bias-corrected.
            m = m * beta1 + g.clone() * (1.0 - beta1);
            v = v * beta2 + g.powi_scalar(2) * (1.0 - beta2);
            let mh = m.clone() / (1.0 - beta1.powi(it as i32));
            let vh = v.clone() / (1.0 - beta2.powi(it as i32));
            let step = ball.steepest_ascent(mh / (vh.sqrt() + tiny));
            x = ball.project(x + step * (self.lr * ball.epsilon), &x0);
            let val = f.value(x.clone());
            check_finite(&val, "objective value", it)?;
            best = Some(keep_best(best, &x, &val));
        }
        Ok(best.expect("scored").0)
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("spsa"),
    name: "SPSA",
    paper: "Uesato et al. 2018",
    threat: "L∞ or L2 ball; gradient estimated from ±δ Rademacher probes, Adam steps, best iterate",
    parameters: "queries = 1000, samples = 16, delta = 0.01, lr = 0.1",
    access: "objective values only",
};

impl AttackMethod for SpsaConfig {
    const KIND: &'static str = "spsa";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["steps", "rel_step", "restarts"])?;
        let d = Self::default();
        Ok(Self {
            queries: p.queries.unwrap_or(d.queries),
            ..d
        })
    }

    fn validate(&self) -> Result<()> {
        SpsaConfig::validate(self)
    }

    fn steps(&self) -> usize {
        // Its Adam iterations.
        self.iterations()
    }

    fn gradient_evaluations(&self) -> usize {
        // Score-based: none.
        0
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self {
            queries: steps * 2 * self.samples,
            ..*self
        }
        .into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        // No restarts: itself.
        let _ = restarts;
        (*self).into()
    }
}
