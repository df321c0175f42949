//! im2col and its adjoint col2im for a tile of output lines of one image.
//!
//! The tile's matrix has `geom.col_rows()` rows and `(l1 − l0) · ow` columns, row-major. Row
//! `((ci·KD + kd)·KH + kh)·KW + kw`, column `(l − l0)·ow + o` holds the input voxel that kernel
//! tap `(kd, kh, kw)` of channel `ci` sees for output line `l = od·oh_n + oh`, voxel `o`, or
//! zero in the padding. With stride 1 along `w` each line of a row is one shifted copy of an
//! input line, which is what makes this cheap.

use super::geom::{ConvGeom, valid_range};

/// For each line of the tile, the input line it reads for tap `(kd, kh)`, or `None` in the
/// padding.
fn source_line(g: &ConvGeom, line: usize, kd: usize, kh: usize) -> Option<usize> {
    let [od_n, oh_n, _] = g.output;
    debug_assert!(line < od_n * oh_n);
    let (od, oh) = (line / oh_n, line % oh_n);
    let id = (od * g.stride[0] + kd * g.dilation[0]).checked_sub(g.pad[0])?;
    let ih = (oh * g.stride[1] + kh * g.dilation[1]).checked_sub(g.pad[1])?;
    (id < g.input[0] && ih < g.input[1]).then_some(id * g.input[1] + ih)
}

/// Visits every (row, line) pair of the tile with the input line it reads and the valid
/// output range along `w`: `f(row_line_start, input_line, kw_offset, lo, hi)`, where
/// `row_line_start` indexes the tile matrix and `input_line` is `None` in the padding.
#[inline(always)]
fn for_each_line(g: &ConvGeom, l0: usize, l1: usize, f: &mut impl LineVisit) {
    let [kd_n, kh_n, kw_n] = g.kernel;
    let ow = g.output[2];
    let n = (l1 - l0) * ow;
    let plane = g.input[0] * g.input[1];
    // The valid output range along `w` depends only on the tap's `kw`.
    let ranges: Vec<(usize, usize, usize)> = (0..kw_n)
        .map(|kw| {
            let off = kw * g.dilation[2];
            let (lo, hi) = valid_range(off, g.pad[2], g.stride[2], g.input[2], ow);
            (off, lo, hi)
        })
        .collect();
    for ci in 0..g.cin {
        for kd in 0..kd_n {
            for kh in 0..kh_n {
                let row0 = ((ci * kd_n + kd) * kh_n + kh) * kw_n;
                for line in l0..l1 {
                    // The input line depends on (kd, kh) only: once for all kw.
                    let src = source_line(g, line, kd, kh).map(|s| ci * plane + s);
                    let at = (line - l0) * ow;
                    for (kw, &(off, lo, hi)) in ranges.iter().enumerate() {
                        f.visit((row0 + kw) * n + at, src, (off, lo, hi));
                    }
                }
            }
        }
    }
}

/// Zeros `s`, which usually holds none or one float (a line's padding): stores, not a call of
/// `memset` per line as `fill` compiles to.
#[inline(always)]
pub(super) fn zero_few(s: &mut [f32]) {
    match s {
        [] => {}
        [a] => *a = 0.0,
        [a, b] => (*a, *b) = (0.0, 0.0),
        _ => s.fill(0.0),
    }
}

/// One output line as tap offset `off` sees input line `src`: voxels `lo..hi` read
/// `src[o·stride + off − pad]`, the rest (padding) are zero.
#[inline(always)]
fn copy_line(
    dst: &mut [f32],
    src: &[f32],
    (off, lo, hi): (usize, usize, usize),
    sw: usize,
    pw: usize,
) {
    zero_few(&mut dst[..lo]);
    zero_few(&mut dst[hi..]);
    if sw == 1 {
        let first = lo + off - pw;
        dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
    } else if sw == 2 && hi > lo {
        // An index loop over exact lengths: LLVM vectorises these stride-2 reads (the strided
        // walk below stays scalar); the UNet's 2×2 stride-2 up-sampling runs here.
        let first = lo * 2 + off - pw;
        let (d, s) = (&mut dst[lo..hi], &src[first..first + 2 * (hi - lo) - 1]);
        for k in 0..d.len() {
            d[k] = s[2 * k];
        }
    } else if hi > lo {
        // One strided walk instead of an index (and bounds check) per voxel.
        let first = lo * sw + off - pw;
        for (d, s) in dst[lo..hi].iter_mut().zip(src[first..].iter().step_by(sw)) {
            *d = *s;
        }
    }
}

/// Fills `col` (`col_rows × (l1 − l0)·ow`) from one image `x` (`cin × d·h·w`).
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], l0: usize, l1: usize, col: &mut [f32]) {
    debug_assert_eq!(col.len(), g.col_rows() * (l1 - l0) * g.output[2]);
    pulp::Arch::new().dispatch(Lines {
        g,
        tile: (l0, l1),
        op: LinesOp::Im2col { x, col },
    });
}

