//! The input gradient of a volume convolution as the adjoint of the shifted GEMMs (where
//! `kernel.rs::shifted_adjoint_applies`: strided with two or more input channels, or stride 1
//! with one).
//!
//! [`super::shifted`] computes a convolution on the "wide" grid of the padded input's stride
//! phases: `Y[:, n] += W_tap · Xq[phase(tap)][:, n + offset(tap)]`. Its adjoint runs the same
//! GEMMs transposed, accumulating straight into the phases of the input gradient:
//! `dXq[phase(tap)][:, n + offset(tap)] += W_tapᵀ · dY[:, n]`, where `dY` is the output
//! gradient on the wide grid (zero in the columns that are not output voxels). Splitting the
//! phases back into the volume (dropping the padding) gives `dx`; every padded-input voxel
//! belongs to exactly one phase, so that last step is a copy.
//!
//! How: per (image, depth phase, height phase), one GEMM for all the group's taps into a
//! column tile, whose rows are then added into the phases along the wide grid.
//!
//! Why: im2col's adjoint (a GEMM into a column matrix, then col2im's scatter-add of every
//! column) spent most of the time visiting lines: on the b2 regressor's and the S3 CNN's
//! stride-2 layers, lines of 4–32 voxels, col2im was about a quarter of the attack step's
//! profile; here each row is added as one run of up to a tile's width (BENCHMARKS.md).
//!
//! Parallel work: each (image, depth phase, height phase) writes only its own phases of
//! `dXq`, in a fixed order of taps and tiles, so results do not depend on the thread count.
//! Within one task the taps' writes overlap (shifted ranges), so its GEMMs run in turn.

use gemm::Parallelism;
use rayon::prelude::*;

use super::geom::ConvGeom;
use super::kernel::{TILE_BUDGET, matmul, scratch_for, with_partials, with_scratch};
use super::shifted::{applies, phase_sides};

/// Fewest wide columns per tile (the GEMM's `n`), however many rows the group's matrix has.
const MIN_TILE: usize = 256;

/// `dx = ∂⟨conv(x, w), dout⟩/∂x` for a geometry where [`applies`] holds (`dout` `batch × cout
/// × out_len`, `dx` `batch × cin × in_len`, every value of `dx` written).
pub fn input_grad(g: &ConvGeom, dout: &[f32], w: &[f32], dx: &mut [f32]) {
    debug_assert!(applies(g));
    let [dq, hq, wq] = phase_sides(g);
    let [od, oh, ow] = g.output;
    let [kd, kh, kw] = g.kernel;
    let [sd, sh, sw] = g.stride;
    let (plane, vq) = (hq * wq, dq * hq * wq);
    let wide = (od - 1) * plane + (oh - 1) * wq + ow;
    let groups = sd * sh;
    let taps = |pq: usize| {
        let (p, q) = (pq / sh, pq % sh);
        (p..kd)
            .step_by(sd)
            .flat_map(move |a| (q..kh).step_by(sh).map(move |b| (a, b)))
    };
    let weights: Vec<Vec<f32>> = (0..groups)
        .map(|pq| group_weights(g, w, taps(pq)))
        .collect();
    // One task's phases: the `sw` width phases of each channel for its (depth, height) phase.
    let region = g.cin * sw * vq;
    let out_len = g.out_len();
    let task = |t: usize, dst: &mut [f32]| {
        let (b, pq) = (t / groups, t % groups);
        dst.fill(0.0);
        let wt = &weights[pq];
        // Rows of the group's column matrix (taps · cin · kw); none: no tap reads these
        // phases, whose gradient stays zero.
        let m = wt.len() / g.cout;
        if m == 0 {
            return;
        }
        let tile = wide.min((TILE_BUDGET / (m + g.cout)).max(MIN_TILE));
        let dy = &dout[b * g.cout * out_len..][..g.cout * out_len];
        // Where row (tap, ci, c) of the column matrix adds in: channel ci's width phase
        // c % sw, shifted by the tap's offset and c / sw (plus the tile's first column). In
        // bounds: the last output voxel's taps read inside their phases.
        let offsets: Vec<usize> = taps(pq)
            .flat_map(|(a, bb)| {
                let shift = a / sd * plane + bb / sh * wq;
                (0..g.cin).flat_map(move |ci| {
                    (0..kw).map(move |c| (ci * sw + c % sw) * vq + c / sw + shift)
                })
            })
            .collect();
        with_scratch(|buf| {
            let (acc, cols) = scratch_for(buf, (g.cout + m) * tile).split_at_mut(g.cout * tile);
            for n0 in (0..wide).step_by(tile) {
                let nt = tile.min(wide - n0);
                let (acc, cols) = (&mut acc[..g.cout * nt], &mut cols[..m * nt]);
                wide_tile(g, dy, (n0, nt), (plane, wq), acc);
                // cols = Wᵀ · dY[:, tile]: one GEMM for all the group's taps.
                let shape = (m, nt, g.cout);
                matmul(
                    shape,
                    cols,
                    nt,
                    false,
                    wt,
                    (g.cout, 1),
                    acc,
                    (nt, 1),
                    Parallelism::None,
                );
                pulp::Arch::new().dispatch(AddRows {
                    dst: &mut *dst,
                    cols,
                    nt,
                    n0,
                    offsets: &offsets,
                });
            }
        });
    };
    with_partials(g.batch * groups * region, |dxq| {
        dxq.par_chunks_mut(region)
            .enumerate()
            .for_each(|(t, dst)| task(t, dst));
        unphase(g, dxq, dx);
    });
}

