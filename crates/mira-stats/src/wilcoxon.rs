//! Wilcoxon signed-rank test for paired samples, matching `scipy.stats.wilcoxon` defaults.
//!
//! SciPy 1.17 with `zero_method="wilcox"`, `correction=False`, `alternative="two-sided"`,
//! `method="auto"`:
//! - zeros (equal pairs) are dropped from the ranks;
//! - no ties and no zeros and `n <= 50`: exact null distribution of `W+`;
//! - ties or zeros and `n <= 13` (pairs, zeros counted): exact permutation test over all `2^n`
//!   sign flips (what SciPy's `PermutationMethod` does deterministically at that size);
//! - otherwise the normal approximation with the tie correction.
//!
//! The reported statistic is `min(W+, W-)`, as SciPy reports for the two-sided test.

use crate::{Result, StatsError};

/// Which null distribution produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact distribution of `W+` (no ties, no zeros).
    Exact,
    /// Exact enumeration of all sign flips (ties or zeros, small n).
    Permutation,
    /// Normal approximation with tie correction.
    Asymptotic,
}

/// Result of [`wilcoxon_signed_rank`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wilcoxon {
    /// `min(W+, W-)`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Number of non-zero differences that were ranked.
    pub n_ranked: usize,
    /// How the p-value was computed.
    pub method: WilcoxonMethod,
}

/// Two-sided Wilcoxon signed-rank test of `x - y` against a zero median.
///
/// # Errors
/// Length mismatch, non-finite values, or no non-zero difference at all (the test is undefined).
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Result<Wilcoxon> {
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            left: x.len(),
            right: y.len(),
        });
    }
    let mut d = Vec::with_capacity(x.len());
    for (i, (a, b)) in x.iter().zip(y).enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return Err(StatsError::NonFinite { index: i });
        }
        d.push(a - b);
    }
    let n_total = d.len();
    let nonzero: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let n = nonzero.len();
    if n == 0 {
        return Err(StatsError::Empty("all paired differences are zero"));
    }
    let (ranks, tie_sizes) = average_ranks(&nonzero.iter().map(|v| v.abs()).collect::<Vec<_>>());
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = n as f64 * (n as f64 + 1.0) / 2.0;
    let r_minus = total - r_plus;
    let has_ties = tie_sizes.iter().any(|&t| t > 1);
    let has_zeros = n < n_total;

    let (p_value, method) = if !has_ties && !has_zeros && n <= 50 {
        (exact_p(n, r_plus), WilcoxonMethod::Exact)
    } else if n_total <= 13 {
        (
            permutation_p(&nonzero, &ranks, r_plus),
            WilcoxonMethod::Permutation,
        )
    } else {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let tie: f64 = tie_sizes.iter().map(|&t| (t * t * t - t) as f64).sum();
        let se = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie / 2.0) / 24.0).sqrt();
        let z = (r_plus - mean) / se;
        (
            libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0),
            WilcoxonMethod::Asymptotic,
        )
    };
    Ok(Wilcoxon {
        statistic: r_plus.min(r_minus),
        p_value,
        n_ranked: n,
        method,
    })
}

/// Average ranks (1-based) of `v`, and the size of each tie group.
fn average_ranks(v: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = avg;
        }
        ties.push(j - i + 1);
        i = j + 1;
    }
    (ranks, ties)
}

/// Exact two-sided p-value of `W+ = r_plus` under the null (no ties): `2 min(P(W<=r), P(W>=r))`.
fn exact_p(n: usize, r_plus: f64) -> f64 {
    let max = n * (n + 1) / 2;
    // counts[k] = number of subsets of {1..n} summing to k; f64 is exact up to 2^53 > 2^50.
    let mut counts = vec![0.0f64; max + 1];
    counts[0] = 1.0;
    for r in 1..=n {
        for k in (r..=max).rev() {
            counts[k] += counts[k - r];
        }
    }
    let all = 2f64.powi(n as i32);
    let r = r_plus.round() as usize;
    let cdf: f64 = counts[..=r].iter().sum::<f64>() / all;
    let sf: f64 = counts[r..].iter().sum::<f64>() / all;
    (2.0 * cdf.min(sf)).min(1.0)
}