/// Adds `col` (as laid out by [`im2col`]) back onto the image gradient `dx`: the adjoint of
/// [`im2col`], so that `dx += colᵀ`-scatter.
pub(crate) fn col2im(g: &ConvGeom, col: &[f32], l0: usize, l1: usize, dx: &mut [f32]) {
    debug_assert_eq!(col.len(), g.col_rows() * (l1 - l0) * g.output[2]);
    pulp::Arch::new().dispatch(Lines {
        g,
        tile: (l0, l1),
        op: LinesOp::Col2im { col, dx },
    });
}

/// [`im2col`] or [`col2im`] on a tile of output lines, as a [`pulp::WithSimd`]: compiled for
/// the CPU's widest vector extension (their stride-2 lines stayed 128-bit in the default
/// x86-64 build).
struct Lines<'a> {
    g: &'a ConvGeom,
    tile: (usize, usize),
    op: LinesOp<'a>,
}

/// Which way [`Lines`] moves the data.
enum LinesOp<'a> {
    Im2col { x: &'a [f32], col: &'a mut [f32] },
    Col2im { col: &'a [f32], dx: &'a mut [f32] },
}

impl pulp::WithSimd for Lines<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self { g, tile, op } = self;
        match op {
            LinesOp::Im2col { x, col } => im2col_lines(g, x, tile, col),
            LinesOp::Col2im { col, dx } => col2im_lines(g, col, tile, dx),
        }
    }
}

/// What [`for_each_line`] does with each (row, line) pair: `visit(row_line_start,
/// input_line, (kw_offset, lo, hi))`. A trait with `#[inline(always)]` methods rather than a
/// closure: the closures were compiled out of line, for plain x86-64, outside the dispatched
/// function ([`Lines`]), and ran one voxel at a time — `col2im_lines`'s was 27 % of the b2
/// step with Mira's strided adjoint (BENCHMARKS.md).
pub(super) trait LineVisit {
    fn visit(&mut self, start: usize, src: Option<usize>, range: (usize, usize, usize));
}

/// `(ow, iw, stride, pad)` along `w`: what a line visit needs of the geometry.
#[inline(always)]
fn w_axis(g: &ConvGeom) -> (usize, usize, usize, usize) {
    (g.output[2], g.input[2], g.stride[2], g.pad[2])
}

/// [`im2col`]'s visit: copy the input line's voxels into the row's line.
struct Im2colVisit<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    col: &'a mut [f32],
}

impl LineVisit for Im2colVisit<'_> {
    #[inline(always)]
    fn visit(&mut self, start: usize, src: Option<usize>, range: (usize, usize, usize)) {
        let (ow, iw, sw, pw) = w_axis(self.g);
        let dst = &mut self.col[start..start + ow];
        let Some(src) = src else {
            dst.fill(0.0);
            return;
        };
        copy_line(dst, &self.x[src * iw..(src + 1) * iw], range, sw, pw);
    }
}

/// [`col2im`]'s visit: add the row's line into the input line's voxels.
struct Col2imVisit<'a> {
    g: &'a ConvGeom,
    col: &'a [f32],
    dx: &'a mut [f32],
}

impl LineVisit for Col2imVisit<'_> {
    #[inline(always)]
    fn visit(&mut self, start: usize, src: Option<usize>, (off, lo, hi): (usize, usize, usize)) {
        let (ow, iw, sw, pw) = w_axis(self.g);
        let Some(src) = src else { return };
        let dst = &mut self.dx[src * iw..(src + 1) * iw];
        let from = &self.col[start..start + ow];
        if sw == 1 {
            let first = lo + off - pw;
            for (d, c) in dst[first..first + (hi - lo)].iter_mut().zip(&from[lo..hi]) {
                *d += c;
            }
        } else if sw == 2 && hi > lo {
            // Pairs (even voxel += c, odd voxel += 0): a whole interleaved group, which
            // vectorises; adding only to the even voxels stayed scalar. `+ 0.0` leaves every
            // value bit for bit but −0.0, and none is −0.0: `dx` starts at +0.0 and a sum
            // that starts at +0.0 never rounds to −0.0.
            let first = lo * 2 + off - pw;
            let (d, c) = (&mut dst[first..first + 2 * (hi - lo) - 1], &from[lo..hi]);
            let n = c.len() - 1;
            let (pairs, last) = d.split_at_mut(2 * n);
            for (p, v) in pairs.chunks_exact_mut(2).zip(&c[..n]) {
                let (a, b) = (p[0] + v, p[1] + 0.0);
                p[0] = a;
                p[1] = b;
            }
            last[0] += c[n];
        } else if hi > lo {
            let first = lo * sw + off - pw;
            for (d, c) in dst[first..].iter_mut().step_by(sw).zip(&from[lo..hi]) {
                *d += c;
            }
        }
    }
}

