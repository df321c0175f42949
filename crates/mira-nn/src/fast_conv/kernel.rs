//! The three convolution passes on host slices: forward, input gradient, weight and bias
//! gradients. Each image is independent (parallel over the batch with rayon, or over the GEMM
//! when the batch is smaller than the thread pool), so results do not depend on the number of
//! threads.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::geom::ConvGeom;
use super::im2col::{col2im, im2col, kw_lines};
use super::{fresh, lanes, shifted, shifted_adjoint, winograd, winograd_grad};

/// Floats of one tile's im2col buffer (512 KiB, a quarter of a core's L2 here). Measured
/// with `examples/conv_layers.rs` on the b1 UNet's layers: 64 Ki–256 Ki floats within noise
/// of each other, 16 Ki and 1 Mi floats 15–25 % slower.
pub(super) const TILE_BUDGET: usize = 1 << 17;

/// `dst (m×n, row stride dst_rs) = [dst +] lhs (m×k) · rhs (k×n)`, strides in elements as
/// (row, column) pairs.
#[allow(clippy::too_many_arguments, unsafe_code)]
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    debug_assert!(dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the slices cover every element the strides address (checked above in debug
    // builds, and by construction from `ConvGeom` in the callers); `dst` does not alias
    // `lhs` or `rhs` (distinct borrows).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

thread_local! {
    /// Each worker thread's im2col buffer, kept between calls: with a fresh zero-filled
    /// buffer per image, `memset` was 12 % of a b1 profile (4 % after, measured under load).
    /// Taken out while in use (not borrowed), so a re-entrant call on the same thread (a rayon
    /// worker stealing another convolution while a GEMM waits) just allocates its own.
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f(image, scratch, parallelism)` for every image, in parallel over images when there
/// are at least as many as threads (GEMMs then single-threaded), else sequentially with
/// multithreaded GEMMs. `scratch` is the calling thread's buffer.
pub(super) fn per_image<T: Send>(
    items: Vec<T>,
    f: impl Fn(T, &mut Vec<f32>, Parallelism) + Sync + Send,
) {
    let threads = rayon::current_num_threads();
    let run = |item: T, par: Parallelism| with_scratch(|scratch| f(item, scratch, par));
    if threads > 1 && items.len() >= threads {
        items
            .into_par_iter()
            .for_each(|item| run(item, Parallelism::None));
    } else {
        let par = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        for item in items {
            run(item, par);
        }
    }
}

/// Runs `f` on the calling thread's scratch buffer ([`SCRATCH`]), whose contents are left
/// over from earlier calls.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    let mut scratch = SCRATCH.take();
    let r = f(&mut scratch);
    SCRATCH.set(scratch);
    r
}

/// The tiles of output lines, `(l0, l1)`.
pub(super) fn tiles(g: &ConvGeom) -> impl Iterator<Item = (usize, usize)> {
    let step = g.tile_lines(TILE_BUDGET);
    let lines = g.lines();
    (0..lines)
        .step_by(step)
        .map(move |l0| (l0, (l0 + step).min(lines)))
}

thread_local! {
    /// The calling thread's buffer of per-image partial weight gradients, kept between calls:
    /// a fresh zeroed buffer per call (8 MiB for a 128 → 128 layer's F(2×2, 3×3) gradient of
    /// 8 images) was about 8 % of a UNet training profile, `memset` plus the kernel clearing
    /// new pages. Not zeroed: every image's part is written before it is read. The volume
    /// convolutions' stride phases use it too (`shifted.rs`, `shifted_adjoint.rs`: each
    /// parallel piece zeroes its own part).
    static PARTIALS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` on `len` floats of the calling thread's partial-gradient buffer ([`PARTIALS`]),
/// whose contents are left over from earlier calls.
pub(super) fn with_partials<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = PARTIALS.take();
    let r = f(scratch_for(&mut buf, len));
    PARTIALS.set(buf);
    r
}

pub(super) fn scratch_for(scratch: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if scratch.len() < len {
        scratch.resize(len, 0.0);
    }
    &mut scratch[..len]
}

/// `out = conv(x, w) + bias`; `x` is `batch × cin × in_len`, `w` `cout × col_rows`, `out`
/// `batch × cout × out_len`. 2D 3×3 convolutions with stride 1 run Winograd's F(2×2, 3×3)
/// ([`winograd`](super::winograd)) unless `MIRA_WINOGRAD=0`; the rest [`forward_im2col`].
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    forward_relu(g, x, w, bias, out, false);
}

/// [`forward`], with `relu` followed by burn-flex's ReLU where the kernel applies it as it
/// writes (Winograd's output transform): returns whether it did, else the caller still must.
pub(super) fn forward_relu(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    relu: bool,
) -> bool {
    if let Some(u) = winograd_weights(g, w, winograd::Taps::Direct) {
        winograd::forward_transformed(g, x, &u, bias, out, relu);
        return relu;
    }
    if super::stride1_conv3d() == super::Stride1Conv3d::Shifted && shifted::applies(g) {
        shifted::forward(g, x, w, bias, out);
    } else {
        forward_im2col(g, x, w, bias, out);
    }
    false
}

/// [`forward_relu`] into a new output: `(out, fused)`. Where F(2×2, 3×3) computes the
/// convolution the output is not zeroed first ([`winograd::forward_transformed_new`]).
pub(super) fn forward_relu_new(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    relu: bool,
) -> (Vec<f32>, bool) {
    if let Some(u) = winograd_weights(g, w, winograd::Taps::Direct) {
        let out = winograd::forward_transformed_new(g, x, &u, bias, relu);
        return (out, relu);
    }
    let mut out = fresh::zeros(g.batch * g.sizes().1);
    let fused = forward_relu(g, x, w, bias, &mut out, relu);
    (out, fused)
}

/// The transformed weights of `g` (its own `w` read as `taps` says) where F(2×2, 3×3)
/// computes it, `None` where another path does (or `MIRA_WINOGRAD=0`): the one dispatch rule
/// of the forward passes and the input gradients, into given outputs or new ones.
fn winograd_weights(
    g: &ConvGeom,
    w: &[f32],
    taps: winograd::Taps,
) -> Option<std::sync::Arc<Vec<f32>>> {
    (super::winograd_enabled() && winograd::applies(g))
        .then(|| super::weight_cache::transformed(g, w, taps))
}

/// [`forward`] by im2col tiles and GEMMs, whatever the kernel.
pub fn forward_im2col(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    let (in_img, out_img, rows, out_len) = g.sizes();
    let ow = g.output[2];
    let kh_weights = if g.pointwise() { None } else { kh_split(g, w) };
    let items: Vec<_> = out.chunks_mut(out_img).zip(x.chunks(in_img)).collect();
    per_image(items, |(out, x), scratch, par| {
        for (row, b) in out.chunks_mut(out_len).zip(bias) {
            row.fill(*b);
        }
        if g.pointwise() {
            matmul(
                (g.cout, out_len, g.cin),
                out,
                out_len,
                true,
                w,
                (g.cin, 1),
                x,
                (out_len, 1),
                par,
            );
            return;
        }
        if let Some(wk) = &kh_weights {
            let (kh_n, rows_k) = (g.kernel[1], g.cin * g.kernel[2]);
            for (l0, l1) in tiles(g) {
                let (n, span) = ((l1 - l0) * ow, l1 - l0 + kh_n - 1);
                let buf = scratch_for(scratch, rows_k * span * ow);
                kw_lines(g, x, l0, span, buf);
                for (kh, wk) in wk.chunks(g.cout * rows_k).enumerate() {
                    matmul(
                        (g.cout, n, rows_k),
                        &mut out[l0 * ow..],
                        out_len,
                        true,
                        wk,
                        (rows_k, 1),
                        &buf[kh * ow..],
                        (span * ow, 1),
                        par,
                    );
                }
            }
            return;
        }
        for (l0, l1) in tiles(g) {
            let n = (l1 - l0) * ow;
            let col = scratch_for(scratch, rows * n);
            im2col(g, x, l0, l1, col);
            matmul(
                (g.cout, n, rows),
                &mut out[l0 * ow..],
                out_len,
                true,
                w,
                (rows, 1),
                col,
                (n, 1),
                par,
            );
        }
    });
}

/// For 2D convolutions with stride and dilation 1 along `h` and `KH > 1`: the weights as `KH`
/// matrices `cout × (cin·KW)`, one per kernel row, for the kh-shifted GEMMs of
/// [`kw_lines`]; `None` where that form does not apply.
fn kh_split(g: &ConvGeom, w: &[f32]) -> Option<Vec<f32>> {
    let [kd_n, kh_n, _] = g.kernel;
    if g.input[0] != 1 || kd_n != 1 || kh_n < 2 || g.stride[1] != 1 || g.dilation[1] != 1 {
        return None;
    }
    // With depth 1, the per-(kd, kh) stacking of the shifted GEMMs is the per-kh one.
    Some(shifted::stacked_weights(g, w))
}

/// `dx = ∂⟨conv(x, w), dout⟩/∂x`; `dout` is `batch × cout × out_len`, `dx` `batch × cin × in_len`.
/// The shifted GEMMs' adjoint where [`shifted_adjoint_applies`]; else stride 1: the
/// convolution of `dout` with the flipped kernel; the rest: GEMM + col2im.
pub fn input_grad(g: &ConvGeom, dout: &[f32], w: &[f32], dx: &mut [f32]) {
    if shifted_adjoint_applies(g) {
        shifted_adjoint::input_grad(g, dout, w, dx);
        return;
    }
    if let Some(g2) = transposed_geom(g) {
        let zeros = vec![0.0; g.cin];
        // The flipped, channel-swapped kernel read in place by the weight transform.
        match winograd_weights(&g2, w, winograd::Taps::Flipped) {
            Some(u) => winograd::forward_transformed(&g2, dout, &u, &zeros, dx, false),
            None => forward(&g2, dout, &transposed_weights(g, w), &zeros, dx),
        }
        return;
    }
    let (in_img, out_img, _, out_len) = g.sizes();
    let items: Vec<_> = dx.chunks_mut(in_img).zip(dout.chunks(out_img)).collect();
    per_image(items, |(dx, dout), scratch, par| {
        if g.pointwise() {
            // dx (cin × len) = wᵀ (cin × cout) · dout (cout × len)
            matmul(
                (g.cin, out_len, g.cout),
                dx,
                out_len,
                false,
                w,
                (1, g.cin),
                dout,
                (out_len, 1),
                par,
            );
            return;
        }
        dx.fill(0.0);
        for (l0, l1) in tiles(g) {
            let col = tile_columns(g, w, dout, (l0, l1), scratch, par);
            col2im(g, col, l0, l1, dx);
        }
    });
}

/// Whether [`input_grad`] runs the shifted GEMMs' adjoint (`shifted_adjoint.rs`): volumes
/// (dilation 1, not pointwise, `MIRA_CONV3D` default) that are strided with two or more input
/// channels, or of stride 1 with one. Measured with `examples/conv3d_layers.rs` (forward +
/// input gradient, BENCHMARKS.md): strided, one image, 4 → 16 at 96³ 22–25 ms against 27–33
/// on burn-flex's transposed convolution; strided with one input channel, GEMM + col2im is
/// faster on batches (b2's first layer, 4 × 64³: 1.35–1.43 ms against 1.72–1.75); stride 1
/// with one input channel, 1 → 16 at 96³ 81–82 ms against 133–136 for the flipped-kernel
/// convolution, whose one output channel made its GEMMs matrix–vector products (with four
/// or more channels that convolution stays the faster).
fn shifted_adjoint_applies(g: &ConvGeom) -> bool {
    let strided = g.stride != [1; 3];
    super::stride1_conv3d() == super::Stride1Conv3d::Shifted
        && shifted::applies(g)
        && if strided { g.cin > 1 } else { g.cin == 1 }
}

/// [`input_grad`] into a new `dx`, not zeroed first where F(2×2, 3×3) computes it.
pub(super) fn input_grad_new(g: &ConvGeom, dout: &[f32], w: &[f32]) -> Vec<f32> {
    if let Some(g2) = transposed_geom(g)
        && let Some(u) = winograd_weights(&g2, w, winograd::Taps::Flipped)
    {
        return winograd::forward_transformed_new(&g2, dout, &u, &vec![0.0; g.cin], false);
    }
    let mut dx = fresh::zeros(g.batch * g.sizes().0);
    input_grad(g, dout, w, &mut dx);
    dx
}

/// The im2col matrix of the input gradient for the tile of output lines `l0..l1` of one
/// image's `dout`: `col (rows × n) = wᵀ (rows × cout) · dout[:, tile] (cout × n)`, in
/// `scratch` (col2im or [`patches`](super::patches) then place its columns).
pub(super) fn tile_columns<'s>(
    g: &ConvGeom,
    w: &[f32],
    dout: &[f32],
    (l0, l1): (usize, usize),
    scratch: &'s mut Vec<f32>,
    par: Parallelism,
) -> &'s mut [f32] {
    let (_, _, rows, out_len) = g.sizes();
    let ow = g.output[2];
    let n = (l1 - l0) * ow;
    let col = scratch_for(scratch, rows * n);
    matmul(
        (rows, n, g.cout),
        col,
        n,
        false,
        w,
        (1, rows),
        &dout[l0 * ow..],
        (out_len, 1),
        par,
    );
    col
}

