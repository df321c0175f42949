//! PReLU and LeakyReLU with a constant slope per channel, one pass each way.
//!
//! `y = x` where `x > 0`, else `a_c · x`; `dx = dy` where `x > 0`, else `a_c · dy` (the kink
//! takes the slope, as PyTorch's `prelu` backward does). burn has no PReLU: written with its
//! operations (`relu(x) − a · relu(−x)`) it is five element-wise passes with their buffers and
//! autodiff nodes forward, as many backward; MONAI's UNet has one after every convolution
//! (BENCHMARKS.md). The slope is a constant (the attack path: a model's weights are not
//! tracked); a tracked slope, other devices and dtypes take burn's operations
//! ([`prelu`]). Values and gradients against burn's: `tests/fast_prelu.rs`.

use std::sync::Arc;

use burn::backend::Dispatch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex, tensor::FloatTensor};
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::extension::MiraConvBackend;

/// The slopes: one per channel (axis 1), or one for all.
#[derive(Clone, Debug, PartialEq)]
pub struct PreluSpec {
    /// Slope per channel, or a single one.
    pub slopes: Arc<Vec<f32>>,
}

/// Values per parallel chunk with a single slope (planes do not matter then).
const CHUNK: usize = 1 << 14;

/// Channels of `shape` and the values of one parallel chunk: a channel plane for per-channel
/// slopes, [`CHUNK`] values for a single one (planes of `[B, C]` tensors are one value).
fn layout(shape: &[usize], spec: &PreluSpec) -> (usize, usize) {
    let c = shape.get(1).copied().unwrap_or(1);
    if spec.slopes.len() == 1 {
        return (c, CHUNK);
    }
    (c, shape.iter().skip(2).product::<usize>().max(1))
}

/// The slope of plane `i` (planes in batch-major order).
fn slope(slopes: &[f32], channels: usize, i: usize) -> f32 {
    if slopes.len() == 1 {
        slopes[0]
    } else {
        slopes[i % channels]
    }
}

fn forward(x: &FlexTensor, spec: &PreluSpec) -> FlexTensor {
    let shape = x.layout().shape().to_vec();
    let (c, plane) = layout(&shape, spec);
    let xs: &[f32] = x.storage();
    let mut y = xs.to_vec();
    y.par_chunks_mut(plane).enumerate().for_each(|(i, p)| {
        let a = slope(&spec.slopes, c, i);
        p.iter_mut()
            .for_each(|v| *v = if *v > 0.0 { *v } else { a * *v });
    });
    FlexTensor::from_data(TensorData::new(y, shape))
}

pub(crate) fn on_flex(x: FlexTensor, spec: PreluSpec) -> FlexTensor {
    forward(&x.to_contiguous(), &spec)
}

#[derive(Debug)]
struct PreluOp;

impl Backward<Flex, 1> for PreluOp {
    type State = (FlexTensor, PreluSpec);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, spec) = ops.state;
        let Some(node) = node_x else { return };
        let shape = x.layout().shape().to_vec();
        let (c, plane) = layout(&shape, &spec);
        let (gs, xs): (&[f32], &[f32]) = (grad.storage(), x.storage());
        let mut dx = gs.to_vec();
        dx.par_chunks_mut(plane)
            .zip(xs.par_chunks(plane))
            .enumerate()
            .for_each(|(i, (g, xs))| {
                let a = slope(&spec.slopes, c, i);
                g.iter_mut()
                    .zip(xs)
                    .for_each(|(g, x)| *g = if *x > 0.0 { *g } else { a * *g });
            });
        grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
    }
}

pub(crate) fn on_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    spec: PreluSpec,
) -> FloatTensor<Autodiff<Flex, C>> {
    let prep = PreluOp.prepare::<C>([x.node()]).compute_bound().stateful();
    let x = x.into_primitive().to_contiguous();
    let y = forward(&x, &spec);
    match prep {
        OpsKind::Tracked(prep) => prep.finish((x, spec), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// PReLU of `x [B, C, ...]` with constant `slopes`, one for all or one per channel (else
/// `None`): Mira's pass on flex f32 tensors, burn's operations elsewhere.
pub fn prelu<const D: usize>(x: Tensor<D>, slopes: &[f32]) -> Option<Tensor<D>> {
    let per_channel = D >= 2 && slopes.len() == x.dims()[1];
    if !(slopes.len() == 1 || per_channel) {
        return None;
    }
    if !super::on_kernel(&x, &x) {
        let mut shape = [1usize; D];
        if slopes.len() > 1 {
            shape[1] = slopes.len();
        }
        let a = Tensor::<D>::from_data(TensorData::new(slopes.to_vec(), shape), &x.device());
        // `x` where positive, else `a·x`: at the kink the slope, as the kernel and PyTorch
        // take it (`relu(x) − a·relu(−x)` had 0 there, so a GPU's gradient at inputs of
        // exactly 0 — a background of zeros — differed from the CPU's).
        let positive = x.clone().greater_elem(0.0);
        return Some((x.clone() * a).mask_where(positive, x));
    }
    let spec = PreluSpec {
        slopes: Arc::new(slopes.to_vec()),
    };
    Some(Tensor::from_dispatch(
        <Dispatch as MiraConvBackend>::mira_prelu(x.into_dispatch(), spec),
    ))
}
