//! Shape operators, on float tensors (device) and host integers alike: Reshape, Flatten,
//! Transpose, Concat, Unsqueeze, Squeeze, Shape, Gather, Constant, ConstantOfShape, Cast,
//! Slice. Exported shape arithmetic (Shape → Gather → Concat → Reshape) runs on the host.

use burn::prelude::*;

use crate::error::Result;
use crate::model::{Attr, HostData};
use crate::ops::{Ctx, select_axis};
use crate::value::{FTensor, HostInts, Value};

fn ints_value(dims: Vec<usize>, data: Vec<i64>) -> Value {
    Value::Int(HostInts { dims, data })
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Host values of `v` rearranged: output element at multi-index `o` reads `v` at `map(o)`.
fn host_map(v: &HostInts, out: &[usize], map: impl Fn(&[usize]) -> Vec<usize>) -> Vec<i64> {
    let (n, so, si) = (
        out.iter().product::<usize>(),
        strides(out),
        strides(&v.dims),
    );
    (0..n)
        .map(|flat| {
            let o: Vec<usize> = so.iter().zip(out).map(|(s, d)| flat / s % d).collect();
            let i = map(&o);
            v.data[i.iter().zip(&si).map(|(a, b)| a * b).sum::<usize>()]
        })
        .collect()
}

fn reshape_any(v: &Value, dims: Vec<usize>) -> Result<Value> {
    Ok(match v {
        Value::Float(t) => Value::Float(t.clone().reshape(&dims)?),
        Value::Int(i) => ints_value(dims, i.data.clone()),
    })
}

pub(crate) fn run(ctx: &Ctx<'_>) -> Result<Vec<Value>> {
    let out = match ctx.node.op_type.as_str() {
        "Reshape" => reshape(ctx)?,
        "Flatten" => {
            let v = ctx.input(0)?;
            let d = v.dims();
            let a = if ctx.int("axis", 1)? == d.len() as i64 {
                d.len()
            } else {
                ctx.axis(ctx.int("axis", 1)?, d.len())?
            };
            reshape_any(v, vec![d[..a].iter().product(), d[a..].iter().product()])?
        }
        "Transpose" => transpose(ctx)?,
        "Concat" => concat(ctx)?,
        "Unsqueeze" => {
            let v = ctx.input(0)?;
            let axes = match ctx.ints("axes")? {
                Some(a) => a,
                None => ctx.host_ints(1)?.data,
            };
            let r = v.dims().len() + axes.len();
            let mut axes: Vec<usize> = axes
                .iter()
                .map(|&a| ctx.axis(a, r))
                .collect::<Result<_>>()?;
            axes.sort_unstable();
            if axes.windows(2).any(|w| w[0] == w[1]) {
                return Err(ctx.err(format!("repeated axes {axes:?}")));
            }
            let mut dims = v.dims();
            for a in axes {
                dims.insert(a, 1);
            }
            reshape_any(v, dims)?
        }
        "Squeeze" => {
            let v = ctx.input(0)?;
            let d = v.dims();
            let axes = match ctx.ints("axes")? {
                Some(a) => Some(a),
                None => ctx.opt_host_ints(1)?.map(|v| v.data),
            };
            let axes: Vec<usize> = match axes {
                Some(a) => a
                    .iter()
                    .map(|&a| ctx.axis(a, d.len()))
                    .collect::<Result<_>>()?,
                None => (0..d.len()).filter(|&i| d[i] == 1).collect(),
            };
            if axes.iter().any(|&a| d[a] != 1) {
                return Err(ctx.err(format!("cannot squeeze axes {axes:?} of {d:?}")));
            }
            let dims = d
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &x)| x)
                .collect();
            reshape_any(v, dims)?
        }
        "Shape" => {
            let d = ctx.input(0)?.dims();
            let r = d.len() as i64;
            let clampi = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
            let (s, e) = (clampi(ctx.int("start", 0)?), clampi(ctx.int("end", r)?));
            let data: Vec<i64> = d[s..e.max(s)].iter().map(|&x| x as i64).collect();
            ints_value(vec![data.len()], data)
        }
        "Gather" => gather(ctx)?,
        "Constant" => constant(ctx)?,
        "ConstantOfShape" => {
            let shape = ctx.host_ints(0)?;
            let dims = shape
                .data
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| ctx.err("negative dim")))
                .collect::<Result<Vec<_>>>()?;
            let n = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= 1 << 28)
                .ok_or_else(|| ctx.err("shape too large"))?;
            match ctx.node.attrs.get("value") {
                Some(Attr::Tensor(t)) => match &t.data {
                    HostData::I64(v) => ints_value(dims, vec![*v.first().unwrap_or(&0); n]),
                    HostData::F32(v) => Value::Float(FTensor::from_host(
                        &vec![*v.first().unwrap_or(&0.0); n],
                        &dims,
                        ctx.device,
                    )?),
                },
                _ => Value::Float(FTensor::from_host(&vec![0.0; n], &dims, ctx.device)?),
            }
        }
        "Cast" => cast(ctx)?,
        "Slice" => slice(ctx)?,
        _ => return Err(ctx.unsupported("not a shape operator")),
    };
    Ok(vec![out])
}

