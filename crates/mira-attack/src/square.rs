//! Square Attack: Andriushchenko, Croce, Flammarion & Hein 2020, "Square attack: a
//! query-efficient black-box adversarial attack via random search" (ECCV), L∞ version.
//!
//! Threat model: L∞ ball of radius ε (with the ball's bounds and mask), score-based: it calls
//! only [`Objective::value`], never a gradient, so it works on models whose gradients are not
//! available and is blind to gradient masking. It starts from vertical stripes (a random
//! `±ε` per channel and column, constant down the rows), then for `queries` iterations
//! redraws one random square window of the last two axes with one random `±ε` per channel
//! (and leading plane) and keeps the proposal for the samples whose objective rose. The
//! window covers a share `p` of the image, `p` starting at `p_init` and halved at the
//! paper's iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 (of 10,000, rescaled to
//! `queries`). Defaults: 1,000 queries, `p_init = 0.05`. Costs `queries + 1` forward passes.
//!
//! ```
//! let c = mira_attack::SquareConfig::default();
//! assert_eq!((c.queries, c.p_init), (1000, 0.05));
//! assert_eq!(mira_attack::square_share(0.05, 0, 1000), 0.05);
//! assert_eq!(mira_attack::square_share(0.05, 600, 1000), 0.05 / 128.0);
//! ```

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::per_sample;
use crate::engine::check_finite;
use crate::{
    Attack, AttackError, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Norm,
    Objective, Result,
};

/// Parameters of the Square Attack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SquareConfig {
    /// Objective evaluations after the start (the query budget).
    pub queries: usize,
    /// Initial share of the image a square covers, in (0, 1].
    pub p_init: f32,
}

impl Default for SquareConfig {
    fn default() -> Self {
        Self {
            queries: 1000,
            p_init: 0.05,
        }
    }
}

/// The share of the image the square covers at iteration `i` of `n` (the paper's schedule).
pub fn square_share(p_init: f32, i: usize, n: usize) -> f32 {
    let it = (i as f64 * 10_000.0 / n.max(1) as f64) as usize;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|&&t| it > t)
        .count();
    p_init / (1u32 << halvings) as f32
}

impl SquareConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`AttackError::InvalidParameter`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1_000_000).contains(&self.queries) {
            return Err(AttackError::InvalidParameter {
                field: "queries",
                reason: "must be in 1..=1000000".into(),
            });
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(AttackError::InvalidParameter {
                field: "p_init",
                reason: "must be in (0, 1]".into(),
            });
        }
        Ok(())
    }
}

impl<const D: usize> Attack<D> for SquareConfig {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        if ball.norm != Norm::Linf || D < 3 {
            return Err(AttackError::InvalidParameter {
                field: "square",
                reason: "the Square Attack here is the L∞ version, for inputs of rank >= 3".into(),
            });
        }
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        let dims = x0.dims();
        let (h, w, b) = (dims[D - 2], dims[D - 1], dims[0]);
        let total: usize = dims.iter().product();
        let planes = total / (b * h * w);
        let dev = x0.device();
        let eps = ball.epsilon;
        let sign = |rng: &mut StdRng| if rng.random::<bool>() { eps } else { -eps };
        let to_tensor = |v: Vec<f32>| Tensor::<D>::from_data(TensorData::new(v, dims), &dev);
        // Vertical stripes: one sign per (sample, plane, column).
        let mut delta = vec![0.0f32; total];
        for plane in 0..b * planes {
            for c in 0..w {
                let s = sign(rng);
                for r in 0..h {
                    delta[(plane * h + r) * w + c] = s;
                }
            }
        }
        let mut x = ball.project(x0.clone() + to_tensor(delta), &x0);
        let mut best = f.value(x.clone());
        check_finite(&best, "objective value", 0)?;
        for i in 0..self.queries {
            let p = square_share(self.p_init, i, self.queries);
            let side = ((p * (h * w) as f32).sqrt().round() as usize).clamp(1, h.min(w));
            let mut delta = mira_nn::tensor_to_vec(x.clone() - x0.clone());
            for s in 0..b {
                let (r0, c0) = (
                    rng.random_range(0..=h - side),
                    rng.random_range(0..=w - side),
                );
                for plane in 0..planes {
                    let v = sign(rng);
                    let base = (s * planes + plane) * h * w;
                    for r in r0..r0 + side {
                        delta[base + r * w + c0..base + r * w + c0 + side].fill(v);
                    }
                }
            }
            let proposal = ball.project(x0.clone() + to_tensor(delta), &x0);
            let v = f.value(proposal.clone());
            check_finite(&v, "objective value", i + 1)?;
            let better = v.clone().greater(best.clone());
            let keep = per_sample::<D>(better.clone().float()).bool();
            x = x.mask_where(keep, proposal);
            best = best.mask_where(better, v);
        }
        Ok(x)
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("square"),
    name: "Square Attack",
    paper: "Andriushchenko et al. 2020",
    threat: "L∞ ball; score-based: random square updates of ±ε, stripes start, p halved on schedule",
    parameters: "queries = 1000, p_init = 0.05",
    access: "objective values only",
};

impl AttackMethod for SquareConfig {
    const KIND: &'static str = "square";

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
        SquareConfig::validate(self)
    }

    fn steps(&self) -> usize {
        // Its queries.
        self.queries
    }

    fn gradient_evaluations(&self) -> usize {
        // Score-based: none.
        0
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self {
            queries: steps,
            ..*self
        }
        .into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        // A random search has no restarts: itself.
        let _ = restarts;
        (*self).into()
    }
}
