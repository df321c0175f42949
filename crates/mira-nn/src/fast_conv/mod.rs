//! Mira's own convolution for the CPU (flex) backend: im2col tiles + the gemm crate's GEMM for
//! the forward pass (for 2D kernels with stride 1 along `h`: one GEMM per kernel row over
//! kw-shifted input lines, a `KH`-th of the copying; for 2D 3×3 kernels with stride 1:
//! Winograd's F(2×2, 3×3), 2.25 times fewer multiplications, `winograd.rs`, and its weight
//! gradient likewise, `winograd_grad.rs`; for volumes:
//! shifted GEMMs over the padded input's stride phases, no im2col, `shifted.rs`), the input
//! gradient (for stride 1 a convolution with the flipped kernel; for strided volumes with two
//! or more input channels, and stride-1 ones with one, the shifted GEMMs' adjoint,
//! `shifted_adjoint.rs`; else GEMM + col2im) and the weight gradient, registered with burn's
//! autodiff as one operation.
//!
//! Why: burn-flex's convolution transposes every input to channels-last, allocates a buffer
//! per tile and scatters its GEMM results channel by channel, and its input gradient runs as
//! a transposed convolution whose col2im loops were 16 % of an attack step's profile
//! (BENCHMARKS.md). Here each image's output rows are written in place by the GEMM, im2col
//! copies whole input lines, and col2im adds whole lines.
//!
//! [`conv2d`] / [`conv3d`] take burn's tensors and options and fall back to burn's own
//! operation wherever the kernel does not apply: devices other than flex (GPU backends),
//! dtypes other than f32, grouped or asymmetrically padded convolutions, and when the
//! environment sets `MIRA_FAST_CONV=0` (a switch for benchmarks and for ruling the kernel
//! out; `MIRA_CONV3D` picks the kernel of 3D stride-1 convolutions, [`stride1_conv3d`]). The
//! kernel is checked against burn's convolution, forward and all three gradients, in
//! `tests/fast_conv.rs`. The same extension runs transposed convolutions as the adjoint of the
//! convolution ([`conv_transpose2d`], output padding included, `tests/fast_conv_transpose.rs`)
//! and max pooling without padding ([`max_pool2d`], bit-identical to burn's,
//! `tests/fast_pool.rs`), each with the same fallbacks; and the S3 hybrid's soft tissue
//! features in one pass each way ([`tissue`], against burn's operations in
//! `tests/fast_tissue.rs`; switch `MIRA_FAST_TISSUE=0`), and PReLU / LeakyReLU with constant
//! slopes in one pass each way ([`prelu`], `tests/fast_prelu.rs`), and instance
//! normalisation with constant affine parameters likewise ([`instance_norm`],
//! `tests/fast_instance_norm.rs`), and batch normalisation in training mode
//! ([`batch_norm_layer`], `tests/fast_batch_norm.rs`; switch `MIRA_FAST_BN=0`).

mod batch_norm;
mod extension;
mod fresh;
mod geom;
mod im2col;
mod instance_norm;
mod kernel;
mod lanes;
mod patches;
mod pool;
mod prelu;
mod shifted;
mod shifted_adjoint;
pub mod tissue;
mod transposed;
mod weight_cache;
mod winograd;
mod winograd_grad;

use std::sync::OnceLock;

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::conv::{Conv2d, Conv3d};
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, s};

pub use batch_norm::{BatchNormSpec, batch_norm_layer, batch_norm_relu_layer};
pub use extension::{ConvSpec, MiraConvBackend};
pub use geom::ConvGeom;
pub use instance_norm::{NormSpec, instance_norm};
pub use kernel::{forward, forward_im2col, input_grad, weight_grad, weight_grad_im2col};
pub use pool::{PoolSpec, max_pool2d, max_pool2d_layer};
pub use prelu::{PreluSpec, prelu};
pub use transposed::{conv_transpose2d, conv_transpose2d_layer, conv_transpose3d};
pub use winograd::{
    MIN_CHANNELS as WINOGRAD_MIN_CHANNELS, applies as winograd_applies, forward as forward_winograd,
};
pub use winograd_grad::weight_grad as weight_grad_winograd;

/// Whether the kernel is switched on (`MIRA_FAST_CONV` unset or anything but `0`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("MIRA_FAST_CONV").map_or(true, |v| v.trim() != "0"))
}

/// Whether 2D 3×3 stride-1 convolutions run Winograd's F(2×2, 3×3) (`MIRA_WINOGRAD` unset or
/// anything but `0`; a switch for benchmarks and for ruling the transform out).
pub fn winograd_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("MIRA_WINOGRAD").map_or(true, |v| v.trim() != "0"))
}

