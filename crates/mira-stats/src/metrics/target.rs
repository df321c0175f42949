//! How far a targeted attack got: agreement with the target where the target differs from the
//! truth.

use crate::{Result, StatsError};

/// Fraction of the pixels the goal changes (`target != truth`) on which `pred` equals the
/// target. `None` when the target equals the truth everywhere (nothing to achieve, e.g. a
/// "remove the tumour" goal on a slice without tumour).
///
/// This is the success measure of targeted segmentation attacks: a Dice to the whole target
/// map is dominated by the pixels the attack is not asked to change, so it barely moves even
/// when the attack succeeds on the lesion.
///
/// # Errors
/// The three maps differ in length.
pub fn target_agreement(pred: &[u8], truth: &[u8], target: &[u8]) -> Result<Option<f64>> {
    if pred.len() != truth.len() || truth.len() != target.len() {
        return Err(StatsError::LengthMismatch {
            left: pred.len(),
            right: if pred.len() != truth.len() {
                truth.len()
            } else {
                target.len()
            },
        });
    }
    let (mut changed, mut hit) = (0usize, 0usize);
    for ((&p, &g), &t) in pred.iter().zip(truth).zip(target) {
        if g != t {
            changed += 1;
            hit += usize::from(p == t);
        }
    }
    Ok((changed > 0).then(|| hit as f64 / changed as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_pixels_the_goal_changes() {
        // truth:  0 1 1 2 3 0 ; target removes the tumour (all 0).
        // pred:   0 0 1 0 3 1 ; changed pixels are indices 1..=4 (4 of them); the prediction
        // equals the target (0) at indices 1 and 3 → 2/4. Index 5 (pred 1 on background)
        // is not a changed pixel and does not count.
        let truth = [0, 1, 1, 2, 3, 0];
        let target = [0; 6];
        let pred = [0, 0, 1, 0, 3, 1];
        assert_eq!(target_agreement(&pred, &truth, &target), Ok(Some(0.5)));
        assert_eq!(target_agreement(&target, &truth, &target), Ok(Some(1.0)));
        assert_eq!(target_agreement(&truth, &truth, &target), Ok(Some(0.0)));
    }

    #[test]
    fn undefined_when_nothing_changes_and_lengths_checked() {
        assert_eq!(target_agreement(&[1, 0], &[0, 0], &[0, 0]), Ok(None));
        assert!(target_agreement(&[1, 0], &[0, 0], &[0]).is_err());
    }
}
