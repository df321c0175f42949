//! 3D convolutions (dilation 1, any stride) as shifted GEMMs, without im2col.
//!
//! Stride 1 first. In a zero-padded copy of the input stored as one flat run per channel
//! (`Dp × Hp × Wp`), the input voxel that kernel tap `(a, b, c)` reads for output `(d, h, w)`
//! sits at the flat index `n + a·HpWp + b·Wp + c` with `n = d·HpWp + h·Wp + w`: every tap is
//! the same matrix shifted by a constant. So the output on that "wide" grid (`n` over the
//! padded volume, the columns with `h ≥ Ho` or `w ≥ Wo` computed and dropped) is a sum of GEMMs
//! `Y[:, n] += W_tap (cout × cin) · Xp[:, n + offset(tap)]`. To give each GEMM a deeper inner
//! dimension, the `kw` taps are stacked: a tile's buffer holds `cin·KW` rows (each channel's run
//! shifted by `c = 0..KW`), and one GEMM per `(a, b)` with `k = cin·KW` adds that row of the
//! kernel. The buffer of a tile of `nt` wide columns is `cin·KW·(nt + (KD−1)·HpWp + (KH−1)·Wp)`
//! floats; im2col would copy `cin·KD·KH·KW·nt`.
//!
//! Stride `s`: the padded input is split into its `s_d·s_h·s_w` stride phases (voxel `s·i + p`
//! of an axis is voxel `i` of phase `p`), and tap `a` reads phase `a mod s` shifted by `a div
//! s`, so the same shifted GEMMs run over the phase volumes (one buffer per depth and height
//! phase, its rows the width phases of each `c`).
//!
//! Why: 3D im2col (Mira's path) and burn-flex's kernel spend much of a 3D step copying: on the
//! MONAI UNet's layers this runs the forward pass 1.2–5x faster than either (BENCHMARKS.md).
//! The input gradient of a stride-1 convolution is itself one
//! ([`super::kernel::input_grad`]), so it runs here too. Tiles run in parallel (GEMMs
//! single-threaded) and write disjoint output lines; each output's sum over taps is in a fixed
//! order whatever the tiling, so results do not depend on the thread count.

use gemm::Parallelism;
use rayon::prelude::*;

use super::geom::ConvGeom;
use super::kernel::{matmul, with_partials};

/// Wide columns per tile. On the MONAI UNet's stride-1 layers (`examples/conv3d_layers.rs`)
/// 2,048, 4,096 and 8,192 were within noise of each other, except 16 → 16 on 48³ (24–26 ms
/// against 39 ms at 8,192).
const TILE_COLUMNS: usize = 4096;

/// Fewest tiles per thread, for load balance on small volumes.
const TILES_PER_THREAD: usize = 2;

/// Wide columns per tile: at most [`TILE_COLUMNS`] or the kernel's `reach` (the extra
/// columns every tile's buffer copies, so that copying stays within twice the tile), and small
/// enough that the batch's tiles give every thread at least [`TILES_PER_THREAD`] of them.
fn tile_columns(wide: usize, batch: usize, reach: usize) -> usize {
    let want = TILES_PER_THREAD * rayon::current_num_threads();
    let per_image = want.div_ceil(batch).max(1);
    wide.div_ceil(per_image).clamp(1, TILE_COLUMNS.max(reach))
}

/// Whether the shifted-GEMM form computes this convolution: a volume (depth > 1), a kernel
/// that is not pointwise, dilation 1 (any stride).
pub fn applies(g: &ConvGeom) -> bool {
    g.input[0] > 1 && !g.pointwise() && g.dilation == [1; 3]
}

/// The sides `[Dq, Hq, Wq]` of each stride phase of the padded input: voxel `s·i + p` of the
/// padded input along an axis of stride `s` is voxel `i` of phase `p` (`Dq = ⌈Dp / s⌉`).
pub(super) fn phase_sides(g: &ConvGeom) -> [usize; 3] {
    std::array::from_fn(|a| (g.input[a] + 2 * g.pad[a]).div_ceil(g.stride[a]))
}

/// `x` (`images × cin × D × H × W`) zero-padded and split into stride phases: `xq` (any
/// values on entry; each piece zeroed by its own task, not by one thread beforehand) is
/// `images × cin × phases × Dq × Hq × Wq`, phase `(p, q, r)` at index `(p·sh + q)·sw + r`;
/// in parallel over images and channels.
fn phase_image(g: &ConvGeom, x: &[f32], xq: &mut [f32]) {
    let [d, h, w] = g.input;
    let [pd, ph, pw] = g.pad;
    let [sd, sh, sw] = g.stride;
    let [dq, hq, wq] = phase_sides(g);
    let vq = dq * hq * wq;
    let per_channel = sd * sh * sw * vq;
    xq.par_chunks_mut(per_channel)
        .zip(x.par_chunks(d * h * w))
        .for_each(|(dst, src)| {
            dst.fill(0.0);
            for (z, plane) in src.chunks(h * w).enumerate() {
                let (zd, zp) = ((z + pd) / sd, (z + pd) % sd);
                for (y, line) in plane.chunks(w).enumerate() {
                    let (yd, yp) = ((y + ph) / sh, (y + ph) % sh);
                    if sw == 1 {
                        let row = yp * vq + (zd * hq + yd) * wq + pw + zp * sh * vq;
                        dst[row..row + w].copy_from_slice(line);
                        continue;
                    }
                    for r in 0..sw {
                        // Input voxels of this line in phase r along w: (x + pw) % sw == r.
                        let first = (r + sw - pw % sw) % sw;
                        let phase = (zp * sh + yp) * sw + r;
                        let row = phase * vq + (zd * hq + yd) * wq;
                        // Voxel first + k·sw lands at (first + pw)/sw + k.
                        let to = &mut dst[row + (first + pw) / sw..];
                        let from = line.iter().skip(first).step_by(sw);
                        for (t, f) in to.iter_mut().zip(from) {
                            *t = *f;
                        }
                    }
                }
            }
        });
}