fn reshape(ctx: &Ctx<'_>) -> Result<Value> {
    let v = ctx.input(0)?;
    let d = v.dims();
    let total: usize = d.iter().product();
    let spec = ctx.host_ints(1)?.data;
    let allowzero = ctx.int("allowzero", 0)? != 0;
    let mut dims = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        dims.push(match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allowzero => *d
                .get(i)
                .ok_or_else(|| ctx.err("0 in shape beyond the input's rank"))?,
            s if s >= 0 => s as usize,
            _ => return Err(ctx.err(format!("invalid shape {spec:?}"))),
        });
    }
    if let Some(i) = infer {
        let known: usize = dims.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(ctx.err(format!("cannot reshape {d:?} to {spec:?}")));
        }
        dims[i] = total / known;
    }
    if dims.iter().product::<usize>() != total {
        return Err(ctx.err(format!("cannot reshape {d:?} to {spec:?}")));
    }
    reshape_any(v, dims)
}

fn permute_t<const D: usize>(t: Tensor<D>, perm: &[usize]) -> Tensor<D> {
    let mut p = [0usize; D];
    p.copy_from_slice(perm);
    t.permute(p)
}

fn transpose(ctx: &Ctx<'_>) -> Result<Value> {
    let v = ctx.input(0)?;
    let d = v.dims();
    let perm: Vec<usize> = match ctx.ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| ctx.axis(a, d.len()))
            .collect::<Result<_>>()?,
        None => (0..d.len()).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..d.len()).collect::<Vec<_>>() {
        return Err(ctx.err(format!(
            "perm {perm:?} is not a permutation of {} axes",
            d.len()
        )));
    }
    Ok(match v {
        Value::Float(t) => Value::Float(crate::map_rank!(t.clone(), x => permute_t(x, &perm))),
        Value::Int(i) => {
            let out: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
            let data = host_map(i, &out, |o| {
                let mut src = vec![0; o.len()];
                for (k, &p) in perm.iter().enumerate() {
                    src[p] = o[k];
                }
                src
            });
            ints_value(out, data)
        }
    })
}

