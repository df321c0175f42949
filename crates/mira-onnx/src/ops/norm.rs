//! Normalisations computed from the input itself (InstanceNormalization; GroupNormalization
//! as exporters write it, Reshape → InstanceNormalization → Reshape) and PRelu.

use burn::prelude::*;

use crate::error::Result;
use crate::ops::Ctx;
use crate::ops::elementwise::broadcast;
use crate::value::FTensor;

/// InstanceNormalization: per sample and channel, `(x − mean) / √(var + ε) · scale + bias`
/// over the spatial axes (biased variance, as ONNX and PyTorch).
pub(crate) fn instance_norm(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let d = x.dims();
    if d.len() < 3 {
        return Err(ctx.err(format!("needs a [B, C, ...] input, got {d:?}")));
    }
    let (b, c) = (d[0], d[1]);
    let s: usize = d[2..].iter().product();
    let p = |i: usize| -> Result<Tensor<3>> {
        let t = ctx.floats(i)?;
        if t.dims() != [c] {
            return Err(ctx.err(format!(
                "parameter {i} has shape {:?}, expected [{c}]",
                t.dims()
            )));
        }
        Ok(t.into_rank::<1>()?.reshape([1, c, 1]))
    };
    let (scale, bias) = (p(1)?, p(2)?);
    let eps = ctx.float("epsilon", 1e-5)?;
    let x3 = x.reshape(&[b, c, s])?.into_rank::<3>()?;
    let mean = x3.clone().mean_dim(2);
    let centred = x3 - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(2);
    let y = centred / (var + eps).sqrt() * scale + bias;
    FTensor::R3(y).reshape(&d)
}

/// PRelu: `x` where positive, `slope · x` elsewhere; `slope` broadcasts to `x`.
pub(crate) fn prelu(ctx: &Ctx<'_>) -> Result<FTensor> {
    let (x, slope) = (ctx.floats(0)?, ctx.floats(1)?);
    let (xd, sd) = (x.dims(), slope.dims());
    if broadcast(&xd, &sd).as_deref() != Some(&xd[..]) {
        return Err(ctx.err(format!("slope {sd:?} does not broadcast to {xd:?}")));
    }
    let slope = slope.lift(xd.len())?;
    macro_rules! pair {
        ($($v:ident),*) => {
            match (x, slope) {
                $((FTensor::$v(x), FTensor::$v(a)) => FTensor::$v(
                    burn::tensor::activation::relu(x.clone())
                        - burn::tensor::activation::relu(x.neg()) * a,
                ),)*
                _ => return Err(ctx.err("ranks differ")),
            }
        };
    }
    Ok(pair!(R1, R2, R3, R4, R5, R6, R7, R8))
}

/// LayerNormalization: `(x − mean) / √(var + ε) · scale + bias` over the axes from `axis`
/// (default −1) to the last, `scale` and `bias` broadcast to those axes.
pub(crate) fn layer_norm(ctx: &Ctx<'_>) -> Result<FTensor> {
    if ctx.node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(ctx.unsupported("the Mean and InvStdDev outputs"));
    }
    let x = ctx.floats(0)?;
    let d = x.dims();
    let axis = ctx.axis(ctx.int("axis", -1)?, d.len())?;
    let (outer, inner) = (
        d[..axis].iter().product::<usize>(),
        d[axis..].iter().product::<usize>(),
    );
    let eps = ctx.float("epsilon", 1e-5)?;
    let x2 = x.reshape(&[outer, inner])?.into_rank::<2>()?;
    let mean = x2.clone().mean_dim(1);
    let centred = x2 - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(1);
    let y = FTensor::R2(centred / (var + eps).sqrt()).reshape(&d)?;
    let scale = ctx.floats(1)?;
    if broadcast(&d[axis..], &scale.dims()).as_deref() != Some(&d[axis..]) {
        return Err(ctx.err(format!(
            "scale {:?} does not fit the normalised axes {:?}",
            scale.dims(),
            &d[axis..]
        )));
    }
    let y = crate::ops::elementwise::float_op(ctx, y, scale, "Mul")?;
    match ctx.opt_floats(2)? {
        Some(b) if broadcast(&d[axis..], &b.dims()).as_deref() == Some(&d[axis..]) => {
            crate::ops::elementwise::float_op(ctx, y, b, "Add")
        }
        Some(b) => Err(ctx.err(format!(
            "bias {:?} does not fit the normalised axes",
            b.dims()
        ))),
        None => Ok(y),
    }
}
