//! The burn side: a backend extension whose flex implementation runs [`super::kernel`] and
//! whose autodiff implementation registers the kernel's own backward passes.
//!
//! Only the flex backend (and autodiff over it) implements the extension; [`super::conv3d`]
//! routes other devices, other dtypes and grouped or asymmetric convolutions to burn's own
//! operation, so the extension is never called where it has no implementation.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;

use super::batch_norm::{self, BatchNormSpec};
use super::geom::ConvGeom;
use super::instance_norm::{self, NormSpec};
use super::kernel;
use super::patches;
use super::pool::{self, PoolSpec};
use super::prelu::{self, PreluSpec};
use super::tissue::{self, TissueSpec};

/// Stride, padding (both sides) and dilation of a 3D convolution, and whether it is the
/// transposed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Stride per axis.
    pub stride: [usize; 3],
    /// Zero padding per axis, before and after.
    pub pad: [usize; 3],
    /// Dilation per axis.
    pub dilation: [usize; 3],
    /// The transposed convolution (without output padding): the adjoint of the convolution
    /// with this stride, padding and dilation, whose weight `[Ci, Co, K..]` is burn's
    /// `ConvTranspose` layout. Its forward pass is that convolution's input gradient, its input
    /// gradient that convolution's forward pass.
    pub transposed: bool,
    /// Of a transposed convolution: extra output voxels at the end of each axis (PyTorch's
    /// `output_padding`, below the stride), i.e. the adjoint of the convolution whose input is
    /// that much larger (and whose output is the same). Zero for a convolution.
    pub padding_out: [usize; 3],
    /// The output passes through ReLU, fused (convolutions only, not transposed ones): burn's
    /// own rule, NaN kept (`x.is_nan() || x > 0 ? x : 0`), and in the backward pass the output
    /// gradient kept where the output is NaN or positive, as burn's `relu_backward`; so the
    /// same values and gradients bit for bit as a ReLU after the convolution, without its two
    /// passes over the activation.
    pub relu: bool,
}

impl ConvSpec {
    /// Output side of the transposed convolution along `axis` for input side `n`.
    pub fn transposed_side(&self, axis: usize, n: usize, k: usize) -> Option<usize> {
        ((n.checked_sub(1)? * self.stride[axis])
            + self.dilation[axis] * (k.checked_sub(1)?)
            + 1
            + self.padding_out[axis])
            .checked_sub(2 * self.pad[axis])
            .filter(|s| *s > 0)
    }

    /// For a transposed convolution of `x [B, Ci, D, H, W]` with `w [Ci, Co, K..]`: the shape
    /// of its output, which is the input of the convolution it is the adjoint of.
    pub fn transposed_output(&self, x: &[usize], w: &[usize]) -> Option<Vec<usize>> {
        let mut shape = vec![x[0], w[1]];
        for a in 0..3 {
            shape.push(self.transposed_side(a, x[2 + a], w[2 + a])?);
        }
        Some(shape)
    }
}

/// Mira's convolution as a burn backend extension (5D tensors; 2D callers add a unit depth).
#[backend_extension(Flex, Autodiff)]
pub trait MiraConvBackend: Backend {
    /// `conv3d(x, weight) + bias` for `x [B, Ci, D, H, W]`, `weight [Co, Ci, KD, KH, KW]`,
    /// `bias [Co]`, all f32; with `spec.transposed`, `conv_transpose3d(x, weight) + bias` for
    /// `weight [Ci, Co, KD, KH, KW]`.
    fn mira_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;

