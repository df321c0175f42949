//! The attack trait and the serialisable choice of attack.

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::{IfgsmConfig, LpBall, Objective, PgdConfig, ProjectedGradient, Result, fgsm};

/// An attack: maximise `f` inside `ball` around `x0`.
pub trait Attack<const D: usize> {
    /// The adversarial input, inside `ball` (the runner re-checks this independently).
    ///
    /// # Errors
    /// Invalid parameters, or a non-finite objective or gradient.
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>>;
}

/// The gradient attacks of the library, as written in experiment files
/// (`kind = "fgsm" | "ifgsm" | "pgd"` plus the parameters of that kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum AttackSpec {
    /// Fast gradient sign method: one step of size epsilon.
    Fgsm,
    /// Iterative FGSM (basic iterative method).
    Ifgsm(IfgsmConfig),
    /// Projected gradient descent with random start and restarts.
    Pgd(PgdConfig),
}

impl AttackSpec {
    /// The engine configuration of this attack.
    pub fn engine(&self) -> ProjectedGradient {
        match self {
            AttackSpec::Fgsm => fgsm(),
            AttackSpec::Ifgsm(c) => c.engine(),
            AttackSpec::Pgd(c) => c.engine(),
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// An invalid parameter, named.
    pub fn validate(&self) -> Result<()> {
        self.engine().validate()
    }
}
