//! A 2D convolution followed by BatchNorm, with the BatchNorm folded into the convolution's
//! weights whenever it normalises with its running statistics.
//!
//! In inference BatchNorm is an affine map per channel, `y = (z − μ)·s + β` with
//! `s = γ / √(σ² + ε)`, so `BN(conv(x, W) + b) = conv(x, W·s) + (b − μ)·s + β`. Folding removes
//! BatchNorm's passes over the activation (forward and backward, which burn runs on one
//! thread) from every attack step; the weights are rescaled instead, a few thousand values per
//! layer. In training mode BatchNorm normalises with the batch's statistics, in one pass each
//! way ([`fast_conv::batch_norm_layer`]; [`conv_bn_relu`] fuses the following ReLU into it).
//! `tests/conv_bn.rs` checks the folded output and input gradient against the unfolded
//! pair.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use crate::fast_conv;

/// Whether `bn` normalises `x` with its running statistics (burn's own rule: batch statistics
/// only on an autodiff device with the layer's training flag on).
pub fn bn_uses_running_stats(bn: &BatchNorm, x: &Tensor<4>) -> bool {
    !(x.device().is_autodiff() && bn.training.is_enabled())
}

/// `bn(conv(x))`, folded when `bn` uses its running statistics.
pub fn conv_bn(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    match fold_options(conv, bn, &x) {
        Some(options) => folded(conv, bn, x, options, false),
        None => fast_conv::batch_norm_layer(bn, fast_conv::conv2d_layer(conv, x)),
    }
}

/// `relu(bn(conv(x)))`: folded as [`conv_bn`], or in training the ReLU fused into the
/// BatchNorm's passes ([`fast_conv::batch_norm_relu_layer`]); the same values and gradients.
pub fn conv_bn_relu(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    match fold_options(conv, bn, &x) {
        Some(options) => folded(conv, bn, x, options, true),
        None => fast_conv::batch_norm_relu_layer(bn, fast_conv::conv2d_layer(conv, x)),
    }
}

/// The convolution's options where [`conv_bn`] folds: `bn` uses its running statistics and
/// the padding is explicit.
fn fold_options(conv: &Conv2d, bn: &BatchNorm, x: &Tensor<4>) -> Option<ConvOptions<2>> {
    fast_conv::conv2d_options(conv).filter(|_| bn_uses_running_stats(bn, x))
}

/// The convolution with `bn` folded into its weights and bias, with `relu` followed by a ReLU
/// (fused into the convolution, [`fast_conv::conv2d_relu`]).
fn folded(
    conv: &Conv2d,
    bn: &BatchNorm,
    x: Tensor<4>,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    // The folded weights live where the weights live (the plain device during attacks).
    let weight = conv.weight.val();
    let device = weight.device();
    let cout = weight.dims()[0];
    let mean = bn.running_mean.value().to_device(&device);
    let var = bn.running_var.value().to_device(&device);
    let scale = bn.gamma.val() / (var + bn.epsilon).sqrt();
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([cout], &device),
    };
    let bias = (bias - mean) * scale.clone() + bn.beta.val();
    let weight = weight * scale.reshape([cout, 1, 1, 1]);
    if relu {
        fast_conv::conv2d_relu(x, weight, Some(bias), options)
    } else {
        fast_conv::conv2d(x, weight, Some(bias), options)
    }
}
