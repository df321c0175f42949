//! The weight gradient of a 3×3 stride-1 convolution by Winograd's F(2×2, 3×3), the adjoint
//! of [`winograd::forward`](super::winograd::forward): with `Y = Aᵀ [U ⊙ V] A` per 2×2 output
//! block, `U = G g Gᵀ` and `V = Bᵀ d B`,
//!
//! `∂L/∂U_ξ (cout × cin) = Σ_blocks (A ∂L/∂Y Aᵀ)_ξ (cout × blocks) · V_ξᵀ (blocks × cin)` and
//! `∂L/∂g = Gᵀ (∂L/∂U) G`,
//!
//! i.e. 16 GEMMs with `k` = the image's blocks instead of one with `k` = its pixels and
//! `cin·9` rows, 2.25 times fewer multiplications than the im2col path
//! ([`kernel::weight_grad_im2col`](super::kernel::weight_grad_im2col)), and no transposing
//! gather of a `cin·9`-row im2col matrix. The input transform is the forward pass's own
//! ([`InputPass`]); the output gradient's transform `A dY Aᵀ` uses additions only, so the
//! result agrees with the im2col path to the rounding of the longer sums
//! (`tests/fast_winograd.rs`: against the direct f64 sum and the im2col path, 1e-5 relative;
//! `tests/fast_conv.rs`: through autodiff against burn's convolution).
//! Blocks that reach past the output's edge take zeros there, which is what the forward
//! pass's dropped outputs contribute.

use super::extension::channel_sums;
use super::geom::ConvGeom;
use super::kernel::{matmul, per_image, sum_parts, with_partials};
use super::winograd::{
    CHUNK_BUDGET, InputPass, applies, chunk_buffers, four_runs, images_per_chunk, split_even_odd,
};

/// `(dw, dbias)` as [`kernel::weight_grad`](super::kernel::weight_grad): the weight
/// (`cout × cin × 3 × 3`) and bias gradients summed over the batch in a fixed order
/// (per-chunk partial sums of whole images, then chunk 0, 1, ...; the bias per image), for
/// geometries where [`applies`] holds.
pub fn weight_grad(g: &ConvGeom, x: &[f32], dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    debug_assert!(applies(g));
    let (in_img, out_img, _, out_len) = g.sizes();
    let [_, oh, ow] = g.output;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let rows_per_chunk = (CHUNK_BUDGET / (16 * (g.cin + g.cout) * tw)).clamp(1, th);
    // Small images grouped as in the forward pass, within 4 chunk budgets (these GEMMs'
    // operands are streamed once, their output stays).
    let group = images_per_chunk(g, th * tw, rows_per_chunk == th, 4 * CHUNK_BUDGET);
    let u_len = 16 * g.cout * g.cin;
    let (du, _) = with_partials(g.batch.div_ceil(group) * u_len, |partial| {
        let items: Vec<_> = partial
            .chunks_mut(u_len)
            .zip(x.chunks(group * in_img).zip(dout.chunks(group * out_img)))
            .collect();
        per_image(items, |(du, (x, dout)), scratch, par| {
            images(g, (x, dout), du, (rows_per_chunk, th, tw), scratch, par);
        });
        sum_parts(partial, u_len, 0)
    });
    // The bias: per image, then image 0, 1, ... (as the im2col path sums it).
    let db = channel_sums(dout, g.cout, out_len);
    (untransform_weights(g, &du), db)
}

/// The `dU` of one or more whole images (or one image's chunks of tile rows) into `du`
/// (`16·cout·cin` floats): 16 GEMMs per chunk over all its blocks, the first overwriting.
fn images(
    g: &ConvGeom,
    (x, dout): (&[f32], &[f32]),
    du: &mut [f32],
    (rows_per_chunk, th, tw): (usize, usize, usize),
    scratch: &mut Vec<f32>,
    par: gemm::Parallelism,
) {
    let (cin, cout) = (g.cin, g.cout);
    let count = x.len() / (cin * g.in_len());
    for (c, ty0) in (0..th).step_by(rows_per_chunk).enumerate() {
        let rows = rows_per_chunk.min(th - ty0);
        let n = count * rows * tw;
        let [v, m, h, eo, lines] = chunk_buffers(g, scratch, n, (rows, tw), 4 * rows * tw);
        let arch = pulp::Arch::new();
        let tiles = (ty0, rows, tw);
        arch.dispatch(InputPass {
            g,
            x,
            tiles,
            h,
            eo,
            v,
        });
        arch.dispatch(GradOutputPass {
            g,
            dout,
            tiles,
            lines,
            m,
        });
        for xi in 0..16 {
            // dU_ξ (cout × cin) += dM_ξ (cout × n) · V_ξᵀ (n × cin)
            matmul(
                (cout, cin, n),
                &mut du[xi * cout * cin..],
                cin,
                c > 0,
                &m[xi * cout * n..],
                (n, 1),
                &v[xi * cin * n..],
                (1, n),
                par,
            );
        }
    }
}

