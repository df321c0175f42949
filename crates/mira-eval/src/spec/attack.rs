//! What every task's attack entries share: the attack kinds as written in files, the scope
//! of an entry, and the engine-level attack of a kind with its parameters (rejecting those the
//! kind does not have).

use mira_attack::{ApgdConfig, AttackSpec, IfgsmConfig, MiFgsmConfig, PgdConfig, SquareConfig};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// Attack kinds as written in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// FGSM.
    Fgsm,
    /// i-FGSM / BIM.
    Ifgsm,
    /// PGD.
    Pgd,
    /// PGD with an Adamax update (the S4 study's variant).
    #[serde(rename = "pgd_adamax")]
    PgdAdamax,
    /// MI-FGSM (momentum iterative FGSM).
    Mifgsm,
    /// APGD (Auto-PGD, step-size free).
    Apgd,
    /// Square Attack (score-based, L∞).
    Square,
    /// SPSA (score-based gradient estimate, L∞ or L2).
    Spsa,
    /// AutoAttack-like composite: APGD then (L∞) Square, per-case worst kept.
    Auto,
}

/// How an attack uses the sweep's budgets (segmentation and registration files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AttackScope {
    /// Every case attacked at every budget.
    #[default]
    PerImage,
    /// Per case, the smallest budget (up to the sweep's largest ε) that breaks it.
    MinNorm,
}

/// The search of a `min-norm` entry with its optional `steps` / `rel_step` (`None` for other
/// scopes).
pub(crate) fn min_norm_config(
    scope: AttackScope,
    steps: Option<usize>,
    rel_step: Option<f32>,
) -> Option<mira_attack::MinNormConfig> {
    (scope == AttackScope::MinNorm).then(|| {
        let d = mira_attack::MinNormConfig::default();
        mira_attack::MinNormConfig {
            steps: steps.unwrap_or(d.steps),
            rel_step: rel_step.unwrap_or(d.rel_step),
            ..d
        }
    })
}

/// Checks an entry's `early_stop = every` (`field`: the entry, e.g. `attacks[2]`): a
/// per-image projected-gradient attack with one restart, checked every 1..=100000 steps.
///
/// # Errors
/// [`EvalError::InvalidInput`]-style errors naming `FIELD.early_stop`.
pub(crate) fn check_early_stop(field: &str, spec: Option<&AttackSpec>, every: usize) -> Result<()> {
    let engine = spec.and_then(|s| s.engine());
    if engine.is_none_or(|e| e.restarts != 1) {
        return Err(EvalError::invalid(
            format!("{field}.early_stop"),
            "applies to per-image fgsm, ifgsm and pgd with one restart",
        ));
    }
    if every == 0 || every > 100_000 {
        return Err(EvalError::invalid(
            format!("{field}.early_stop"),
            "checks every N steps: N must be in 1..=100000",
        ));
    }
    Ok(())
}

/// The engine-level attack of an entry of any task (`None` for `min-norm` entries, whose
/// search is [`min_norm_config`]); a per-image entry without a kind gets APGD. Rejects
/// parameters the kind (or the search) does not have; `field` prefixes messages.
pub(crate) fn scoped_spec(
    scope: AttackScope,
    kind: Option<AttackKind>,
    steps: Option<usize>,
    rel_step: Option<f32>,
    restarts: Option<usize>,
    queries: Option<usize>,
    field: &str,
) -> Result<Option<AttackSpec>> {
    if scope == AttackScope::MinNorm {
        let bad = |name: &str, present: bool| {
            if present {
                Err(EvalError::invalid(
                    format!("{field}.{name}"),
                    "not a parameter of the min-norm search",
                ))
            } else {
                Ok(())
            }
        };
        bad("kind", kind.is_some())?;
        bad("restarts", restarts.is_some())?;
        bad("queries", queries.is_some())?;
        min_norm_config(scope, steps, rel_step)
            .expect("min-norm scope")
            .validate()
            .map_err(|e| EvalError::invalid(field, e.to_string()))?;
        return Ok(None);
    }
    engine_spec(
        kind.unwrap_or(AttackKind::Apgd),
        steps,
        rel_step,
        restarts,
        queries,
        field,
    )
    .map(Some)
}

/// The engine-level attack of a kind and its optional parameters, rejecting parameters the
/// kind does not have; `field` prefixes messages (`attacks[2]`).
pub(crate) fn engine_spec(
    kind: AttackKind,
    steps: Option<usize>,
    rel_step: Option<f32>,
    restarts: Option<usize>,
    queries: Option<usize>,
    field: &str,
) -> Result<AttackSpec> {
    let reject = |name: &str, present: bool| {
        if present {
            Err(EvalError::invalid(
                format!("{field}.{name}"),
                format!("not a parameter of {kind:?}"),
            ))
        } else {
            Ok(())
        }
    };
    if !matches!(
        kind,
        AttackKind::Square | AttackKind::Spsa | AttackKind::Auto
    ) {
        reject("queries", queries.is_some())?;
    }
    let spec = match kind {
        AttackKind::Fgsm => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            AttackSpec::Fgsm
        }
        AttackKind::Ifgsm => {
            reject("restarts", restarts.is_some())?;
            let d = IfgsmConfig::default();
            AttackSpec::Ifgsm(IfgsmConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
            })
        }
        AttackKind::Pgd => {
            let d = PgdConfig::default();
            AttackSpec::Pgd(PgdConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                restarts: restarts.unwrap_or(d.restarts),
            })
        }
        AttackKind::PgdAdamax => {
            let d = mira_attack::PgdAdamaxConfig::default();
            AttackSpec::PgdAdamax(mira_attack::PgdAdamaxConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                restarts: restarts.unwrap_or(d.restarts),
                ..d
            })
        }
        AttackKind::Mifgsm => {
            reject("restarts", restarts.is_some())?;
            let d = MiFgsmConfig::default();
            AttackSpec::MiFgsm(MiFgsmConfig {
                steps: steps.unwrap_or(d.steps),
                rel_step: rel_step.unwrap_or(d.rel_step),
                decay: d.decay,
            })
        }
        AttackKind::Square => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            let d = SquareConfig::default();
            AttackSpec::Square(SquareConfig {
                queries: queries.unwrap_or(d.queries),
                ..d
            })
        }
        AttackKind::Auto => {
            reject("rel_step", rel_step.is_some())?;
            let d = mira_attack::AutoConfig::default();
            AttackSpec::Auto(mira_attack::AutoConfig {
                apgd_steps: steps.unwrap_or(d.apgd_steps),
                restarts: restarts.unwrap_or(d.restarts),
                square_queries: queries.unwrap_or(d.square_queries),
            })
        }
        AttackKind::Spsa => {
            reject("steps", steps.is_some())?;
            reject("rel_step", rel_step.is_some())?;
            reject("restarts", restarts.is_some())?;
            let d = mira_attack::SpsaConfig::default();
            AttackSpec::Spsa(mira_attack::SpsaConfig {
                queries: queries.unwrap_or(d.queries),
                ..d
            })
        }
        AttackKind::Apgd => {
            reject("rel_step", rel_step.is_some())?;
            let d = ApgdConfig::default();
            AttackSpec::Apgd(ApgdConfig {
                steps: steps.unwrap_or(d.steps),
                restarts: restarts.unwrap_or(d.restarts),
                ..d
            })
        }
    };
    spec.validate()
        .map_err(|e| EvalError::invalid(field, e.to_string()))?;
    Ok(spec)
}
