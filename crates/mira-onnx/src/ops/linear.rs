//! Matrix products, softmax and reductions.

use burn::prelude::*;
use burn::tensor::activation;

use crate::error::Result;
use crate::ops::Ctx;
use crate::value::FTensor;

fn matmul_same(ctx: &Ctx<'_>, a: FTensor, b: FTensor) -> Result<FTensor> {
    Ok(match (a, b) {
        (FTensor::R2(a), FTensor::R2(b)) => FTensor::R2(a.matmul(b)),
        (FTensor::R3(a), FTensor::R3(b)) => FTensor::R3(a.matmul(b)),
        (FTensor::R4(a), FTensor::R4(b)) => FTensor::R4(a.matmul(b)),
        (FTensor::R5(a), FTensor::R5(b)) => FTensor::R5(a.matmul(b)),
        (FTensor::R6(a), FTensor::R6(b)) => FTensor::R6(a.matmul(b)),
        (FTensor::R7(a), FTensor::R7(b)) => FTensor::R7(a.matmul(b)),
        (FTensor::R8(a), FTensor::R8(b)) => FTensor::R8(a.matmul(b)),
        _ => return Err(ctx.err("matrix product of these ranks")),
    })
}

/// MatMul with numpy semantics (1-D operands promoted and the added axis removed; batch
/// axes broadcast).
pub(crate) fn matmul(ctx: &Ctx<'_>) -> Result<FTensor> {
    let (a, b) = (ctx.floats(0)?, ctx.floats(1)?);
    let (ad, bd) = (a.dims(), b.dims());
    let k_a = *ad.last().ok_or_else(|| ctx.err("empty shape"))?;
    let k_b = if bd.len() == 1 {
        bd[0]
    } else {
        bd[bd.len() - 2]
    };
    if k_a != k_b {
        return Err(ctx.err(format!("shapes {ad:?} and {bd:?} do not multiply")));
    }
    let a1 = ad.len() == 1;
    let b1 = bd.len() == 1;
    let a = if a1 { a.reshape(&[1, ad[0]])? } else { a };
    let b = if b1 { b.reshape(&[bd[0], 1])? } else { b };
    let (ad2, bd2) = (a.dims(), b.dims());
    let batch = crate::ops::elementwise::broadcast(&ad2[..ad2.len() - 2], &bd2[..bd2.len() - 2])
        .ok_or_else(|| ctx.err(format!("batch axes of {ad:?} and {bd:?} do not broadcast")))?;
    let r = batch.len() + 2;
    let y = matmul_same(ctx, a.lift(r)?, b.lift(r)?)?;
    let mut out = y.dims();
    if b1 {
        out.pop();
    }
    if a1 {
        out.remove(out.len() - if b1 { 1 } else { 2 });
    }
    if out.len() == y.rank() {
        Ok(y)
    } else {
        y.reshape(&out)
    }
}

/// Gemm: `alpha · A' B' + beta · C` with optional transposes.
pub(crate) fn gemm(ctx: &Ctx<'_>) -> Result<FTensor> {
    let a = ctx
        .floats(0)?
        .into_rank::<2>()
        .map_err(|_| ctx.err("A must be 2-D"))?;
    let b = ctx
        .floats(1)?
        .into_rank::<2>()
        .map_err(|_| ctx.err("B must be 2-D"))?;
    let a = if ctx.int("transA", 0)? != 0 {
        a.transpose()
    } else {
        a
    };
    let b = if ctx.int("transB", 0)? != 0 {
        b.transpose()
    } else {
        b
    };
    if a.dims()[1] != b.dims()[0] {
        return Err(ctx.err(format!(
            "A' {:?} and B' {:?} do not multiply",
            a.dims(),
            b.dims()
        )));
    }
    let (alpha, beta) = (ctx.float("alpha", 1.0)?, ctx.float("beta", 1.0)?);
    let y = a.matmul(b) * alpha;
    let [m, n] = y.dims();
    Ok(FTensor::R2(match ctx.opt_floats(2)? {
        None => y,
        Some(c) => {
            let cd = c.dims();
            if crate::ops::elementwise::broadcast(&[m, n], &cd).as_deref() != Some(&[m, n][..]) {
                return Err(ctx.err(format!("C {cd:?} does not broadcast to [{m}, {n}]")));
            }
            y + c.lift(2)?.into_rank::<2>()? * beta
        }
    }))
}

fn softmax_dim<const D: usize>(t: Tensor<D>, dim: usize, log: bool) -> Tensor<D> {
    if log {
        activation::log_softmax(t, dim)
    } else {
        activation::softmax(t, dim)
    }
}

/// Softmax and LogSoftmax (opset ≥ 13: along `axis`, default −1; before: over the axes from
/// `axis`, default 1, flattened).
pub(crate) fn softmax(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let log = ctx.node.op_type == "LogSoftmax";
    let dims = x.dims();
    let r = dims.len();
    if ctx.opset < 13 {
        let axis = ctx.axis(ctx.int("axis", 1)?, r)?;
        let rows: usize = dims[..axis].iter().product();
        let cols: usize = dims[axis..].iter().product();
        let y = softmax_dim(x.reshape(&[rows, cols])?.into_rank::<2>()?, 1, log);
        return FTensor::R2(y).reshape(&dims);
    }
    let axis = ctx.axis(ctx.int("axis", -1)?, r)?;
    Ok(crate::map_rank!(x, t => softmax_dim(t, axis, log)))
}

fn reduce_dims<const D: usize>(t: Tensor<D>, axes: &[usize], op: &str) -> Tensor<D> {
    axes.iter().fold(t, |t, &a| match op {
        "ReduceMean" => t.mean_dim(a),
        "ReduceMax" => t.max_dim(a),
        "ReduceMin" => t.min_dim(a),
        "ReduceSumSquare" => t.powi_scalar(2).sum_dim(a),
        _ => t.sum_dim(a),
    })
}

/// ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2 (axes as attribute
/// or, from opset 13/18, input; keepdims). Max and min send the gradient to one maximal
/// element per reduced slice.
pub(crate) fn reduce(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let r = x.rank();
    let axes = match ctx.ints("axes")? {
        Some(a) => Some(a),
        None => ctx.opt_host_ints(1)?.map(|v| v.data),
    };
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&a| ctx.axis(a, r)).collect::<Result<_>>()?,
        _ if ctx.int("noop_with_empty_axes", 0)? != 0 => return Ok(x),
        _ => (0..r).collect(),
    };
    let op = ctx.node.op_type.as_str();
    let y = if op == "ReduceL2" {
        crate::map_rank!(x, t => reduce_dims(t, &axes, "ReduceSumSquare").sqrt())
    } else {
        crate::map_rank!(x, t => reduce_dims(t, &axes, op))
    };
    if ctx.int("keepdims", 1)? != 0 {
        return Ok(y);
    }
    let kept: Vec<usize> = y
        .dims()
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect();
    y.reshape(&kept)
}