    /// 2D max pooling of `x [B, C, H, W]` (f32) without padding or dilation.
    fn mira_max_pool2d(x: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self>;

    /// The S3 hybrid's soft tissue features `[B, 27]` of `x [B, 1, D, H, W]` (f32, even
    /// sides), `super::tissue`.
    fn mira_tissue_features(x: FloatTensor<Self>, spec: TissueSpec) -> FloatTensor<Self>;

    /// PReLU of `x [B, C, ...]` (f32) with constant slopes, `super::prelu`.
    fn mira_prelu(x: FloatTensor<Self>, spec: PreluSpec) -> FloatTensor<Self>;

    /// Instance normalisation of `x [B, C, S]` (f32) with constant affine parameters,
    /// `super::instance_norm`.
    fn mira_instance_norm(x: FloatTensor<Self>, spec: NormSpec) -> FloatTensor<Self>;

    /// Batch normalisation in training mode of `x [N, C, ...]` (f32) with `γ`, `β` `[C]`:
    /// the output and the batch's mean and biased variance, `super::batch_norm`.
    fn mira_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: BatchNormSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// The geometry of the convolution under `spec` for operands `x` and `w`: of `x` convolved
/// with `w`, or for a transposed convolution of the convolution it is the adjoint of (whose
/// input has the transposed convolution's output shape). The caller has checked shapes.
fn geom(x: &[usize], w: &[usize], spec: &ConvSpec) -> ConvGeom {
    let conv_input = if spec.transposed {
        spec.transposed_output(x, w)
            .expect("mira_conv3d: shapes checked by fast_conv")
    } else {
        x.to_vec()
    };
    ConvGeom::from_shapes(&conv_input, w, spec.stride, spec.pad, spec.dilation)
        .expect("mira_conv3d: shapes checked by fast_conv")
}

/// Adds `bias[c]` to every value of channel `c` of `y` (`batch × channels × len`).
fn add_bias(y: &mut [f32], bias: &[f32], len: usize) {
    use rayon::prelude::*;
    y.par_chunks_mut(len * bias.len()).for_each(|img| {
        for (plane, b) in img.chunks_mut(len).zip(bias) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    });
}

/// burn-flex's ReLU on `y` in place (NaN kept).
fn relu_in_place(y: &mut [f32]) {
    use rayon::prelude::*;
    y.par_chunks_mut(RELU_CHUNK).for_each(|c| {
        pulp::Arch::new().dispatch(Relu { y: c, mask: None });
    });
}

/// The fused ReLU's passes as a [`pulp::WithSimd`], compiled for the CPU's widest vector
/// extension (the default build targets plain x86-64; plain loops there made the b1 UNet's
/// attack step slower than with burn's own ReLU: 116.7–122.6 against 102.6–113.0 ms, 1 thread): with `mask`, `y` is an output gradient kept
/// where `mask` (the output) is NaN or positive; without, `y` is clipped in place.
struct Relu<'a> {
    y: &'a mut [f32],
    mask: Option<&'a [f32]>,
}

impl pulp::WithSimd for Relu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        match self.mask {
            Some(out) => {
                for (g, y) in self.y.iter_mut().zip(out) {
                    if !(y.is_nan() || *y > 0.0) {
                        *g = 0.0;
                    }
                }
            }
            None => {
                for v in self.y.iter_mut() {
                    *v = if v.is_nan() || *v > 0.0 { *v } else { 0.0 };
                }
            }
        }
    }
}

/// burn-flex's `relu_backward`: `dy` (contiguous) kept where the output `y` is NaN or
/// positive; in place where `dy` is not shared, as burn-flex's binary ops do (no copy of the
/// gradient first).
fn relu_masked(mut dy: FlexTensor, y: &[f32]) -> FlexTensor {
    use rayon::prelude::*;
    let mask = |g: &mut [f32], y: &[f32]| {
        g.par_chunks_mut(RELU_CHUNK)
            .zip(y.par_chunks(RELU_CHUNK))
            .for_each(|(g, y)| {
                pulp::Arch::new().dispatch(Relu {
                    y: g,
                    mask: Some(y),
                });
            });
    };
    if let Some(g) = dy.try_storage_mut::<f32>() {
        mask(g, y);
        return dy;
    }
    let mut g = dy.storage::<f32>().to_vec();
    mask(&mut g, y);
    flex(g, dims(&dy))
}

/// Floats per parallel piece of the fused ReLU's passes.
const RELU_CHUNK: usize = 1 << 15;

/// `Σ` over the batch and space of each channel of `dy` (`batch × channels × len`), in a
/// fixed order.
pub(super) fn channel_sums(dy: &[f32], channels: usize, len: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; channels];
    for img in dy.chunks(channels * len) {
        for (s, plane) in sums.iter_mut().zip(img.chunks(len)) {
            *s += super::lanes::sum(plane);
        }
    }
    sums
}

pub(super) fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn forward_flex(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    spec: &ConvSpec,
) -> FlexTensor {
    let (x, weight, bias) = (
        x.to_contiguous(),
        weight.to_contiguous(),
        bias.to_contiguous(),
    );
    let g = geom(&dims(&x), &dims(&weight), spec);
    debug_assert!(
        !(spec.transposed && spec.relu),
        "ReLU is fused into convolutions only"
    );
    if spec.transposed {
        let mut out = super::fresh::zeros(g.batch * g.cin * g.in_len());
        if patches::applies(&g) {
            patches::adjoint_with_bias(&g, x.storage(), weight.storage(), bias.storage(), &mut out);
        } else {
            kernel::input_grad(&g, x.storage(), weight.storage(), &mut out);
            add_bias(&mut out, bias.storage(), g.in_len());
        }
        let [d, h, w] = g.input;
        return flex(out, vec![g.batch, g.cin, d, h, w]);
    }
    let (xs, ws, bs) = (x.storage(), weight.storage(), bias.storage());
    let (mut out, fused) = kernel::forward_relu_new(&g, xs, ws, bs, spec.relu);
    if spec.relu && !fused {
        relu_in_place(&mut out);
    }
    let [od, oh, ow] = g.output;
    flex(out, vec![g.batch, g.cout, od, oh, ow])
}

