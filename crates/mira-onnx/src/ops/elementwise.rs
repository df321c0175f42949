//! Element-wise operators: activations and arithmetic with numpy broadcasting, on floats (on
//! the device) and on host integers (shape arithmetic).

use burn::tensor::activation;

use crate::error::Result;
use crate::map_rank;
use crate::ops::Ctx;
use crate::value::{FTensor, HostInts, Value};

/// Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Neg, Abs, Erf, LeakyRelu, Elu, Gelu, Reciprocal,
/// Softplus, HardSigmoid, HardSwish, Selu, Sin, Cos, Floor, Ceil, Sign, Clip.
pub(crate) fn unary(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    Ok(match ctx.node.op_type.as_str() {
        "Relu" => map_rank!(x, t => activation::relu(t)),
        "Sigmoid" => map_rank!(x, t => activation::sigmoid(t)),
        "Tanh" => map_rank!(x, t => t.tanh()),
        "Exp" => map_rank!(x, t => t.exp()),
        "Log" => map_rank!(x, t => t.log()),
        "Sqrt" => map_rank!(x, t => t.sqrt()),
        "Neg" => map_rank!(x, t => t.neg()),
        "Abs" => map_rank!(x, t => t.abs()),
        "Erf" => map_rank!(x, t => t.erf()),
        "LeakyRelu" => {
            let a = ctx.float("alpha", 0.01)?;
            // One pass each way (`mira_nn::fast_conv::prelu` with one slope).
            return crate::ops::norm::fast_prelu(x, &[a])
                .ok_or_else(|| ctx.err("LeakyRelu slope does not fit"));
        }
        "Elu" => {
            let a = ctx.float("alpha", 1.0)?;
            // elu(x) = x for x > 0, alpha (e^x - 1) else; written with relu so it differentiates.
            map_rank!(x, t => activation::relu(t.clone())
                - activation::relu(-(t.exp() - 1.0) * a))
        }
        "Gelu" => match ctx.string("approximate", "none")?.as_str() {
            "none" => map_rank!(x, t => activation::gelu(t)),
            "tanh" => map_rank!(x, t => activation::gelu_approximate(t)),
            other => return Err(ctx.unsupported(format!("approximate = {other}"))),
        },
        "Reciprocal" => map_rank!(x, t => t.recip()),
        "Softplus" => map_rank!(x, t => activation::softplus(t, 1.0)),
        "HardSigmoid" => {
            let (a, b) = (ctx.float("alpha", 0.2)?, ctx.float("beta", 0.5)?);
            map_rank!(x, t => activation::hard_sigmoid(t, f64::from(a), f64::from(b)))
        }
        "HardSwish" => map_rank!(x, t => activation::hard_swish(t)),
        "Selu" => map_rank!(x, t => activation::selu(t)),
        "Sin" => map_rank!(x, t => t.sin()),
        "Cos" => map_rank!(x, t => t.cos()),
        // Piecewise constant: a zero gradient, as in every framework.
        "Floor" => map_rank!(x, t => t.floor()),
        "Ceil" => map_rank!(x, t => t.ceil()),
        "Sign" => map_rank!(x, t => t.sign()),
        "Clip" => {
            let (lo, hi) = clip_bounds(ctx)?;
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(ctx.err(format!("Clip bounds {lo} > {hi} (or NaN)")));
            }
            map_rank!(x, t => t.clamp(lo, hi))
        }
        _ => return Err(ctx.unsupported("not an element-wise operator")),
    })
}

fn clip_bounds(ctx: &Ctx<'_>) -> Result<(f32, f32)> {
    if ctx.opset < 11 {
        return Ok((ctx.float("min", f32::MIN)?, ctx.float("max", f32::MAX)?));
    }
    let bound = |i: usize, default: f32| -> Result<f32> {
        match ctx.opt_floats(i)? {
            None => Ok(default),
            Some(t) => t
                .to_vec()
                .first()
                .copied()
                .ok_or_else(|| ctx.err("empty Clip bound")),
        }
    };
    Ok((bound(1, f32::MIN)?, bound(2, f32::MAX)?))
}

/// The broadcast shape of `a` and `b` (numpy rules), or `None` when they do not broadcast.
pub(crate) fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| (i + s.len()).checked_sub(r).map_or(1, |j| s[j]);
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// The flat index in a C-order array of shape `src` that numpy broadcasting puts at flat
/// position `flat` of `shape` (`src` broadcasts to `shape`, checked by the caller).
pub(crate) fn bcast_source(shape: &[usize], src: &[usize], flat: usize) -> usize {
    let (mut rem, mut idx, mut stride) = (flat, 0, 1);
    for k in (0..shape.len()).rev() {
        let c = rem % shape[k];
        rem /= shape[k];
        if let Some(j) = (k + src.len()).checked_sub(shape.len()) {
            let d = src[j];
            idx += if d == 1 { 0 } else { c * stride };
            stride *= d;
        }
    }
    idx
}