/// `Gᵀ dU G` for every channel pair: the gradient of `cout × cin × 3 × 3` weights from that of
/// their transforms `dU[ξ][co][ci]` (the adjoint of `winograd::transform_weights`).
fn untransform_weights(g: &ConvGeom, du: &[f32]) -> Vec<f32> {
    let (co_n, ci_n) = (g.cout, g.cin);
    // Gᵀ applied to a 4-vector: the adjoint of (a, (a+b+c)/2, (a−b+c)/2, c).
    let gt = |d: [f32; 4]| {
        let (p, q) = (0.5 * (d[1] + d[2]), 0.5 * (d[1] - d[2]));
        [d[0] + p, q, p + d[3]]
    };
    let mut dw = vec![0.0f32; co_n * ci_n * 9];
    for co in 0..co_n {
        for ci in 0..ci_n {
            let at = |r: usize, s: usize| du[((r * 4 + s) * co_n + co) * ci_n + ci];
            // Over rows first (each column s), then over columns.
            let cols: [[f32; 3]; 4] =
                std::array::from_fn(|s| gt([at(0, s), at(1, s), at(2, s), at(3, s)]));
            let k = &mut dw[(co * ci_n + ci) * 9..][..9];
            for j in 0..3 {
                let row = gt([cols[0][j], cols[1][j], cols[2][j], cols[3][j]]);
                k[j * 3..j * 3 + 3].copy_from_slice(&row);
            }
        }
    }
    dw
}

/// `A dY Aᵀ` of every 2×2 block of output gradient of every output channel of a chunk (of one
/// or more images), written to `m[ξ·cout·n + co·n + image·rows·tw + q·tw + t]`; dispatched as
/// [`InputPass`].
struct GradOutputPass<'a> {
    g: &'a ConvGeom,
    dout: &'a [f32],
    tiles: (usize, usize, usize),
    lines: &'a mut [f32],
    m: &'a mut [f32],
}

impl pulp::WithSimd for GradOutputPass<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            g,
            dout,
            tiles: (ty0, rows, tw),
            lines,
            m,
        } = self;
        let [_, oh, ow] = g.output;
        // Blocks of one image in this chunk, and of all its images (`dout` holds one or more).
        let n_img = rows * tw;
        let n = dout.len() / (g.cout * oh * ow) * n_img;
        let stride = g.cout * n;
        let (ab, cd) = lines.split_at_mut(2 * n_img);
        let (a, b) = ab.split_at_mut(n_img);
        let (c, d) = cd[..2 * n_img].split_at_mut(n_img);
        for (p, plane) in dout.chunks_exact(oh * ow).enumerate() {
            let at = (p % g.cout) * n + (p / g.cout) * n_img;
            // Each block row's two output rows split into even (a, c) and odd (b, d) columns,
            // all the chunk's block rows one after another; rows and columns past the
            // output's edge are zeros.
            for q in 0..rows {
                let oy = 2 * (ty0 + q);
                let (a, b) = (&mut a[q * tw..][..tw], &mut b[q * tw..][..tw]);
                let (c, d) = (&mut c[q * tw..][..tw], &mut d[q * tw..][..tw]);
                for (r, (ev, od)) in [(a, b), (c, d)].into_iter().enumerate() {
                    if oy + r < oh {
                        split_even_odd(&plane[(oy + r) * ow..][..ow], 0, ev, od);
                    } else {
                        ev.fill(0.0);
                        od.fill(0.0);
                    }
                }
            }
            let (a, b, c, d) = (&a[..n_img], &b[..n_img], &c[..n_img], &d[..n_img]);
            // Rows i of A dY: (a, b), (a + c, b + d), (a − c, b − d), (−c, −d); each row
            // (p, q) over columns: ξ = 4i + (p, p + q, p − q, −q).
            for i in 0..4 {
                let [o0, o1, o2, o3] = four_runs(m, at + 4 * i * stride, stride, n_img);
                for t in 0..n_img {
                    let (p, q) = match i {
                        0 => (a[t], b[t]),
                        1 => (a[t] + c[t], b[t] + d[t]),
                        2 => (a[t] - c[t], b[t] - d[t]),
                        _ => (-c[t], -d[t]),
                    };
                    o0[t] = p;
                    o1[t] = p + q;
                    o2[t] = p - q;
                    o3[t] = -q;
                }
            }
        }
    }
}
