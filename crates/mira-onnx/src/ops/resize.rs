//! Resize (and Upsample): nearest and (multi)linear interpolation of any spatial rank, written
//! as index selections along one axis at a time, so the gradient flows through burn's `select`
//! (bilinear and trilinear are the separable products of 1-D linear interpolation).

use burn::prelude::*;

use crate::error::Result;
use crate::model::Attr;
use crate::ops::{Ctx, select_axis};
use crate::value::FTensor;

/// How output coordinate `o` maps to an input coordinate along an axis of `n` → `m` values
/// with scale `s` (ONNX's `coordinate_transformation_mode`).
fn source(mode: &str, o: usize, n: usize, m: usize, s: f64) -> f64 {
    let o = o as f64;
    match mode {
        "align_corners" if m > 1 => o * (n as f64 - 1.0) / (m as f64 - 1.0),
        "align_corners" => 0.0,
        "asymmetric" => o / s,
        "pytorch_half_pixel" if m <= 1 => 0.0,
        _ => (o + 0.5) / s - 0.5, // half_pixel, pytorch_half_pixel
    }
}

fn weights_on<const D: usize>(w: &[f32], axis: usize, dev: &Device) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[axis] = w.len();
    Tensor::<1>::from_floats(w, dev).reshape(shape)
}

/// One axis resized from `n` to `m` values.
fn resize_axis<const D: usize>(
    t: Tensor<D>,
    axis: usize,
    m: usize,
    scale: f64,
    (mode, coord, nearest): (&str, &str, &str),
) -> Tensor<D> {
    let n = t.dims()[axis];
    let src: Vec<f64> = (0..m).map(|o| source(coord, o, n, m, scale)).collect();
    if mode == "nearest" {
        let idx: Vec<usize> = src
            .iter()
            .map(|&x| {
                let i = match nearest {
                    "floor" => x.floor(),
                    "ceil" => x.ceil(),
                    "round_prefer_ceil" => (x + 0.5).floor(),
                    _ => (x - 0.5).ceil(), // round_prefer_floor
                };
                (i.max(0.0) as usize).min(n - 1)
            })
            .collect();
        return select_axis(t, axis, &idx);
    }
    let (mut i0, mut i1, mut w1) = (Vec::new(), Vec::new(), Vec::new());
    for &x in &src {
        let x = x.clamp(0.0, (n - 1) as f64);
        let lo = x.floor() as usize;
        i0.push(lo);
        i1.push((lo + 1).min(n - 1));
        w1.push((x - lo as f64) as f32);
    }
    let w0: Vec<f32> = w1.iter().map(|w| 1.0 - w).collect();
    let dev = t.device();
    select_axis(t.clone(), axis, &i0) * weights_on::<D>(&w0, axis, &dev)
        + select_axis(t, axis, &i1) * weights_on::<D>(&w1, axis, &dev)
}

fn resize_all<const D: usize>(
    t: Tensor<D>,
    out: &[usize],
    scales: &[f64],
    modes: (&str, &str, &str),
) -> Tensor<D> {
    (0..D).fold(t, |t, a| {
        if t.dims()[a] == out[a] && scales[a] == 1.0 {
            t
        } else {
            resize_axis(t, a, out[a], scales[a], modes)
        }
    })
}

/// Resize (opset ≥ 10: scales or sizes as inputs) and Upsample (scales).
pub(crate) fn resize(ctx: &Ctx<'_>) -> Result<FTensor> {
    let x = ctx.floats(0)?;
    let d = x.dims();
    let mode = ctx.string("mode", "nearest")?;
    if !matches!(
        mode.as_str(),
        "nearest" | "linear" | "bilinear" | "trilinear"
    ) {
        return Err(ctx.unsupported(format!("mode = {mode}")));
    }
    let mode = if mode == "nearest" {
        "nearest"
    } else {
        "linear"
    };
    let coord = ctx.string(
        "coordinate_transformation_mode",
        if ctx.opset < 11 {
            "asymmetric"
        } else {
            "half_pixel"
        },
    )?;
    if !matches!(
        coord.as_str(),
        "half_pixel" | "pytorch_half_pixel" | "align_corners" | "asymmetric"
    ) {
        return Err(ctx.unsupported(format!("coordinate_transformation_mode = {coord}")));
    }
    if ctx
        .node
        .attrs
        .get("axes")
        .is_some_and(|a| !matches!(a, Attr::Other))
    {
        return Err(ctx.unsupported("the axes attribute"));
    }
    let nearest = ctx.string("nearest_mode", "round_prefer_floor")?;
    // Upsample and Resize-10: scales at input 1; Resize-11+: roi 1, scales 2, sizes 3.
    let (scales, sizes) = if ctx.node.op_type == "Upsample" || ctx.opset < 11 {
        (ctx.opt_floats(1)?.map(|t| t.to_vec()), None)
    } else {
        let scales = ctx
            .opt_floats(2)?
            .map(|t| t.to_vec())
            .filter(|v| !v.is_empty());
        (
            scales,
            ctx.opt_host_ints(3)?
                .map(|v| v.data)
                .filter(|v| !v.is_empty()),
        )
    };
    let (out, scales): (Vec<usize>, Vec<f64>) = match (sizes, scales) {
        (Some(s), _) if s.len() == d.len() && s.iter().all(|&v| (1..1 << 24).contains(&v)) => {
            let out: Vec<usize> = s.iter().map(|&v| v as usize).collect();
            let sc = out
                .iter()
                .zip(&d)
                .map(|(&o, &i)| o as f64 / i as f64)
                .collect();
            (out, sc)
        }
        (None, Some(s)) if s.len() == d.len() && s.iter().all(|&v| v > 0.0 && v < 1e6) => {
            let out = s
                .iter()
                .zip(&d)
                .map(|(&f, &i)| ((i as f64) * f64::from(f)).floor() as usize)
                .collect();
            (out, s.iter().map(|&f| f64::from(f)).collect())
        }
        _ => {
            return Err(ctx.err(format!(
                "needs scales or sizes for each of the {} axes",
                d.len()
            )));
        }
    };
    if out.contains(&0) || out.iter().product::<usize>() > 1 << 30 || d.contains(&0) {
        return Err(ctx.err(format!("cannot resize {d:?} to {out:?}")));
    }
    let modes = (mode, coord.as_str(), nearest.as_str());
    Ok(crate::map_rank!(x, t => resize_all(t, &out, &scales, modes)))
}
