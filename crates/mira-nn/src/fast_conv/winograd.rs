//! Winograd's minimal filtering F(2×2, 3×3) for 2D 3×3 convolutions with stride and dilation
//! 1 (Lavin & Gray 2016, "Fast algorithms for convolutional neural networks"): each 2×2 block
//! of outputs comes from a 4×4 block of inputs with 16 multiplications per channel pair
//! instead of 36, so the GEMM work of the im2col path shrinks 2.25-fold.
//!
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`, summed over input channels; the element-wise product
//! summed over channels is 16 GEMMs, one per position `ξ` of the 4×4 transformed block:
//! `M_ξ (cout × tiles) = U_ξ (cout × cin) · V_ξ (cin × tiles)`. The transforms use only
//! additions (and halvings for the weights), so the results agree with the direct convolution
//! to a few ulps times the channel count (`tests/fast_winograd.rs` checks 1e-5 relative
//! against an f64 reference; at most 3.6e-7 measured). Images run in parallel as in the other
//! passes, each in chunks of tile rows whose transformed input and output fit a budget.
//!
//! The transforms are element-wise passes over contiguous runs of blocks (input lines split
//! into even and odd voxels, outputs interleaved back), compiled for the CPU's widest vector
//! extension through `pulp`'s run-time dispatch. On the b1 UNet's fourteen 3×3 layers they
//! took the forward and input-gradient passes from 61–64 ms to 44–48 ms each
//! (`examples/conv_layers.rs`). Earlier versions with per-line loops (first 128-bit, then
//! AVX-512 but too short to fill vectors on the small layers) spent about half of their
//! samples in the transforms and gained under 10 % over the im2col path.

use std::mem::MaybeUninit;

use gemm::Parallelism;

use super::geom::ConvGeom;
use super::im2col::zero_few;
use super::kernel::{matmul, per_image, scratch_for};

/// Floats of one chunk's transformed input and output (1 MiB, this machine's L2 per core).
/// On the b1 UNet's layers (`examples/conv_layers.rs`) 32 Ki / 64 Ki / 128 Ki / 256 Ki / 512 Ki
/// floats took 83 / 71 / 64 / 59 / 57–59 ms for all fourteen forward passes.
pub(super) const CHUNK_BUDGET: usize = 1 << 18;

/// Fewest input and output channels that take the transform. At 16 channels it still paid
/// (the UNet's 16 → 16 layers on 128²: 4.0–4.9 ms against 4.7–5.3 ms); fewer were not
/// measured, and the UNet's 4-channel input layer stays on the im2col path.
pub const MIN_CHANNELS: usize = 8;

/// Whether F(2×2, 3×3) computes this convolution: 2D (depth 1), a 3×3 kernel, stride and
/// dilation 1, at least [`MIN_CHANNELS`] channels in and out.
pub fn applies(g: &ConvGeom) -> bool {
    g.input[0] == 1
        && g.kernel == [1, 3, 3]
        && g.stride == [1; 3]
        && g.dilation == [1; 3]
        && g.pad[0] == 0
        && g.cin >= MIN_CHANNELS
        && g.cout >= MIN_CHANNELS
}

/// Where the taps of the convolution computed come from in the weights given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Taps {
    /// `w` is the convolution's own `cout × cin × 3 × 3`.
    Direct,
    /// `w` is the `cin × cout × 3 × 3` kernel of the convolution this one is the input
    /// gradient of: this one's weights are it flipped in space with its channels swapped
    /// (`kernel::input_grad`), read in place instead of copied first.
    Flipped,
}

/// The transformed weights `U[ξ][co][ci] = (G g Gᵀ)[ξ]` of the convolution `g` whose weights
/// `w` holds as `taps` says. Per output channel the nine taps of every input channel are
/// gathered into nine contiguous runs, and the transform runs over those runs, one vector of
/// input channels at a time: the same operations in the same order as a per-pair transform
/// (bit for bit), where a per-pair loop with its sixteen scattered stores was 6 % of an S1
/// defences run (it runs on every forward and input-gradient pass).
pub fn transform_weights(g: &ConvGeom, w: &[f32], taps: Taps) -> Vec<f32> {
    let (co_n, ci_n) = (g.cout, g.cin);
    let mut u = vec![0.0f32; 16 * co_n * ci_n];
    let mut k = vec![0.0f32; 9 * ci_n];
    let mut gg = vec![0.0f32; 12 * ci_n];
    for co in 0..co_n {
        for (t, run) in k.chunks_exact_mut(ci_n).enumerate() {
            match taps {
                Taps::Direct => {
                    for (ci, v) in run.iter_mut().enumerate() {
                        *v = w[(co * ci_n + ci) * 9 + t];
                    }
                }
                Taps::Flipped => {
                    for (ci, v) in run.iter_mut().enumerate() {
                        *v = w[(ci * co_n + co) * 9 + 8 - t];
                    }
                }
            }
        }
        // G g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2 over the kernel's rows; gg[r·3 + j].
        for j in 0..3 {
            let (a, b, c) = (run(&k, j, ci_n), run(&k, 3 + j, ci_n), run(&k, 6 + j, ci_n));
            let [g0, g1, g2, g3] = four_runs(&mut gg, j * ci_n, 3 * ci_n, ci_n);
            for ci in 0..ci_n {
                g0[ci] = a[ci];
                g1[ci] = 0.5 * (a[ci] + b[ci] + c[ci]);
                g2[ci] = 0.5 * (a[ci] - b[ci] + c[ci]);
                g3[ci] = c[ci];
            }
        }
        // (G g) Gᵀ: each row (a, b, c) → (a, (a+b+c)/2, (a−b+c)/2, c).
        for r in 0..4 {
            let (a, b, c) = (
                run(&gg, r * 3, ci_n),
                run(&gg, r * 3 + 1, ci_n),
                run(&gg, r * 3 + 2, ci_n),
            );
            let [u0, u1, u2, u3] = four_runs(&mut u, (r * 4 * co_n + co) * ci_n, co_n * ci_n, ci_n);
            for ci in 0..ci_n {
                u0[ci] = a[ci];
                u1[ci] = 0.5 * (a[ci] + b[ci] + c[ci]);
                u2[ci] = 0.5 * (a[ci] - b[ci] + c[ci]);
                u3[ci] = c[ci];
            }
        }
    }
    u
}

/// Run `i` of `len` floats of `v`.
#[inline(always)]
fn run(v: &[f32], i: usize, len: usize) -> &[f32] {
    &v[i * len..][..len]
}

/// Fewest blocks a chunk's GEMMs should have along their long side: the gemm crate's widest
/// f32 micro-kernel covers 64 of them (4 AVX-512 vectors); with fewer it falls back to its
/// one-vector kernels, which did 1 load and 6 FMAs per step where the wide ones do 24. The
/// weight gradient (`winograd_grad.rs`) groups images by the same rule: there each image's
/// GEMMs and `16·cout·cin` partial sums cost more than its data.
const MIN_BLOCKS: usize = 64;

/// `out = conv(x, w) + bias` by F(2×2, 3×3); shapes as `kernel::forward`.
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    forward_relu(g, x, w, bias, out, false);
}

/// [`forward`], with `relu` followed by burn-flex's ReLU (`v` where `v` is NaN or positive,
/// else 0), applied as the output transform writes each value instead of in a pass of its own
/// over the output (that pass was 2.6 % of an S1 sweep's profile).
pub(super) fn forward_relu(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    relu: bool,
) {
    let u = super::weight_cache::transformed(g, w, Taps::Direct);
    forward_transformed(g, x, &u, bias, out, relu);
}

/// Where the output transform puts a value: over a float (`f32`) or into fresh memory
/// (`MaybeUninit<f32>`, which [`forward_transformed`] fills whole: every value of every
/// plane is written once, so a new output needs no zeroing first — `memset` of fresh outputs
/// was 9 % of the b1 attack step on a 2-core Intel Xeon, BENCHMARKS.md).
pub(super) trait Slot: Send {
    /// Writes `v` here.
    fn put(&mut self, v: f32);
}

impl Slot for f32 {
    #[inline(always)]
    fn put(&mut self, v: f32) {
        *self = v;
    }
}

impl Slot for MaybeUninit<f32> {
    #[inline(always)]
    fn put(&mut self, v: f32) {
        *self = MaybeUninit::new(v);
    }
}

/// [`forward_relu`] with the transformed weights `u` ([`transform_weights`]) given. Writes
/// every value of `out` (`batch × cout × oh × ow`) exactly once and reads none: each chunk's
/// output transform covers all columns of the output rows of its tile rows, and the chunks
/// cover every tile row of every image (`tests/fast_winograd.rs` checks this on outputs
/// filled with NaN first, over odd sizes, several chunks and grouped small images).
pub(super) fn forward_transformed<T: Slot>(
    g: &ConvGeom,
    x: &[f32],
    u: &[f32],
    bias: &[f32],
    out: &mut [T],
    relu: bool,
) {
    debug_assert!(applies(g));
    debug_assert_eq!(u.len(), 16 * g.cout * g.cin);
    let (in_img, out_img, _, _) = g.sizes();
    let [_, oh, ow] = g.output;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let rows_per_chunk = (CHUNK_BUDGET / (16 * (g.cin + g.cout) * tw)).clamp(1, th);
    let group = images_per_chunk(g, th * tw, rows_per_chunk == th, CHUNK_BUDGET);
    let items: Vec<_> = out
        .chunks_mut(group * out_img)
        .zip(x.chunks(group * in_img))
        .collect();
    per_image(items, |(out, x), scratch, par| {
        for ty0 in (0..th).step_by(rows_per_chunk) {
            let rows = rows_per_chunk.min(th - ty0);
            chunk(g, (x, u, bias, relu), out, (ty0, rows, tw), scratch, par);
        }
    });
}

/// [`forward_transformed`] into a new vector (`batch × cout × oh × ow`), not zeroed first:
/// the output transform writes each value once.
pub(super) fn forward_transformed_new(
    g: &ConvGeom,
    x: &[f32],
    u: &[f32],
    bias: &[f32],
    relu: bool,
) -> Vec<f32> {
    let n = g.batch * g.sizes().1;
    if x.len() != g.batch * g.sizes().0 {
        // Not the input `g` describes: images would go unwritten, so start from zeros
        // (callers pass the storage `g` was made from; this keeps the argument below local).
        let mut out = vec![0.0f32; n];
        forward_transformed(g, x, u, bias, &mut out, relu);
        return out;
    }
    let mut out: Vec<f32> = Vec::with_capacity(n);
    forward_transformed(g, x, u, bias, &mut out.spare_capacity_mut()[..n], relu);
    // SAFETY: `x` holds all `g.batch` images, so `forward_transformed` wrote every one of the
    // `n` values (its contract above; `tests/fast_winograd.rs` and the unit test below check
    // that no value of a NaN-filled output survives), so the first `n` are initialised.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(n);
    }
    out
}

/// Whole images per chunk: 1, or for images of fewer than [`MIN_BLOCKS`] blocks (`whole`: an
/// image fits one chunk) as many as make that many blocks, within `budget` floats of
/// transformed input and output. From the geometry alone: the GEMMs' shape may change how the
/// gemm crate blocks its sums, and results must not depend on the number of threads.
pub(super) fn images_per_chunk(g: &ConvGeom, blocks: usize, whole: bool, budget: usize) -> usize {
    if !whole || blocks >= MIN_BLOCKS {
        return 1;
    }
    let by_budget = budget / (16 * (g.cin + g.cout) * blocks);
    MIN_BLOCKS.div_ceil(blocks).min(by_budget).clamp(1, g.batch)
}

/// One chunk of `rows` tile rows from tile row `ty0` of every image in `x` (one image, or
/// several whole ones): input transform, 16 GEMMs over all their blocks, output transform
/// into `out` (`images × cout × oh × ow`). The transforms run under
/// [`pulp::Arch::dispatch`], i.e. compiled for the best vector extension the CPU has (the
/// default build targets plain x86-64, where they vectorise only to 128 bits).
fn chunk<T: Slot>(
    g: &ConvGeom,
    (x, u, bias, relu): (&[f32], &[f32], &[f32], bool),
    out: &mut [T],
    (ty0, rows, tw): (usize, usize, usize),
    scratch: &mut Vec<f32>,
    par: Parallelism,
) {
    let n = x.len() / (g.cin * g.in_len()) * rows * tw;
    let (cin, cout) = (g.cin, g.cout);
    let [v, m, h, eo, y] = chunk_buffers(g, scratch, n, (rows, tw), 4 * rows * tw);
    let arch = pulp::Arch::new();
    arch.dispatch(InputPass {
        g,
        x,
        tiles: (ty0, rows, tw),
        h,
        eo,
        v,
    });
    for xi in 0..16 {
        matmul(
            (cout, n, cin),
            &mut m[xi * cout * n..],
            n,
            false,
            &u[xi * cout * cin..],
            (cin, 1),
            &v[xi * cin * n..],
            (n, 1),
            par,
        );
    }
    arch.dispatch(OutputPass {
        g,
        m,
        bias,
        tiles: (ty0, rows, tw),
        y,
        out,
        relu,
    });
}

/// A chunk's buffers in `scratch`: the transformed input `v` and output `m` of its `n` blocks,
/// the input transform's line buffers `h` and `eo` for `rows` block rows of `tw` blocks, and
/// `extra` floats for the caller.
pub(super) fn chunk_buffers<'a>(
    g: &ConvGeom,
    scratch: &'a mut Vec<f32>,
    n: usize,
    (rows, tw): (usize, usize),
    extra: usize,
) -> [&'a mut [f32]; 5] {
    let (v_len, m_len) = (16 * g.cin * n, 16 * g.cout * n);
    let h_len = 8 * (rows + 1) * tw;
    let buf = scratch_for(scratch, v_len + m_len + h_len + 2 * (tw + 1) + extra);
    let (v, rest) = buf.split_at_mut(v_len);
    let (m, rest) = rest.split_at_mut(m_len);
    let (h, rest) = rest.split_at_mut(h_len);
    let (eo, rest) = rest.split_at_mut(2 * (tw + 1));
    [v, m, h, eo, rest]
}

/// The input transform of every channel of a chunk, as a [`pulp::WithSimd`]: its body is
/// inlined into `dispatch`'s `#[target_feature]` function and so compiled for the CPU's best
/// vector extension (a closure passed to `dispatch` stayed an out-of-line 128-bit call).
pub(super) struct InputPass<'a> {
    pub(super) g: &'a ConvGeom,
    pub(super) x: &'a [f32],
    pub(super) tiles: (usize, usize, usize),
    pub(super) h: &'a mut [f32],
    pub(super) eo: &'a mut [f32],
    pub(super) v: &'a mut [f32],
}

