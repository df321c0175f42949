//! Convolutions, transposed convolutions, pooling and batch normalisation; 2D and 3D
//! convolutions go through Mira's CPU kernels (`mira_nn::fast_conv`) where they apply.

use burn::prelude::*;
use burn::tensor::module;
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use mira_nn::fast_conv;

use crate::error::Result;
use crate::ops::Ctx;
use crate::value::{FTensor, with_rank};

fn arr<const N: usize>(v: &[usize]) -> [usize; N] {
    let mut a = [0usize; N];
    a.copy_from_slice(&v[..N]);
    a
}

/// Spatial geometry of a windowed operator: kernel, strides, dilations, begin/end pads.
pub(crate) struct Window {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub begin: Vec<usize>,
    pub end: Vec<usize>,
}

fn positive(ctx: &Ctx<'_>, name: &str, v: Option<Vec<i64>>, n: usize) -> Result<Vec<usize>> {
    let v = v.unwrap_or_else(|| vec![1; n]);
    if v.len() != n || v.iter().any(|x| !(1..=1 << 20).contains(x)) {
        return Err(ctx.err(format!("{name} must be {n} positive values, got {v:?}")));
    }
    Ok(v.iter().map(|&x| x as usize).collect())
}

pub(crate) fn window(ctx: &Ctx<'_>, kernel: Vec<usize>, spatial: &[usize]) -> Result<Window> {
    let n = kernel.len();
    let strides = positive(ctx, "strides", ctx.ints("strides")?, n)?;
    let dilations = positive(ctx, "dilations", ctx.ints("dilations")?, n)?;
    let (mut begin, mut end) = (vec![0; n], vec![0; n]);
    match ctx.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" => {
            if let Some(p) = ctx.ints("pads")? {
                if p.len() != 2 * n || p.iter().any(|&x| !(0..1 << 20).contains(&x)) {
                    return Err(ctx.err(format!("pads must be {} values ≥ 0, got {p:?}", 2 * n)));
                }
                begin = p[..n].iter().map(|&x| x as usize).collect();
                end = p[n..].iter().map(|&x| x as usize).collect();
            }
        }
        "VALID" => {}
        mode @ ("SAME_UPPER" | "SAME_LOWER") => {
            for i in 0..n {
                let out = spatial[i].div_ceil(strides[i]);
                let span = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + span).saturating_sub(spatial[i]);
                let small = total / 2;
                (begin[i], end[i]) = if mode == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
        }
        other => return Err(ctx.unsupported(format!("auto_pad = {other}"))),
    }
    Ok(Window {
        kernel,
        strides,
        dilations,
        begin,
        end,
    })
}

impl Window {
    /// Output sizes over `spatial`, or an error when a window does not fit.
    fn output(&self, ctx: &Ctx<'_>, spatial: &[usize]) -> Result<Vec<usize>> {
        (0..self.kernel.len())
            .map(|i| {
                let span = (self.kernel[i] - 1) * self.dilations[i] + 1;
                let padded = spatial[i] + self.begin[i] + self.end[i];
                if span > padded {
                    return Err(ctx.err(format!(
                        "a window of {span} does not fit an axis of {} (padded {padded})",
                        spatial[i]
                    )));
                }
                Ok((padded - span) / self.strides[i] + 1)
            })
            .collect()
    }

    /// A pooling window: it fits the padded input, and no pad exceeds half the window (as
    /// ONNX requires; burn's pooling would misbehave otherwise).
    pub(crate) fn check_pool(&self, ctx: &Ctx<'_>, spatial: &[usize]) -> Result<()> {
        self.output(ctx, spatial)?;
        let kernels = self.kernel.iter().chain(&self.kernel);
        if self
            .begin
            .iter()
            .chain(&self.end)
            .zip(kernels)
            .any(|(p, k)| p * 2 > *k)
        {
            return Err(ctx.err("pads larger than half the window"));
        }
        Ok(())
    }

