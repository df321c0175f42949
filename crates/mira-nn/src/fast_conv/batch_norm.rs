//! Batch normalisation in training mode (batch statistics, tracked `γ` and `β`), one pass each
//! way.
//!
//! For `x [N, C, S]` (trailing axes flattened) and `M = N·S` values per channel:
//! `y = (x − μ_c) · inv_c · γ_c + β_c` with the batch's biased variance `σ²_c` and
//! `inv_c = 1 / √(σ²_c + ε)`, as burn's `batch_norm_train` (and PyTorch's normalisation). The
//! moments come from one read of `x`: per plane, f64 sums of `x − k_c` and its square, shifted
//! by the channel's first value `k_c` so that a large mean does not cancel the variance (in
//! eight lanes, `lanes.rs`). The backward pass, with `x̂ = (x − μ)·inv`, `Σg` and `Σg·x̂` per
//! channel (f64, likewise):
//! `dβ = Σg`, `dγ = Σg·x̂`, `dx = γ·inv·(g − Σg/M − x̂·Σg·x̂/M)`.
//!
//! Why: burn's composite runs two transposes, two means, a centring, a square and the affine
//! pair forward, and a dozen such passes backward, each with its own buffer; the UNet's and the
//! disk-shape network's training steps spent a fifth of their time there (BENCHMARKS.md).
//! Other devices and dtypes keep burn's operation, as does `MIRA_FAST_BN=0` (a switch for
//! benchmarks and for ruling the passes out). Against it: `tests/fast_batch_norm.rs`.

use std::sync::{Arc, OnceLock};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, AutodiffBackend, Dispatch, Flex, tensor::FloatTensor};
use burn::nn::BatchNorm;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{fresh, lanes};

use super::extension::{MiraConvBackend, flex};

/// Whether the one-pass batch normalisation is switched on (`MIRA_FAST_BN` unset or anything
/// but `0`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("MIRA_FAST_BN").map_or(true, |v| v.trim() != "0"))
}

/// `ε` of a training-mode batch normalisation, and whether a ReLU follows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormSpec {
    /// Added to the variance.
    pub eps: f64,
    /// `y = max(0, BN(x))` in the same pass, and the gradient masked where `BN(x) ≤ 0` (as
    /// burn's `relu` and its backward), instead of a separate ReLU with its own passes.
    pub relu: bool,
}

/// The per-channel statistics of one batch: `μ`, the biased `σ²` and `inv`.
#[derive(Debug)]
struct Stats {
    mean: Vec<f32>,
    var: Vec<f32>,
    inv: Vec<f32>,
}

/// `(N, C, S)` of a contiguous `x [N, C, ...]`.
fn split(x: &FlexTensor) -> (usize, usize, usize) {
    let shape = x.layout().shape();
    let (n, c) = (shape[0], shape[1]);
    (n, c, shape.num_elements() / (n * c).max(1))
}

fn stats(xs: &[f32], c: usize, s: usize, eps: f64) -> Stats {
    // The shift of each channel: its first value.
    let shift: Vec<f64> = (0..c).map(|k| f64::from(xs[k * s])).collect();
    let planes: Vec<(f64, f64)> = xs
        .par_chunks(s)
        .enumerate()
        .map(|(i, p)| lanes::shifted_moments(p, shift[i % c]))
        .collect();
    let m = (xs.len() / c) as f64;
    let mut st = Stats {
        mean: Vec::with_capacity(c),
        var: Vec::with_capacity(c),
        inv: Vec::with_capacity(c),
    };
    for (ch, k) in shift.iter().enumerate() {
        let (a, b) = planes
            .iter()
            .skip(ch)
            .step_by(c)
            .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
        let d = a / m;
        let var = (b / m - d * d).max(0.0);
        st.mean.push((k + d) as f32);
        st.var.push(var as f32);
        st.inv.push((1.0 / (var + eps).sqrt()) as f32);
    }
    st
}

/// The output and the batch statistics.
fn forward(
    x: &FlexTensor,
    gamma: &[f32],
    beta: &[f32],
    spec: BatchNormSpec,
) -> (FlexTensor, Stats) {
    let (_, c, s) = split(x);
    let xs: &[f32] = x.storage();
    let st = stats(xs, c, s, spec.eps);
    let y = fresh::by_planes(xs.len() / s.max(1), s, |i| {
        let ch = i % c;
        let (g, mean, b) = (gamma[ch] * st.inv[ch], st.mean[ch], beta[ch]);
        let relu = spec.relu;
        xs[i * s..(i + 1) * s].iter().map(move |&x| {
            let y = (x - mean) * g + b;
            if relu { y.max(0.0) } else { y }
        })
    });
    (flex(y, x.layout().shape().to_vec()), st)
}