impl pulp::WithSimd for InputPass<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            g,
            x,
            tiles,
            h,
            eo,
            v,
        } = self;
        // Blocks of one image in this chunk, and of all its images (`x` holds one or more).
        let n_img = tiles.1 * tiles.2;
        let images = x.len() / (g.cin * g.in_len());
        let n = images * n_img;
        let in_plane = g.input[1] * g.input[2];
        for (p, plane) in x.chunks_exact(in_plane).enumerate() {
            let (img, ci) = (p / g.cin, p % g.cin);
            transform_input(g, plane, tiles, h, eo, v, ci * n + img * n_img, g.cin * n);
        }
    }
}

/// The output transform of every channel of a chunk, dispatched as [`InputPass`].
struct OutputPass<'a, T> {
    g: &'a ConvGeom,
    m: &'a [f32],
    bias: &'a [f32],
    tiles: (usize, usize, usize),
    y: &'a mut [f32],
    out: &'a mut [T],
    /// Whether a ReLU follows ([`forward_relu`]).
    relu: bool,
}

impl<T: Slot> pulp::WithSimd for OutputPass<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            g,
            m,
            bias,
            tiles,
            y,
            out,
            relu,
        } = self;
        let n_img = tiles.1 * tiles.2;
        let out_plane = g.output[1] * g.output[2];
        let images = out.len() / (g.cout * out_plane);
        let n = images * n_img;
        let planes = out.chunks_exact_mut(out_plane);
        for (p, (plane, &b)) in planes.zip(bias.iter().cycle()).enumerate() {
            let (img, co) = (p / g.cout, p % g.cout);
            let at = (co * n + img * n_img, g.cout * n);
            // Two instances, so that the ReLU's test is not made per value.
            if relu {
                transform_output::<true, T>(g, m, at, b, tiles, y, plane);
            } else {
                transform_output::<false, T>(g, m, at, b, tiles, y, plane);
            }
        }
    }
}

