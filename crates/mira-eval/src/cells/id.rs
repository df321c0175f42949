//! What names a cell of any task and fixes its attack's budget.

use mira_attack::Norm;

use crate::Result;
use crate::cells::check_budget;

/// A cell's identity: model and attack names, the threat model's norm and budget, its batch
/// size and seed. Batch `b` holds cases `b·batch_size ..` and draws from a stream derived
/// from `(seed, b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellId<'a> {
    /// The model entry's name.
    pub model: &'a str,
    /// The attack entry's name.
    pub attack: &'a str,
    /// The norm of the budget.
    pub norm: Norm,
    /// The budget ε (for a min-norm cell: the largest it searches).
    pub epsilon: f32,
    /// Cases per batch.
    pub batch_size: usize,
    /// The cell's seed.
    pub seed: u64,
}

impl CellId<'_> {
    /// `model/attack/eps=ε`, as errors and pictures name the cell.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}/eps={}", self.model, self.attack, self.epsilon)
    }

    /// The host-side re-check of case `case`'s adversarial input against its clean input
    /// ([`check_budget`] in this cell's norm and budget): its L∞ and L2 norms.
    ///
    /// # Errors
    /// [`crate::EvalError::BudgetViolation`] naming the cell and case.
    pub(crate) fn check_budget(
        &self,
        adv: &[f32],
        clean: &[f32],
        case: usize,
    ) -> Result<(f64, f64)> {
        check_budget(adv, clean, self.norm, self.epsilon, &self.name(), case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_cell_and_rechecks_its_budget() {
        let id = CellId {
            model: "unet",
            attack: "pgd",
            norm: Norm::Linf,
            epsilon: 0.5,
            batch_size: 4,
            seed: 1,
        };
        assert_eq!(id.name(), "unet/pgd/eps=0.5");
        let (linf, _) = id.check_budget(&[0.5, 0.2], &[0.0, 0.0], 0).unwrap();
        assert!((linf - 0.5).abs() < 1e-9);
        let err = id.check_budget(&[0.9], &[0.0], 3).unwrap_err().to_string();
        assert!(
            err.contains("unet/pgd/eps=0.5") && err.contains('3'),
            "{err}"
        );
    }
}
