//! The f64 lane sums of `lanes.rs` on AVX-512, for CPUs that have it (`pulp`'s V4, found at
//! run time): the eight lanes are one 512-bit register, each lane adding the same values in
//! the same order as the portable loop (the f32 steps as f32, then widened; products and
//! sums as separate roundings, no fused multiply-add), so the results are bit-identical. Why:
//! the portable loop compiles to 128-bit instructions (the lanes are written element by
//! element) and ran at about half the memory's speed — the training-mode BatchNorm's two
//! reductions were a tenth of the b3 UNet training step (BENCHMARKS.md).

use pulp::f32x8;
use pulp::x86::V4;

use super::LANES64;

/// `(Σ (v − k), Σ (v − k)²)` lane by lane over whole chunks.
pub(super) struct Moments<'a> {
    pub simd: V4,
    pub chunks: &'a [[f32; LANES64]],
    pub k: f64,
}

impl pulp::NullaryFnOnce for Moments<'_> {
    type Output = ([f64; LANES64], [f64; LANES64]);

    #[inline(always)]
    fn call(self) -> Self::Output {
        let s = self.simd;
        let k = s.splat_f64x8(self.k);
        let (mut a, mut b) = (s.splat_f64x8(0.0), s.splat_f64x8(0.0));
        for c in self.chunks {
            let x: f32x8 = pulp::cast(*c);
            let d = s.sub_f64x8(s.convert_f32x8_to_f64x8(x), k);
            a = s.add_f64x8(a, d);
            b = s.add_f64x8(b, s.mul_f64x8(d, d));
        }
        (pulp::cast(a), pulp::cast(b))
    }
}

/// `(Σ g', Σ g'·x̂)` lane by lane over whole chunks (`g'` as `lanes::grad_sums` gates it).
pub(super) struct GradSums<'a> {
    pub simd: V4,
    pub x: &'a [[f32; LANES64]],
    pub g: &'a [[f32; LANES64]],
    pub mean: f32,
    pub inv: f32,
    pub relu: Option<(f32, f32)>,
}

impl pulp::NullaryFnOnce for GradSums<'_> {
    type Output = ([f64; LANES64], [f64; LANES64]);

    #[inline(always)]
    fn call(self) -> Self::Output {
        let s = self.simd;
        let (mean, inv) = (s.splat_f32x8(self.mean), s.splat_f32x8(self.inv));
        let zero = s.splat_f32x8(0.0);
        let (mut a, mut b) = (s.splat_f64x8(0.0), s.splat_f64x8(0.0));
        let mut add = |d: f32x8, g: f32x8| {
            let g = s.convert_f32x8_to_f64x8(g);
            a = s.add_f64x8(a, g);
            b = s.add_f64x8(
                b,
                s.mul_f64x8(g, s.convert_f32x8_to_f64x8(s.mul_f32x8(d, inv))),
            );
        };
        match self.relu {
            None => {
                for (x, g) in self.x.iter().zip(self.g) {
                    add(s.sub_f32x8(pulp::cast(*x), mean), pulp::cast(*g));
                }
            }
            Some((k, beta)) => {
                let (k, beta) = (s.splat_f32x8(k), s.splat_f32x8(beta));
                for (x, g) in self.x.iter().zip(self.g) {
                    let d = s.sub_f32x8(pulp::cast(*x), mean);
                    let pass = s.cmp_gt_f32x8(s.add_f32x8(s.mul_f32x8(d, k), beta), zero);
                    add(d, s.select_f32x8(pass, pulp::cast(*g), zero));
                }
            }
        }
        (pulp::cast(a), pulp::cast(b))
    }
}
