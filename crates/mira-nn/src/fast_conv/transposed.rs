//! Transposed convolutions through the kernel: burn's `conv_transpose2d` / `conv_transpose3d`
//! and the `ConvTranspose2d` layer (the UNet's up-sampling), as the adjoint of a convolution.
//! The forward pass is that convolution's input gradient (GEMM + col2im, or the flipped-kernel
//! convolution for stride 1), the input gradient is its forward pass, and the weight gradient
//! its weight gradient with the roles of input and output swapped. Output padding (below the
//! stride or dilation, as PyTorch demands) makes that convolution's input larger by as much.
//! Groups go to burn's own operation, as do other devices and dtypes ([`super::applies`]).

use burn::nn::conv::ConvTranspose2d;
use burn::tensor::Tensor;
use burn::tensor::module;
use burn::tensor::ops::ConvTransposeOptions;

use super::extension::ConvSpec;
use super::geom::ConvGeom;

/// `dims` of a 2D (`[B, C, H, W]`) or 3D operand as 3D ones (a unit depth for 2D).
fn dims5<const D: usize>(t: &Tensor<D>) -> Vec<usize> {
    let mut d = t.dims().to_vec();
    if D == 4 {
        d.insert(2, 1);
    }
    d
}

/// The adjoint convolution's spec, when the kernel applies to these operands (2D or 3D,
/// `options` in 3D form).
fn spec_for<const D: usize>(
    x: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvTransposeOptions<3>,
) -> Option<ConvSpec> {
    let (xd, wd) = (dims5(x), dims5(weight));
    if D < 4
        || options.groups != 1
        || (0..3).any(|a| options.padding_out[a] >= options.stride[a].max(options.dilation[a]))
        || wd[0] != xd[1]
        || !super::on_kernel(x, weight)
    {
        return None;
    }
    let spec = ConvSpec {
        stride: options.stride,
        pad: options.padding,
        dilation: options.dilation,
        transposed: true,
        padding_out: options.padding_out,
        relu: false,
    };
    let out = spec.transposed_output(&xd, &wd)?;
    let g = ConvGeom::from_shapes(&out, &wd, spec.stride, spec.pad, spec.dilation)?;
    (g.output == xd[2..]).then_some(spec)
}

fn run(x: Tensor<5>, weight: Tensor<5>, bias: Option<Tensor<1>>, spec: ConvSpec) -> Tensor<5> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[1]], &weight.device()));
    super::on_kernel_conv(x, weight, bias, spec)
}

/// 3D transposed convolution, as `burn::tensor::module::conv_transpose3d`.
///
/// # Shapes
/// `x [B, Ci, D, H, W]`, `weight [Ci, Co, KD, KH, KW]`, `bias [Co]`.
pub fn conv_transpose3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<3>,
) -> Tensor<5> {
    match spec_for(&x, &weight, &options) {
        Some(spec) => run(x, weight, bias, spec),
        None => module::conv_transpose3d(x, weight, bias, options),
    }
}

/// 2D transposed convolution, as `burn::tensor::module::conv_transpose2d` (run as a 3D one of
/// depth 1).
///
/// # Shapes
/// `x [B, Ci, H, W]`, `weight [Ci, Co, KH, KW]`, `bias [Co]`.
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    let options3 = ConvTransposeOptions::new(
        [1, options.stride[0], options.stride[1]],
        [0, options.padding[0], options.padding[1]],
        [0, options.padding_out[0], options.padding_out[1]],
        [1, options.dilation[0], options.dilation[1]],
        options.groups,
    );
    let Some(spec) = spec_for(&x, &weight, &options3) else {
        return module::conv_transpose2d(x, weight, bias, options);
    };
    let [b, ci, h, w] = x.dims();
    let [wi, co, kh, kw] = weight.dims();
    let y = run(
        x.reshape([b, ci, 1, h, w]),
        weight.reshape([wi, co, 1, kh, kw]),
        bias,
        spec,
    );
    let [_, co, _, oh, ow] = y.dims();
    y.reshape([b, co, oh, ow])
}

/// burn's `ConvTranspose2d` layer's forward pass through [`conv_transpose2d`].
pub fn conv_transpose2d_layer(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    conv_transpose2d(
        x,
        layer.weight.val(),
        layer.bias.as_ref().map(|b| b.val()),
        ConvTransposeOptions::new(
            layer.stride,
            layer.padding,
            layer.padding_out,
            layer.dilation,
            layer.groups,
        ),
    )
}