/// Whether the weight gradients of those convolutions run F(2×2, 3×3) too
/// (`winograd_grad.rs`; `MIRA_WINOGRAD_DW` unset or anything but `0`, and [`winograd_enabled`]).
pub fn winograd_dw_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("MIRA_WINOGRAD_DW").map_or(true, |v| v.trim() != "0"))
}

/// Which kernel runs 3D convolutions with stride and dilation 1 and a kernel deeper than 1
/// (with `Burn`, strided volumes go to Mira's im2col; with `Im2col`, their input gradients
/// too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stride1Conv3d {
    /// Mira's shifted GEMMs (`shifted.rs`), the default.
    Shifted,
    /// burn-flex's own convolution (`MIRA_CONV3D=burn`).
    Burn,
    /// Mira's 3D im2col (`MIRA_CONV3D=im2col`).
    Im2col,
}

/// The kernel for stride-1 3D convolutions: `MIRA_CONV3D` = `shifted` (unset or anything
/// else), `burn` or `im2col`. A switch for benchmarks and for ruling a kernel out.
pub fn stride1_conv3d() -> Stride1Conv3d {
    static ON: OnceLock<Stride1Conv3d> = OnceLock::new();
    *ON.get_or_init(
        || match std::env::var("MIRA_CONV3D").as_deref().map(str::trim) {
            Ok("burn") => Stride1Conv3d::Burn,
            Ok("im2col") => Stride1Conv3d::Im2col,
            _ => Stride1Conv3d::Shifted,
        },
    )
}

/// Whether [`conv2d`] / [`conv3d`] run Mira's kernel for these operands (else burn's op).
pub fn applies<const D: usize, const N: usize>(
    x: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvOptions<N>,
) -> bool {
    options.groups == 1
        && !options.is_asymmetric()
        && on_kernel(x, weight)
        && x.dims()[1] == weight.dims()[1]
}

/// Whether the kernel may run on these operands at all: switched on, f32, on the flex device.
pub(crate) fn on_kernel<const D: usize>(x: &Tensor<D>, weight: &Tensor<D>) -> bool {
    enabled() && x.dtype() == DType::F32 && weight.dtype() == DType::F32 && on_flex(x)
}

/// Whether `x` lives on burn's `flex` CPU backend (plain or with autodiff).
fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

fn spec3(options: &ConvOptions<3>) -> ConvSpec {
    ConvSpec {
        stride: options.stride,
        pad: options.padding_begin(),
        dilation: options.dilation,
        transposed: false,
        padding_out: [0; 3],
        relu: false,
    }
}

/// A valid geometry for these shapes (else burn's op reports the error its own way).
fn valid(x: &[usize], w: &[usize], spec: &ConvSpec) -> bool {
    ConvGeom::from_shapes(x, w, spec.stride, spec.pad, spec.dilation).is_some()
}

/// 3D convolution, as `burn::tensor::module::conv3d`.
///
/// # Shapes
/// `x [B, Ci, D, H, W]`, `weight [Co, Ci, KD, KH, KW]`, `bias [Co]`.
pub fn conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    conv3d_then(x, weight, bias, options, false)
}

/// [`conv3d`] followed by burn's ReLU, the ReLU fused into the kernel's passes where the
/// kernel runs ([`ConvSpec::relu`]): the same values and gradients, bit for bit.
pub fn conv3d_relu(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    conv3d_then(x, weight, bias, options, true)
}

