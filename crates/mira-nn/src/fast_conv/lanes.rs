//! Sums over long runs in several independent lanes. A plain `iter().sum()` or `fold` is one
//! chain of dependent additions, so it runs at the adder's latency (unvectorised:
//! floating-point addition is not reassociated for us); the training-mode
//! BatchNorm's moments and gradient sums and the convolutions' bias gradients ran that way,
//! about a tenth of the b3 UNet training step (BENCHMARKS.md). Here `LANES` partial sums are
//! kept side by side, which the compiler turns into vector additions, and combined at the end
//! in a fixed order: the result depends only on the input, not on threads.

/// Lanes of the `f32` sum (four 128-bit vectors on the baseline x86-64 target).
const LANES: usize = 16;

/// Lanes of the `f64` sums.
const LANES64: usize = 8;

/// `Σ v`, in [`LANES`] lanes.
pub(super) fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    for (a, x) in acc.iter_mut().zip(tail) {
        *a += x;
    }
    combine(acc)
}

/// `(Σ (v − k), Σ (v − k)²)` in f64, in [`LANES64`] lanes.
pub(super) fn shifted_moments(v: &[f32], k: f64) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; LANES64], [0.0f64; LANES64]);
    let chunks = v.chunks_exact(LANES64);
    let tail = chunks.remainder();
    let mut add = |c: &[f32]| {
        for ((a, b), &x) in a.iter_mut().zip(b.iter_mut()).zip(c) {
            let d = f64::from(x) - k;
            *a += d;
            *b += d * d;
        }
    };
    chunks.for_each(&mut add);
    add(tail);
    (combine(a), combine(b))
}

/// `(Σ g, Σ g·(x − mean)·inv)` in f64, in [`LANES64`] lanes (`x̂` rounded to f32 as the
/// normalised output is).
pub(super) fn grad_sums(x: &[f32], g: &[f32], mean: f32, inv: f32) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; LANES64], [0.0f64; LANES64]);
    let (xc, gc) = (x.chunks_exact(LANES64), g.chunks_exact(LANES64));
    let (xt, gt) = (xc.remainder(), gc.remainder());
    let mut add = |xs: &[f32], gs: &[f32]| {
        for (((a, b), &x), &g) in a.iter_mut().zip(b.iter_mut()).zip(xs).zip(gs) {
            let g64 = f64::from(g);
            *a += g64;
            *b += g64 * f64::from((x - mean) * inv);
        }
    };
    for (xs, gs) in xc.zip(gc) {
        add(xs, gs);
    }
    add(xt, gt);
    (combine(a), combine(b))
}

/// The lanes added pairwise, in a fixed order (`N` a power of two).
fn combine<T: Copy + std::ops::AddAssign, const N: usize>(mut acc: [T; N]) -> T {
    let mut n = N;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            let v = acc[i + n];
            acc[i] += v;
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect()
    }

    #[test]
    fn lane_sums_equal_f64_sums_for_every_tail_length() {
        for n in [0, 1, 7, 8, 15, 16, 17, 100, 1000, 4099] {
            let v = values(n);
            let g: Vec<f32> = values(n + 3)[3..].to_vec();
            let want: f64 = v.iter().map(|&x| f64::from(x)).sum();
            assert!((f64::from(sum(&v)) - want).abs() < 1e-4, "sum, n = {n}");
            let k = 0.25;
            let (a, b) = shifted_moments(&v, k);
            let d: Vec<f64> = v.iter().map(|&x| f64::from(x) - k).collect();
            assert!((a - d.iter().sum::<f64>()).abs() < 1e-9, "Σd, n = {n}");
            assert!(
                (b - d.iter().map(|d| d * d).sum::<f64>()).abs() < 1e-9,
                "Σd², n = {n}"
            );
            let (mean, inv) = (0.1f32, 2.0f32);
            let (sg, sgx) = grad_sums(&v, &g, mean, inv);
            let want_sg: f64 = g.iter().map(|&x| f64::from(x)).sum();
            let want_sgx: f64 = v
                .iter()
                .zip(&g)
                .map(|(&x, &g)| f64::from(g) * f64::from((x - mean) * inv))
                .sum();
            assert!(
                (sg - want_sg).abs() < 1e-9 && (sgx - want_sgx).abs() < 1e-9,
                "n = {n}"
            );
        }
    }
}