/// The weights of the taps `(a, b)` of one (depth, height) phase as one matrix, rows `(tap,
/// ci, c)` (`c` the width tap), columns `co`: `Wᵀ` for the group's GEMM.
fn group_weights(g: &ConvGeom, w: &[f32], taps: impl Iterator<Item = (usize, usize)>) -> Vec<f32> {
    let [kd, kh, kw] = g.kernel;
    let mut out = Vec::new();
    for (a, b) in taps {
        for ci in 0..g.cin {
            for c in 0..kw {
                out.extend(
                    (0..g.cout).map(|co| w[(((co * g.cin + ci) * kd + a) * kh + b) * kw + c]),
                );
            }
        }
    }
    out
}

/// `dst[offset + n0..][..nt] += row` for each row of `cols` (`rows × nt`) and its offset, as
/// a [`pulp::WithSimd`]: compiled for the CPU's widest vector extension.
struct AddRows<'a> {
    dst: &'a mut [f32],
    cols: &'a [f32],
    nt: usize,
    n0: usize,
    offsets: &'a [usize],
}

impl pulp::WithSimd for AddRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            dst,
            cols,
            nt,
            n0,
            offsets,
        } = self;
        for (row, &at) in cols.chunks_exact(nt).zip(offsets) {
            for (d, v) in dst[at + n0..][..nt].iter_mut().zip(row) {
                *d += v;
            }
        }
    }
}

/// Columns `n0..n0 + nt` of one image's output gradient on the wide grid (`plane = Hq·Wq`,
/// lines of `wq`): `acc` (`cout × nt`) holds `dy` at output voxels, zero elsewhere.
fn wide_tile(
    g: &ConvGeom,
    dy: &[f32],
    (n0, nt): (usize, usize),
    (plane, wq): (usize, usize),
    acc: &mut [f32],
) {
    let [_, oh, ow] = g.output;
    let out_len = g.out_len();
    let mut n = n0;
    while n < n0 + nt {
        let (z, rem) = (n / plane, n % plane);
        let (y, x0) = (rem / wq, rem % wq);
        let line_end = (n - x0 + wq).min(n0 + nt);
        let len = if y < oh && x0 < ow {
            (ow - x0).min(line_end - n)
        } else {
            0
        };
        let at = (z * oh + y) * ow + x0;
        for (co, row) in acc.chunks_exact_mut(nt).enumerate() {
            let seg = &mut row[n - n0..line_end - n0];
            seg[..len].copy_from_slice(&dy[co * out_len + at..][..len]);
            seg[len..].fill(0.0);
        }
        n = line_end;
    }
}

