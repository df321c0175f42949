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

use crate::ProjectedGradient;

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
        }
    }
}