/// For stride 1, the input gradient is itself a convolution: of `dout` with the kernel
/// flipped in space and with input and output channels swapped ([`transposed_weights`]),
/// padded by `dilation·(k − 1) − pad`. That form runs one GEMM with `k = cout·taps` per tile
/// instead of a GEMM with `k = cout` into a `cin·taps`-row buffer plus col2im: chosen for the
/// GEMM's shape and the smaller buffer, not measured against the col2im form on its own (both
/// landed in one change). Its geometry, or `None` where it does not apply (strides, pointwise
/// kernels, padding beyond the kernel's reach).
fn transposed_geom(g: &ConvGeom) -> Option<ConvGeom> {
    if g.stride != [1; 3] || g.pointwise() {
        return None;
    }
    let mut pad = [0; 3];
    for (a, p) in pad.iter_mut().enumerate() {
        *p = (g.dilation[a] * (g.kernel[a] - 1)).checked_sub(g.pad[a])?;
    }
    let g2 = ConvGeom::new(
        g.batch, g.cout, g.cin, g.output, g.kernel, [1; 3], pad, g.dilation,
    )?;
    debug_assert_eq!(g2.output, g.input);
    Some(g2)
}

/// The weights of [`transposed_geom`]'s convolution: `w` flipped in space, channels swapped.
fn transposed_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let taps = g.taps();
    let mut w2 = vec![0.0f32; w.len()];
    for co in 0..g.cout {
        for ci in 0..g.cin {
            let src = &w[(co * g.cin + ci) * taps..][..taps];
            let dst = &mut w2[(ci * g.cout + co) * taps..][..taps];
            // Flipping all three kernel axes reverses the flattened tap order.
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    w2
}

/// `(dw, dbias)`: the weight (`cout × col_rows`) and bias (`cout`) gradients summed over the
/// batch, in a fixed order (per-image partial sums, then image 0, 1, ...). 2D 3×3 stride-1
/// convolutions run Winograd's F(2×2, 3×3) (`winograd_grad.rs`) unless
/// `MIRA_WINOGRAD=0` or `MIRA_WINOGRAD_DW=0`; the rest [`weight_grad_im2col`].
pub fn weight_grad(g: &ConvGeom, x: &[f32], dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    if super::winograd_enabled() && super::winograd_dw_enabled() && winograd::applies(g) {
        return winograd_grad::weight_grad(g, x, dout);
    }
    weight_grad_im2col(g, x, dout)
}

/// [`weight_grad`] by im2col tiles and GEMMs, whatever the kernel.
pub fn weight_grad_im2col(g: &ConvGeom, x: &[f32], dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let w_len = g.cout * g.col_rows();
    with_partials(g.batch * (w_len + g.cout), |partial| {
        weight_grad_parts(g, x, dout, partial);
        sum_parts(partial, w_len, g.cout)
    })
}

/// Each image's `dw` and `dbias` into its part of `partial` (`w_len + cout` floats each),
/// overwriting what was there.
fn weight_grad_parts(g: &ConvGeom, x: &[f32], dout: &[f32], partial: &mut [f32]) {
    let (in_img, out_img, rows, out_len) = g.sizes();
    let ow = g.output[2];
    let w_len = g.cout * rows;
    let items: Vec<_> = partial
        .chunks_mut(w_len + g.cout)
        .zip(x.chunks(in_img).zip(dout.chunks(out_img)))
        .collect();
    per_image(items, |(acc, (x, dout)), scratch, par| {
        let (dw, db) = acc.split_at_mut(w_len);
        for (d, row) in db.iter_mut().zip(dout.chunks(out_len)) {
            *d = lanes::sum(row);
        }
        if g.pointwise() {
            // dw (cout × cin) = dout (cout × len) · xᵀ (len × cin)
            matmul(
                (g.cout, g.cin, out_len),
                dw,
                g.cin,
                false,
                dout,
                (out_len, 1),
                x,
                (1, out_len),
                par,
            );
            return;
        }
        for (t, (l0, l1)) in tiles(g).enumerate() {
            let n = (l1 - l0) * ow;
            let col = scratch_for(scratch, rows * n);
            im2col(g, x, l0, l1, col);
            // dw (cout × rows) += dout[:, tile] (cout × n) · colᵀ (n × rows)
            matmul(
                (g.cout, rows, n),
                dw,
                rows,
                t > 0,
                &dout[l0 * ow..],
                (out_len, 1),
                col,
                (1, n),
                par,
            );
        }
    });
}

/// The sums over images of per-image parts (`w_len` weight then `cout` bias gradients each),
/// image 0 first: a fixed order, whatever the number of threads.
pub(super) fn sum_parts(partial: &[f32], w_len: usize, cout: usize) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0.0f32; w_len];
    let mut db = vec![0.0f32; cout];
    for acc in partial.chunks(w_len + cout) {
        for (d, p) in dw.iter_mut().zip(&acc[..w_len]) {
            *d += p;
        }
        for (d, p) in db.iter_mut().zip(&acc[w_len..]) {
            *d += p;
        }
    }
    (dw, db)
}