    fn symmetric(&self) -> bool {
        self.begin == self.end
    }
}

/// `t` with zeros added before and after its spatial axes (axes 2..).
fn pad_zeros<const D: usize>(t: Tensor<D>, begin: &[usize], end: &[usize]) -> Tensor<D> {
    crate::ops::pool::pad_value(t, begin, end, 0.0)
}

pub(crate) fn kernel_of(
    ctx: &Ctx<'_>,
    n: usize,
    weight_dims: Option<&[usize]>,
) -> Result<Vec<usize>> {
    match (ctx.ints("kernel_shape")?, weight_dims) {
        (Some(k), _) => positive(ctx, "kernel_shape", Some(k), n),
        (None, Some(w)) => Ok(w[2..].to_vec()),
        (None, None) => Err(ctx.err("kernel_shape is required")),
    }
}

/// Conv (1D, 2D, 3D; groups; explicit or automatic padding).
pub(crate) fn conv(ctx: &Ctx<'_>) -> Result<FTensor> {
    let (x, w, b) = (ctx.floats(0)?, ctx.floats(1)?, ctx.opt_floats(2)?);
    let (xd, wd) = (x.dims(), w.dims());
    if xd.len() != wd.len() || !(3..=5).contains(&xd.len()) {
        return Err(ctx.err(format!(
            "input {xd:?} and weight {wd:?} must both be 3-D to 5-D"
        )));
    }
    let groups = usize::try_from(ctx.int("group", 1)?).map_err(|_| ctx.err("group < 0"))?;
    if groups == 0 || xd[1] != wd[1] * groups || wd[0] % groups != 0 {
        return Err(ctx.err(format!(
            "channels: input {xd:?}, weight {wd:?}, group {groups}"
        )));
    }
    let n = xd.len() - 2;
    let win = window(ctx, kernel_of(ctx, n, Some(&wd))?, &xd[2..])?;
    if win.kernel != wd[2..] {
        return Err(ctx.err("kernel_shape differs from the weight's"));
    }
    win.output(ctx, &xd[2..])?;
    let bias = match b {
        Some(b) if b.dims() == [wd[0]] => Some(b.into_rank::<1>()?),
        Some(b) => {
            return Err(ctx.err(format!("bias {:?} for {} output channels", b.dims(), wd[0])));
        }
        None => None,
    };
    let (x, win) = if n == 3 && !win.symmetric() {
        // burn's 3D convolution takes symmetric padding only: pad explicitly
        let x = FTensor::R5(pad_zeros(x.into_rank::<5>()?, &win.begin, &win.end));
        (
            x,
            Window {
                begin: vec![0; 3],
                end: vec![0; 3],
                ..win
            },
        )
    } else {
        (x, win)
    };
    let pads: Vec<(usize, usize)> = win
        .begin
        .iter()
        .copied()
        .zip(win.end.iter().copied())
        .collect();
    Ok(match n {
        1 => {
            // as 2D with a height of 1
            let x = x.into_rank::<3>()?.unsqueeze_dim::<4>(2);
            let w = w.into_rank::<3>()?.unsqueeze_dim::<4>(2);
            let o = ConvOptions::new_with_padding(
                [1, win.strides[0]],
                [(0, 0), pads[0]],
                [1, win.dilations[0]],
                groups,
            );
            FTensor::R3(fast_conv::conv2d(x, w, bias, o).squeeze_dim::<3>(2))
        }
        2 => {
            let o = ConvOptions::new_with_padding(
                arr(&win.strides),
                [pads[0], pads[1]],
                arr(&win.dilations),
                groups,
            );
            FTensor::R4(fast_conv::conv2d(x.into_rank()?, w.into_rank()?, bias, o))
        }
        _ => {
            let o = ConvOptions::new_with_padding(
                arr(&win.strides),
                [pads[0], pads[1], pads[2]],
                arr(&win.dilations),
                groups,
            );
            FTensor::R5(fast_conv::conv3d(x.into_rank()?, w.into_rank()?, bias, o))
        }
    })
}