fn concat(ctx: &Ctx<'_>) -> Result<Value> {
    let vals: Vec<&Value> = ctx.inputs.iter().flatten().collect();
    let first = vals.first().ok_or_else(|| ctx.err("no inputs"))?;
    let r = first.dims().len();
    let axis = ctx.axis(ctx.int("axis", 0)?, r)?;
    for v in &vals {
        let d = v.dims();
        let same = d.len() == r && (0..r).all(|i| i == axis || d[i] == first.dims()[i]);
        if !same {
            return Err(ctx.err(format!(
                "shapes {:?} and {d:?} do not concatenate on axis {axis}",
                first.dims()
            )));
        }
    }
    if vals.iter().all(|v| matches!(v, Value::Int(_))) {
        let mut out = first.dims();
        out[axis] = vals.iter().map(|v| v.dims()[axis]).sum();
        let parts: Vec<&HostInts> = vals
            .iter()
            .filter_map(|v| match v {
                Value::Int(i) => Some(i),
                _ => None,
            })
            .collect();
        let outer: usize = out[..axis].iter().product();
        let inner: usize = out[axis + 1..].iter().product();
        let mut data = Vec::with_capacity(out.iter().product());
        for o in 0..outer {
            for p in &parts {
                let len = p.dims[axis] * inner;
                data.extend_from_slice(&p.data[o * len..(o + 1) * len]);
            }
        }
        return Ok(ints_value(out, data));
    }
    // Empty parts add nothing (burn has no empty tensors).
    let floats: Vec<FTensor> = (0..ctx.inputs.len())
        .filter(|&i| {
            ctx.inputs[i]
                .as_ref()
                .is_some_and(|v| v.dims().iter().product::<usize>() > 0)
        })
        .map(|i| match ctx.input(i)? {
            Value::Float(t) => Ok(t.clone()),
            Value::Int(v) => FTensor::from_host(
                &v.data.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                &v.dims,
                ctx.device,
            ),
        })
        .collect::<Result<_>>()?;
    macro_rules! cat {
        ($($v:ident),*) => {
            match &floats[0] {
                $(FTensor::$v(_) => FTensor::$v(Tensor::cat(
                    floats.iter().map(|f| match f { FTensor::$v(t) => Ok(t.clone()), _ => Err(ctx.err("ranks differ")) }).collect::<Result<Vec<_>>>()?,
                    axis,
                )),)*
            }
        };
    }
    Ok(Value::Float(cat!(R1, R2, R3, R4, R5, R6, R7, R8)))
}

fn gather(ctx: &Ctx<'_>) -> Result<Value> {
    let data = ctx.input(0)?;
    let idx = ctx.host_ints(1)?;
    let d = data.dims();
    let axis = ctx.axis(ctx.int("axis", 0)?, d.len())?;
    let n = d[axis] as i64;
    let flat: Vec<usize> = idx
        .data
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            usize::try_from(j)
                .ok()
                .filter(|&j| j < d[axis])
                .ok_or_else(|| ctx.err(format!("index {i} out of range {n}")))
        })
        .collect::<Result<_>>()?;
    let mut out: Vec<usize> = d[..axis].to_vec();
    out.extend(&idx.dims);
    out.extend(&d[axis + 1..]);
    Ok(match data {
        Value::Int(v) => {
            let outer: usize = d[..axis].iter().product();
            let inner: usize = d[axis + 1..].iter().product();
            let mut o = Vec::with_capacity(outer * flat.len() * inner);
            for a in 0..outer {
                for &j in &flat {
                    let s = (a * d[axis] + j) * inner;
                    o.extend_from_slice(&v.data[s..s + inner]);
                }
            }
            ints_value(out, o)
        }
        Value::Float(t) => {
            let y = crate::map_rank!(t.clone(), x => select_axis(x, axis, &flat));
            Value::Float(y.reshape(&out)?)
        }
    })
}

fn constant(ctx: &Ctx<'_>) -> Result<Value> {
    let a = &ctx.node.attrs;
    if let Some(Attr::Tensor(t)) = a.get("value") {
        return Value::from_host(t, ctx.device);
    }
    if let Some(Attr::Float(f)) = a.get("value_float") {
        return Ok(Value::Float(FTensor::from_host(&[*f], &[1], ctx.device)?));
    }
    if let Some(Attr::Floats(f)) = a.get("value_floats") {
        return Ok(Value::Float(FTensor::from_host(f, &[f.len()], ctx.device)?));
    }
    if let Some(Attr::Int(i)) = a.get("value_int") {
        return Ok(ints_value(vec![], vec![*i]));
    }
    if let Some(Attr::Ints(i)) = a.get("value_ints") {
        return Ok(ints_value(vec![i.len()], i.clone()));
    }
    Err(ctx.unsupported("a Constant without a tensor, float(s) or int(s) value"))
}

fn cast(ctx: &Ctx<'_>) -> Result<Value> {
    let to = ctx.int("to", 1)?;
    let v = ctx.input(0)?;
    Ok(match (v, to) {
        (Value::Float(_), 1 | 11) | (Value::Int(_), 2..=7 | 9 | 12 | 13) => v.clone(),
        (Value::Int(i), 1 | 11) => Value::Float(FTensor::from_host(
            &i.data.iter().map(|&x| x as f32).collect::<Vec<_>>(),
            &i.dims,
            ctx.device,
        )?),
        (Value::Float(t), 2..=7 | 9 | 12 | 13) => {
            let data = t
                .to_vec()
                .iter()
                .map(|&x| {
                    if to == 9 {
                        i64::from(x != 0.0)
                    } else {
                        x as i64
                    }
                })
                .collect();
            ints_value(t.dims(), data)
        }
        _ => return Err(ctx.unsupported(format!("Cast to type {to}"))),
    })
}

