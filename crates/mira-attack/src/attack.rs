//! The attack trait and the registry of the library's attacks.

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::{
    ApgdConfig, AttackError, AttackInfo, AttackMethod, AttackParams, AutoConfig, FgsmConfig,
    IfgsmConfig, LpBall, MiFgsmConfig, Objective, PgdAdamaxConfig, PgdConfig, ProjectedGradient,
    Result, SpsaConfig, SquareConfig,
};

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

/// Declares the registry once: the [`AttackSpec`] variants, their `kind` names and every
/// dispatch to [`AttackMethod`]. A new attack is its own file plus one line here.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($config:ty),)*) => {
        /// An attack of the library with its parameters, as an experiment entry chose it.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AttackSpec {
            $($(#[$doc])* $variant($config),)*
        }

        /// The `kind` names of the registered attacks, in catalogue order.
        pub const KINDS: &[&str] = &[$(<$config as AttackMethod>::KIND,)*];

        $(impl From<$config> for AttackSpec {
            fn from(c: $config) -> Self {
                AttackSpec::$variant(c)
            }
        })*

        impl AttackSpec {
            /// The attack `kind` names, built from an entry's parameters.
            ///
            /// # Errors
            /// An unknown kind, or a parameter the attack does not take.
            pub fn from_params(kind: &str, p: &AttackParams) -> Result<Self> {
                $(if kind == <$config as AttackMethod>::KIND {
                    return Ok(<$config as AttackMethod>::from_params(p)?.into());
                })*
                Err(AttackError::InvalidParameter {
                    field: "kind",
                    reason: format!("unknown attack `{kind}`, expected one of {KINDS:?}"),
                })
            }

            /// Its `kind` name (the member name in records of composite cells).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(AttackSpec::$variant(_) => <$config as AttackMethod>::KIND,)*
                }
            }

            /// Checks the parameters.
            ///
            /// # Errors
            /// An invalid parameter, named.
            pub fn validate(&self) -> Result<()> {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::validate(c),)*
                }
            }

            /// Objective gradients one call evaluates per sample (0 for score-based attacks).
            pub fn gradient_evaluations(&self) -> usize {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::gradient_evaluations(c),)*
                }
            }

            /// Gradient steps per restart (queries for score-based attacks).
            pub fn steps(&self) -> usize {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::steps(c),)*
                }
            }

            /// The same attack with `steps` steps per restart (FGSM becomes i-FGSM with steps
            /// of ε/4; step sizes relative to ε are kept otherwise), for convergence checks.
            pub fn with_steps(&self, steps: usize) -> AttackSpec {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::with_steps(c, steps),)*
                }
            }

            /// The random-restart version of this attack with `restarts` restarts (attacks
            /// with a fixed start become PGD with their steps and step size), for the restarts
            /// check.
            pub fn with_restarts(&self, restarts: usize) -> AttackSpec {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::with_restarts(c, restarts),)*
                }
            }

            /// The engine configuration of the attacks that are presets of
            /// [`ProjectedGradient`] (`None` for APGD and the score-based attacks, which have
            /// their own loops).
            pub fn engine(&self) -> Option<ProjectedGradient> {
                match self {
                    $(AttackSpec::$variant(c) => AttackMethod::engine(c),)*
                }
            }
        }

        impl<const D: usize> Attack<D> for AttackSpec {
            fn perturb(
                &self,
                f: &dyn Objective<D>,
                x0: Tensor<D>,
                ball: &LpBall<D>,
                rng: &mut StdRng,
            ) -> Result<Tensor<D>> {
                match self {
                    $(AttackSpec::$variant(c) => c.perturb(f, x0, ball, rng),)*
                }
            }
        }

        /// The catalogue entries of the registered attacks, in registry order.
        pub(crate) fn registered() -> Vec<AttackInfo> {
            vec![$(<$config as AttackMethod>::info(),)*]
        }
    };
}

registry! {
    /// Fast gradient sign method: one step of size ε.
    Fgsm(FgsmConfig),
    /// Iterative FGSM (basic iterative method).
    Ifgsm(IfgsmConfig),
    /// Projected gradient descent with random start and restarts.
    Pgd(PgdConfig),
    /// PGD with an Adamax update instead of the sign step (the S4 study's variant).
    PgdAdamax(PgdAdamaxConfig),
    /// Momentum iterative FGSM.
    MiFgsm(MiFgsmConfig),
    /// Auto-PGD (step-size schedule with checkpoints, momentum).
    Apgd(ApgdConfig),
    /// Square Attack (score-based, L∞; objective values only).
    Square(SquareConfig),
    /// AutoAttack-like composite: APGD, then (L∞) the Square Attack; per-sample worst kept.
    Auto(AutoConfig),
    /// SPSA (score-based gradient estimate with Adam; L∞ or L2; objective values only).
    Spsa(SpsaConfig),
}
