//! Max and average pooling of any spatial rank (1D and 3D; 2D goes to burn and Mira's
//! kernels in `conv.rs`), written as differentiable burn ops: the input is padded, each
//! kernel tap is one strided selection per axis, and the taps are folded with a maximum or a
//! sum. The maximum keeps the first of equal taps in scan order, so the gradient goes where
//! PyTorch sends it; average pooling divides by the count that ONNX and PyTorch use
//! (`count_include_pad` counts explicit pads, never the extra of `ceil_mode`).

use burn::prelude::*;

use crate::error::Result;
use crate::ops::conv::{Window, kernel_of, window};
use crate::ops::{Ctx, select_axis};
use crate::value::FTensor;

/// Output size along one axis of `n` values (ceil mode drops a last window that would start
/// in the end padding, as PyTorch and ONNX do).
fn out_len(
    n: usize,
    k: usize,
    s: usize,
    dil: usize,
    begin: usize,
    end: usize,
    ceil: bool,
) -> usize {
    let span = (k - 1) * dil + 1;
    let room = n + begin + end - span;
    let mut o = if ceil { room.div_ceil(s) } else { room / s } + 1;
    if ceil && (o - 1) * s >= n + begin {
        o -= 1;
    }
    o
}

/// `t` padded with `value` on the spatial axes: `begin[i]` before, `end[i]` after.
pub(crate) fn pad_value<const D: usize>(
    t: Tensor<D>,
    begin: &[usize],
    end: &[usize],
    value: f32,
) -> Tensor<D> {
    let dims = t.dims();
    let mut out = dims;
    let mut ranges: [std::ops::Range<usize>; D] = std::array::from_fn(|i| 0..dims[i]);
    for i in 2..D {
        out[i] = dims[i] + begin[i - 2] + end[i - 2];
        ranges[i] = begin[i - 2]..begin[i - 2] + dims[i];
    }
    Tensor::full(out, value, &t.device()).slice_assign(ranges, t)
}

struct Geometry {
    win: Window,
    out: Vec<usize>,
    /// End padding including the extra that ceil mode needs.
    end: Vec<usize>,
}

fn geometry(ctx: &Ctx<'_>, spatial: &[usize]) -> Result<Geometry> {
    let n = spatial.len();
    let win = window(ctx, kernel_of(ctx, n, None)?, spatial)?;
    let ceil = ctx.int("ceil_mode", 0)? != 0;
    win.check_pool(ctx, spatial)?;
    let mut out = Vec::with_capacity(n);
    let mut end = Vec::with_capacity(n);
    for (i, &len) in spatial.iter().enumerate() {
        let (k, s, dil) = (win.kernel[i], win.strides[i], win.dilations[i]);
        let o = out_len(len, k, s, dil, win.begin[i], win.end[i], ceil);
        let need = (o - 1) * s + (k - 1) * dil + 1;
        end.push(need.saturating_sub(len + win.begin[i]).max(win.end[i]));
        out.push(o);
    }
    Ok(Geometry { win, out, end })
}

/// Every kernel tap of the padded tensor `p`: `[B, C, out...]` each, in scan order.
fn taps<const D: usize>(p: Tensor<D>, g: &Geometry) -> Vec<Tensor<D>> {
    let n = D - 2;
    let count: usize = g.win.kernel.iter().product();
    (0..count)
        .map(|flat| {
            let mut rem = flat;
            let mut t = p.clone();
            for a in (0..n).rev() {
                let j = rem % g.win.kernel[a];
                rem /= g.win.kernel[a];
                let idx: Vec<usize> = (0..g.out[a])
                    .map(|o| o * g.win.strides[a] + j * g.win.dilations[a])
                    .collect();
                t = select_axis(t, a + 2, &idx);
            }
            t
        })
        .collect()
}

/// `None` only for a kernel without taps, which `window` refuses.
fn max_nd<const D: usize>(x: Tensor<D>, g: &Geometry) -> Option<Tensor<D>> {
    let p = pad_value(x, &g.win.begin, &g.end, f32::NEG_INFINITY);
    taps(p, g).into_iter().reduce(|acc, t| acc.max_pair(t))
}