/// ConvTranspose (2D, 3D; symmetric padding, output padding, groups).
pub(crate) fn conv_transpose(ctx: &Ctx<'_>) -> Result<FTensor> {
    let (x, w, b) = (ctx.floats(0)?, ctx.floats(1)?, ctx.opt_floats(2)?);
    let (xd, wd) = (x.dims(), w.dims());
    if xd.len() != wd.len() || !(4..=5).contains(&xd.len()) || xd[1] != wd[0] {
        return Err(ctx.err(format!(
            "input {xd:?} and weight {wd:?} do not fit (2D or 3D)"
        )));
    }
    if ctx.ints("output_shape")?.is_some() {
        return Err(ctx.unsupported("the output_shape attribute (export with explicit pads)"));
    }
    let n = xd.len() - 2;
    let groups = usize::try_from(ctx.int("group", 1)?).map_err(|_| ctx.err("group < 0"))?;
    let win = window(ctx, kernel_of(ctx, n, Some(&wd))?, &xd[2..])?;
    if win.begin != win.end {
        return Err(ctx.unsupported("asymmetric pads"));
    }
    let out_pad = match ctx.ints("output_padding")? {
        None => vec![0; n],
        Some(p) if p.len() == n && p.iter().all(|&v| (0..1 << 20).contains(&v)) => {
            p.iter().map(|&v| v as usize).collect()
        }
        Some(p) => return Err(ctx.err(format!("output_padding {p:?}"))),
    };
    let groups = groups.max(1);
    if xd[1] % groups != 0 {
        return Err(ctx.err(format!("{} input channels in {groups} groups", xd[1])));
    }
    if out_pad
        .iter()
        .zip(&win.strides)
        .zip(&win.dilations)
        .any(|((&p, &s), &d)| p >= s.max(d))
    {
        return Err(ctx.err("output_padding must be smaller than the stride or the dilation"));
    }
    for i in 0..n {
        let span = (win.kernel[i] - 1) * win.dilations[i] + 1;
        if (xd[2 + i] - 1) * win.strides[i] + span + out_pad[i] <= 2 * win.begin[i] {
            return Err(ctx.err("pads larger than the output"));
        }
    }
    let co = wd[1] * groups;
    let bias = match b {
        Some(b) if b.dims() == [co] => Some(b.into_rank::<1>()?),
        Some(b) => return Err(ctx.err(format!("bias {:?} for {co} output channels", b.dims()))),
        None => None,
    };
    if xd[2..].contains(&0) {
        return Err(ctx.err("an empty input"));
    }
    macro_rules! transposed {
        ($n:literal, $rank:ident, $f:path) => {{
            let o = ConvTransposeOptions::<$n>::new(
                arr(&win.strides),
                arr(&win.begin),
                arr(&out_pad),
                arr(&win.dilations),
                groups,
            );
            FTensor::$rank($f(x.into_rank()?, w.into_rank()?, bias, o))
        }};
    }
    Ok(if n == 2 {
        transposed!(2, R4, fast_conv::conv_transpose2d)
    } else {
        transposed!(3, R5, fast_conv::conv_transpose3d)
    })
}

/// MaxPool (2D here; 1D and 3D in `pool.rs`).
pub(crate) fn max_pool(ctx: &Ctx<'_>) -> Result<FTensor> {
    if ctx.node.outputs.len() > 1 && !ctx.node.outputs[1].is_empty() {
        return Err(ctx.unsupported("the Indices output"));
    }
    let x = ctx.floats(0)?;
    let xd = x.dims();
    if xd.len() != 4 {
        return crate::ops::pool::max_pool_nd(ctx, x);
    }
    let win = window(ctx, kernel_of(ctx, 2, None)?, &xd[2..])?;
    let ceil = ctx.int("ceil_mode", 0)? != 0;
    win.check_pool(ctx, &xd[2..])?;
    let x = x.into_rank::<4>()?;
    let plain = win.begin == [0, 0] && win.end == [0, 0] && win.dilations == [1, 1] && !ceil;
    Ok(FTensor::R4(if plain {
        fast_conv::max_pool2d(x, arr(&win.kernel), arr(&win.strides))
    } else {
        let o = MaxPoolOptions::new(arr(&win.kernel))
            .with_stride(arr(&win.strides))
            .with_padding_pairs([(win.begin[0], win.end[0]), (win.begin[1], win.end[1])])
            .with_dilation(arr(&win.dilations))
            .with_ceil_mode(ceil);
        module::max_pool2d(x, o)
    }))
}