fn slice(ctx: &Ctx<'_>) -> Result<Value> {
    let v = ctx.input(0)?;
    let d = v.dims();
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        (
            ctx.ints("starts")?.unwrap_or_default(),
            ctx.ints("ends")?.unwrap_or_default(),
            ctx.ints("axes")?,
            None,
        )
    } else {
        (
            ctx.host_ints(1)?.data,
            ctx.host_ints(2)?.data,
            ctx.opt_host_ints(3)?.map(|a| a.data),
            ctx.opt_host_ints(4)?.map(|s| s.data),
        )
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| ctx.axis(a, d.len()))
            .collect::<Result<_>>()?,
        None => (0..starts.len()).collect(),
    };
    if starts.len() != axes.len() || ends.len() != axes.len() {
        return Err(ctx.err("starts, ends and axes differ in length"));
    }
    let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
    if steps.len() != axes.len() || steps.contains(&0) {
        return Err(ctx.err(format!("steps {steps:?}: one non-zero step per axis")));
    }
    // Per axis, the source indices kept (all of them where the axis is not sliced).
    let mut picks: Vec<Vec<usize>> = d.iter().map(|&n| (0..n).collect()).collect();
    for (k, &a) in axes.iter().enumerate() {
        picks[a] = slice_indices(starts[k], ends[k], steps[k], d[a]);
        if picks[a].is_empty() && matches!(v, Value::Float(_)) {
            return Err(ctx.unsupported("a Slice of floats that keeps nothing (empty tensors)"));
        }
    }
    let out: Vec<usize> = picks.iter().map(Vec::len).collect();
    Ok(match v {
        Value::Int(i) => {
            let data = host_map(i, &out, |o| {
                o.iter().zip(&picks).map(|(&x, p)| p[x]).collect()
            });
            ints_value(out, data)
        }
        Value::Float(t) => {
            let mut y = t.clone();
            for (a, p) in picks.iter().enumerate() {
                let contiguous = p.windows(2).all(|w| w[1] == w[0] + 1);
                if p.len() == d[a] && contiguous {
                    continue;
                }
                y = if contiguous {
                    crate::map_rank!(y, x => x.narrow(a, p[0], p.len()))
                } else {
                    crate::map_rank!(y, x => select_axis(x, a, p))
                };
            }
            Value::Float(y)
        }
    })
}

/// The indices ONNX's Slice keeps along an axis of `n` for `start`, `end`, `step` (negative
/// values count from the end; out-of-range bounds are clamped; negative steps walk back).
fn slice_indices(start: i64, end: i64, step: i64, n: usize) -> Vec<usize> {
    let n = n as i64;
    let norm = |x: i64| if x < 0 { x.saturating_add(n) } else { x };
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (norm(start).clamp(0, n), norm(end).clamp(0, n));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i = i.saturating_add(step);
        }
    } else {
        let (s, e) = (norm(start).clamp(-1, n - 1), norm(end).clamp(-1, n - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i = i.saturating_add(step);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::slice_indices;

    #[test]
    fn slice_indices_follow_numpy() {
        // numpy: a[0::2], a[1::2], a[::-1], a[-2:], a[5:100], a[3:1:-1] of a = arange(6)
        assert_eq!(slice_indices(0, i64::MAX, 2, 6), [0, 2, 4]);
        assert_eq!(slice_indices(1, i64::MAX, 2, 6), [1, 3, 5]);
        assert_eq!(slice_indices(-1, i64::MIN, -1, 6), [5, 4, 3, 2, 1, 0]);
        assert_eq!(slice_indices(-2, i64::MAX, 1, 6), [4, 5]);
        assert!(slice_indices(5, 100, 1, 6) == [5]);
        assert_eq!(slice_indices(3, 1, -1, 6), [3, 2]);
    }
}
