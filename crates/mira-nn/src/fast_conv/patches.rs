//! The forward pass of a transposed convolution whose kernel tiles its output without overlap:
//! stride equal to the kernel, no padding, dilation 1 (the UNet's 2×2 stride-2 up-sampling).
//!
//! Such a transposed convolution is the input gradient of a convolution whose im2col matrix is
//! a permutation of its input: every output voxel receives at most one product. The general
//! path ([`kernel::input_grad`](super::kernel::input_grad) then `add_bias`) zeroes the output,
//! adds the GEMM's columns into it (col2im) and adds the bias in a third pass; here the GEMM's
//! columns are written once, bias included, and the voxels no tap reaches (those past the
//! last whole patch, where output padding made the output larger) get the bias alone. The
//! values are the general path's bit for bit: `(0 + v) + b` where it computes `0 + v` then
//! adds `b`, and `0 + b` where nothing was added (test below). In an S1 sweep the general
//! path's fill, col2im and bias passes were ~2 % of the profile.

use super::geom::ConvGeom;
use super::kernel::{per_image, tile_columns, tiles};

/// Whether [`adjoint_with_bias`] computes the adjoint of the convolution `g`: stride equal to
/// the kernel along every axis, no padding, dilation 1.
pub(super) fn applies(g: &ConvGeom) -> bool {
    g.stride == g.kernel && g.pad == [0; 3] && g.dilation == [1; 3] && !g.pointwise()
}

/// `dx = (∂⟨conv(x, w), dout⟩/∂x) + bias` (per input channel) for a geometry where
/// [`applies`] holds: the transposed convolution of `dout` with `w`, plus `bias`. Shapes as
/// [`kernel::input_grad`](super::kernel::input_grad); `bias` has `cin` values; every value of
/// `dx` is written.
pub(super) fn adjoint_with_bias(
    g: &ConvGeom,
    dout: &[f32],
    w: &[f32],
    bias: &[f32],
    dx: &mut [f32],
) {
    debug_assert!(applies(g));
    debug_assert_eq!(bias.len(), g.cin);
    let (in_img, out_img, _, _) = g.sizes();
    let items: Vec<_> = dx.chunks_mut(in_img).zip(dout.chunks(out_img)).collect();
    per_image(items, |(dx, dout), scratch, par| {
        for (l0, l1) in tiles(g) {
            // The GEMM of the general path (input_grad's), then the columns placed.
            let col = tile_columns(g, w, dout, (l0, l1), scratch, par);
            pulp::Arch::new().dispatch(Scatter {
                g,
                col,
                tile: (l0, l1),
                bias,
                dx: &mut *dx,
            });
        }
        uncovered(g, bias, dx);
    });
}

/// One tile's columns written to their voxels with the bias, as a [`pulp::WithSimd`] (compiled
/// for the CPU's widest vector extension, as im2col's lines).
struct Scatter<'a> {
    g: &'a ConvGeom,
    col: &'a [f32],
    tile: (usize, usize),
    bias: &'a [f32],
    dx: &'a mut [f32],
}

impl pulp::WithSimd for Scatter<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            g,
            col,
            tile: (l0, l1),
            bias,
            dx,
        } = self;
        let [kd_n, kh_n, kw_n] = g.kernel;
        let [_, oh_n, ow] = g.output;
        let [_, ih_n, iw] = g.input;
        let n = (l1 - l0) * ow;
        let plane = g.in_len();
        for (ci, &b) in bias.iter().enumerate() {
            for kd in 0..kd_n {
                for kh in 0..kh_n {
                    let row0 = ((ci * kd_n + kd) * kh_n + kh) * kw_n;
                    for line in l0..l1 {
                        let (od, oh) = (line / oh_n, line % oh_n);
                        let il = (od * kd_n + kd) * ih_n + oh * kh_n + kh;
                        let dst = &mut dx[ci * plane + il * iw..][..iw];
                        let run = |kw: usize| &col[(row0 + kw) * n + (line - l0) * ow..][..ow];
                        let (covered, tail) = dst.split_at_mut(ow * kw_n);
                        if kw_n == 2 {
                            // Two runs interleaved, as pairs: without bounds checks the loop
                            // vectorises (indexing `covered[2·k]` stayed scalar), though the
                            // pass is bound by its stores either way (b1 unchanged).
                            let pairs = covered.chunks_exact_mut(2);
                            for ((o, a), c) in pairs.zip(run(0)).zip(run(1)) {
                                o[0] = (0.0 + a) + b;
                                o[1] = (0.0 + c) + b;
                            }
                        } else {
                            for kw in 0..kw_n {
                                let src = run(kw);
                                for (k, v) in src.iter().enumerate() {
                                    covered[k * kw_n + kw] = (0.0 + v) + b;
                                }
                            }
                        }
                        tail.fill(0.0 + b);
                    }
                }
            }
        }
    }
}

/// The lines of `dx` (one image) that no patch reaches, set to the bias alone (`0 + b`, as
/// the general path leaves them).
fn uncovered(g: &ConvGeom, bias: &[f32], dx: &mut [f32]) {
    let [od_n, oh_n, _] = g.output;
    let [id_n, ih_n, iw] = g.input;
    let (d_end, h_end) = (od_n * g.kernel[0], oh_n * g.kernel[1]);
    for (plane, &b) in dx.chunks_exact_mut(g.in_len()).zip(bias) {
        for id in 0..id_n {
            for ih in 0..ih_n {
                if id >= d_end || ih >= h_end {
                    plane[(id * ih_n + ih) * iw..][..iw].fill(0.0 + b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_conv::kernel::input_grad;

    /// The general path: input gradient, then the bias added per channel.
    fn general(g: &ConvGeom, dout: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut dx = vec![0.0f32; g.batch * g.cin * g.in_len()];
        input_grad(g, dout, w, &mut dx);
        for img in dx.chunks_mut(g.cin * g.in_len()) {
            for (plane, b) in img.chunks_mut(g.in_len()).zip(bias) {
                plane.iter_mut().for_each(|v| *v += b);
            }
        }
        dx
    }

    #[test]
    fn non_overlapping_adjoint_is_the_general_path_bit_for_bit() {
        let wave = |n: usize, s: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 % 1013) as f32 * s).sin() * 1.3)
                .collect()
        };
        // (batch, cin, cout, input [d, h, w], kernel): the UNet's 2×2 up-sampling, inputs a
        // patch larger than the patches cover (output padding), 3×3 patches, and a volume.
        let cases = [
            (2, 3, 5, [1, 8, 8], [1, 2, 2]),
            (1, 4, 2, [1, 9, 7], [1, 2, 2]),
            (2, 2, 3, [1, 9, 10], [1, 3, 3]),
            (1, 2, 2, [5, 4, 6], [2, 2, 2]),
        ];
        for (batch, cin, cout, input, kernel) in cases {
            let g = ConvGeom::new(batch, cin, cout, input, kernel, kernel, [0; 3], [1; 3])
                .expect("valid geometry");
            assert!(applies(&g));
            let dout = wave(batch * cout * g.out_len(), 0.37);
            let w = wave(cout * g.col_rows(), 0.11);
            // Signed zeros among the biases: `0 + b` turns −0 into +0 as the general path does.
            let mut bias = wave(cin, 0.7);
            bias[0] = -0.0;
            let want = general(&g, &dout, &w, &bias);
            let mut got = vec![f32::NAN; want.len()];
            adjoint_with_bias(&g, &dout, &w, &bias, &mut got);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{input:?} {kernel:?} at {i}: {a} vs {b}"
                );
            }
        }
    }
}
