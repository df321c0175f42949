//! What every task's attack entries share: the attack `kind` as written in files (a name of
//! the registry of `mira-attack`, checked where it is written), the scope of an entry, and the
//! attack an entry's kind and parameters describe (each attack's own file takes the
//! parameters it uses and refuses the rest).

use mira_attack::{AttackError, AttackParams, AttackSpec, KINDS, MinNormConfig};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// An attack `kind` as written in files: a registered attack's name
/// ([`mira_attack::KINDS`]); any other name is an error naming the field and its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AttackKind(String);

impl AttackKind {
    /// The registered attack `name`.
    ///
    /// # Errors
    /// A name that is not registered.
    pub fn new(name: &str) -> Result<Self> {
        if KINDS.contains(&name) {
            Ok(Self(name.to_string()))
        } else {
            Err(EvalError::invalid(
                "kind",
                format!("unknown attack `{name}`, expected one of {KINDS:?}"),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AttackKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if KINDS.contains(&name.as_str()) {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::unknown_variant(&name, KINDS))
        }
    }
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

/// The attack part of an entry of any task: its kind (the task's default when absent) and its
/// parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryAttack<'a> {
    /// The kind given.
    pub kind: Option<&'a AttackKind>,
    /// The task's default kind.
    pub default: &'static str,
    /// The parameters given.
    pub params: AttackParams,
}

impl<'a> EntryAttack<'a> {
    /// The kind, given or default.
    pub fn kind(&self) -> &'a str {
        self.kind.map_or(self.default, AttackKind::as_str)
    }

    /// The attack, validated; `field` prefixes messages (`attacks[2]`).
    ///
    /// # Errors
    /// A parameter the attack does not take (`attacks[2].restarts`), or an invalid value.
    pub fn spec(&self, field: &str) -> Result<AttackSpec> {
        let spec = AttackSpec::from_params(self.kind(), &self.params).map_err(|e| match e {
            AttackError::InvalidParameter { field: p, reason } => {
                EvalError::invalid(format!("{field}.{p}"), reason)
            }
            other => EvalError::invalid(field, other.to_string()),
        })?;
        spec.validate()
            .map_err(|e| EvalError::invalid(field, e.to_string()))?;
        Ok(spec)
    }

    /// The minimum-norm search with its optional `steps` / `rel_step`, refusing the
    /// parameters it does not take; `field` prefixes messages.
    ///
    /// # Errors
    /// A kind, restarts or queries given; an invalid value.
    pub fn min_norm(&self, field: &str) -> Result<MinNormConfig> {
        let bad = |name: &str| {
            EvalError::invalid(
                format!("{field}.{name}"),
                "not a parameter of the min-norm search",
            )
        };
        let p = &self.params;
        if self.kind.is_some() {
            return Err(bad("kind"));
        }
        if p.restarts.is_some() {
            return Err(bad("restarts"));
        }
        if p.queries.is_some() {
            return Err(bad("queries"));
        }
        let cfg = min_norm_config(p.steps, p.rel_step);
        cfg.validate()
            .map_err(|e| EvalError::invalid(field, e.to_string()))?;
        Ok(cfg)
    }
}

/// What an attack entry of any task holds of its attack: its kind and parameters (the four
/// parameter keys every task's entries share).
pub(crate) trait HasAttack {
    /// The kind and parameters given.
    fn attack(&self) -> EntryAttack<'_>;

    /// The attack of an entry of `scope` (`None` for `min-norm`, whose search is checked),
    /// rejecting parameters it does not take; `field` prefixes messages (`attacks[2]`).
    ///
    /// # Errors
    /// A parameter that does not belong to the attack, or an out-of-range value.
    fn scoped_spec(&self, scope: AttackScope, field: &str) -> Result<Option<AttackSpec>> {
        match scope {
            AttackScope::MinNorm => self.attack().min_norm(field).map(|_| None),
            AttackScope::PerImage => self.attack().spec(field).map(Some),
        }
    }

