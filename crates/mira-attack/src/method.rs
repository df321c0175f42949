//! What every attack of the library says about itself. An attack is one file: its config
//! (parameters with defaults), an [`crate::Attack`] implementation, and [`AttackMethod`]:
//! its `kind`, catalogue entry, how it is built from an experiment entry's parameters
//! (refusing those it does not take), validation, and the steps, restarts and gradient count
//! the runner's checks need. One line in the registry (`attack.rs`) makes it selectable.

use crate::{AttackError, AttackInfo, AttackSpec, ProjectedGradient, Result};

/// The parameters an attack entry of any task may give; each attack takes what it uses, fills
/// the rest with its defaults, and refuses what it does not take.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AttackParams {
    /// Steps (iterative attacks).
    pub steps: Option<usize>,
    /// Step size relative to ε.
    pub rel_step: Option<f32>,
    /// Random restarts.
    pub restarts: Option<usize>,
    /// Query budget (score-based attacks).
    pub queries: Option<usize>,
}

impl AttackParams {
    /// Refuses the parameters among `names` that are given: `kind` does not take them.
    ///
    /// # Errors
    /// [`AttackError::InvalidParameter`] naming the first one given.
    pub fn refuse(&self, kind: &str, names: &[&'static str]) -> Result<()> {
        for &name in names {
            let given = match name {
                "steps" => self.steps.is_some(),
                "rel_step" => self.rel_step.is_some(),
                "restarts" => self.restarts.is_some(),
                "queries" => self.queries.is_some(),
                _ => false,
            };
            if given {
                return Err(AttackError::InvalidParameter {
                    field: name,
                    reason: format!("not a parameter of {kind}"),
                });
            }
        }
        Ok(())
    }
}

/// An attack of the library (see the module docs).
pub trait AttackMethod: Clone + PartialEq + std::fmt::Debug + Default + Into<AttackSpec> {
    /// `kind = "..."` in experiment files.
    const KIND: &'static str;

    /// What `mira attacks` lists and `docs/attacks.md` documents.
    fn info() -> AttackInfo;

    /// The attack an entry's parameters describe (defaults for those not given).
    ///
    /// # Errors
    /// A parameter the attack does not take.
    fn from_params(p: &AttackParams) -> Result<Self>;

    /// Checks the parameters.
    ///
    /// # Errors
    /// An invalid parameter, named.
    fn validate(&self) -> Result<()>;

    /// Steps per restart (queries for score-based attacks).
    fn steps(&self) -> usize;

    /// Objective gradients one call evaluates per sample (0 for score-based attacks).
    fn gradient_evaluations(&self) -> usize;

    /// The same attack with `steps` steps per restart, for the convergence check.
    fn with_steps(&self, steps: usize) -> AttackSpec;

    /// The random-restart version of this attack with `restarts` restarts, for the restarts
    /// check.
    fn with_restarts(&self, restarts: usize) -> AttackSpec;

    /// The engine configuration when the attack is a preset of [`ProjectedGradient`] (early
    /// stopping and the FGSM memo need it).
    fn engine(&self) -> Option<ProjectedGradient> {
        None
    }
}

/// The random-restart PGD that checks the restarts of attacks with a fixed start: the same
/// steps and step size, `restarts` random starts.
pub(crate) fn pgd_with_restarts(steps: usize, rel_step: f32, restarts: usize) -> AttackSpec {
    crate::PgdConfig {
        steps,
        rel_step,
        restarts,
    }
    .into()
}