impl MiraConvBackend for Flex {
    fn mira_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        debug_assert_eq!(x.dtype(), DType::F32);
        forward_flex(x, weight, bias, &spec)
    }

    fn mira_max_pool2d(x: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        pool::on_flex(x, spec)
    }

    fn mira_tissue_features(x: FloatTensor<Self>, spec: TissueSpec) -> FloatTensor<Self> {
        tissue::on_flex(x, spec)
    }

    fn mira_prelu(x: FloatTensor<Self>, spec: PreluSpec) -> FloatTensor<Self> {
        prelu::on_flex(x, spec)
    }

    fn mira_instance_norm(x: FloatTensor<Self>, spec: NormSpec) -> FloatTensor<Self> {
        instance_norm::on_flex(x, spec)
    }

    fn mira_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: BatchNormSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm::on_flex(x, gamma, beta, spec)
    }
}

#[derive(Debug)]
struct MiraConvOp;

impl Backward<Flex, 3> for MiraConvOp {
    /// The operands' checkpoints, the spec, and with a fused ReLU the output.
    type State = (NodeId, NodeId, ConvSpec, Option<FlexTensor>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, w_state, spec, y) = ops.state;
        let grad = match y {
            Some(y) => relu_masked(grad, y.to_contiguous().storage()),
            None => grad,
        };
        let x = checkpointer
            .retrieve_node_output::<FlexTensor>(x_state)
            .to_contiguous();
        let weight = checkpointer
            .retrieve_node_output::<FlexTensor>(w_state)
            .to_contiguous();
        let (xd, wd) = (dims(&x), dims(&weight));
        let g = geom(&xd, &wd, &spec);
        if spec.transposed {
            // The adjoint's adjoint: dx is the convolution of dy, dw the convolution's weight
            // gradient with dy as its input and x as its output gradient.
            if let Some(node) = node_x {
                let mut dx = vec![0.0f32; x.layout().shape().num_elements()];
                let zero = vec![0.0f32; g.cout];
                kernel::forward(&g, grad.storage(), weight.storage(), &zero, &mut dx);
                grads.register::<Flex>(node.id, flex(dx, xd));
            }
            if let Some(node) = node_w {
                let (dw, _) = kernel::weight_grad(&g, grad.storage(), x.storage());
                grads.register::<Flex>(node.id, flex(dw, wd));
            }
            if let Some(node) = node_b {
                let db = channel_sums(grad.storage(), g.cin, g.in_len());
                grads.register::<Flex>(node.id, flex(db, vec![g.cin]));
            }
            return;
        }
        if let Some(node) = node_x {
            let dx = kernel::input_grad_new(&g, grad.storage(), weight.storage());
            grads.register::<Flex>(node.id, flex(dx, xd));
        }
        if node_w.is_some() || node_b.is_some() {
            let (dw, db) = kernel::weight_grad(&g, x.storage(), grad.storage());
            if let Some(node) = node_w {
                grads.register::<Flex>(node.id, flex(dw, wd));
            }
            if let Some(node) = node_b {
                grads.register::<Flex>(node.id, flex(db, vec![g.cout]));
            }
        }
    }
}

impl<C: CheckpointStrategy> MiraConvBackend for Autodiff<Flex, C> {
    fn mira_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        let prep = MiraConvOp
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        // Checkpoint the operands (tracked case) before their primitives are taken.
        let tracked = match prep {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight), spec);
                Ok((prep, state))
            }
            OpsKind::UnTracked(prep) => Err(prep),
        };
        let out = forward_flex(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
            &spec,
        );
        match tracked {
            Ok((prep, (xs, ws, spec))) => {
                // The fused ReLU's backward pass masks with the output.
                let y = spec.relu.then(|| out.clone());
                prep.finish((xs, ws, spec, y), out)
            }
            Err(prep) => prep.finish(out),
        }
    }

    fn mira_max_pool2d(x: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        pool::on_autodiff::<C>(x, spec)
    }

    fn mira_tissue_features(x: FloatTensor<Self>, spec: TissueSpec) -> FloatTensor<Self> {
        tissue::on_autodiff::<C>(x, spec)
    }

    fn mira_prelu(x: FloatTensor<Self>, spec: PreluSpec) -> FloatTensor<Self> {
        prelu::on_autodiff::<C>(x, spec)
    }

    fn mira_instance_norm(x: FloatTensor<Self>, spec: NormSpec) -> FloatTensor<Self> {
        instance_norm::on_autodiff::<C>(x, spec)
    }

    fn mira_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: BatchNormSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm::on_autodiff::<C>(x, gamma, beta, spec)
    }
}