/// The weights as `KD·KH` matrices `cout × (cin·KW)`, one per `(a, b)` (also the 2D
/// kh-shifted GEMMs' per-row matrices, `kernel::kh_split`).
pub(super) fn stacked_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let [kd, kh, kw] = g.kernel;
    let rows = g.cin * kw;
    let mut out = vec![0.0f32; w.len()];
    for co in 0..g.cout {
        for ci in 0..g.cin {
            for a in 0..kd {
                for b in 0..kh {
                    for c in 0..kw {
                        out[((a * kh + b) * g.cout + co) * rows + ci * kw + c] =
                            w[(((co * g.cin + ci) * kd + a) * kh + b) * kw + c];
                    }
                }
            }
        }
    }
    out
}

/// A raw pointer to the output that tiles write through: each tile writes only the output
/// lines of its own wide columns, which no other tile covers.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: shared across rayon tasks that write disjoint elements (see `forward`).
#[allow(unsafe_code)]
unsafe impl Send for OutPtr {}
#[allow(unsafe_code)]
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so that closures capture the `Sync` wrapper, not its field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `out = conv(x, w) + bias` (`x` `batch × cin × in_len`, `out` `batch × cout × out_len`) for
/// a geometry where [`applies`] holds.
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    debug_assert!(applies(g));
    let phases: usize = g.stride.iter().product();
    let image = g.cin * phases * phase_sides(g).iter().product::<usize>();
    // The phases in the calling thread's reused buffer: a new zeroed one was one thread's
    // `memset` before the parallel work (BENCHMARKS.md).
    with_partials(g.batch * image, |xq| {
        phase_image(g, &x[..g.batch * g.cin * g.in_len()], xq);
        forward_phased(g, xq, w, bias, out);
    });
}

/// [`forward`] from the phases `xq` of the padded input ([`phase_image`]).
fn forward_phased(g: &ConvGeom, xq: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    let [dq, hq, wq] = phase_sides(g);
    let [od, oh, ow] = g.output;
    let [kd, kh, kw] = g.kernel;
    let [sd, sh, sw] = g.stride;
    let (plane, vq) = (hq * wq, dq * hq * wq);
    let phases = sd * sh * sw;
    // Wide columns that hold outputs: up to the last output voxel.
    let wide = (od - 1) * plane + (oh - 1) * wq + ow;
    let reach = (kd - 1) / sd * plane + (kh - 1) / sh * wq;
    let rows = g.cin * kw;
    let wk = stacked_weights(g, w);
    let image = g.cin * phases * vq;
    let tile = tile_columns(wide, g.batch, reach);
    let tiles: Vec<(usize, usize)> = (0..g.batch)
        .flat_map(|b| (0..wide).step_by(tile).map(move |n0| (b, n0)))
        .collect();
    let out_len = g.out_len();
    debug_assert_eq!(out.len(), g.batch * g.cout * out_len);
    let dst = OutPtr(out.as_mut_ptr());
    tiles.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(buf, acc): &mut (Vec<f32>, Vec<f32>), (b, n0)| {
            let nt = tile.min(wide - n0);
            let span = nt + reach;
            buf.resize(rows * span, 0.0);
            acc.resize(g.cout * nt, 0.0);
            let xi = &xq[b * image..][..image];
            let mut first = true;
            // One buffer per (depth, height) phase; in it, row (ci, c) is channel ci's
            // width phase c % sw shifted by c / sw.
            for (p, q) in (0..sd.min(kd)).flat_map(|p| (0..sh.min(kh)).map(move |q| (p, q))) {
                for ci in 0..g.cin {
                    for c in 0..kw {
                        let phase = (p * sh + q) * sw + c % sw;
                        let src = (ci * phases + phase) * vq + n0 + c / sw;
                        buf[(ci * kw + c) * span..][..span].copy_from_slice(&xi[src..][..span]);
                    }
                }
                for a in (p..kd).step_by(sd) {
                    for bb in (q..kh).step_by(sh) {
                        matmul(
                            (g.cout, nt, rows),
                            acc,
                            nt,
                            !first,
                            &wk[(a * kh + bb) * g.cout * rows..][..g.cout * rows],
                            (rows, 1),
                            &buf[a / sd * plane + bb / sh * wq..],
                            (span, 1),
                            Parallelism::None,
                        );
                        first = false;
                    }
                }
            }
            // Keep the columns that are output voxels: line by line of the wide grid.
            let out_img = b * g.cout * out_len;
            let mut n = n0;
            while n < n0 + nt {
                let (z, rem) = (n / plane, n % plane);
                let (y, x0) = (rem / wq, rem % wq);
                let line_end = (n - x0 + wq).min(n0 + nt);
                if y < oh && x0 < ow {
                    let len = (ow - x0).min(line_end - n);
                    let at = (z * oh + y) * ow + x0;
                    for (co, bias) in bias.iter().enumerate() {
                        let src = &acc[co * nt + (n - n0)..][..len];
                        // SAFETY: `at + len ≤ out_len` (an output line's tail), the offset
                        // lies inside `out` (image `b`, channel `co`), and only the tile
                        // holding wide column `n` writes this output line segment.
                        #[allow(unsafe_code)]
                        let line = unsafe {
                            std::slice::from_raw_parts_mut(
                                dst.get().add(out_img + co * out_len + at),
                                len,
                            )
                        };
                        for (o, s) in line.iter_mut().zip(src) {
                            *o = s + bias;
                        }
                    }
                }
                n = line_end;
            }
        },
    );
}
