//! i-FGSM / BIM: Kurakin, Goodfellow & Bengio 2017, "Adversarial examples in the physical world".
//!
//! Threat model: L∞ (or L2) ball of radius ε. `steps` steps of size `rel_step · ε` from `x0`,
//! projected after each. Defaults: 10 steps of ε/4 (the ball's surface is reachable in 4 steps,
//! the rest refine). With a targeted goal this is the targeted i-FGSM (ti-FGSM) of the S1 study.
//!
//! ```
//! let e = mira_attack::IfgsmConfig::default().engine();
//! assert_eq!((e.steps, e.random_start), (10, false));
//! ```

use serde::{Deserialize, Serialize};

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::method::pgd_with_restarts;
use crate::{
    Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    ProjectedGradient, Result, StepRule,
};

/// Parameters of i-FGSM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IfgsmConfig {
    /// Number of steps.
    pub steps: usize,
    /// Step size as a fraction of ε.
    pub rel_step: f32,
}

impl Default for IfgsmConfig {
    fn default() -> Self {
        Self {
            steps: 10,
            rel_step: 0.25,
        }
    }
}

impl IfgsmConfig {
    /// The engine configuration.
    pub fn engine(&self) -> ProjectedGradient {
        ProjectedGradient {
            steps: self.steps,
            rel_step: self.rel_step,
            random_start: false,
            restarts: 1,
            step: StepRule::Sign,
            best_iterate: false,
        }
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("ifgsm"),
    name: "i-FGSM / BIM (targeted: ti-FGSM)",
    paper: "Kurakin, Goodfellow & Bengio 2017",
    threat: "L∞ or L2 ball, from x0",
    parameters: "steps = 10, rel_step = 0.25",
    access: "input gradient",
};

impl<const D: usize> Attack<D> for IfgsmConfig {
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

impl AttackMethod for IfgsmConfig {
    const KIND: &'static str = "ifgsm";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["restarts", "queries"])?;
        let d = Self::default();
        Ok(Self {
            steps: p.steps.unwrap_or(d.steps),
            rel_step: p.rel_step.unwrap_or(d.rel_step),
        })
    }

    fn validate(&self) -> Result<()> {
        IfgsmConfig::engine(self).validate()
    }

    fn steps(&self) -> usize {
        self.steps
    }

    fn gradient_evaluations(&self) -> usize {
        self.steps
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self { steps, ..*self }.into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        pgd_with_restarts(self.steps, self.rel_step, restarts)
    }

    fn engine(&self) -> Option<ProjectedGradient> {
        Some(IfgsmConfig::engine(self))
    }
}