/// `dx` (`batch × cin × D × H × W`) from the phases `dxq` (`batch × (sd·sh) × cin × sw × Dq ×
/// Hq × Wq`): voxel `s·i + p` of the padded input along an axis is voxel `i` of phase `p`;
/// the padding is dropped. In parallel over images and channels; every value of `dx` written.
fn unphase(g: &ConvGeom, dxq: &[f32], dx: &mut [f32]) {
    let [d, h, w] = g.input;
    let [pd, ph, pw] = g.pad;
    let [sd, sh, sw] = g.stride;
    let [dq, hq, wq] = phase_sides(g);
    let vq = dq * hq * wq;
    let region = g.cin * sw * vq;
    dx.par_chunks_mut(d * h * w)
        .enumerate()
        .for_each(|(t, dst)| {
            let (b, ci) = (t / g.cin, t % g.cin);
            for (z, slab) in dst.chunks_mut(h * w).enumerate() {
                let (zd, zp) = ((z + pd) / sd, (z + pd) % sd);
                for (y, line) in slab.chunks_mut(w).enumerate() {
                    let (yd, yp) = ((y + ph) / sh, (y + ph) % sh);
                    let base =
                        (b * sd * sh + zp * sh + yp) * region + ci * sw * vq + (zd * hq + yd) * wq;
                    if sw == 1 {
                        line.copy_from_slice(&dxq[base + pw..][..w]);
                        continue;
                    }
                    if sw == 2 {
                        let (row0, row1) = (&dxq[base..][..wq], &dxq[base + vq..][..wq]);
                        interleave(line, row0, row1, pw);
                        continue;
                    }
                    for r in 0..sw {
                        // Voxels x with (x + pw) % sw == r: first + k·sw reads (first + pw)/sw + k.
                        let first = (r + sw - pw % sw) % sw;
                        let from = &dxq[base + r * vq + (first + pw) / sw..];
                        for (t, f) in line.iter_mut().skip(first).step_by(sw).zip(from) {
                            *t = *f;
                        }
                    }
                }
            }
        });
}

