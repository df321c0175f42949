//! 2D max pooling without padding or dilation (the UNet's 2×2 down-sampling): forward with
//! the index of each window's maximum, backward as a scatter to those indices, parallel over
//! the `batch × channels` planes. burn-flex's general pooling (any padding, dilation and ceil
//! mode, 64-bit indices, window bounds per output) was about 9 % of an S1 sweep's profile for
//! this small share of the arithmetic (BENCHMARKS.md).
//!
//! Ties and NaN follow burn (and PyTorch): the first maximum in the window wins, a NaN always
//! wins (the last one), so results and gradients are burn's exactly.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Dispatch, Flex, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::module;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::extension::MiraConvBackend;

/// Window and stride of a max pooling; input `[B, C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// Window `[KH, KW]`.
    pub kernel: [usize; 2],
    /// Stride `[SH, SW]`.
    pub stride: [usize; 2],
}

impl PoolSpec {
    /// Output `[OH, OW]` for input `[H, W]` (floor mode), `None` when the window does not fit.
    pub fn output(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let side =
            |n: usize, k: usize, s: usize| (k > 0 && s > 0 && n >= k).then(|| (n - k) / s + 1);
        Some([
            side(h, self.kernel[0], self.stride[0])?,
            side(w, self.kernel[1], self.stride[1])?,
        ])
    }
}

/// `(max, index within the plane)` per output, for `x` of `planes × h × w`.
pub fn forward(x: &[f32], h: usize, w: usize, spec: &PoolSpec) -> (Vec<f32>, Vec<u32>) {
    let [oh, ow] = spec
        .output(h, w)
        .expect("pool geometry checked by the caller");
    let planes = x.len() / (h * w);
    let mut out = vec![0.0f32; planes * oh * ow];
    let mut idx = vec![0u32; planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(idx.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(h * w))
        .for_each(|((out, idx), x)| {
            pulp::Arch::new().dispatch(Plane {
                x,
                w,
                ow,
                spec,
                out,
                idx,
            })
        });
    (out, idx)
}

/// One plane's pooling, as a [`pulp::WithSimd`] so that its loops are compiled for the CPU's
/// widest vector extension (stride-2 reads vectorise as shuffles there; plain x86-64 kept
/// them scalar).
struct Plane<'a> {
    x: &'a [f32],
    w: usize,
    ow: usize,
    spec: &'a PoolSpec,
    out: &'a mut [f32],
    idx: &'a mut [u32],
}

impl pulp::WithSimd for Plane<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            x,
            w,
            ow,
            spec,
            out,
            idx,
        } = self;
        let ([kh, kw], [sh, sw]) = (spec.kernel, spec.stride);
        if (kh, kw, sh, sw) == (2, 2, 2, 2) {
            // The UNet's pooling: one pass per output row with the window's four taps in
            // registers, in burn's order (row-major within the window).
            for (i, (out, idx)) in out.chunks_mut(ow).zip(idx.chunks_mut(ow)).enumerate() {
                let (r0, r1) = (2 * i * w, (2 * i + 1) * w);
                let (x0, x1) = (&x[r0..][..2 * ow], &x[r1..][..2 * ow]);
                for j in 0..ow {
                    let mut best = x0[2 * j];
                    let mut at = (r0 + 2 * j) as u32;
                    for (v, p) in [
                        (x0[2 * j + 1], r0 + 2 * j + 1),
                        (x1[2 * j], r1 + 2 * j),
                        (x1[2 * j + 1], r1 + 2 * j + 1),
                    ] {
                        take_if(false, v, p, &mut best, &mut at);
                    }
                    out[j] = best;
                    idx[j] = at;
                }
            }
            return;
        }
        // Per output row, tap by tap across the whole row, the comparison as a bit-mask
        // select: on the UNet's largest pooling (8 × 16 × 128², a patterned input) this loop
        // order took 1.4 ms against 3.1 ms for window-by-window loops with branches (a quick
        // timing, not in BENCHMARKS).
        for (i, (out, idx)) in out.chunks_mut(ow).zip(idx.chunks_mut(ow)).enumerate() {
            for a in 0..kh {
                let row = (i * sh + a) * w;
                for b in 0..kw {
                    let first = a == 0 && b == 0;
                    for (j, (best, at)) in out.iter_mut().zip(idx.iter_mut()).enumerate() {
                        let p = row + j * sw + b;
                        take_if(first, x[p], p, best, at);
                    }
                }
            }
        }
    }
}