/// Add, Sub, Mul, Div, Pow, Mod.
pub(crate) fn binary(ctx: &Ctx<'_>) -> Result<Vec<Value>> {
    let (a, b) = (ctx.input(0)?, ctx.input(1)?);
    let shape = broadcast(&a.dims(), &b.dims()).ok_or_else(|| {
        ctx.err(format!(
            "shapes {:?} and {:?} do not broadcast",
            a.dims(),
            b.dims()
        ))
    })?;
    if let (Value::Int(a), Value::Int(b)) = (a, b) {
        return Ok(vec![Value::Int(int_binary(ctx, a, b, shape)?)]);
    }
    let (a, b) = (
        ctx.floats(0).or_else(|_| as_float(ctx, 0))?,
        ctx.floats(1).or_else(|_| as_float(ctx, 1))?,
    );
    let op = ctx.node.op_type.as_str();
    if op == "Mod" && ctx.int("fmod", 0)? == 0 {
        return Err(ctx.unsupported("integer-style Mod (fmod = 0) on float tensors"));
    }
    Ok(vec![Value::Float(float_op(ctx, a, b, op)?)])
}

/// `a op b` with numpy broadcasting (the shapes are checked by the caller): Add, Sub, Mul,
/// Div, Pow, Mod (C's fmod: the sign of `a`).
pub(crate) fn float_op(ctx: &Ctx<'_>, a: FTensor, b: FTensor, op: &str) -> Result<FTensor> {
    let r = a.rank().max(b.rank());
    let (a, b) = (a.lift(r)?, b.lift(r)?);
    macro_rules! pair {
        ($($v:ident),*) => {
            match (a, b) {
                $((FTensor::$v(x), FTensor::$v(y)) => FTensor::$v(match op {
                    "Add" => x + y,
                    "Sub" => x - y,
                    "Mul" => x * y,
                    "Div" => x / y,
                    "Mod" => {
                        let q = (x.clone() / y.clone()).sign() * (x.clone() / y.clone()).abs().floor();
                        x - q * y
                    }
                    _ => x.powf(y),
                }),)*
                _ => return Err(ctx.err("operands of different ranks")),
            }
        };
    }
    Ok(pair!(R1, R2, R3, R4, R5, R6, R7, R8))
}

/// Max, Min, Sum and Mean of any number of inputs, broadcast together (Max and Min give the
/// gradient to the first of equal inputs).
pub(crate) fn variadic(ctx: &Ctx<'_>) -> Result<FTensor> {
    let n = ctx.node.inputs.len();
    let mut acc = ctx.floats(0).or_else(|_| as_float(ctx, 0))?;
    for i in 1..n {
        let b = ctx.floats(i).or_else(|_| as_float(ctx, i))?;
        let shape = broadcast(&acc.dims(), &b.dims()).ok_or_else(|| {
            ctx.err(format!(
                "shapes {:?} and {:?} do not broadcast",
                acc.dims(),
                b.dims()
            ))
        })?;
        let (a, b) = (acc.expand_to(&shape)?, b.expand_to(&shape)?);
        acc = match ctx.node.op_type.as_str() {
            "Max" => pair_op(ctx, a, b, |x, y| x.max_pair(y))?,
            "Min" => pair_op(ctx, a, b, |x, y| x.min_pair(y))?,
            _ => float_op(ctx, a, b, "Add")?,
        };
    }
    if ctx.node.op_type == "Mean" && n > 1 {
        acc = map_rank!(acc, t => t / n as f32);
    }
    Ok(acc)
}

/// `f(a, b)` on two float tensors of one shape, whatever their rank.
fn pair_op(
    ctx: &Ctx<'_>,
    a: FTensor,
    b: FTensor,
    f: impl Fn(burn::tensor::Tensor<8>, burn::tensor::Tensor<8>) -> burn::tensor::Tensor<8>,
) -> Result<FTensor> {
    let d = a.dims();
    let (x, y) = (a.lift(8)?.into_rank::<8>()?, b.lift(8)?.into_rank::<8>()?);
    FTensor::R8(f(x, y))
        .reshape(&d)
        .map_err(|e| ctx.err(e.to_string()))
}

/// An integer input used in float arithmetic (e.g. a shape divided into a float).
fn as_float(ctx: &Ctx<'_>, i: usize) -> Result<FTensor> {
    let v = ctx.host_ints(i)?;
    let f: Vec<f32> = v.data.iter().map(|&x| x as f32).collect();
    FTensor::from_host(&f, &v.dims, ctx.device)
}

fn int_binary(ctx: &Ctx<'_>, a: &HostInts, b: &HostInts, shape: Vec<usize>) -> Result<HostInts> {
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y) = (
            a.data[bcast_source(&shape, &a.dims, i)],
            b.data[bcast_source(&shape, &b.dims, i)],
        );
        data.push(match ctx.node.op_type.as_str() {
            "Add" => x.wrapping_add(y),
            "Sub" => x.wrapping_sub(y),
            "Mul" => x.wrapping_mul(y),
            "Div" if y == 0 => return Err(ctx.err("integer division by zero")),
            "Div" => x / y,
            // fmod = 1: C's remainder (the sign of x); fmod = 0: the sign of the divisor.
            "Mod" if y == 0 => return Err(ctx.err("integer modulo by zero")),
            "Mod" if ctx.int("fmod", 0)? != 0 => x % y,
            "Mod" => x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 },
            _ => return Err(ctx.unsupported("integer Pow")),
        });
    }
    Ok(HostInts { dims: shape, data })
}

#[cfg(test)]
mod tests {
    use super::broadcast;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 3, 4], &[4]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
    }
}
