//! MI-FGSM: Dong et al. 2018, "Boosting adversarial attacks with momentum" (CVPR).
//!
//! Threat model: L∞ (or L2) ball of radius ε, from `x0` without random start. Each step
//! accumulates the L1-normalised gradient into a momentum buffer,
//! `m ← μ m + g / ||g||_1` (per sample), and steps `rel_step · ε` along the ball's
//! steepest-ascent direction of `m` (`sign(m)` for L∞, `m / ||m||_2` for L2), projecting after
//! each step. Momentum stabilises the direction across steps, which helps on objectives with
//! noisy or flat local gradients. Defaults from the paper: 10 steps of ε/10, μ = 1.
//! The best iterate per sample (highest objective) is returned. A preset of the
//! projected-gradient engine ([`StepRule::Momentum`], best iterate).
//!
//! ```
//! let c = mira_attack::MiFgsmConfig::default();
//! assert_eq!((c.steps, c.decay), (10, 1.0));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::method::pgd_with_restarts;
use crate::{
    Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, LpBall, Objective,
    ProjectedGradient, Result, StepRule,
};

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
    /// The engine preset: from `x0`, the momentum step rule, the best iterate.
    pub fn engine(&self) -> ProjectedGradient {
        ProjectedGradient {
            steps: self.steps,
            rel_step: self.rel_step,
            random_start: false,
            restarts: 1,
            step: StepRule::Momentum { decay: self.decay },
            best_iterate: true,
        }
    }
}

impl<const D: usize> Attack<D> for MiFgsmConfig {
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
    kind: Some("mifgsm"),
    name: "MI-FGSM",
    paper: "Dong et al. 2018",
    threat: "L∞ or L2 ball, from x0; momentum of L1-normalised gradients",
    parameters: "steps = 10, rel_step = 0.1, decay = 1",
    access: "input gradient",
};

impl AttackMethod for MiFgsmConfig {
    const KIND: &'static str = "mifgsm";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["restarts", "queries"])?;
        let d = Self::default();
        Ok(Self {
            steps: p.steps.unwrap_or(d.steps),
            rel_step: p.rel_step.unwrap_or(d.rel_step),
            decay: d.decay,
        })
    }

    fn validate(&self) -> Result<()> {
        self.engine().validate()
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
        // PGD with the same steps and step size.
        pgd_with_restarts(self.steps, self.rel_step, restarts)
    }

    fn engine(&self) -> Option<ProjectedGradient> {
        Some(MiFgsmConfig::engine(self))
    }
}
