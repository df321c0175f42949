//! Distances between corresponding points: the target registration error (TRE: RMS distance
//! over a grid of mapped points) and the contour error of shape regression (MRSE: mean
//! Euclidean distance between predicted and true contour points).

/// Root mean square Euclidean distance between corresponding points of `a` and `b` (the
/// shorter length counts; 0 for no points). TRE is this over a grid mapped by the predicted
/// and by the true transform.
pub fn rms_distance(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let ss: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2))
        .sum();
    (ss / n as f64).sqrt()
}

/// Mean Euclidean distance between corresponding points of `a` and `b` (the shorter length
/// counts; 0 for no points): the mean radial surface error of a contour.
pub fn mean_distance(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    a.iter()
        .zip(b)
        .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand values: a shift of (3, 4) is 5 everywhere; distances 1 and 3 have RMS √5 and
    /// mean 2.
    /// Two point sets, their RMS distance and their mean distance.
    type Case<'a> = (&'a [[f64; 2]], &'a [[f64; 2]], f64, f64);

    #[test]
    fn distances_match_hand_values() {
        let cases: [Case; 4] = [
            (
                &[[0.0, 0.0], [1.0, 1.0]],
                &[[3.0, 4.0], [4.0, 5.0]],
                5.0,
                5.0,
            ),
            (
                &[[0.0, 0.0], [0.0, 0.0]],
                &[[1.0, 0.0], [0.0, 3.0]],
                5f64.sqrt(),
                2.0,
            ),
            (&[[2.0, 2.0]], &[[2.0, 2.0]], 0.0, 0.0),
            (&[], &[[1.0, 1.0]], 0.0, 0.0),
        ];
        for (a, b, rms, mean) in cases {
            assert!((rms_distance(a, b) - rms).abs() < 1e-12, "{a:?} {b:?}");
            assert!((mean_distance(a, b) - mean).abs() < 1e-12, "{a:?} {b:?}");
        }
    }
}
