//! PGD: Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks".
//!
//! Threat model: L∞ or L2 ball of radius ε. Each restart starts at a uniform random point of
//! the ball and takes `steps` projected steps of size `rel_step · ε`; the best restart per
//! sample (highest objective) is returned. Defaults: 20 steps of ε/8, 1 restart. The S4 study
//! uses 100 steps of ε/5.
//!
//! ```
//! let e = mira_attack::PgdConfig { restarts: 3, ..Default::default() }.engine();
//! assert!(e.random_start && e.restarts == 3);
//! ```

use serde::{Deserialize, Serialize};

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::{
    Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    ProjectedGradient, Result, StepRule,
};

/// Parameters of PGD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgdConfig {
    /// Steps per restart.
    pub steps: usize,
    /// Step size as a fraction of ε.
    pub rel_step: f32,
    /// Random restarts; the per-sample best is kept.
    pub restarts: usize,
}

impl Default for PgdConfig {
    fn default() -> Self {
        Self {
            steps: 20,
            rel_step: 0.125,
            restarts: 1,
        }
    }
}

impl PgdConfig {
    /// The engine configuration.
    pub fn engine(&self) -> ProjectedGradient {
        ProjectedGradient {
            steps: self.steps,
            rel_step: self.rel_step,
            random_start: true,
            restarts: self.restarts,
            step: StepRule::Sign,
            best_iterate: false,
        }
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("pgd"),
    name: "PGD",
    paper: "Madry et al. 2018",
    threat: "L∞ or L2 ball, random start, best of restarts",
    parameters: "steps = 20, rel_step = 0.125, restarts = 1",
    access: "input gradient",
};

impl<const D: usize> Attack<D> for PgdConfig {
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

impl AttackMethod for PgdConfig {
    const KIND: &'static str = "pgd";

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
        })
    }

    fn validate(&self) -> Result<()> {
        PgdConfig::engine(self).validate()
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
        Some(PgdConfig::engine(self))
    }
}
