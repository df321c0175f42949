//! The area under the ROC curve of a detector: the probability that a positive scores above a
//! negative, ties counting one half (the Mann–Whitney form; equal to scikit-learn's
//! `roc_auc_score`). S4's reconstruction-error OOD detector is judged by it.

/// ROC AUC of scores of `positive` against `negative` cases (NaN when either is empty).
pub fn roc_auc(positive: &[f64], negative: &[f64]) -> f64 {
    if positive.is_empty() || negative.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0;
    for p in positive {
        for n in negative {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positive.len() * negative.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values: scikit-learn 1.9.1 `roc_auc_score(labels, scores)` with the
    /// positives labelled 1.
    #[test]
    fn auc_matches_scikit_learn() {
        let cases: [(&[f64], &[f64], f64); 4] = [
            (&[0.9, 0.8, 0.7], &[0.1, 0.2, 0.3], 1.0),
            (&[0.5, 0.6], &[0.5, 0.7], 0.375),
            (&[1.0, 2.0, 3.0], &[2.0, 2.0, 4.0, 0.0], 0.5),
            (&[0.3], &[0.3], 0.5),
        ];
        for (p, n, want) in cases {
            assert!((roc_auc(p, n) - want).abs() < 1e-12, "{p:?} {n:?}");
        }
        assert!(roc_auc(&[], &[1.0]).is_nan());
    }
}
