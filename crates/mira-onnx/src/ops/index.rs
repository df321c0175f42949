//! Split, ScatterND, Range and Tile, on float tensors (device) and host integers alike.

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

use crate::error::Result;
use crate::ops::{Ctx, select_axis};
use crate::value::{FTensor, HostInts, Value};

/// The part `start..start + len` of `v` along `axis`.
fn narrow(ctx: &Ctx<'_>, v: &Value, axis: usize, start: usize, len: usize) -> Result<Value> {
    Ok(match v {
        Value::Float(_) if len == 0 => {
            return Err(ctx.unsupported("an empty part of a float tensor (empty tensors)"));
        }
        Value::Float(t) => {
            Value::Float(crate::map_rank!(t.clone(), x => x.narrow(axis, start, len)))
        }
        Value::Int(i) => {
            let d = &i.dims;
            let outer: usize = d[..axis].iter().product();
            let inner: usize = d[axis + 1..].iter().product();
            let mut data = Vec::with_capacity(outer * len * inner);
            for o in 0..outer {
                let s = (o * d[axis] + start) * inner;
                data.extend_from_slice(&i.data[s..s + len * inner]);
            }
            let mut dims = d.clone();
            dims[axis] = len;
            Value::Int(HostInts { dims, data })
        }
    })
}

/// Split along `axis` into the given sizes (input from opset 13, attribute before), or into
/// `num_outputs` (opset 18) or as many equal parts as there are outputs.
pub(crate) fn split(ctx: &Ctx<'_>) -> Result<Vec<Value>> {
    let v = ctx.input(0)?;
    let d = v.dims();
    let axis = ctx.axis(ctx.int("axis", 0)?, d.len())?;
    let n = d[axis];
    let sizes = match ctx.ints("split")? {
        Some(s) => Some(s),
        None => ctx.opt_host_ints(1)?.map(|s| s.data),
    };
    let sizes: Vec<usize> = match sizes {
        Some(s) => s
            .iter()
            .map(|&x| usize::try_from(x).map_err(|_| ctx.err(format!("invalid split {s:?}"))))
            .collect::<Result<_>>()?,
        None => {
            let k = usize::try_from(ctx.int("num_outputs", ctx.node.outputs.len() as i64)?)
                .ok()
                .filter(|&k| k > 0)
                .ok_or_else(|| ctx.err("num_outputs must be positive"))?;
            let part = n.div_ceil(k);
            (0..k)
                .map(|i| part.min(n.saturating_sub(i * part)))
                .collect()
        }
    };
    if sizes.iter().sum::<usize>() != n || sizes.len() != ctx.node.outputs.len() {
        return Err(ctx.err(format!(
            "split sizes {sizes:?} do not divide an axis of {n} into {} outputs",
            ctx.node.outputs.len()
        )));
    }
    let mut start = 0;
    sizes
        .iter()
        .map(|&len| {
            let part = narrow(ctx, v, axis, start, len);
            start += len;
            part
        })
        .collect()
}

/// ScatterND (reduction `none` or `add`): `data` with the slices that `indices` address
/// replaced by (or increased by) `updates`.
pub(crate) fn scatter_nd(ctx: &Ctx<'_>) -> Result<Value> {
    let data = ctx.input(0)?;
    let idx = ctx.host_ints(1)?;
    let d = data.dims();
    let k = *idx
        .dims
        .last()
        .ok_or_else(|| ctx.err("indices must have rank ≥ 1"))?;
    if k == 0 || k > d.len() {
        return Err(ctx.err(format!("index tuples of {k} for data of rank {}", d.len())));
    }
    let add = match ctx.string("reduction", "none")?.as_str() {
        "none" => false,
        "add" => true,
        other => return Err(ctx.unsupported(format!("reduction = {other}"))),
    };
    let inner: usize = d[k..].iter().product();
    let mut positions = Vec::with_capacity(idx.data.len() / k * inner);
    for tuple in idx.data.chunks_exact(k) {
        let mut base = 0usize;
        for (a, &i) in tuple.iter().enumerate() {
            let n = d[a] as i64;
            let j = if i < 0 { i + n } else { i };
            if !(0..n).contains(&j) {
                return Err(ctx.err(format!("index {i} out of range {n} on axis {a}")));
            }
            base = base * d[a] + j as usize;
        }
        positions.extend((0..inner).map(|o| base * inner + o));
    }
    let mut want: Vec<usize> = idx.dims[..idx.dims.len() - 1].to_vec();
    want.extend(&d[k..]);
    let updates = ctx.input(2)?;
    if updates.dims() != want {
        return Err(ctx.err(format!("updates {:?}, expected {want:?}", updates.dims())));
    }
    let total: usize = d.iter().product();
    match (data, updates) {
        (Value::Int(x), Value::Int(u)) => {
            let mut out = x.data.clone();
            for (&p, &v) in positions.iter().zip(&u.data) {
                out[p] = if add { out[p].wrapping_add(v) } else { v };
            }
            Ok(Value::Int(HostInts { dims: d, data: out }))
        }
        (Value::Float(x), Value::Float(u)) => {
            let x1 = x.clone().reshape(&[total])?.into_rank::<1>()?;
            let u1 = u.clone().reshape(&[positions.len()])?.into_rank::<1>()?;
            let dev = x1.device();
            let x1 = if add {
                x1
            } else {
                // Clear the addressed entries, then add the updates there.
                let mut keep = vec![1f32; total];
                for &p in &positions {
                    keep[p] = 0.0;
                }
                x1 * Tensor::<1>::from_floats(keep.as_slice(), &dev)
            };
            let ids: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
            let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), &dev);
            let y = x1.select_assign(0, ids, u1, IndexingUpdateOp::Add);
            Ok(Value::Float(FTensor::R1(y).reshape(&d)?))
        }
        _ => Err(ctx.err("data and updates must both be floats or both integers")),
    }
}

