//! The attack trait and the serialisable choice of attack.

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::{
    ApgdConfig, AutoConfig, IfgsmConfig, LpBall, MiFgsmConfig, Objective, PgdAdamaxConfig,
    PgdConfig, ProjectedGradient, Result, SpsaConfig, SquareConfig, fgsm,
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

/// The gradient attacks of the library, as written in experiment files
/// (`kind = "fgsm" | "ifgsm" | "pgd" | "pgd_adamax" | "mifgsm" | "apgd" | "square" | "spsa" |
/// "auto"` plus its
/// parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum AttackSpec {
    /// Fast gradient sign method: one step of size epsilon.
    Fgsm,
    /// Iterative FGSM (basic iterative method).
    Ifgsm(IfgsmConfig),
    /// Projected gradient descent with random start and restarts.
    Pgd(PgdConfig),
    /// PGD with an Adamax update instead of the sign step (the S4 study's variant).
    #[serde(rename = "pgd_adamax")]
    PgdAdamax(PgdAdamaxConfig),
    /// Momentum iterative FGSM.
    #[serde(rename = "mifgsm")]
    MiFgsm(MiFgsmConfig),
    /// Auto-PGD (step-size schedule with checkpoints, momentum).
    Apgd(ApgdConfig),
    /// Square Attack (score-based, L∞; objective values only).
    Square(SquareConfig),
    /// SPSA (score-based gradient estimate with Adam; L∞ or L2; objective values only).
    Spsa(SpsaConfig),
    /// AutoAttack-like composite: APGD, then (L∞) the Square Attack; per-sample worst kept.
    Auto(AutoConfig),
}

impl AttackSpec {
    /// The engine configuration of the attacks that are presets of [`ProjectedGradient`]
    /// (`None` for MI-FGSM and APGD, which have their own loops).
    pub fn engine(&self) -> Option<ProjectedGradient> {
        match self {
            AttackSpec::Fgsm => Some(fgsm()),
            AttackSpec::Ifgsm(c) => Some(c.engine()),
            AttackSpec::Pgd(c) => Some(c.engine()),
            AttackSpec::MiFgsm(_)
            | AttackSpec::PgdAdamax(_)
            | AttackSpec::Apgd(_)
            | AttackSpec::Square(_)
            | AttackSpec::Spsa(_)
            | AttackSpec::Auto(_) => None,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// An invalid parameter, named.
    pub fn validate(&self) -> Result<()> {
        match self {
            AttackSpec::MiFgsm(c) => c.validate(),
            AttackSpec::PgdAdamax(c) => c.validate(),
            AttackSpec::Apgd(c) => c.validate(),
            AttackSpec::Square(c) => c.validate(),
            AttackSpec::Spsa(c) => c.validate(),
            AttackSpec::Auto(c) => c.validate(),
            other => other.engine().expect("engine preset").validate(),
        }
    }

    /// Objective gradients one call evaluates per sample (0 for the score-based Square Attack).
    pub fn gradient_evaluations(&self) -> usize {
        match self {
            AttackSpec::MiFgsm(c) => c.steps,
            AttackSpec::PgdAdamax(c) => c.steps * c.restarts,
            AttackSpec::Apgd(c) => c.gradient_evaluations(),
            AttackSpec::Square(_) | AttackSpec::Spsa(_) => 0,
            AttackSpec::Auto(c) => c.apgd().gradient_evaluations(),
            other => other
                .engine()
                .expect("engine preset")
                .gradient_evaluations(),
        }
    }

    /// Gradient steps per restart.
    pub fn steps(&self) -> usize {
        match self {
            AttackSpec::Fgsm => 1,
            AttackSpec::Ifgsm(c) => c.steps,
            AttackSpec::Pgd(c) => c.steps,
            AttackSpec::MiFgsm(c) => c.steps,
            AttackSpec::PgdAdamax(c) => c.steps,
            AttackSpec::Apgd(c) => c.steps,
            AttackSpec::Square(c) => c.queries,
            AttackSpec::Spsa(c) => c.iterations(),
            AttackSpec::Auto(c) => c.apgd_steps,
        }
    }

    /// The same attack with `steps` steps per restart (FGSM becomes i-FGSM with steps of
    /// ε/4; step sizes relative to ε are kept otherwise), for convergence checks.
    pub fn with_steps(&self, steps: usize) -> AttackSpec {
        match self {
            AttackSpec::Fgsm => AttackSpec::Ifgsm(IfgsmConfig {
                steps,
                rel_step: 0.25,
            }),
            AttackSpec::Ifgsm(c) => AttackSpec::Ifgsm(IfgsmConfig { steps, ..*c }),
            AttackSpec::Pgd(c) => AttackSpec::Pgd(PgdConfig { steps, ..*c }),
            AttackSpec::MiFgsm(c) => AttackSpec::MiFgsm(MiFgsmConfig { steps, ..*c }),
            AttackSpec::PgdAdamax(c) => AttackSpec::PgdAdamax(PgdAdamaxConfig { steps, ..*c }),
            AttackSpec::Apgd(c) => AttackSpec::Apgd(ApgdConfig { steps, ..*c }),
            AttackSpec::Square(c) => AttackSpec::Square(SquareConfig {
                queries: steps,
                ..*c
            }),
            AttackSpec::Spsa(c) => AttackSpec::Spsa(SpsaConfig {
                queries: steps * 2 * c.samples,
                ..*c
            }),
            AttackSpec::Auto(c) => AttackSpec::Auto(AutoConfig {
                apgd_steps: steps,
                ..*c
            }),
        }
    }

    /// The random-restart version of this attack with `restarts` restarts: PGD and APGD keep
    /// their settings; the others become PGD with the same steps and step size (FGSM: one step
    /// of ε), for the restarts check.
    pub fn with_restarts(&self, restarts: usize) -> AttackSpec {
        let pgd = |steps, rel_step| {
            AttackSpec::Pgd(PgdConfig {
                steps,
                rel_step,
                restarts,
            })
        };
        match self {
            AttackSpec::Fgsm => pgd(1, 1.0),
            AttackSpec::Ifgsm(c) => pgd(c.steps, c.rel_step),
            AttackSpec::MiFgsm(c) => pgd(c.steps, c.rel_step),
            AttackSpec::Pgd(c) => AttackSpec::Pgd(PgdConfig { restarts, ..*c }),
            AttackSpec::PgdAdamax(c) => AttackSpec::PgdAdamax(PgdAdamaxConfig { restarts, ..*c }),
            AttackSpec::Apgd(c) => AttackSpec::Apgd(ApgdConfig { restarts, ..*c }),
            AttackSpec::Square(c) => AttackSpec::Square(*c),
            AttackSpec::Spsa(c) => AttackSpec::Spsa(*c),
            AttackSpec::Auto(c) => AttackSpec::Auto(AutoConfig { restarts, ..*c }),
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
            AttackSpec::MiFgsm(c) => c.perturb(f, x0, ball, rng),
            AttackSpec::PgdAdamax(c) => c.perturb(f, x0, ball, rng),
            AttackSpec::Apgd(c) => c.perturb(f, x0, ball, rng),
            AttackSpec::Square(c) => c.perturb(f, x0, ball, rng),
            AttackSpec::Spsa(c) => c.perturb(f, x0, ball, rng),
            AttackSpec::Auto(c) => c.perturb(f, x0, ball, rng),
            other => other
                .engine()
                .expect("engine preset")
                .perturb(f, x0, ball, rng),
        }
    }
}
