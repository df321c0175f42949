//! Comparisons, boolean logic, Where and Expand.
//!
//! Booleans are host integers (0 or 1), as shapes are: a comparison has no gradient, and the
//! booleans exporters write are masks computed from shapes (shifted-window attention masks,
//! padding masks). A comparison of float tensors reads them back to the host, which costs a
//! transfer but nothing on the gradient. `Where` with float branches runs on the device, so
//! the gradient flows into whichever branch each element takes.

use burn::prelude::*;

use crate::error::Result;
use crate::ops::Ctx;
use crate::ops::elementwise::{bcast_source, broadcast};
use crate::value::{FTensor, HostInts, Value};

/// Input `i` as host numbers (floats are read back from the device).
fn host_numbers(ctx: &Ctx<'_>, i: usize) -> Result<(Vec<usize>, Vec<f64>)> {
    Ok(match ctx.input(i)? {
        Value::Int(v) => (v.dims.clone(), v.data.iter().map(|&x| x as f64).collect()),
        Value::Float(t) => (t.dims(), t.to_vec().iter().map(|&x| f64::from(x)).collect()),
    })
}

/// `f` applied element-wise to inputs 0 and 1 with numpy broadcasting, on the host.
fn host_pairwise(ctx: &Ctx<'_>, f: impl Fn(f64, f64) -> bool) -> Result<Value> {
    let (ad, a) = host_numbers(ctx, 0)?;
    let (bd, b) = host_numbers(ctx, 1)?;
    let shape = broadcast(&ad, &bd)
        .ok_or_else(|| ctx.err(format!("shapes {ad:?} and {bd:?} do not broadcast")))?;
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let (x, y) = (
                a[bcast_source(&shape, &ad, i)],
                b[bcast_source(&shape, &bd, i)],
            );
            i64::from(f(x, y))
        })
        .collect();
    Ok(Value::Int(HostInts { dims: shape, data }))
}

/// Equal, Less, LessOrEqual, Greater, GreaterOrEqual, And, Or, Xor, Not.
pub(crate) fn compare(ctx: &Ctx<'_>) -> Result<Value> {
    if ctx.node.op_type == "Not" {
        let v = ctx.host_ints(0)?;
        return Ok(Value::Int(HostInts {
            dims: v.dims,
            data: v.data.iter().map(|&x| i64::from(x == 0)).collect(),
        }));
    }
    let truth = |x: f64| x != 0.0;
    match ctx.node.op_type.as_str() {
        "Equal" => host_pairwise(ctx, |x, y| x == y),
        "Less" => host_pairwise(ctx, |x, y| x < y),
        "LessOrEqual" => host_pairwise(ctx, |x, y| x <= y),
        "Greater" => host_pairwise(ctx, |x, y| x > y),
        "GreaterOrEqual" => host_pairwise(ctx, |x, y| x >= y),
        "And" => host_pairwise(ctx, |x, y| truth(x) && truth(y)),
        "Or" => host_pairwise(ctx, |x, y| truth(x) || truth(y)),
        "Xor" => host_pairwise(ctx, |x, y| truth(x) != truth(y)),
        _ => Err(ctx.unsupported("not a comparison")),
    }
}

/// Host integers `v` broadcast to `shape`.
fn host_expand(v: &HostInts, shape: &[usize]) -> Vec<i64> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| v.data[bcast_source(shape, &v.dims, i)])
        .collect()
}

/// Input `i` as floats (host integers are moved to the device).
fn float_input(ctx: &Ctx<'_>, i: usize) -> Result<FTensor> {
    match ctx.input(i)? {
        Value::Float(t) => Ok(t.clone()),
        Value::Int(v) => {
            let f: Vec<f32> = v.data.iter().map(|&x| x as f32).collect();
            FTensor::from_host(&f, &v.dims, ctx.device)
        }
    }
}

fn select_where<const D: usize>(mask: Tensor<D, Bool>, yes: Tensor<D>, no: Tensor<D>) -> Tensor<D> {
    no.mask_where(mask, yes)
}

/// Where(condition, X, Y): X where the condition holds, Y elsewhere, all three broadcast.
pub(crate) fn where_op(ctx: &Ctx<'_>) -> Result<Value> {
    let cond = ctx.host_ints(0)?;
    let (xd, yd) = (ctx.input(1)?.dims(), ctx.input(2)?.dims());
    let shape = broadcast(&cond.dims, &xd)
        .and_then(|s| broadcast(&s, &yd))
        .ok_or_else(|| {
            ctx.err(format!(
                "shapes {:?}, {xd:?} and {yd:?} do not broadcast",
                cond.dims
            ))
        })?;
    let c = host_expand(&cond, &shape);
    if let (Value::Int(x), Value::Int(y)) = (ctx.input(1)?, ctx.input(2)?) {
        let (x, y) = (host_expand(x, &shape), host_expand(y, &shape));
        let data = (0..c.len())
            .map(|i| if c[i] != 0 { x[i] } else { y[i] })
            .collect();
        return Ok(Value::Int(HostInts { dims: shape, data }));
    }
    let x = float_input(ctx, 1)?.expand_to(&shape)?;
    let y = float_input(ctx, 2)?.expand_to(&shape)?;
    let m: Vec<f32> = c.iter().map(|&v| if v != 0 { 1.0 } else { 0.0 }).collect();
    let m = FTensor::from_host(&m, &shape, ctx.device)?;
    macro_rules! triple {
        ($($v:ident),*) => {
            match (m, x, y) {
                $((FTensor::$v(m), FTensor::$v(x), FTensor::$v(y)) =>
                    FTensor::$v(select_where(m.greater_elem(0.5), x, y)),)*
                _ => return Err(ctx.err("ranks differ")),
            }
        };
    }
    Ok(Value::Float(triple!(R1, R2, R3, R4, R5, R6, R7, R8)))
}

/// Expand: the input broadcast with the given shape (both ways, as numpy).
pub(crate) fn expand(ctx: &Ctx<'_>) -> Result<Value> {
    let want = ctx.host_ints(1)?;
    let want: Vec<usize> = want
        .data
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ctx.err(format!("invalid shape {:?}", want.data))))
        .collect::<Result<_>>()?;
    let have = ctx.input(0)?.dims();
    let shape = broadcast(&have, &want)
        .ok_or_else(|| ctx.err(format!("{have:?} does not expand to {want:?}")))?;
    if shape.iter().product::<usize>() > 1 << 31 {
        return Err(ctx.err(format!("expanding to {shape:?} is too large")));
    }
    Ok(match ctx.input(0)? {
        Value::Int(v) => Value::Int(HostInts {
            data: host_expand(v, &shape),
            dims: shape,
        }),
        Value::Float(t) => Value::Float(t.clone().expand_to(&shape)?),
    })
}