/// `(Σg, Σg·x̂)` per channel, and `dx` when asked. With a fused ReLU (`relu_beta`), `g` is
/// taken where the ReLU passed its input (`(x − μ)·γ·inv + β > 0`, computed as the forward
/// pass computed it) and zero elsewhere (burn's ReLU backward) — a gate inside each pass
/// instead of a masked copy of `g`: one pass and one buffer less, the same values.
fn backward(
    x: &[f32],
    g: &[f32],
    (gamma, relu_beta): (&[f32], Option<&[f32]>),
    st: &Stats,
    (c, s): (usize, usize),
    want_dx: bool,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    // Per plane: (μ, inv, γ·inv, the ReLU's gate (γ·inv, β)).
    let channel = |i: usize| {
        let ch = i % c;
        let (mean, inv) = (st.mean[ch], st.inv[ch]);
        let k = gamma[ch] * inv;
        (mean, inv, k, relu_beta.map(|b| (k, b[ch])))
    };
    let planes: Vec<(f64, f64)> = x
        .par_chunks(s)
        .zip(g.par_chunks(s))
        .enumerate()
        .map(|(i, (xp, gp))| {
            let (mean, inv, _, relu) = channel(i);
            lanes::grad_sums(xp, gp, mean, inv, relu)
        })
        .collect();
    let (mut sg, mut sgx) = (vec![0.0f64; c], vec![0.0f64; c]);
    for (i, p) in planes.iter().enumerate() {
        sg[i % c] += p.0;
        sgx[i % c] += p.1;
    }
    let dx = want_dx.then(|| {
        let m = (x.len() / c) as f64;
        fresh::by_planes(x.len() / s.max(1), s, |i| {
            let (mean, inv, k, relu) = channel(i);
            let (mg, mgx) = ((sg[i % c] / m) as f32, (sgx[i % c] / m) as f32);
            let plane = i * s..(i + 1) * s;
            x[plane.clone()].iter().zip(&g[plane]).map(move |(&x, &g)| {
                k * (lanes::gated(x, g, mean, relu) - mg - (x - mean) * inv * mgx)
            })
        })
    });
    let f32s = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect();
    (f32s(sg), f32s(sgx), dx)
}

/// `(y, μ, σ²)` of `x` on the flex backend.
pub(crate) fn on_flex(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    spec: BatchNormSpec,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (gamma, beta) = (gamma.to_contiguous(), beta.to_contiguous());
    let (y, st) = forward(&x.to_contiguous(), gamma.storage(), beta.storage(), spec);
    let c = st.mean.len();
    (y, flex(st.mean, vec![c]), flex(st.var, vec![c]))
}

#[derive(Debug)]
struct BatchNormOp;

impl Backward<Flex, 3> for BatchNormOp {
    /// `x`, `γ`, the batch statistics, and `β` when a ReLU follows (its mask is recomputed).
    type State = (FlexTensor, Arc<Vec<f32>>, Arc<Stats>, Option<Arc<Vec<f32>>>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, gamma, st, relu_beta) = ops.state;
        let (_, c, s) = split(&x);
        let (sg, sgx, dx) = backward(
            x.storage(),
            grad.storage(),
            (&gamma, relu_beta.as_deref().map(Vec::as_slice)),
            &st,
            (c, s),
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, flex(dx, x.layout().shape().to_vec()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex(sgx, vec![c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex(sg, vec![c]));
        }
    }
}

/// An autodiff float tensor over flex.
type AdTensor<C> = FloatTensor<Autodiff<Flex, C>>;

/// `(y, μ, σ²)` on the autodiff backend; the statistics are constants of the graph (as burn's).
pub(crate) fn on_autodiff<C: CheckpointStrategy>(
    x: AdTensor<C>,
    gamma: AdTensor<C>,
    beta: AdTensor<C>,
    spec: BatchNormSpec,
) -> (AdTensor<C>, AdTensor<C>, AdTensor<C>) {
    let prep = BatchNormOp
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful();
    let x = x.into_primitive().to_contiguous();
    let gamma: Vec<f32> = gamma.into_primitive().to_contiguous().storage().to_vec();
    let beta = beta.into_primitive().to_contiguous();
    let (y, st) = forward(&x, &gamma, beta.storage(), spec);
    let c = st.mean.len();
    let (mean, var) = (
        flex(st.mean.clone(), vec![c]),
        flex(st.var.clone(), vec![c]),
    );
    let y = match prep {
        OpsKind::Tracked(prep) => {
            let beta = spec.relu.then(|| Arc::new(beta.storage().to_vec()));
            prep.finish((x, Arc::new(gamma), Arc::new(st), beta), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (
        y,
        <Autodiff<Flex, C> as AutodiffBackend>::from_inner(mean),
        <Autodiff<Flex, C> as AutodiffBackend>::from_inner(var),
    )
}

/// burn's `BatchNorm::forward`, on Mira's passes where the layer normalises with the batch's
/// statistics (its training flag on, on the autodiff flex device, f32): the same output,
/// gradients and update of the running statistics (`(1 − m)·running + m·batch`, the biased
/// batch variance, as burn). Everywhere else, for empty batches and with `MIRA_FAST_BN=0`,
/// burn's own forward.
pub fn batch_norm_layer<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    layer(bn, x, false)
}

/// `relu(bn.forward(x))`, the ReLU fused into [`batch_norm_layer`]'s passes where those run
/// (one pass less forward, a mask instead of burn's compare-and-fill backward; the same values
/// and gradients as the two operations), else burn's two operations.
pub fn batch_norm_relu_layer<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    layer(bn, x, true)
}

fn layer<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    let gamma = bn.gamma.val();
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if !training
        || !enabled()
        || D < 2
        || x.shape().num_elements() == 0
        || gamma.dtype() != DType::F32
        || gamma.dims()[0] != x.dims()[1]
        || !super::on_kernel(&x, &x)
    {
        let y = bn.forward(x);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let device = x.device();
    let (y, mean, var) = <Dispatch as MiraConvBackend>::mira_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        bn.beta.val().into_dispatch(),
        BatchNormSpec {
            eps: bn.epsilon,
            relu,
        },
    );
    let (mean, var) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(var),
    );
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - m)
            .add(mean.detach().mul_scalar(m))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - m)
            .add(var.detach().mul_scalar(m))
            .detach(),
    );
    Tensor::from_dispatch(y)
}