/// Range(start, limit, delta): `start, start + delta, …` up to, not including, `limit`.
pub(crate) fn range(ctx: &Ctx<'_>) -> Result<Value> {
    if let (Value::Int(_), Value::Int(_), Value::Int(_)) =
        (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?)
    {
        let s = |i: usize| -> Result<i64> {
            ctx.host_ints(i)?
                .data
                .first()
                .copied()
                .ok_or_else(|| ctx.err("empty Range input"))
        };
        let (start, limit, delta) = (s(0)?, s(1)?, s(2)?);
        if delta == 0 {
            return Err(ctx.err("delta is 0"));
        }
        let n = ((limit - start) as f64 / delta as f64).ceil().max(0.0) as usize;
        if n > 1 << 28 {
            return Err(ctx.err(format!("a range of {n} values")));
        }
        let data: Vec<i64> = (0..n as i64).map(|i| start + i * delta).collect();
        return Ok(Value::Int(HostInts {
            dims: vec![n],
            data,
        }));
    }
    let f = |i: usize| -> Result<f32> {
        ctx.floats(i)?
            .to_vec()
            .first()
            .copied()
            .ok_or_else(|| ctx.err("empty Range input"))
    };
    let (start, limit, delta) = (f(0)?, f(1)?, f(2)?);
    if delta == 0.0 || !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
        return Err(ctx.err("Range needs finite bounds and a non-zero delta"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0) as usize;
    if n > 1 << 28 {
        return Err(ctx.err(format!("a range of {n} values")));
    }
    let v: Vec<f32> = (0..n).map(|i| start + i as f32 * delta).collect();
    Ok(Value::Float(FTensor::from_host(&v, &[n], ctx.device)?))
}

/// Tile: the input repeated `repeats[i]` times along each axis `i`.
pub(crate) fn tile(ctx: &Ctx<'_>) -> Result<Value> {
    let v = ctx.input(0)?;
    let d = v.dims();
    let reps = ctx.host_ints(1)?.data;
    if reps.len() != d.len() || reps.iter().any(|&r| !(1..=1 << 16).contains(&r)) {
        return Err(ctx.err(format!("repeats {reps:?} for rank {}", d.len())));
    }
    let total = d
        .iter()
        .zip(&reps)
        .try_fold(1usize, |acc, (&n, &r)| acc.checked_mul(n * r as usize));
    if total.is_none_or(|t| t > 1 << 31) {
        return Err(ctx.err(format!("tiling {d:?} by {reps:?} is too large")));
    }
    let mut out = v.clone();
    for (axis, &r) in reps.iter().enumerate() {
        if r == 1 {
            continue;
        }
        let n = d[axis];
        let idx: Vec<usize> = (0..r as usize * n).map(|i| i % n).collect();
        out = match out {
            Value::Float(t) => Value::Float(crate::map_rank!(t, x => select_axis(x, axis, &idx))),
            Value::Int(i) => {
                let inner: usize = i.dims[axis + 1..].iter().product();
                let outer: usize = i.dims[..axis].iter().product();
                let mut data = Vec::with_capacity(i.data.len() * r as usize);
                for o in 0..outer {
                    for &j in &idx {
                        let s = (o * n + j) * inner;
                        data.extend_from_slice(&i.data[s..s + inner]);
                    }
                }
                let mut dims = i.dims.clone();
                dims[axis] = idx.len();
                Value::Int(HostInts { dims, data })
            }
        };
    }
    Ok(out)
}
