//! Dice similarity coefficient per label.

use crate::{Result, StatsError};

/// Options for [`dice_per_label`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiceOptions {
    /// Number of labels, background (0) included.
    pub n_labels: usize,
    /// Whether label 0 gets a score too. Off by default, as in BraTS-style reporting.
    pub include_background: bool,
}

impl DiceOptions {
    /// Background excluded.
    pub fn new(n_labels: usize) -> Self {
        Self {
            n_labels,
            include_background: false,
        }
    }
}

/// Dice `2|P∩T| / (|P| + |T|)` for each label of a pair of label maps.
///
/// Returns one entry per reported label (labels `1..n` by default, `0..n` with background);
/// `None` where both the prediction and the truth are empty for that label: the overlap is
/// undefined there and such cases are skipped in means ([`mean_defined`]).
///
/// # Errors
/// Length mismatch, or a label value `>= n_labels`.
pub fn dice_per_label(pred: &[u8], truth: &[u8], opts: DiceOptions) -> Result<Vec<Option<f64>>> {
    if pred.len() != truth.len() {
        return Err(StatsError::LengthMismatch {
            left: pred.len(),
            right: truth.len(),
        });
    }
    let n = opts.n_labels;
    let mut inter = vec![0u64; n];
    let mut np = vec![0u64; n];
    let mut nt = vec![0u64; n];
    for (i, (&p, &t)) in pred.iter().zip(truth).enumerate() {
        for label in [p, t] {
            if label as usize >= n {
                return Err(StatsError::LabelOutOfRange {
                    label,
                    index: i,
                    n_labels: n,
                });
            }
        }
        np[p as usize] += 1;
        nt[t as usize] += 1;
        if p == t {
            inter[p as usize] += 1;
        }
    }
    let first = if opts.include_background { 0 } else { 1 };
    Ok((first..n)
        .map(|l| {
            let denom = np[l] + nt[l];
            (denom > 0).then(|| 2.0 * inter[l] as f64 / denom as f64)
        })
        .collect())
}

/// Mean of the defined entries, `None` when there are none.
pub fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
}

/// Means of two label vectors over the labels defined in **both** (`None` when there is no
/// such label): the paired per-case scores of a case seen twice (clean and attacked, or two
/// models), so that both sides average the same labels.
pub fn paired_means(a: &[Option<f64>], b: &[Option<f64>]) -> Option<(f64, f64)> {
    let both: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
        .collect();
    let n = both.len() as f64;
    (!both.is_empty()).then(|| {
        (
            both.iter().map(|p| p.0).sum::<f64>() / n,
            both.iter().map(|p| p.1).sum::<f64>() / n,
        )
    })
}

/// Dice of two binary masks of equal length (nonzero = inside; 1 when both are empty): the
/// overlap of a predicted and a true polygon, rasterised.
pub fn mask_dice(a: &[u8], b: &[u8]) -> f64 {
    let (mut inter, mut sum) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        inter += usize::from(*x > 0 && *y > 0);
        sum += usize::from(*x > 0) + usize::from(*y > 0);
    }
    if sum == 0 {
        1.0
    } else {
        2.0 * inter as f64 / sum as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_means_use_labels_defined_on_both_sides() {
        let a = [Some(0.8), Some(0.0), None];
        let b = [Some(0.4), None, Some(0.9)];
        assert_eq!(paired_means(&a, &b), Some((0.8, 0.4)));
        assert_eq!(paired_means(&[None], &[Some(1.0)]), None);
    }

    fn check(pred: &[u8], truth: &[u8], n: usize, expected: &[Option<f64>]) {
        let got = dice_per_label(pred, truth, DiceOptions::new(n)).unwrap();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            match (g, e) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-12, "{g} vs {e}"),
                (None, None) => {}
                _ => panic!("{got:?} vs {expected:?}"),
            }
        }
    }

    #[test]
    fn hand_computed_cases() {
        // Label 1: pred {0,1}, truth {1,2}: 2*1/(2+2) = 0.5. Label 2: pred {2}, truth {} -> 0.
        check(&[1, 1, 2, 0], &[0, 1, 1, 0], 3, &[Some(0.5), Some(0.0)]);
        // Perfect overlap; label 2 absent from both -> undefined.
        check(&[1, 0, 1], &[1, 0, 1], 3, &[Some(1.0), None]);
        // Label 1: |P|=3, |T|=1, overlap 1 -> 2/4.
        check(&[1, 1, 1, 0], &[1, 0, 0, 0], 2, &[Some(0.5)]);
    }

    #[test]
    fn background_is_optional() {
        let opts = DiceOptions {
            n_labels: 2,
            include_background: true,
        };
        let got = dice_per_label(&[0, 0, 1], &[0, 1, 1], opts).unwrap();
        // Background: 2*1/(2+1); label 1: 2*1/(1+2).
        assert!((got[0].unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((got[1].unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        let e = dice_per_label(&[0, 1], &[0], DiceOptions::new(2)).unwrap_err();
        assert_eq!(e, StatsError::LengthMismatch { left: 2, right: 1 });
        let e = dice_per_label(&[0, 5], &[0, 1], DiceOptions::new(4)).unwrap_err();
        assert!(matches!(
            e,
            StatsError::LabelOutOfRange {
                label: 5,
                index: 1,
                ..
            }
        ));
    }

    #[test]
    fn mean_skips_undefined() {
        assert_eq!(mean_defined(&[Some(1.0), None, Some(0.0)]), Some(0.5));
        assert_eq!(mean_defined(&[None, None]), None);
    }

    /// Hand values of the binary-mask Dice.
    #[test]
    fn mask_dice_matches_hand_values() {
        let cases: [(&[u8], &[u8], f64); 4] = [
            (&[1, 1, 0, 0], &[1, 0, 0, 0], 2.0 / 3.0),
            (&[0, 0], &[0, 0], 1.0),
            (&[1, 0], &[0, 1], 0.0),
            (&[2, 1, 1], &[1, 1, 1], 1.0),
        ];
        for (a, b, want) in cases {
            assert!((mask_dice(a, b) - want).abs() < 1e-12, "{a:?} {b:?}");
        }
    }
}