/// `Bᵀ d B` of every 4×4 input block of one channel's tile rows, written to
/// `v[ξ·stride + at + q·tw + t]`. Each padded input line is split into its even and odd
/// voxels (`eo`), so that the horizontal transform of all tiles of a line is four
/// element-wise passes over contiguous runs (`h`); the vertical one combines four such lines.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transform_input(
    g: &ConvGeom,
    plane: &[f32],
    (ty0, rows, tw): (usize, usize, usize),
    h: &mut [f32],
    eo: &mut [f32],
    v: &mut [f32],
    at: usize,
    stride: usize,
) {
    let [_, ih, iw] = g.input;
    let [_, ph, pw] = g.pad;
    let (ev, od) = eo.split_at_mut(tw + 1);
    // `h` holds the horizontal transforms `b` of the chunk's 2·rows + 2 input lines, even and
    // odd lines apart: line i = 2k + p at `((b·2 + p)·(rows + 1) + k)·tw`, so that the vertical
    // transform below reads each of its four operands as one contiguous run over all tile
    // rows (full-width vectors even where a line holds fewer tiles than a vector has lanes).
    let lines = rows + 1;
    for i in 0..2 * lines {
        // Input row of the i-th line of this chunk's blocks, or padding (zeros).
        match (2 * ty0 + i).checked_sub(ph).filter(|&r| r < ih) {
            Some(r) => split_even_odd(&plane[r * iw..][..iw], pw, ev, od),
            None => {
                ev.fill(0.0);
                od.fill(0.0);
            }
        }
        let (k, p) = (i / 2, i % 2);
        // Runs b = 0..4 of this line, 2·lines·tw apart. Index arithmetic: an iterator of
        // `chunks_exact_mut().skip().step_by()` here stayed a call per line and took 4.6 % of
        // an S1 sweep.
        let [h0, h1, h2, h3] = four_runs(h, (p * lines + k) * tw, 2 * lines * tw, tw);
        // Every operand cut to exactly `tw`: with `od`'s length unknown here, `&od[1..]` kept a
        // bounds check in the loop, which then ran one voxel at a time.
        let (e0, e1) = (&ev[..tw], &ev[1..][..tw]);
        let (o0, o1) = (&od[..tw], &od[1..][..tw]);
        for t in 0..tw {
            h0[t] = e0[t] - e1[t];
            h1[t] = o0[t] + e1[t];
            h2[t] = e1[t] - o0[t];
            h3[t] = o0[t] - o1[t];
        }
    }
    let n = rows * tw;
    for b in 0..4 {
        // Lines 2q, 2q + 1, 2q + 2, 2q + 3 of every tile row q: even from k = q, odd from
        // k = q, even from k = q + 1, odd from k = q + 1.
        let even = &h[(b * 2) * lines * tw..][..lines * tw];
        let odd = &h[(b * 2 + 1) * lines * tw..][..lines * tw];
        let (d0, d1, d2, d3) = (&even[..n], &odd[..n], &even[tw..][..n], &odd[tw..][..n]);
        let (v0, rest) = v[b * stride + at..].split_at_mut(4 * stride);
        let (v1, rest) = rest.split_at_mut(4 * stride);
        let (v2, v3) = rest.split_at_mut(4 * stride);
        let (v0, v1, v2, v3) = (&mut v0[..n], &mut v1[..n], &mut v2[..n], &mut v3[..n]);
        for t in 0..n {
            v0[t] = d0[t] - d2[t];
            v1[t] = d1[t] + d2[t];
            v2[t] = d2[t] - d1[t];
            v3[t] = d1[t] - d3[t];
        }
    }
}

