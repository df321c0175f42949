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
    // Constant scale and bias (the attack path): Mira's one-pass normalisation.
    if !scale.is_require_grad() && !bias.is_require_grad() {
        let (sv, bv) = (
            mira_nn::tensor_to_vec(scale.clone()),
            mira_nn::tensor_to_vec(bias.clone()),
        );
        if let Some(y) = mira_nn::fast_conv::instance_norm(x3.clone(), &sv, &bv, eps) {
            return FTensor::R3(y).reshape(&d);
        }
    }
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
    if let Some(slopes) = constant_channel_slopes(&slope, &xd) {
        return fast_prelu(x, &slopes).ok_or_else(|| ctx.err("slopes do not fit"));
    }
    let slope = slope.lift(xd.len())?;
    macro_rules! pair {
        ($($v:ident),*) => {
            match (x, slope) {
                // `x` where positive, else `a·x`: the slope at 0, as ONNX Runtime, PyTorch
                // and Mira's one-pass PReLU take it.
                $((FTensor::$v(x), FTensor::$v(a)) => {
                    let positive = x.clone().greater_elem(0.0);
                    FTensor::$v((x.clone() * a).mask_where(positive, x))
                },)*
                _ => return Err(ctx.err("ranks differ")),
            }
        };
    }
    Ok(pair!(R1, R2, R3, R4, R5, R6, R7, R8))
}

/// The slopes of a PReLU whose slope is a constant (not tracked) broadcasting along the
/// channel axis only (`[C, 1, …]` or a single value): Mira's one-pass PReLU takes those.
fn constant_channel_slopes(slope: &FTensor, xd: &[usize]) -> Option<Vec<f32>> {
    let sd = slope.dims();
    if crate::value::with_rank!(slope, t => t.is_require_grad()) || sd.len() > xd.len() {
        return None;
    }
    let lifted: Vec<usize> = std::iter::repeat_n(1, xd.len() - sd.len())
        .chain(sd.iter().copied())
        .collect();
    let along_channels = lifted
        .iter()
        .enumerate()
        .all(|(i, &n)| n == 1 || (i == 1 && n == xd[1]));
    along_channels.then(|| slope.to_vec())
}

/// [`mira_nn::fast_conv::prelu`] at any rank (`None` where the slopes do not fit).
pub(crate) fn fast_prelu(x: FTensor, slopes: &[f32]) -> Option<FTensor> {
    use mira_nn::fast_conv::prelu;
    Some(match x {
        FTensor::R1(t) => FTensor::R1(prelu(t, slopes)?),
        FTensor::R2(t) => FTensor::R2(prelu(t, slopes)?),
        FTensor::R3(t) => FTensor::R3(prelu(t, slopes)?),
        FTensor::R4(t) => FTensor::R4(prelu(t, slopes)?),
        FTensor::R5(t) => FTensor::R5(prelu(t, slopes)?),
        FTensor::R6(t) => FTensor::R6(prelu(t, slopes)?),
        FTensor::R7(t) => FTensor::R7(prelu(t, slopes)?),
        FTensor::R8(t) => FTensor::R8(prelu(t, slopes)?),
    })
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

/// GroupNormalization (opset 18: `scale` and `bias` per group; opset 21: per channel): per
/// sample and group of `C / num_groups` channels, `(x − mean) / √(var + ε)` over the group's
/// channels and every spatial axis, then the affine map.
pub(crate) fn group_norm(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let d = x.dims();
    if d.len() < 3 {
        return Err(ctx.err(format!("needs a [B, C, ...] input, got {d:?}")));
    }
    let (b, c) = (d[0], d[1]);
    let g = usize::try_from(ctx.int("num_groups", 0)?)
        .ok()
        .filter(|&g| g > 0 && c % g == 0)
        .ok_or_else(|| ctx.err(format!("num_groups must divide the {c} channels")))?;
    if ctx.int("stash_type", 1)? != 1 {
        return Err(ctx.unsupported("stash_type other than float32"));
    }
    let eps = ctx.float("epsilon", 1e-5)?;
    let rest: usize = d[1..].iter().product::<usize>() / g;
    let x3 = x.reshape(&[b, g, rest])?.into_rank::<3>()?;
    let centred = x3.clone() - x3.mean_dim(2);
    let var = centred.clone().powi_scalar(2).mean_dim(2);
    let s: usize = d[2..].iter().product();
    let y = (centred / (var + eps).sqrt()).reshape([b, c, s]);
    let per_channel = |i: usize| -> Result<Tensor<3>> {
        let t = ctx
            .floats(i)?
            .into_rank::<1>()
            .map_err(|_| ctx.err("scale and bias are 1-D"))?;
        let n = t.dims()[0];
        let t = if n == c {
            t
        } else if n == g {
            let idx: Vec<usize> = (0..c).map(|ch| ch / (c / g)).collect();
            crate::ops::select_axis(t, 0, &idx)
        } else {
            return Err(ctx.err(format!("parameter {i} has {n} values, expected {g} or {c}")));
        };
        Ok(t.reshape([1, c, 1]))
    };
    let y = y * per_channel(1)? + per_channel(2)?;
    FTensor::R3(y).reshape(&d)
}