/// [`conv3d`], with `relu` followed by a ReLU.
fn conv3d_then(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<3>,
    relu: bool,
) -> Tensor<5> {
    let spec = ConvSpec {
        relu,
        ..spec3(&options)
    };
    let wd = weight.dims();
    // Kernel depth > 1: a genuine 3D kernel (2D convolutions arrive here with depth 1).
    let burns = stride1_conv3d() == Stride1Conv3d::Burn
        && options.stride == [1, 1, 1]
        && options.dilation == [1, 1, 1]
        && wd[2] > 1;
    if burns || !applies(&x, &weight, &options) || !valid(&x.dims(), &weight.dims(), &spec) {
        return relu_if(relu, burns_conv3d(x, weight, bias, options));
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    on_kernel_conv(x, weight, bias, spec)
}

/// burn's `conv3d`, except where a stride exceeds the kernel's reach along an axis off the CPU:
/// burn 0.22's wgpu backend returns a wrong input gradient there (all zeros for the 1×1×1,
/// stride-2 projections of residual 3D networks; `tests/device_matches_cpu.rs`, run with
/// `MIRA_DEVICE=wgpu`, found it), while its stride-1 convolution and strided slices are right.
/// So such a convolution runs with stride 1 and its output is sliced with the stride: the
/// same values (`y_s[o] = y_1[o·s]`), computed at every position.
fn burns_conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    let k = weight.dims();
    let gaps = (0..3).any(|a| options.stride[a] > options.dilation[a] * (k[a + 2] - 1) + 1);
    if !gaps || on_flex(&x) {
        return module::conv3d(x, weight, bias, options);
    }
    let stride = options.stride;
    let mut dense = options.clone();
    dense.stride = [1; 3];
    let y = module::conv3d(x, weight, bias, dense);
    let d = y.dims();
    let count = |a: usize| (d[a + 2] - 1) / stride[a] + 1;
    let (c0, c1, c2) = (count(0), count(1), count(2));
    y.slice(s![
        ..,
        ..,
        0..(c0 - 1) * stride[0] + 1;stride[0],
        0..(c1 - 1) * stride[1] + 1;stride[1],
        0..(c2 - 1) * stride[2] + 1;stride[2]
    ])
}

/// Mira's convolution (or transposed convolution) of `spec` through the backend extension.
pub(crate) fn on_kernel_conv(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Tensor<1>,
    spec: ConvSpec,
) -> Tensor<5> {
    Tensor::from_dispatch(<Dispatch as MiraConvBackend>::mira_conv3d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        spec,
    ))
}

/// burn's ReLU of `y` where `relu` (the fallbacks of the fused forms).
fn relu_if<const D: usize>(relu: bool, y: Tensor<D>) -> Tensor<D> {
    if relu {
        burn::tensor::activation::relu(y)
    } else {
        y
    }
}

/// 2D convolution, as `burn::tensor::module::conv2d` (run as a 3D one of depth 1).
///
/// # Shapes
/// `x [B, Ci, H, W]`, `weight [Co, Ci, KH, KW]`, `bias [Co]`.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_then(x, weight, bias, options, false)
}

/// [`conv2d`] followed by burn's ReLU, fused as [`conv3d_relu`].
pub fn conv2d_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_then(x, weight, bias, options, true)
}

/// [`conv2d`], with `relu` followed by a ReLU.
fn conv2d_then(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    if !applies(&x, &weight, &options) {
        return relu_if(relu, module::conv2d(x, weight, bias, options));
    }
    let [b, ci, h, w] = x.dims();
    let [co, wi, kh, kw] = weight.dims();
    let options3 = ConvOptions::new_with_padding(
        [1, options.stride[0], options.stride[1]],
        [(0, 0), options.padding[0], options.padding[1]],
        [1, options.dilation[0], options.dilation[1]],
        1,
    );
    let y = conv3d_then(
        x.reshape([b, ci, 1, h, w]),
        weight.reshape([co, wi, 1, kh, kw]),
        bias,
        options3,
        relu,
    );
    let [_, _, _, oh, ow] = y.dims();
    y.reshape([b, co, oh, ow])
}

/// The options burn's `Conv2d` layer convolves with, or `None` for `Same` padding (burn-nn
/// keeps that rule private; Mira's models do not use it).
pub fn conv2d_options(layer: &Conv2d) -> Option<ConvOptions<2>> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return None,
    };
    Some(ConvOptions::new_with_padding(
        layer.stride,
        padding,
        layer.dilation,
        layer.groups,
    ))
}

/// burn's `Conv2d` layer's forward pass through [`conv2d`]; `Same` padding goes to the layer's
/// own forward.
pub fn conv2d_layer(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let Some(options) = conv2d_options(layer) else {
        return layer.forward(x);
    };
    conv2d(
        x,
        layer.weight.val(),
        layer.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// burn's `Conv3d` layer's forward pass through [`conv3d`]; `Same` padding goes to the layer's
/// own forward.
pub fn conv3d_layer(layer: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    let padding = match layer.padding {
        PaddingConfig3d::Valid => [0, 0, 0],
        PaddingConfig3d::Explicit(d, h, w) => [d, h, w],
        PaddingConfig3d::Same => return layer.forward(x),
    };
    let options = ConvOptions::new(layer.stride, padding, layer.dilation, layer.groups);
    conv3d(
        x,
        layer.weight.val(),
        layer.bias.as_ref().map(|b| b.val()),
        options,
    )
}
