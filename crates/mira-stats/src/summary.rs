//! Descriptive summaries: mean, median, quartiles.

use serde::Serialize;

/// Mean, median and interquartile range of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values summarised.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (the 0.5 quantile).
    pub median: f64,
    /// First quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
}

impl Summary {
    /// Summary of the finite values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Self {
            n: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            median: quantile_sorted(&v, 0.5),
            q1: quantile_sorted(&v, 0.25),
            q3: quantile_sorted(&v, 0.75),
        })
    }

    /// `q3 - q1`.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }
}

/// Quantile with linear interpolation between order statistics (NumPy's default, "linear").
/// `None` for an empty sample or `q` outside `[0, 1]`.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(quantile_sorted(&v, q))
}

fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_quantiles() {
        // numpy 2.x: np.quantile([1,2,3,4,10], [.25,.5,.75]) -> [2, 3, 4]
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 10.0]).unwrap();
        assert_eq!((s.q1, s.median, s.q3, s.mean), (2.0, 3.0, 4.0, 4.0));
        // np.quantile([3, 1, 2, 7.5], [.25,.5,.75]) -> [1.75, 2.5, 4.125]
        let s = Summary::of(&[3.0, 1.0, 2.0, 7.5]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 4.125));
        assert_eq!(s.iqr(), 2.375);
    }

    #[test]
    fn empty_and_non_finite() {
        assert!(Summary::of(&[]).is_none());
        assert_eq!(Summary::of(&[f64::NAN, 2.0]).unwrap().n, 1);
        assert_eq!(quantile(&[1.0], 1.5), None);
    }
}