/// How many taps of each output position along one axis count (host).
fn counts(n: usize, a: usize, g: &Geometry, include_pad: bool) -> Vec<f32> {
    let (k, s, dil, b, e) = (
        g.win.kernel[a],
        g.win.strides[a],
        g.win.dilations[a],
        g.win.begin[a] as i64,
        g.win.end[a] as i64,
    );
    (0..g.out[a])
        .map(|o| {
            (0..k)
                .filter(|&j| {
                    let pos = (o * s + j * dil) as i64 - b;
                    if include_pad {
                        pos >= -b && pos < n as i64 + e
                    } else {
                        pos >= 0 && pos < n as i64
                    }
                })
                .count() as f32
        })
        .collect()
}

fn avg_nd<const D: usize>(x: Tensor<D>, g: &Geometry, include_pad: bool) -> Option<Tensor<D>> {
    let spatial = x.dims()[2..].to_vec();
    let dev = x.device();
    let p = pad_value(x, &g.win.begin, &g.end, 0.0);
    let sum = taps(p, g).into_iter().reduce(|acc, t| acc + t)?;
    Some((0..D - 2).fold(sum, |acc, a| {
        let c = counts(spatial[a], a, g, include_pad);
        let mut shape = [1usize; D];
        shape[a + 2] = c.len();
        acc / Tensor::<1>::from_floats(c.as_slice(), &dev).reshape(shape)
    }))
}

/// MaxPool of a `[B, C, ...]` input with 1 or 3 spatial axes.
pub(crate) fn max_pool_nd(ctx: &Ctx<'_>, x: FTensor) -> Result<FTensor> {
    if x.rank() < 3 {
        return Err(ctx.err(format!("needs a [B, C, ...] input, got {:?}", x.dims())));
    }
    let g = geometry(ctx, &x.dims()[2..])?;
    let none = || ctx.err("an empty kernel");
    Ok(match x {
        FTensor::R3(t) => FTensor::R3(max_nd(t, &g).ok_or_else(none)?),
        FTensor::R5(t) => FTensor::R5(max_nd(t, &g).ok_or_else(none)?),
        other => return Err(ctx.unsupported(format!("{}-D max pooling", other.rank() - 2))),
    })
}

/// AveragePool of a `[B, C, ...]` input with 1 or 3 spatial axes.
pub(crate) fn avg_pool_nd(ctx: &Ctx<'_>, x: FTensor) -> Result<FTensor> {
    if x.rank() < 3 {
        return Err(ctx.err(format!("needs a [B, C, ...] input, got {:?}", x.dims())));
    }
    let g = geometry(ctx, &x.dims()[2..])?;
    let include = ctx.int("count_include_pad", 0)? != 0;
    let none = || ctx.err("an empty kernel");
    Ok(match x {
        FTensor::R3(t) => FTensor::R3(avg_nd(t, &g, include).ok_or_else(none)?),
        FTensor::R5(t) => FTensor::R5(avg_nd(t, &g, include).ok_or_else(none)?),
        other => return Err(ctx.unsupported(format!("{}-D average pooling", other.rank() - 2))),
    })
}

#[cfg(test)]
mod tests {
    use super::out_len;

    #[test]
    fn output_sizes_follow_pytorch() {
        // torch.nn.MaxPool1d(k, s, padding, ceil_mode) output lengths.
        assert_eq!(out_len(8, 3, 2, 1, 1, 1, true), 5);
        assert_eq!(out_len(9, 3, 2, 1, 1, 0, true), 5);
        assert_eq!(out_len(8, 3, 2, 1, 1, 1, false), 4);
        assert_eq!(out_len(7, 2, 2, 1, 0, 0, true), 4);
        assert_eq!(out_len(7, 2, 2, 1, 0, 0, false), 3);
        assert_eq!(out_len(16, 2, 2, 1, 0, 0, false), 8);
    }
}
