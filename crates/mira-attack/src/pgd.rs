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

use crate::ProjectedGradient;

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
        }
    }
}
