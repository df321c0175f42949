//! Pad: constant, reflect and edge padding of any axes (negative pads crop), one axis at a
//! time with burn ops, so gradients flow to the kept values.

use burn::prelude::*;

use crate::error::Result;
use crate::model::Attr;
use crate::ops::{Ctx, select_axis};
use crate::value::FTensor;

fn constant_pad<const D: usize>(
    t: Tensor<D>,
    axis: usize,
    (b, e): (usize, usize),
    value: f32,
) -> Tensor<D> {
    let dev = t.device();
    let mut parts = Vec::new();
    let side = |n: usize| {
        let mut dims = t.dims();
        dims[axis] = n;
        Tensor::<D>::full(dims, value, &dev)
    };
    if b > 0 {
        parts.push(side(b));
    }
    parts.push(t.clone());
    if e > 0 {
        parts.push(side(e));
    }
    Tensor::cat(parts, axis)
}

/// Source index of padded position `i` (of `n + b + e`) along an axis of `n`.
fn source(mode: &str, i: usize, n: usize, b: usize) -> usize {
    let j = i as i64 - b as i64;
    let n = n as i64;
    let k = match mode {
        "edge" => j.clamp(0, n - 1),
        _ => {
            // reflect without repeating the edge: period 2(n − 1)
            let p = 2 * (n - 1).max(1);
            let m = j.rem_euclid(p);
            if m < n { m } else { p - m }
        }
    };
    k.clamp(0, n - 1) as usize
}

fn pad_axis<const D: usize>(
    t: Tensor<D>,
    axis: usize,
    (b, e): (i64, i64),
    mode: &str,
    value: f32,
) -> Tensor<D> {
    let n = t.dims()[axis];
    // crops first
    let (cb, ce) = ((-b).max(0) as usize, (-e).max(0) as usize);
    let t = if cb + ce > 0 {
        t.narrow(axis, cb, n - cb - ce)
    } else {
        t
    };
    let (b, e) = (b.max(0) as usize, e.max(0) as usize);
    if b + e == 0 {
        return t;
    }
    if mode == "constant" {
        return constant_pad(t, axis, (b, e), value);
    }
    let n = t.dims()[axis];
    let idx: Vec<usize> = (0..n + b + e).map(|i| source(mode, i, n, b)).collect();
    select_axis(t, axis, &idx)
}

/// Pad (opset ≥ 11: pads, constant value and, from 18, axes as inputs; earlier as attributes).
pub(crate) fn pad(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let d = x.dims();
    let r = d.len();
    let mode = ctx.string("mode", "constant")?;
    if !matches!(mode.as_str(), "constant" | "reflect" | "edge") {
        return Err(ctx.unsupported(format!("mode = {mode}")));
    }
    let (pads, value, axes) = if ctx.opset < 11 {
        (
            ctx.ints("pads")?.unwrap_or_default(),
            ctx.float("value", 0.0)?,
            None,
        )
    } else {
        let value = match ctx.opt_floats(2)? {
            Some(v) => v.to_vec().first().copied().unwrap_or(0.0),
            None => 0.0,
        };
        (
            ctx.host_ints(1)?.data,
            value,
            ctx.opt_host_ints(3)?.map(|a| a.data),
        )
    };
    if matches!(ctx.node.attrs.get("axes"), Some(a) if !matches!(a, Attr::Other)) {
        return Err(ctx.unsupported("the axes attribute"));
    }
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| ctx.axis(a, r)).collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    let k = axes.len();
    if pads.len() != 2 * k {
        return Err(ctx.err(format!("{} pads for {k} axes", pads.len())));
    }
    let mut y = x;
    for (i, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[i], pads[k + i]);
        let n = d[a] as i64;
        let out = n + b + e;
        let crop = (-b).max(0) + (-e).max(0);
        if out < 1 || crop >= n || b.abs() > 1 << 24 || e.abs() > 1 << 24 {
            return Err(ctx.err(format!("pads ({b}, {e}) on an axis of {n}")));
        }
        if mode == "reflect" && (b >= n || e >= n) {
            return Err(ctx.err(format!(
                "reflect pads ({b}, {e}) need an axis longer than them ({n})"
            )));
        }
        y = crate::map_rank!(y, t => pad_axis(t, a, (b, e), &mode, value));
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::source;

    #[test]
    fn reflect_and_edge_indices_follow_numpy() {
        // numpy.pad([0, 1, 2, 3], 3, mode="reflect") -> [3 2 1 0 1 2 3 2 1 0]
        let r: Vec<usize> = (0..10).map(|i| source("reflect", i, 4, 3)).collect();
        assert_eq!(r, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        // numpy.pad([0, 1, 2, 3], 2, mode="edge") -> [0 0 0 1 2 3 3 3]
        let e: Vec<usize> = (0..8).map(|i| source("edge", i, 4, 2)).collect();
        assert_eq!(e, [0, 0, 0, 1, 2, 3, 3, 3]);
    }
}