/// Two-sided p-value from all `2^n` sign assignments of the ranked differences.
fn permutation_p(nonzero: &[f64], ranks: &[f64], r_plus: f64) -> f64 {
    let n = nonzero.len();
    let gamma = (r_plus.abs() * 1e-14).max(1e-12);
    let (mut le, mut ge) = (0u64, 0u64);
    for mask in 0u64..(1u64 << n) {
        let s: f64 = (0..n)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| ranks[i])
            .sum();
        le += u64::from(s <= r_plus + gamma);
        ge += u64::from(s >= r_plus - gamma);
    }
    let all = (1u64 << n) as f64;
    (2.0 * (le as f64 / all).min(ge as f64 / all)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from SciPy 1.17.1, `scipy.stats.wilcoxon(x, y)` with its defaults
    /// (run on this machine; printed with repr()).
    fn check(x: &[f64], y: &[f64], stat: f64, p: f64, method: WilcoxonMethod) {
        let w = wilcoxon_signed_rank(x, y).unwrap();
        assert_eq!(w.method, method);
        assert!(
            (w.statistic - stat).abs() < 1e-9,
            "statistic {} vs {stat}",
            w.statistic
        );
        assert!(
            (w.p_value - p).abs() < 1e-12 * p.max(1.0) + 1e-15,
            "p {} vs {p}",
            w.p_value
        );
    }

    #[test]
    fn exact_without_ties() {
        let x = [0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.77, 0.88];
        let y = [0.5, 0.82, 0.4, 0.3, 0.6, 0.65, 0.2, 0.1];
        check(&x, &y, 3.0, 0.0390625, WilcoxonMethod::Exact);
        let x: Vec<f64> = (0..10).map(|i| i as f64 * 0.1 + 0.05).collect();
        check(&x, &[0.0; 10], 0.0, 0.001953125, WilcoxonMethod::Exact);
    }

    #[test]
    fn ties_and_zeros_use_the_permutation_distribution() {
        let x = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
        let y = [0., 0., 1., 2., 2., 7., 5., 9., 7., 8., 12., 10.];
        check(&x, &y, 7.5, 0.00732421875, WilcoxonMethod::Permutation);
        let x = [1., 2., 3., 4., 5., 6., 7., 8.];
        let y = [1., 2., 2., 2., 3., 3., 4., 9.];
        check(&x, &y, 1.5, 0.09375, WilcoxonMethod::Permutation);
    }

    #[test]
    fn large_samples_use_the_normal_approximation() {
        // x ~ N(0.3, 1), y ~ N(0, 1), numpy default_rng(3), 60 pairs, rounded to 6 decimals.
        let x = [
            2.340919, -2.255665, 0.718099, -0.26777, -0.152649, 0.084403, -1.719986, 0.068068,
            -0.565213, 3.623, 0.525787, -0.052631, 0.018713, -0.368046, -0.755151, -0.090801,
            0.781945, 0.061446, 1.257759, 0.100198, 0.32426, 1.845821, 0.845106, -0.205229,
            0.117161, 0.840525, 2.235088, 0.03038, 0.056441, 1.302314, -0.58646, 0.00828, 1.182539,
            0.88035, 0.391517, 0.970104, -2.528162, 1.321307, -0.659645, -1.36862, 0.576446,
            1.000545, -0.144767, -0.776406, 0.326125, 0.247253, 1.705598, 1.047408, 0.493816,
            1.411633, 0.094477, -0.6259, 0.884058, 0.882538, 0.085171, -0.482809, 0.529154,
            -2.193894, 0.990125, 0.791368,
        ];
        let y = [
            -1.638857, 0.061354, -0.9641, 0.757221, -2.034167, -0.914495, 0.70958, 1.156401,
            -2.158005, -0.49804, 0.32802, -0.609216, 1.59064, -1.191227, 0.354532, -1.048406,
            1.405963, -0.021651, -0.372251, -1.718185, 1.681826, 0.752779, 0.753564, 1.137881,
            0.349227, -0.639247, -0.800241, -0.8002, 1.370072, -1.460381, -0.59637, -0.321244,
            0.224619, 0.575349, -1.249097, -1.730013, -0.004414, 1.213564, 0.757058, 0.215651,
            -0.317156, 0.293234, -0.243335, 0.817207, -0.794447, 0.13424, -0.11078, 0.543359,
            0.224639, 2.550035, 1.498655, 1.496737, -2.039504, -0.340317, -0.608611, 0.532722,
            -2.279026, 1.174499, 1.066983, -1.302071,
        ];
        let w = wilcoxon_signed_rank(&x, &y).unwrap();
        assert_eq!(w.method, WilcoxonMethod::Asymptotic);
        assert_eq!(w.statistic, 707.0);
        assert!(
            (w.p_value - 0.12571665407622143).abs() < 1e-9,
            "{}",
            w.p_value
        );
    }

    #[test]
    fn undefined_and_bad_inputs_are_errors() {
        assert!(matches!(
            wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]),
            Err(StatsError::Empty(_))
        ));
        assert!(matches!(
            wilcoxon_signed_rank(&[1.0, f64::NAN], &[0.0, 0.0]),
            Err(StatsError::NonFinite { index: 1 })
        ));
        assert!(matches!(
            wilcoxon_signed_rank(&[1.0], &[]),
            Err(StatsError::LengthMismatch { .. })
        ));
    }
}
