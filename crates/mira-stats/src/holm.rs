//! Holm's step-down correction for multiple comparisons.

/// Holm-adjusted p-values, in the order given.
///
/// Sort ascending, multiply the k-th smallest (0-based) by `m - k`, enforce monotonicity with
/// a running maximum, cap at 1 (Holm 1979; the same as `statsmodels.stats.multitest.multipletests(p,
/// method="holm")`). NaN p-values (tests that could not be run) stay NaN and do not count in `m`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = order.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        let adj = ((m - k) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::holm;

    #[test]
    fn matches_statsmodels() {
        // Hand-computed: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06,
        // 0.04*1 = 0.04 -> running max 0.06; back in input order [0.03, 0.06, 0.06, 0.02].
        let got = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn caps_at_one_and_keeps_nan() {
        let got = holm(&[0.5, f64::NAN, 0.9]);
        assert_eq!(got[0], 1.0);
        assert!(got[1].is_nan());
        assert_eq!(got[2], 1.0);
    }
}