/// burn-flex's ReLU of `v` (`v` where NaN or positive, else 0) when `RELU`, else `v`.
#[inline(always)]
fn relu_if<const RELU: bool>(v: f32) -> f32 {
    if !RELU || v.is_nan() || v > 0.0 {
        v
    } else {
        0.0
    }
}

/// Four disjoint runs of `len` floats of `v`, at `start + k·gap` (`len ≤ gap`).
#[inline(always)]
pub(super) fn four_runs(v: &mut [f32], start: usize, gap: usize, len: usize) -> [&mut [f32]; 4] {
    let (_, v) = v.split_at_mut(start);
    let (r0, v) = v.split_at_mut(gap);
    let (r1, v) = v.split_at_mut(gap);
    let (r2, r3) = v.split_at_mut(gap);
    [
        &mut r0[..len],
        &mut r1[..len],
        &mut r2[..len],
        &mut r3[..len],
    ]
}

/// The padded line (`pw` zeros before `line`, zeros after) split into its even voxels `ev`
/// and odd voxels `od`, as many as those hold.
#[inline(always)]
pub(super) fn split_even_odd(line: &[f32], pw: usize, ev: &mut [f32], od: &mut [f32]) {
    let len = ev.len();
    // Padded voxel j = c + pw; the first `pw` are padding.
    let (first, second) = if pw.is_multiple_of(2) {
        (&mut *ev, &mut *od)
    } else {
        (&mut *od, &mut *ev)
    };
    // `first` gets the line's even voxels from index pw / 2, `second` its odd ones from
    // (pw + 1) / 2.
    let (a0, b0) = (pw / 2, pw.div_ceil(2));
    zero_few(&mut first[..a0.min(len)]);
    zero_few(&mut second[..b0.min(len)]);
    let na = len.saturating_sub(a0).min(line.len().div_ceil(2));
    let nb = len.saturating_sub(b0).min(line.len() / 2);
    // Index loops over exact-length slices: LLVM vectorises these stride-2 reads (an
    // iterator with `step_by` stayed scalar).
    let (fa, fb) = (&mut first[a0..a0 + na], &mut second[b0..b0 + nb]);
    let pairs = na.min(nb);
    let l = &line[..2 * pairs];
    for k in 0..pairs {
        fa[k] = l[2 * k];
        fb[k] = l[2 * k + 1];
    }
    if na > pairs {
        fa[pairs] = line[2 * pairs];
    }
    zero_few(&mut first[(a0 + na).min(len)..]);
    zero_few(&mut second[(b0 + nb).min(len)..]);
}

