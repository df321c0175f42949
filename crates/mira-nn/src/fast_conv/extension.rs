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

use super::geom::ConvGeom;
use super::kernel;

/// Stride, padding (both sides) and dilation of a 3D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Stride per axis.
    pub stride: [usize; 3],
    /// Zero padding per axis, before and after.
    pub pad: [usize; 3],
    /// Dilation per axis.
    pub dilation: [usize; 3],
}

/// Mira's convolution as a burn backend extension (5D tensors; 2D callers add a unit depth).
#[backend_extension(Flex, Autodiff)]
pub trait MiraConvBackend: Backend {
    /// `conv3d(x, weight) + bias` for `x [B, Ci, D, H, W]`, `weight [Co, Ci, KD, KH, KW]`,
    /// `bias [Co]`, all f32.
    fn mira_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// The geometry of `x` convolved with `weight` under `spec`; the caller has checked shapes.
fn geom(x: &[usize], w: &[usize], spec: &ConvSpec) -> ConvGeom {
    ConvGeom::from_shapes(x, w, spec.stride, spec.pad, spec.dilation)
        .expect("mira_conv3d: shapes checked by fast_conv::conv3d")
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
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
    let mut out = vec![0.0f32; g.batch * g.cout * g.out_len()];
    kernel::forward(&g, x.storage(), weight.storage(), bias.storage(), &mut out);
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
}

#[derive(Debug)]
struct MiraConvOp;

impl Backward<Flex, 3> for MiraConvOp {
    type State = (NodeId, NodeId, ConvSpec);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, w_state, spec) = ops.state;
        let x = checkpointer
            .retrieve_node_output::<FlexTensor>(x_state)
            .to_contiguous();
        let weight = checkpointer
            .retrieve_node_output::<FlexTensor>(w_state)
            .to_contiguous();
        let (xd, wd) = (dims(&x), dims(&weight));
        let g = geom(&xd, &wd, &spec);
        if let Some(node) = node_x {
            let mut dx = vec![0.0f32; x.layout().shape().num_elements()];
            kernel::input_grad(&g, grad.storage(), weight.storage(), &mut dx);
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
            Ok((prep, state)) => prep.finish(state, out),
            Err(prep) => prep.finish(out),
        }
    }
}