/// The body of [`im2col`].
#[inline(always)]
fn im2col_lines(g: &ConvGeom, x: &[f32], (l0, l1): (usize, usize), col: &mut [f32]) {
    for_each_line(g, l0, l1, &mut Im2colVisit { g, x, col });
}

/// The body of [`col2im`].
#[inline(always)]
fn col2im_lines(g: &ConvGeom, col: &[f32], (l0, l1): (usize, usize), dx: &mut [f32]) {
    for_each_line(g, l0, l1, &mut Col2imVisit { g, col, dx });
}

/// The kh-shifted form for 2D convolutions with stride and dilation 1 along `h`: `buf` gets
/// `cin · KW` rows of `span` lines each, line `j` of row `ci·KW + kw` holding input row
/// `first + j − pad_h` of channel `ci` as tap `kw` sees it (zero in the padding). Tap row `kh`
/// of the full im2col matrix is then this buffer read from line `kh` on, so the `KH` GEMMs
/// over it need no copy of their own (a `KH`-th of im2col's copying).
pub(crate) fn kw_lines(g: &ConvGeom, x: &[f32], first: usize, span: usize, buf: &mut [f32]) {
    let (ow, ih_n, iw, sw, pw, ph) = (
        g.output[2],
        g.input[1],
        g.input[2],
        g.stride[2],
        g.pad[2],
        g.pad[1],
    );
    let kw_n = g.kernel[2];
    let row_len = span * ow;
    debug_assert_eq!(buf.len(), g.cin * kw_n * row_len);
    for ci in 0..g.cin {
        let xc = &x[ci * ih_n * iw..(ci + 1) * ih_n * iw];
        for kw in 0..kw_n {
            let off = kw * g.dilation[2];
            let (lo, hi) = valid_range(off, pw, sw, iw, ow);
            let row = &mut buf[(ci * kw_n + kw) * row_len..][..row_len];
            for (j, dst) in row.chunks_exact_mut(ow).enumerate() {
                let Some(ih) = (first + j).checked_sub(ph).filter(|&ih| ih < ih_n) else {
                    dst.fill(0.0);
                    continue;
                };
                copy_line(dst, &xc[ih * iw..(ih + 1) * iw], (off, lo, hi), sw, pw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old stride-2 scatter: one add per even voxel, in the same visiting order.
    struct Scalar<'a> {
        g: &'a ConvGeom,
        col: &'a [f32],
        dx: &'a mut [f32],
    }

    impl LineVisit for Scalar<'_> {
        fn visit(
            &mut self,
            start: usize,
            src: Option<usize>,
            (off, lo, hi): (usize, usize, usize),
        ) {
            let (_, iw, sw, pw) = w_axis(self.g);
            let Some(src) = src else { return };
            for o in lo..hi {
                self.dx[src * iw + o * sw + off - pw] += self.col[start + o];
            }
        }
    }

    #[test]
    fn col2im_equals_the_scalar_scatter_bit_for_bit() {
        // Strides 1–3 along w, odd and even sides, padding 0–2, kernels 1–4, with ±0 and
        // values of every magnitude in the columns: the pairwise form's `+ 0.0` on odd voxels
        // must leave them exactly as the scalar scatter does.
        for (i, (input, k, stride, pad)) in [
            ([3, 9, 17], [2, 3, 3], [2, 2, 2], [1, 1, 1]),
            ([4, 8, 16], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
            ([2, 7, 12], [1, 2, 2], [1, 2, 2], [0, 0, 0]),
            ([1, 11, 23], [1, 3, 4], [1, 1, 2], [0, 1, 2]),
            ([2, 6, 19], [2, 2, 3], [1, 3, 3], [0, 1, 1]),
            ([1, 5, 9], [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ]
        .into_iter()
        .enumerate()
        {
            let g = ConvGeom::new(1, 3, 2, input, k, stride, pad, [1; 3]).expect("geometry");
            let lines = g.output[0] * g.output[1];
            let n = g.col_rows() * lines * g.output[2];
            let col: Vec<f32> = (0..n)
                .map(|j| match j % 7 {
                    0 => -0.0,
                    1 => 0.0,
                    r => ((j * 37 % 101) as f32 - 50.0) * 10f32.powi(r as i32 - 4),
                })
                .collect();
            let mut want = vec![0.0f32; g.cin * g.in_len()];
            for_each_line(
                &g,
                0,
                lines,
                &mut Scalar {
                    g: &g,
                    col: &col,
                    dx: &mut want,
                },
            );
            let mut got = vec![0.0f32; g.cin * g.in_len()];
            col2im(&g, &col, 0, lines, &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "case {i}");
        }
    }
}
