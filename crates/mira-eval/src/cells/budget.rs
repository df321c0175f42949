//! The runner's re-check of every adversarial example, the same for every task: the attack's
//! own projection is not trusted.

use mira_attack::Norm;

use crate::{EvalError, Result};

/// The runner's own check of the threat model, on host copies: finite, inside `[0, 1]`,
/// and within the budget in the experiment's norm (relative tolerance 1e-5 for f32). Returns
/// the achieved L∞ and L2 norms. Every task's cells call it on every adversarial example.
///
/// # Errors
/// [`EvalError::BudgetViolation`] naming the cell and case.
pub fn check_budget(
    adv: &[f32],
    clean: &[f32],
    norm: Norm,
    epsilon: f32,
    cell: &str,
    case: usize,
) -> Result<(f64, f64)> {
    let violation = |reason: String| EvalError::BudgetViolation {
        cell: cell.to_string(),
        case,
        reason,
    };
    let (linf, l2) = check_bounds(adv, clean, cell, case)?;
    let measured = match norm {
        Norm::Linf => linf,
        Norm::L2 => l2,
    };
    let eps = epsilon as f64;
    if measured > eps * (1.0 + 1e-5) + 1e-6 {
        return Err(violation(format!(
            "{norm:?} norm {measured} exceeds epsilon {eps}"
        )));
    }
    Ok((linf, l2))
}

/// The part of [`check_budget`] every input shares, attacked or corrupted (a corruption's
/// threat model is its family's parameters, not a ball): finite and inside `[0, 1]`. Returns
/// the L∞ and L2 norms of the change.
///
/// # Errors
/// [`EvalError::BudgetViolation`] naming the cell and case.
pub(crate) fn check_bounds(
    adv: &[f32],
    clean: &[f32],
    cell: &str,
    case: usize,
) -> Result<(f64, f64)> {
    if let Some(v) = adv
        .iter()
        .find(|v| !v.is_finite() || **v < 0.0 || **v > 1.0)
    {
        return Err(EvalError::BudgetViolation {
            cell: cell.to_string(),
            case,
            reason: format!("value {v} outside the bounds [0, 1]"),
        });
    }
    let linf = adv
        .iter()
        .zip(clean)
        .map(|(a, c)| (a - c).abs() as f64)
        .fold(0.0, f64::max);
    let l2 = adv
        .iter()
        .zip(clean)
        .map(|(a, c)| ((a - c) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    Ok((linf, l2))
}

/// The key of a (model, attack) in the runner's FGSM memo.
pub(crate) fn memo_key(model: &str, attack: &str) -> String {
    format!("{model}\u{0}{attack}")
}
