//! Checks of values every experiment file has in some form: its model and attack lists, its
//! `[training]` section, its budgets.

use crate::spec::check_unique_names;
use crate::{EvalError, Result};

/// A list of named entries (`models`, `attacks`): at least one, every name valid, none
/// repeated.
pub(crate) fn check_list(list: &str, names: &[&str]) -> Result<()> {
    if names.is_empty() {
        let one = list.strip_suffix('s').unwrap_or(list);
        return Err(EvalError::invalid(
            list,
            format!("at least one {one} is needed"),
        ));
    }
    check_unique_names(list, names)
}

/// The `[training]` section, checked when a model is to be trained (one without a
/// checkpoint); its error is reported under `training`.
pub(crate) fn check_training<E: std::fmt::Display>(
    needed: bool,
    validate: impl FnOnce() -> std::result::Result<(), E>,
) -> Result<()> {
    if needed {
        validate().map_err(|e| EvalError::invalid("training", e.to_string()))?;
    }
    Ok(())
}

/// An entry's budgets: at least one, each finite and > 0, strictly increasing.
pub(crate) fn check_budgets(field: &str, epsilons: &[f32]) -> Result<()> {
    if epsilons.is_empty() || epsilons.iter().any(|e| !e.is_finite() || *e <= 0.0) {
        return Err(EvalError::invalid(field, "need at least one finite ε > 0"));
    }
    if epsilons.windows(2).any(|w| w[0] >= w[1]) {
        return Err(EvalError::invalid(field, "must be strictly increasing"));
    }
    Ok(())
}

/// A min-norm entry (`{entry}.scope`) searches up to the sweep's largest ε, which must be > 0.
pub(crate) fn check_min_norm_reach(entry: &str, sweep: &[f32]) -> Result<()> {
    if !sweep.iter().any(|e| *e > 0.0) {
        return Err(EvalError::invalid(
            format!("{entry}.scope"),
            "min-norm searches up to the sweep's largest ε, which must be > 0",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_budgets_and_training_are_checked() {
        assert!(check_list("models", &["a", "b"]).is_ok());
        let empty = check_list("attacks", &[]).unwrap_err().to_string();
        assert!(
            empty.contains("attacks") && empty.contains("one attack"),
            "{empty}"
        );
        assert!(check_list("models", &["a", "a"]).is_err());
        assert!(check_budgets("e", &[0.01, 0.02]).is_ok());
        for bad in [&[][..], &[0.0], &[f32::NAN], &[0.02, 0.01], &[0.01, 0.01]] {
            assert!(check_budgets("e", bad).is_err(), "{bad:?}");
        }
        assert!(check_training(false, || Err("bad")).is_ok());
        let e = check_training(true, || Err("steps must be > 0")).unwrap_err();
        assert!(e.to_string().contains("training"), "{e}");
        assert!(check_min_norm_reach("attacks[0]", &[0.0, 0.1]).is_ok());
        assert!(check_min_norm_reach("attacks[0]", &[0.0]).is_err());
    }
}
