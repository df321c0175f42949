//! Percentile bootstrap confidence interval of a mean.

/// SplitMix64: a small, seeded, portable generator (the bootstrap must give the same interval
/// on every machine for the same seed).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // Lemire's multiply-shift; the bias for n ≪ 2^64 is negligible here.
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// The percentile bootstrap interval of the mean of `values` at confidence `level` (e.g.
/// 0.95) from `resamples` resamples with replacement drawn with `seed`: the `(1 - level) / 2`
/// and `(1 + level) / 2` quantiles (NumPy "linear") of the resampled means. `None` for an empty
/// sample, a level outside (0, 1) or no resamples.
pub fn bootstrap_mean_ci(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    if values.is_empty() || !(level > 0.0 && level < 1.0) || resamples == 0 {
        return None;
    }
    let n = values.len();
    let mut rng = SplitMix(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = p * (resamples - 1) as f64;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        means[lo] + (h - lo as f64) * (means[hi] - means[lo])
    };
    Some((q((1.0 - level) / 2.0), q((1.0 + level) / 2.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_mean_and_is_deterministic() {
        let v: Vec<f64> = (0..40)
            .map(|i| (i as f64 * 0.37).sin() * 0.2 + 0.6)
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let (lo, hi) = bootstrap_mean_ci(&v, 0.95, 2000, 7).unwrap();
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        // Width close to the normal approximation 2·1.96·sd/√n (within 25 %).
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        let normal = 2.0 * 1.96 * sd / (v.len() as f64).sqrt();
        assert!(
            ((hi - lo) / normal - 1.0).abs() < 0.25,
            "{} vs {normal}",
            hi - lo
        );
        assert_eq!(bootstrap_mean_ci(&v, 0.95, 2000, 7), Some((lo, hi)));
        assert_eq!(bootstrap_mean_ci(&[0.5; 9], 0.95, 100, 1), Some((0.5, 0.5)));
        assert_eq!(bootstrap_mean_ci(&[], 0.95, 100, 1), None);
        assert_eq!(bootstrap_mean_ci(&v, 1.0, 100, 1), None);
    }
}
