//! APGD: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
//! diverse parameter-free attacks" (ICML), the step-size-free PGD of AutoAttack.
//!
//! Threat model: L∞ or L2 ball of radius ε (any mask), from a random point of the ball
//! (default) or `x0`. Per sample, the step size starts at `2ε` and is halved at checkpoints
//! `w_j = ⌈p_j N⌉` (`p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`)
//! when either (1) fewer than `rho · (w_j − w_{j−1})` of the steps since the last checkpoint
//! increased the objective, or (2) neither the step size nor the best value changed since the
//! last checkpoint; after a halving the iterate restarts from the best point found. Steps
//! use momentum: `z = P(x_k + η s(∇f(x_k)))`, `x_{k+1} = P(x_k + α (z − x_k) + (1 − α)
//! (x_k − x_{k−1}))` with `α = 0.75` (`s` = sign for L∞, `g/||g||_2` for L2). The best point
//! per sample over all iterates and restarts is returned.
//!
//! The loss is the task's objective: with the segmentation margin objective (per-pixel
//! `max_{j≠y} z_j − z_y`) this is APGD-DLR's idea for dense outputs; with regression tasks it
//! is the task loss. Defaults: 100 steps, 1 restart, ρ = 0.75, α = 0.75, random start.
//!
//! ```
//! let c = mira_attack::ApgdConfig::default();
//! assert_eq!(mira_attack::apgd_checkpoints(100), vec![22, 41, 58, 70, 80, 87, 93, 99]);
//! assert_eq!(c.steps, 100);
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::{keep_best, per_sample};
use crate::engine::checked_value_and_grad;
use crate::{
    Attack, AttackError, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    Result,
};

/// Parameters of APGD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApgdConfig {
    /// Gradient steps per restart.
    pub steps: usize,
    /// Restarts; the per-sample best is kept.
    pub restarts: usize,
    /// Start from a random point of the ball (else from `x0`).
    pub random_start: bool,
    /// Share of improving steps below which the step size is halved.
    pub rho: f32,
    /// Momentum weight α of the new direction.
    pub alpha: f32,
}

impl Default for ApgdConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            restarts: 1,
            random_start: true,
            rho: 0.75,
            alpha: 0.75,
        }
    }
}

/// The checkpoint iterations of an APGD run of `steps` steps.
pub fn apgd_checkpoints(steps: usize) -> Vec<usize> {
    let mut p = vec![0.0f64, 0.22];
    loop {
        let n = p.len();
        let next = p[n - 1] + (p[n - 1] - p[n - 2] - 0.03).max(0.06);
        if next > 1.0 {
            break;
        }
        p.push(next);
    }
    let mut w: Vec<usize> = p[1..]
        .iter()
        .map(|q| ((q * steps as f64).ceil() as usize).min(steps.saturating_sub(1)))
        .filter(|&w| w > 0)
        .collect();
    w.dedup();
    w
}

impl ApgdConfig {
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
        if self.steps < 2 || self.steps > 100_000 {
            return bad("steps", "must be in 2..=100000");
        }
        if self.restarts == 0 || self.restarts > 1000 {
            return bad("restarts", "must be in 1..=1000");
        }
        if !(self.rho > 0.0 && self.rho <= 1.0) {
            return bad("rho", "must be in (0, 1]");
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return bad("alpha", "must be in (0, 1]");
        }
        Ok(())
    }

    /// Objective gradients per sample of one call.
    pub fn gradient_evaluations(&self) -> usize {
        self.steps * self.restarts
    }
}

fn host(v: Tensor<1>) -> Vec<f32> {
    mira_nn::tensor_to_vec(v)
}

fn mask_of<const D: usize>(flags: &[bool], device: &Device) -> Tensor<D> {
    let v: Vec<f32> = flags.iter().map(|&b| f32::from(u8::from(b))).collect();
    per_sample::<D>(Tensor::<1>::from_floats(v.as_slice(), device))
}

