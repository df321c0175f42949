//! Sums over long runs in several independent lanes. A plain `iter().sum()` or `fold` is one
//! chain of dependent additions, so it runs at the adder's latency (unvectorised:
//! floating-point addition is not reassociated for us); the training-mode
//! BatchNorm's moments and gradient sums and the convolutions' bias gradients ran that way,
//! about a tenth of the b3 UNet training step (BENCHMARKS.md). Here `LANES` partial sums are
//! kept side by side, which the compiler turns into vector additions, and combined at the end
//! in a fixed order: the result depends only on the input, not on threads.

#[cfg(target_arch = "x86_64")]
#[path = "lanes_wide.rs"]
mod wide;

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
    shifted_moments_in(v, k, true)
}

/// [`shifted_moments`], on AVX-512 where `wide` and the CPU has it.
fn shifted_moments_in(v: &[f32], k: f64, wide: bool) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; LANES64], [0.0f64; LANES64]);
    let (chunks, tail) = pulp::as_arrays::<LANES64, f32>(v);
    #[cfg(target_arch = "x86_64")]
    let chunks = match pulp::x86::V4::try_new().filter(|_| wide) {
        Some(simd) => {
            (a, b) = simd.vectorize(wide::Moments { simd, chunks, k });
            &[]
        }
        None => chunks,
    };
    let mut add = |c: &[f32]| {
        for ((a, b), &x) in a.iter_mut().zip(b.iter_mut()).zip(c) {
            let d = f64::from(x) - k;
            *a += d;
            *b += d * d;
        }
    };
    chunks.iter().for_each(|c| add(c));
    add(tail);
    (combine(a), combine(b))
}

/// The gradient `g` of `x` as a fused ReLU with `(k, β)` passes it back: `g` where
/// `(x − mean)·k + β > 0` (computed as the forward pass computes it; NaN shuts the gate),
/// else `0`; `g` itself without a ReLU. The scalar form of the gate `lanes_wide.rs` vectorises.
#[inline(always)]
pub(super) fn gated(x: f32, g: f32, mean: f32, relu: Option<(f32, f32)>) -> f32 {
    match relu {
        Some((k, beta)) if (x - mean) * k + beta > 0.0 => g,
        Some(_) => 0.0,
        None => g,
    }
}

/// `(Σ g', Σ g'·(x − mean)·inv)` in f64, in [`LANES64`] lanes (`x̂` rounded to f32 as the
/// normalised output is), with `g' = g`, or with a fused ReLU's `(k, β)` the gradient it
/// passes: `g' = g` where `(x − mean)·k + β > 0`, else `0`.
pub(super) fn grad_sums(
    x: &[f32],
    g: &[f32],
    mean: f32,
    inv: f32,
    relu: Option<(f32, f32)>,
) -> (f64, f64) {
    grad_sums_in(x, g, (mean, inv, relu), true)
}

/// [`grad_sums`], on AVX-512 where `wide` and the CPU has it.
fn grad_sums_in(
    x: &[f32],
    g: &[f32],
    (mean, inv, relu): (f32, f32, Option<(f32, f32)>),
    wide: bool,
) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; LANES64], [0.0f64; LANES64]);
    let n = x.len().min(g.len());
    let (xc, xt) = pulp::as_arrays::<LANES64, f32>(&x[..n]);
    let (gc, gt) = pulp::as_arrays::<LANES64, f32>(&g[..n]);
    #[cfg(target_arch = "x86_64")]
    let (xc, gc) = match pulp::x86::V4::try_new().filter(|_| wide) {
        Some(simd) => {
            let op = wide::GradSums {
                simd,
                x: xc,
                g: gc,
                mean,
                inv,
                relu,
            };
            (a, b) = simd.vectorize(op);
            (&[][..], &[][..])
        }
        None => (xc, gc),
    };
    let mut add = |xs: &[f32], gs: &[f32]| {
        for (((a, b), &x), &g) in a.iter_mut().zip(b.iter_mut()).zip(xs).zip(gs) {
            let g64 = f64::from(gated(x, g, mean, relu));
            *a += g64;
            *b += g64 * f64::from((x - mean) * inv);
        }
    };
    for (xs, gs) in xc.iter().zip(gc) {
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
            let (sg, sgx) = grad_sums(&v, &g, mean, inv, None);
            // A fused ReLU's gate: g where (x − mean)·k + β > 0.
            let (k, beta) = (-1.5f32, 0.2f32);
            let passed = |x: f32, g: f32| if (x - mean) * k + beta > 0.0 { g } else { 0.0 };
            let (rg, rgx) = grad_sums(&v, &g, mean, inv, Some((k, beta)));
            let want_rg: f64 = v
                .iter()
                .zip(&g)
                .map(|(&x, &g)| f64::from(passed(x, g)))
                .sum();
            let want_rgx: f64 = v
                .iter()
                .zip(&g)
                .map(|(&x, &g)| f64::from(passed(x, g)) * f64::from((x - mean) * inv))
                .sum();
            assert!(
                (rg - want_rg).abs() < 1e-9 && (rgx - want_rgx).abs() < 1e-9,
                "gated, n = {n}"
            );
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

    #[test]
    fn the_wide_sums_equal_the_portable_ones_bit_for_bit() {
        // On a CPU without AVX-512 both sides are the portable loop and this holds trivially;
        // CI's and the benchmark machines have it. With ±0, and with NaN gradients where the
        // ReLU's gate is shut (x = −1 with k > 0): the gate must drop them as the scalar `>`
        // does, leaving finite sums.
        let bits = |(a, b): (f64, f64)| (a.to_bits(), b.to_bits());
        for n in [0, 5, 8, 9, 64, 1000, 4099] {
            let mut v = values(n);
            let mut g: Vec<f32> = values(n + 3)[3..].iter().map(|x| x * 3.7 + 1e-3).collect();
            for i in (2..n).step_by(11) {
                (v[i - 1], g[i - 2]) = (-0.0, -0.0);
                (v[i], g[i]) = (-1.0, f32::NAN);
            }
            // k = 0.1 has all 53 bits: (v − k) and its square round.
            for k in [0.0, 0.25, -3.5, 0.1] {
                let (a, b) = (
                    shifted_moments_in(&v, k, true),
                    shifted_moments_in(&v, k, false),
                );
                assert!(a.0.is_finite() && a.1.is_finite());
                assert_eq!(bits(a), bits(b), "moments, n = {n}, k = {k}");
            }
            let g_finite: Vec<f32> = g
                .iter()
                .map(|&g| if g.is_nan() { 0.5 } else { g })
                .collect();
            for relu in [None, Some((1.5f32, -0.1f32)), Some((0.7, 0.05))] {
                let g = if relu.is_some() { &g } else { &g_finite };
                let p = (0.1f32, 2.0f32, relu);
                let (a, b) = (grad_sums_in(&v, g, p, true), grad_sums_in(&v, g, p, false));
                assert!(a.0.is_finite() && a.1.is_finite(), "n = {n}, {relu:?}");
                assert_eq!(bits(a), bits(b), "grad sums, n = {n}, {relu:?}");
            }
        }
    }
}