/// Burn's tie rule as a branch-free select: `v` (at plane index `p`) replaces the window's
/// running maximum when it is the window's first tap, larger, or NaN.
#[inline(always)]
fn take_if(first: bool, v: f32, p: usize, best: &mut f32, at: &mut u32) {
    let take = first | (v > *best) | v.is_nan();
    let m = u32::from(take).wrapping_neg(); // all ones when taken
    *best = f32::from_bits((v.to_bits() & m) | (best.to_bits() & !m));
    *at = (p as u32 & m) | (*at & !m);
}

/// `dx` (`planes × in_plane`) from the output gradient (`planes × out_plane`) and the forward
/// pass's indices.
pub fn backward(dout: &[f32], idx: &[u32], out_plane: usize, in_plane: usize) -> Vec<f32> {
    let planes = dout.len() / out_plane;
    let mut dx = vec![0.0f32; planes * in_plane];
    dx.par_chunks_mut(in_plane)
        .zip(dout.par_chunks(out_plane).zip(idx.par_chunks(out_plane)))
        .for_each(|(dx, (g, at))| {
            for (g, &at) in g.iter().zip(at) {
                dx[at as usize] += g;
            }
        });
    dx
}

/// The flex forward pass: the pooled tensor and the indices.
fn dims4(x: &FlexTensor) -> [usize; 4] {
    let d = x.layout().shape();
    assert_eq!(
        d.len(),
        4,
        "max pool input checked 4D by fast_conv::max_pool2d"
    );
    [d[0], d[1], d[2], d[3]]
}

fn forward_flex(x: FlexTensor, spec: &PoolSpec) -> (FlexTensor, Vec<u32>) {
    let x = x.to_contiguous();
    let [b, c, h, w] = dims4(&x);
    let [oh, ow] = spec.output(h, w).expect("checked by fast_conv::max_pool2d");
    let (out, idx) = forward(x.storage(), h, w, spec);
    let out = FlexTensor::from_data(TensorData::new(out, vec![b, c, oh, ow]));
    (out, idx)
}

/// The flex backend's max pooling.
pub(crate) fn on_flex(x: FloatTensor<Flex>, spec: PoolSpec) -> FloatTensor<Flex> {
    forward_flex(x, &spec).0
}

#[derive(Debug)]
struct MaxPoolOp;

impl Backward<Flex, 1> for MaxPoolOp {
    /// The indices, the input shape `[B, C, H, W]` and the output plane's size.
    type State = (Vec<u32>, [usize; 4], usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (idx, shape, out_plane) = ops.state;
        if let Some(node) = node_x {
            let dx = backward(grad.storage(), &idx, out_plane, shape[2] * shape[3]);
            let dx = FlexTensor::from_data(TensorData::new(dx, shape.to_vec()));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// Max pooling on autodiff over flex: the gradient is scattered to the indices.
pub(crate) fn on_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    spec: PoolSpec,
) -> FloatTensor<Autodiff<Flex, C>> {
    let prep = MaxPoolOp
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful();
    let x = x.into_primitive();
    let in_shape = dims4(&x);
    let (out, idx) = forward_flex(x, &spec);
    match prep {
        OpsKind::Tracked(prep) => {
            let out_plane = out.layout().shape()[2..].iter().product();
            prep.finish((idx, in_shape, out_plane), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// 2D max pooling of `x [B, C, H, W]` with window `kernel` and `stride` (no padding, no
/// dilation, floor mode), as `burn::tensor::module::max_pool2d`: Mira's kernel on flex f32
/// tensors ([`super::on_kernel`]), burn's operation elsewhere.
pub fn max_pool2d(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Tensor<4> {
    let spec = PoolSpec { kernel, stride };
    let [_, _, h, w] = x.dims();
    let fits = spec.output(h, w).is_some() && u32::try_from(h * w).is_ok();
    if !fits || !super::on_kernel(&x, &x) {
        return module::max_pool2d(x, MaxPoolOptions::new(kernel).with_stride(stride));
    }
    Tensor::from_dispatch(<Dispatch as MiraConvBackend>::mira_max_pool2d(
        x.into_dispatch(),
        spec,
    ))
}

/// burn's `MaxPool2d` layer's forward pass through [`max_pool2d`] when it has no padding or
/// dilation and floor mode; else the layer's own.
pub fn max_pool2d_layer(layer: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let unpadded = matches!(
        layer.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    if !unpadded || layer.dilation != [1, 1] || layer.ceil_mode {
        return layer.forward(x);
    }
    max_pool2d(x, layer.kernel_size, layer.stride)
}
