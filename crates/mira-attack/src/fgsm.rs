//! FGSM: Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial examples".
//!
//! Threat model: L∞ (or L2 with the normalised gradient) ball of radius ε in input units.
//! One step: `x = clip(x0 + ε · sign(∇x L(x0)), lo, hi)`. No parameters besides ε.
//!
//! ```
//! let engine = mira_attack::fgsm();
//! assert_eq!((engine.steps, engine.rel_step, engine.random_start), (1, 1.0, false));
//! ```

use crate::ProjectedGradient;

/// FGSM as a preset of the projected-gradient engine: 1 step of size ε from `x0`.
pub fn fgsm() -> ProjectedGradient {
    ProjectedGradient {
        steps: 1,
        rel_step: 1.0,
        random_start: false,
        restarts: 1,
    }
}