/// `Aᵀ M A + bias` of every block of one output channel (`m[ξ·stride + at + q·tw + t]`),
/// written to its 2×2 outputs in `plane` (those inside `oh × ow`), through burn-flex's ReLU
/// when `RELU`.
#[inline(always)]
fn transform_output<const RELU: bool, T: Slot>(
    g: &ConvGeom,
    m: &[f32],
    (at, stride): (usize, usize),
    bias: f32,
    (ty0, rows, tw): (usize, usize, usize),
    y: &mut [f32],
    plane: &mut [T],
) {
    let [_, oh, ow] = g.output;
    let n = rows * tw;
    // Aᵀ M A over all the chunk's blocks at once (contiguous in `m`), in one pass: per column b
    // of the block s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 over its rows, then over the columns
    // ·0 = s·0 + s·1 + s·2, ·1 = s·1 − s·2 − s·3; outputs (dy, dx) of every block in
    // y[(2·dy + dx)·n + block]. (Two passes with s0 and s1 stored in between took a third more
    // memory traffic; the sums are the same, term by term.)
    let (y00, rest) = y.split_at_mut(n);
    let (y01, rest) = rest.split_at_mut(n);
    let (y10, y11) = rest.split_at_mut(n);
    let (y00, y01, y10, y11) = (&mut y00[..n], &mut y01[..n], &mut y10[..n], &mut y11[..n]);
    let mx = |xi: usize| &m[xi * stride + at..][..n];
    let (m0, m1, m2, m3) = (mx(0), mx(1), mx(2), mx(3));
    let (m4, m5, m6, m7) = (mx(4), mx(5), mx(6), mx(7));
    let (m8, m9, m10, m11) = (mx(8), mx(9), mx(10), mx(11));
    let (m12, m13, m14, m15) = (mx(12), mx(13), mx(14), mx(15));
    for t in 0..n {
        let s00 = m0[t] + m4[t] + m8[t];
        let s01 = m1[t] + m5[t] + m9[t];
        let s02 = m2[t] + m6[t] + m10[t];
        let s03 = m3[t] + m7[t] + m11[t];
        let s10 = m4[t] - m8[t] - m12[t];
        let s11 = m5[t] - m9[t] - m13[t];
        let s12 = m6[t] - m10[t] - m14[t];
        let s13 = m7[t] - m11[t] - m15[t];
        y00[t] = bias + s00 + s01 + s02;
        y01[t] = bias + s01 - s02 - s03;
        y10[t] = bias + s10 + s11 + s12;
        y11[t] = bias + s11 - s12 - s13;
    }
    let yy = &*y;
    for q in 0..rows {
        let oy = 2 * (ty0 + q);
        for dy in 0..2 {
            if oy + dy >= oh {
                break;
            }
            let ya = &yy[2 * dy * n + q * tw..][..tw];
            let yb = &yy[(2 * dy + 1) * n + q * tw..][..tw];
            let row = &mut plane[(oy + dy) * ow..][..ow];
            let full = ow / 2;
            let (r, a, b) = (&mut row[..2 * full], &ya[..full], &yb[..full]);
            for t in 0..full {
                r[2 * t].put(relu_if::<RELU>(a[t]));
                r[2 * t + 1].put(relu_if::<RELU>(b[t]));
            }
            if !ow.is_multiple_of(2) {
                row[ow - 1].put(relu_if::<RELU>(ya[full]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-pair transform the vectorised one replaced, as the reference: `U` of one
    /// `3 × 3` kernel `k`, sixteen values in ξ order.
    fn per_pair(k: &[f32]) -> [f32; 16] {
        let mut gg = [[0.0f32; 3]; 4];
        for j in 0..3 {
            let (a, b, c) = (k[j], k[3 + j], k[6 + j]);
            gg[0][j] = a;
            gg[1][j] = 0.5 * (a + b + c);
            gg[2][j] = 0.5 * (a - b + c);
            gg[3][j] = c;
        }
        let mut u = [0.0f32; 16];
        for (r, [a, b, c]) in gg.into_iter().enumerate() {
            for (s, v) in [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c]
                .into_iter()
                .enumerate()
            {
                u[r * 4 + s] = v;
            }
        }
        u
    }

    #[test]
    fn weight_transform_is_the_per_pair_transform_bit_for_bit_direct_and_flipped() {
        let (cout, cin) = (5, 9);
        let geom = |ci, co| {
            ConvGeom::new(1, ci, co, [1, 6, 6], [1, 3, 3], [1; 3], [0, 1, 1], [1; 3])
                .expect("valid geometry")
        };
        let g = geom(cin, cout);
        // Uneven values, so that the order of the additions shows in the rounding.
        let w: Vec<f32> = (0..cout * cin * 9)
            .map(|i| ((i * 7919 % 1013) as f32 / 97.0).sin() * 1.7)
            .collect();
        let u = transform_weights(&g, &w, Taps::Direct);
        // The input gradient's convolution: cin' = cout, cout' = cin, weights of the form
        // `cout × cin × 9` read flipped.
        let g2 = geom(cout, cin);
        let u2 = transform_weights(&g2, &w, Taps::Flipped);
        for co in 0..cout {
            for ci in 0..cin {
                let k = &w[(co * cin + ci) * 9..][..9];
                let flipped: Vec<f32> = k.iter().rev().copied().collect();
                let (want, want2) = (per_pair(k), per_pair(&flipped));
                for xi in 0..16 {
                    let got = u[(xi * cout + co) * cin + ci];
                    assert_eq!(got.to_bits(), want[xi].to_bits(), "direct {co} {ci} {xi}");
                    let got2 = u2[(xi * cin + ci) * cout + co];
                    assert_eq!(
                        got2.to_bits(),
                        want2[xi].to_bits(),
                        "flipped {co} {ci} {xi}"
                    );
                }
            }
        }
    }

    /// The output transform writes every value once: on outputs filled with NaN no NaN
    /// survives, with and without the fused ReLU (which keeps NaN), and the unzeroed new
    /// output of `forward_transformed_new` equals it bit for bit (the safety argument of its
    /// `set_len`). Odd sizes, a layer of several chunks, small images sharing chunks; the
    /// integration tests (`tests/fast_winograd.rs`) run every case of theirs on NaN-filled
    /// outputs too.
    #[test]
    fn the_output_transform_writes_every_value_of_a_new_output() {
        // (batch, cin, cout, h, w, pad)
        let cases = [
            (3, 8, 11, 7, 9, 1),
            (1, 9, 8, 6, 5, 0),
            (2, 64, 64, 40, 40, 1),
            (5, 8, 12, 6, 5, 1),
        ];
        for (b, ci, co, h, w, p) in cases {
            let g = ConvGeom::new(b, ci, co, [1, h, w], [1, 3, 3], [1; 3], [0, p, p], [1; 3])
                .expect("valid geometry");
            let x: Vec<f32> = (0..b * ci * h * w)
                .map(|i| ((i * 7919 % 1013) as f32 / 97.0).sin())
                .collect();
            let wt: Vec<f32> = (0..co * ci * 9)
                .map(|i| ((i * 104729 % 997) as f32 / 61.0).cos() * 0.3)
                .collect();
            let bias: Vec<f32> = (0..co).map(|i| i as f32 * 0.01 - 0.05).collect();
            let u = transform_weights(&g, &wt, Taps::Direct);
            for relu in [false, true] {
                let mut out = vec![f32::NAN; b * g.sizes().1];
                forward_transformed(&g, &x, &u, &bias, &mut out, relu);
                let case = (b, ci, co, h, w, p, relu);
                assert!(
                    out.iter().all(|v| !v.is_nan()),
                    "{case:?}: a value unwritten"
                );
                let new = forward_transformed_new(&g, &x, &u, &bias, relu);
                assert_eq!(new.len(), out.len(), "{case:?}");
                let same = new
                    .iter()
                    .zip(&out)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{case:?}: the new output differs");
            }
        }
    }
}