/// One line of `dx` along a stride-2 axis from its two phases: voxel `x` (padded `u = x +
/// pad = 2k + r`) is `row_r[k]`. Over whole pairs, which vectorises (the strided walk stays
/// scalar).
#[inline(always)]
fn interleave(line: &mut [f32], row0: &[f32], row1: &[f32], pad: usize) {
    let w = line.len();
    let mut x = 0;
    if pad % 2 == 1 && w > 0 {
        line[0] = row1[pad / 2];
        x = 1;
    }
    let k0 = (x + pad) / 2;
    let pairs = (w - x) / 2;
    let (a, b) = (&row0[k0..][..pairs], &row1[k0..][..pairs]);
    for ((p, a), b) in line[x..x + 2 * pairs].chunks_exact_mut(2).zip(a).zip(b) {
        p[0] = *a;
        p[1] = *b;
    }
    if x + 2 * pairs < w {
        line[w - 1] = row0[k0 + pairs];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, s: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 1013) as f32 * s).sin())
            .collect()
    }

    /// The input gradient by its definition, one tap at a time, in f64: every output voxel
    /// scatters `w · dy` onto the input voxel each tap reads.
    fn scatter(g: &ConvGeom, dout: &[f32], w: &[f32]) -> Vec<f64> {
        let [d, h, wd] = g.input;
        let [od, oh, ow] = g.output;
        let [kd, kh, kw] = g.kernel;
        let mut dx = vec![0.0f64; g.batch * g.cin * d * h * wd];
        for b in 0..g.batch {
            for co in 0..g.cout {
                for (z, y, x) in
                    (0..od).flat_map(|z| (0..oh).flat_map(move |y| (0..ow).map(move |x| (z, y, x))))
                {
                    let dy = f64::from(dout[(((b * g.cout + co) * od + z) * oh + y) * ow + x]);
                    for (ci, a, bb, c) in (0..g.cin).flat_map(|ci| {
                        (0..kd).flat_map(move |a| {
                            (0..kh).flat_map(move |bb| (0..kw).map(move |c| (ci, a, bb, c)))
                        })
                    }) {
                        let at = |o: usize, s: usize, k: usize, p: usize, n: usize| {
                            (o * s + k).checked_sub(p).filter(|&i| i < n)
                        };
                        let (Some(iz), Some(iy), Some(ix)) = (
                            at(z, g.stride[0], a, g.pad[0], d),
                            at(y, g.stride[1], bb, g.pad[1], h),
                            at(x, g.stride[2], c, g.pad[2], wd),
                        ) else {
                            continue;
                        };
                        let wv = w[(((co * g.cin + ci) * kd + a) * kh + bb) * kw + c];
                        dx[(((b * g.cin + ci) * d + iz) * h + iy) * wd + ix] += f64::from(wv) * dy;
                    }
                }
            }
        }
        dx
    }

    #[test]
    fn the_adjoint_is_the_scatter_of_every_tap() {
        // (batch, cin, cout, input, kernel, stride, pad): MONAI's and the regressor's stride-2
        // down-sampling, odd and even sides, unequal strides, a stride larger than the kernel
        // (phases without taps), padding 0–2 (odd and even along w), one channel, several
        // tiles of wide columns; stride 1 with one input channel (the last two).
        let cases = [
            (2, 3, 4, [9, 8, 7], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
            (1, 2, 3, [7, 10, 9], [3, 2, 3], [2, 3, 1], [0, 1, 1]),
            (3, 2, 2, [8, 7, 9], [2, 2, 2], [3, 3, 3], [1, 0, 1]),
            (1, 4, 2, [6, 6, 11], [1, 3, 3], [1, 2, 2], [0, 1, 2]),
            (2, 1, 3, [5, 9, 10], [3, 3, 2], [2, 1, 2], [1, 1, 0]),
            (1, 3, 2, [6, 8, 12], [2, 2, 2], [2, 2, 2], [0, 0, 0]),
            (1, 12, 40, [20, 24, 26], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
            (2, 1, 5, [7, 6, 9], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
            (1, 1, 3, [5, 8, 6], [2, 3, 3], [1, 1, 1], [0, 2, 1]),
        ];
        for (i, (batch, cin, cout, input, k, stride, pad)) in cases.into_iter().enumerate() {
            let g =
                ConvGeom::new(batch, cin, cout, input, k, stride, pad, [1; 3]).expect("geometry");
            assert!(applies(&g), "case {i}");
            let dout = wave(batch * cout * g.out_len(), 0.37);
            let w = wave(cout * g.col_rows(), 0.11);
            let want = scatter(&g, &dout, &w);
            let mut got = vec![f32::NAN; want.len()];
            input_grad(&g, &dout, &w, &mut got);
            let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*a) - b).abs() <= 1e-5 * scale,
                    "case {i} at {j}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn the_thread_count_does_not_change_a_bit() {
        for (batch, cin, cout) in [(1, 3, 5), (3, 4, 2)] {
            let g = ConvGeom::new(
                batch,
                cin,
                cout,
                [9, 10, 11],
                [3; 3],
                [2; 3],
                [1; 3],
                [1; 3],
            )
            .expect("geometry");
            let dout = wave(batch * cout * g.out_len(), 0.37);
            let w = wave(cout * g.col_rows(), 0.11);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("thread pool");
                let mut dx = vec![f32::NAN; batch * cin * g.in_len()];
                pool.install(|| input_grad(&g, &dout, &w, &mut dx));
                dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(run(1), run(3), "batch {batch}");
        }
    }

    #[test]
    fn interleave_is_the_strided_walk() {
        for w in 0..12usize {
            for pad in 0..4 {
                let wq = (w + 2 * pad).div_ceil(2);
                let (r0, r1) = (wave(wq, 0.3), wave(wq, 0.7));
                let mut want = vec![f32::NAN; w];
                for (x, v) in want.iter_mut().enumerate() {
                    let u = x + pad;
                    *v = if u % 2 == 0 { r0[u / 2] } else { r1[u / 2] };
                }
                let mut got = vec![f32::NAN; w];
                interleave(&mut got, &r0, &r1, pad);
                assert_eq!(
                    got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "w {w}, pad {pad}"
                );
            }
        }
    }
}