/// AveragePool (2D here; 1D and 3D in `pool.rs`).
pub(crate) fn avg_pool(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let xd = x.dims();
    if xd.len() != 4 {
        return crate::ops::pool::avg_pool_nd(ctx, x);
    }
    let win = window(ctx, kernel_of(ctx, 2, None)?, &xd[2..])?;
    if win.dilations != [1, 1] {
        return Err(ctx.unsupported("dilated average pooling"));
    }
    win.check_pool(ctx, &xd[2..])?;
    let o = AvgPoolOptions::new(arr(&win.kernel))
        .with_stride(arr(&win.strides))
        .with_padding_pairs([(win.begin[0], win.end[0]), (win.begin[1], win.end[1])])
        .with_count_include_pad(ctx.int("count_include_pad", 0)? != 0)
        .with_ceil_mode(ctx.int("ceil_mode", 0)? != 0);
    Ok(FTensor::R4(module::avg_pool2d(x.into_rank()?, o)))
}

fn mean_spatial<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    (2..D).fold(t, |t, d| t.mean_dim(d))
}

/// GlobalAveragePool: the mean over every spatial axis, kept as size 1.
pub(crate) fn global_avg_pool(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    if x.rank() < 3 {
        return Err(ctx.err("needs a [B, C, ...] input"));
    }
    Ok(crate::map_rank!(x, t => mean_spatial(t)))
}

/// BatchNormalization in inference mode: `(x − mean) / √(var + ε) · scale + bias` per channel.
pub(crate) fn batch_norm(ctx: &Ctx<'_>) -> Result<FTensor> {
    if ctx.int("training_mode", 0)? != 0 {
        return Err(ctx.unsupported("training_mode = 1 (export the model in eval mode)"));
    }
    let x = ctx.floats(0)?;
    let c = *x
        .dims()
        .get(1)
        .ok_or_else(|| ctx.err("needs a [B, C, ...] input"))?;
    let p = |i: usize| -> Result<Tensor<1>> {
        let t = ctx.floats(i)?;
        if t.dims() != [c] {
            return Err(ctx.err(format!(
                "parameter {i} has shape {:?}, expected [{c}]",
                t.dims()
            )));
        }
        t.into_rank::<1>()
    };
    let eps = ctx.float("epsilon", 1e-5)?;
    let (scale, bias, mean, var) = (p(1)?, p(2)?, p(3)?, p(4)?);
    let a = scale / (var + eps).sqrt();
    let b = bias - mean * a.clone();
    let r = x.rank();
    let mut shape = vec![1; r];
    shape[1] = c;
    let (a, b) = (
        FTensor::R1(a).reshape(&shape)?,
        FTensor::R1(b).reshape(&shape)?,
    );
    Ok(match (x, a, b) {
        (FTensor::R3(x), FTensor::R3(a), FTensor::R3(b)) => FTensor::R3(x * a + b),
        (FTensor::R4(x), FTensor::R4(a), FTensor::R4(b)) => FTensor::R4(x * a + b),
        (FTensor::R5(x), FTensor::R5(a), FTensor::R5(b)) => FTensor::R5(x * a + b),
        (x, _, _) => {
            let _ = with_rank!(x, t => t.dims().len());
            return Err(ctx.err("BatchNormalization needs a 3-D to 5-D input"));
        }
    })
}
