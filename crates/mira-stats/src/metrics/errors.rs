//! Errors of scalar predictions (brain age): mean absolute error and mean signed error.

/// Mean absolute error of `pred` against `truth` (the shorter length counts; NaN for none).
pub fn mean_absolute_error(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / n as f64
}

/// Mean signed error `pred − truth` (the shorter length counts; NaN for none).
pub fn mean_signed_error(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    pred.iter().zip(truth).map(|(p, t)| p - t).sum::<f64>() / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand values.
    #[test]
    fn errors_match_hand_values() {
        let cases: [(&[f64], &[f64], f64, f64); 3] = [
            (&[50.0, 60.0, 70.0], &[55.0, 60.0, 62.0], 13.0 / 3.0, 1.0),
            (&[1.0], &[1.0], 0.0, 0.0),
            (&[-2.0, 2.0], &[0.0, 0.0], 2.0, 0.0),
        ];
        for (p, t, mae, mse) in cases {
            assert!((mean_absolute_error(p, t) - mae).abs() < 1e-12, "{p:?}");
            assert!((mean_signed_error(p, t) - mse).abs() < 1e-12, "{p:?}");
        }
        assert!(mean_absolute_error(&[], &[]).is_nan());
    }
}
