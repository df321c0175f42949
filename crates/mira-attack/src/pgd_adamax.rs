//! PGD with an Adamax update: the variant the S4 disk-shape study used for its in-distribution
//! attacks (Adamax: Kingma & Ba 2015, Adam with the infinity norm; PGD: Madry et al. 2018).
//!
//! Threat model: L∞ or L2 ball of radius ε, random start, best of restarts, as PGD. Instead of
//! the sign of the gradient, each step follows the Adamax direction
//! `d = m̂ / u` with `m ← β₁ m + (1 − β₁) g`, `m̂ = m / (1 − β₁ᵗ)` and `u ← max(β₂ u, |g|)`
//! (element-wise; every element of `d` lies in [−1, 1], like a sign step, but it shrinks where
//! the gradient's sign keeps changing). For L∞ the step is `rel_step · ε · d`; for L2, `d` is
//! normalised to unit L2 norm per sample first. The iterate is projected after each step and
//! the best iterate per sample (highest objective) is returned. A preset of the
//! projected-gradient engine ([`StepRule::Adamax`], best iterate). Defaults: 100 steps of ε/5
//! (the study's protocol), 1 restart, β₁ = 0.9, β₂ = 0.999.
//!
//! ```
//! let c = mira_attack::PgdAdamaxConfig::default();
//! assert_eq!((c.steps, c.rel_step), (100, 0.2));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::{
    Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    ProjectedGradient, Result, StepRule,
};

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
    /// The engine preset: PGD's random start and restarts, the Adamax step rule, the best
    /// iterate of each restart.
    pub fn engine(&self) -> ProjectedGradient {
        ProjectedGradient {
            steps: self.steps,
            rel_step: self.rel_step,
            random_start: true,
            restarts: self.restarts,
            step: StepRule::Adamax {
                beta1: self.beta1,
                beta2: self.beta2,
            },
            best_iterate: true,
        }
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
        self.engine().perturb(f, x0, ball, rng)
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("pgd_adamax"),
    name: "PGD with Adamax update (S4 variant)",
    paper: "Madry et al. 2018; Adamax: Kingma & Ba 2015",
    threat: "L∞ or L2 ball, random start, best iterate and best of restarts",
    parameters: "steps = 100, rel_step = 0.2, restarts = 1, beta1 = 0.9, beta2 = 0.999",
    access: "input gradient",
};

impl AttackMethod for PgdAdamaxConfig {
    const KIND: &'static str = "pgd_adamax";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["queries"])?;
        let d = Self::default();
        Ok(Self {
            steps: p.steps.unwrap_or(d.steps),
            rel_step: p.rel_step.unwrap_or(d.rel_step),
            restarts: p.restarts.unwrap_or(d.restarts),
            ..d
        })
    }

    fn validate(&self) -> Result<()> {
        self.engine().validate()
    }

    fn steps(&self) -> usize {
        self.steps
    }

    fn gradient_evaluations(&self) -> usize {
        self.steps * self.restarts
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self { steps, ..*self }.into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        Self { restarts, ..*self }.into()
    }

    fn engine(&self) -> Option<ProjectedGradient> {
        Some(PgdAdamaxConfig::engine(self))
    }
}