impl<const D: usize> Attack<D> for ApgdConfig {
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
        let dev = x0.device();
        let b = x0.dims()[0];
        let checkpoints = apgd_checkpoints(self.steps);
        let mut best: Option<(Tensor<D>, Tensor<1>)> = None;
        for _ in 0..self.restarts {
            let mut x = if self.random_start {
                ball.random_start(&x0, rng)
            } else {
                x0.clone()
            };
            let mut eta = vec![2.0 * ball.epsilon; b];
            let (v, mut g) = checked_value_and_grad(f, x.clone(), 0, self.steps)?;
            let mut v_prev = host(v.clone());
            let mut f_max = v_prev.clone();
            let (mut x_max, mut g_max) = (x.clone(), g.clone());
            let mut x_prev = x.clone();
            let (mut count, mut last_ck) = (vec![0usize; b], 0usize);
            let (mut eta_ck, mut fmax_ck) = (eta.clone(), f_max.clone());
            for k in 1..self.steps {
                let step = Tensor::<1>::from_floats(eta.as_slice(), &dev);
                let z = ball.project(
                    x.clone() + ball.steepest_ascent(g.clone()) * per_sample::<D>(step),
                    &x0,
                );
                let a = if k == 1 { 1.0 } else { self.alpha };
                let x_next = ball.project(
                    x.clone() + (z - x.clone()) * a + (x.clone() - x_prev.clone()) * (1.0 - a),
                    &x0,
                );
                let (v, g_next) = checked_value_and_grad(f, x_next.clone(), k, self.steps)?;
                let vh = host(v);
                let mut improved = vec![false; b];
                for i in 0..b {
                    if vh[i] > v_prev[i] {
                        count[i] += 1;
                    }
                    if vh[i] > f_max[i] {
                        f_max[i] = vh[i];
                        improved[i] = true;
                    }
                }
                let keep = mask_of::<D>(&improved, &dev).bool();
                x_max = x_max.mask_where(keep.clone(), x_next.clone());
                g_max = g_max.mask_where(keep, g_next.clone());
                (x_prev, x, g, v_prev) = (x, x_next, g_next, vh);
                if checkpoints.contains(&k) {
                    let span = (k - last_ck) as f32;
                    let halve: Vec<bool> = (0..b)
                        .map(|i| {
                            (count[i] as f32) < self.rho * span
                                || (eta_ck[i] == eta[i] && fmax_ck[i] == f_max[i])
                        })
                        .collect();
                    for i in 0..b {
                        if halve[i] {
                            eta[i] /= 2.0;
                        }
                    }
                    // Halved samples restart from their best point (and its gradient).
                    let back = mask_of::<D>(&halve, &dev).bool();
                    x = x.mask_where(back.clone(), x_max.clone());
                    x_prev = x_prev.mask_where(back.clone(), x_max.clone());
                    g = g.mask_where(back, g_max.clone());
                    for i in 0..b {
                        if halve[i] {
                            v_prev[i] = f_max[i];
                        }
                    }
                    count.iter_mut().for_each(|c| *c = 0);
                    (last_ck, eta_ck, fmax_ck) = (k, eta.clone(), f_max.clone());
                }
            }
            let fm = Tensor::<1>::from_floats(f_max.as_slice(), &dev);
            best = Some(keep_best(best, &x_max, &fm));
        }
        Ok(best.map(|(x, _)| x).expect("restarts >= 1"))
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("apgd"),
    name: "APGD (the default kind of segmentation files and `mira attack`)",
    paper: "Croce & Hein 2020",
    threat: "L∞ or L2 ball, random start; step size 2ε halved at checkpoints, momentum 0.75",
    parameters: "steps = 100, restarts = 1 (no step size: it adapts)",
    access: "input gradient",
};

impl AttackMethod for ApgdConfig {
    const KIND: &'static str = "apgd";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["rel_step", "queries"])?;
        let d = Self::default();
        Ok(Self {
            steps: p.steps.unwrap_or(d.steps),
            restarts: p.restarts.unwrap_or(d.restarts),
            ..d
        })
    }

    fn validate(&self) -> Result<()> {
        ApgdConfig::validate(self)
    }

    fn steps(&self) -> usize {
        self.steps
    }

    fn gradient_evaluations(&self) -> usize {
        ApgdConfig::gradient_evaluations(self)
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self { steps, ..*self }.into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        Self { restarts, ..*self }.into()
    }
}
