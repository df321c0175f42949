//! Instance normalisation with constant affine parameters, one pass each way.
//!
//! Per sample and channel plane of `x [B, C, S]`: `y = (x − μ) / √(σ² + ε) · γ_c + β_c`
//! (biased variance, as ONNX and PyTorch; sums in f64). The input gradient, with `x̂` the
//! normalised plane, `ĝ = γ_c · dy` and `inv = 1 / √(σ² + ε)`:
//! `dx = inv · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂))`. The backward pass keeps `x` (shared with
//! the graph, no copy) and each plane's `μ` and `inv`.
//!
//! Why: with burn's operations it is nine passes (two means, a centring, a square, a square
//! root, a division, the affine pair) with their buffers and autodiff nodes, forward and
//! backward; MONAI's and nnU-Net's 3D networks normalise after every convolution
//! (BENCHMARKS.md). Constant `γ`, `β` (the attack path); tracked ones, other devices and
//! dtypes take burn's operations (the caller's fallback). Against burn's operations:
//! `tests/fast_instance_norm.rs`.

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

/// Scale and shift per channel, and `ε`.
#[derive(Clone, Debug, PartialEq)]
pub struct NormSpec {
    /// `γ`, one per channel.
    pub scale: Arc<Vec<f32>>,
    /// `β`, one per channel.
    pub bias: Arc<Vec<f32>>,
    /// Added to the variance.
    pub eps: f32,
}

/// `(μ, inv)` of each plane of `x` (`planes × len`).
fn moments(x: &[f32], len: usize, eps: f32) -> Vec<(f32, f32)> {
    x.par_chunks(len)
        .map(|p| {
            let n = p.len() as f64;
            let mean = p.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = p
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean as f32, (1.0 / (var + f64::from(eps)).sqrt()) as f32)
        })
        .collect()
}

/// The output and the planes' moments.
fn forward(x: &FlexTensor, spec: &NormSpec) -> (FlexTensor, Vec<(f32, f32)>) {
    let shape = x.layout().shape().to_vec();
    let (c, len) = (shape[1], shape[2]);
    let xs: &[f32] = x.storage();
    let stats = moments(xs, len, spec.eps);
    let mut y = vec![0.0f32; xs.len()];
    y.par_chunks_mut(len)
        .zip(xs.par_chunks(len))
        .enumerate()
        .for_each(|(i, (yp, xp))| {
            let (mean, inv) = stats[i];
            let (g, b) = (spec.scale[i % c] * inv, spec.bias[i % c]);
            yp.iter_mut()
                .zip(xp)
                .for_each(|(y, &x)| *y = (x - mean) * g + b);
        });
    (FlexTensor::from_data(TensorData::new(y, shape)), stats)
}

pub(crate) fn on_flex(x: FlexTensor, spec: NormSpec) -> FlexTensor {
    forward(&x.to_contiguous(), &spec).0
}

#[derive(Debug)]
struct InstanceNormOp;

impl Backward<Flex, 1> for InstanceNormOp {
    type State = (FlexTensor, Arc<Vec<(f32, f32)>>, NormSpec);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, stats, spec) = ops.state;
        let Some(node) = node_x else { return };
        let shape = x.layout().shape().to_vec();
        let (c, len) = (shape[1], shape[2]);
        let (gs, xs): (&[f32], &[f32]) = (grad.storage(), x.storage());
        let mut dx = vec![0.0f32; xs.len()];
        dx.par_chunks_mut(len)
            .zip(xs.par_chunks(len).zip(gs.par_chunks(len)))
            .enumerate()
            .for_each(|(i, (d, (xp, gp)))| {
                let (mean, inv) = stats[i];
                let gamma = spec.scale[i % c];
                let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                for (&x, &g) in xp.iter().zip(gp) {
                    let xh = f64::from((x - mean) * inv);
                    sg += f64::from(g);
                    sgx += f64::from(g) * xh;
                }
                let n = len as f64;
                let (mg, mgx) = ((sg / n) as f32, (sgx / n) as f32);
                let k = gamma * inv;
                d.iter_mut()
                    .zip(xp.iter().zip(gp))
                    .for_each(|(d, (&x, &g))| *d = k * (g - mg - (x - mean) * inv * mgx));
            });
        grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
    }
}

pub(crate) fn on_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    spec: NormSpec,
) -> FloatTensor<Autodiff<Flex, C>> {
    let prep = InstanceNormOp
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful();
    let x = x.into_primitive().to_contiguous();
    let (y, stats) = forward(&x, &spec);
    match prep {
        OpsKind::Tracked(prep) => prep.finish((x, Arc::new(stats), spec), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// Instance normalisation of `x [B, C, S]` with constant per-channel `scale` and `bias`:
/// Mira's passes on flex f32 tensors; `None` elsewhere, for other parameter counts or an
/// empty plane (the caller runs burn's operations).
pub fn instance_norm(x: Tensor<3>, scale: &[f32], bias: &[f32], eps: f32) -> Option<Tensor<3>> {
    let [_, c, s] = x.dims();
    if scale.len() != c || bias.len() != c || s == 0 || !super::on_kernel(&x, &x) {
        return None;
    }
    let spec = NormSpec {
        scale: Arc::new(scale.to_vec()),
        bias: Arc::new(bias.to_vec()),
        eps,
    };
    Some(Tensor::from_dispatch(
        <Dispatch as MiraConvBackend>::mira_instance_norm(x.into_dispatch(), spec),
    ))
}