    /// The minimum-norm search of an entry of `scope` (`None` unless `min-norm`).
    fn scoped_min_norm(&self, scope: AttackScope) -> Option<MinNormConfig> {
        let p = self.attack().params;
        (scope == AttackScope::MinNorm).then(|| min_norm_config(p.steps, p.rel_step))
    }
}

/// Implements [`HasAttack`] for an entry type with `kind`, `steps`, `rel_step`, `restarts` and
/// `queries` fields, whose kind defaults to `$default`.
macro_rules! has_attack {
    ($entry:ty, $default:literal) => {
        impl $crate::spec::HasAttack for $entry {
            fn attack(&self) -> $crate::spec::EntryAttack<'_> {
                $crate::spec::EntryAttack {
                    kind: self.kind.as_ref(),
                    default: $default,
                    params: mira_attack::AttackParams {
                        steps: self.steps,
                        rel_step: self.rel_step,
                        restarts: self.restarts,
                        queries: self.queries,
                    },
                }
            }
        }
    };
}
pub(crate) use has_attack;

/// Defines a task's attack entry (`#[serde(deny_unknown_fields)]`, so a misspelt key is an
/// error naming its line): the fields every task shares — `name`, `scope` (of the task's
/// scope type), `kind`, `steps`, `rel_step`, `restarts`, `queries` — then the task's own, and
/// implements [`HasAttack`] with the task's default kind.
macro_rules! attack_entry {
    // Entries scoped `per-image` / `min-norm` also get `kind`, `spec` and `min_norm`.
    (
        $(#[$meta:meta])*
        pub struct $entry:ident(scope: AttackScope, default $default:literal) { $($fields:tt)* }
    ) => {
        $crate::spec::attack_entry! {
            $(#[$meta])*
            pub struct $entry(scope: $crate::spec::AttackScope, default $default) { $($fields)* }
        }

        impl $entry {
            /// The kind of a per-image attack: the one given, or the task's default.
            pub fn kind(&self) -> &str {
                $crate::spec::HasAttack::attack(self).kind()
            }

            /// The attack (`None` for `min-norm` entries), rejecting parameters it does not
            /// take; `field` prefixes messages (`attacks[2]`).
            ///
            /// # Errors
            /// A parameter that does not belong to the attack, or an out-of-range value.
            pub fn spec(&self, field: &str) -> $crate::Result<Option<mira_attack::AttackSpec>> {
                $crate::spec::HasAttack::scoped_spec(self, self.scope, field)
            }

            /// The minimum-norm search of a `min-norm` entry (`None` otherwise).
            pub fn min_norm(&self) -> Option<mira_attack::MinNormConfig> {
                $crate::spec::HasAttack::scoped_min_norm(self, self.scope)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $entry:ident(scope: $scope:ty, default $default:literal) {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $entry {
            /// Name in records and tables.
            pub name: String,
            /// Where the attack applies (the variants of the scope type; per-image by default).
            #[serde(default)]
            pub scope: $scope,
            /// Which attack (`mira attacks` lists them; default
            #[doc = concat!("`", $default, "`).")]
            /// Not given for `min-norm` entries, which have their own search.
            #[serde(default)]
            pub kind: Option<$crate::spec::AttackKind>,
            /// Steps (iterative attacks; min-norm: search steps; universal: passes over the
            /// fitting set).
            #[serde(default)]
            pub steps: Option<usize>,
            /// Step size relative to ε (i-FGSM, PGD, min-norm).
            #[serde(default)]
            pub rel_step: Option<f32>,
            /// Restarts (PGD, APGD).
            #[serde(default)]
            pub restarts: Option<usize>,
            /// Query budget (Square, SPSA).
            #[serde(default)]
            pub queries: Option<usize>,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }
        $crate::spec::has_attack!($entry, $default);
    };
}
pub(crate) use attack_entry;

/// The minimum-norm search with optional `steps` / `rel_step` (the search's defaults else).
pub(crate) fn min_norm_config(steps: Option<usize>, rel_step: Option<f32>) -> MinNormConfig {
    let d = MinNormConfig::default();
    MinNormConfig {
        steps: steps.unwrap_or(d.steps),
        rel_step: rel_step.unwrap_or(d.rel_step),
        ..d
    }
}

/// Checks an entry's `early_stop = every` (`field`: the entry, e.g. `attacks[2]`): a
/// per-image projected-gradient attack with one restart ending at its last iterate, checked
/// every 1..=100000 steps.
///
/// # Errors
/// An invalid-input error naming `FIELD.early_stop`.
pub(crate) fn check_early_stop(field: &str, spec: Option<&AttackSpec>, every: usize) -> Result<()> {
    let engine = spec.and_then(|s| s.engine());
    if engine.is_none_or(|e| e.restarts != 1 || e.best_iterate) {
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
