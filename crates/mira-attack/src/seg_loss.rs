//! The losses a segmentation attack can climb, as one per-sample objective each.
//!
//! Every loss is a per-sample mean over the pixels (voxels, for volumes laid out as tall
//! slices) of the logits `z` `[B, K, H, W]` against the goal's one-hot (or soft) reference `r`:
//! - `ce`: pixel-wise cross-entropy at a temperature.
//! - `margin`: `max_{j≠y} z_j − z_y` per pixel (Carlini & Wagner; does not saturate).
//! - `segpgd`: SegPGD (Gu et al., ECCV 2022): cross-entropy weighted `1 − λ` on pixels the
//!   model still gets right and `λ` on those it already gets wrong, `λ = t / (2T)` at step `t`
//!   of `T` (read from [`Objective::schedule`]), so the attack first spreads the error and then
//!   keeps the flipped pixels flipped. Targeted: the weights swap (pixels already at the target
//!   weigh `λ`).
//! - `cospgd`: CosPGD (Agnihotri et al., ICML 2024): cross-entropy weighted per pixel by the
//!   cosine similarity of the softmax to the reference (`1 −` it for targeted goals), so pixels
//!   already far from the truth stop dominating.
//! - `dice`: the soft Dice loss over the foreground classes (smoothing 1), the loss nnU-Net and
//!   MONAI train with; it weighs every structure alike, whatever its size.
//!
//! SegPGD's and CosPGD's weights are constants of the gradient (computed from the logits
//! without a graph, as both papers' code detaches them): the gradient is that of the weighted
//! cross-entropy with the weights of the current point (finite-difference checked in
//! `tests/seg_losses.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use mira_nn::Forward;
use serde::{Deserialize, Serialize};

use crate::{Goal, ModelObjective, Objective};

/// The loss of a segmentation attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SegLoss {
    /// Pixel-wise cross-entropy.
    #[default]
    Ce,
    /// Per-pixel logit margin.
    Margin,
    /// SegPGD's scheduled weighting of correct and wrong pixels.
    Segpgd,
    /// CosPGD's cosine-similarity weighting.
    Cospgd,
    /// Soft Dice over the foreground classes.
    Dice,
}

impl SegLoss {
    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            SegLoss::Ce => "ce",
            SegLoss::Margin => "margin",
            SegLoss::Segpgd => "segpgd",
            SegLoss::Cospgd => "cospgd",
            SegLoss::Dice => "dice",
        }
    }

    /// Whether the attack temperature applies (the losses built on the softmax's cross-entropy).
    pub fn uses_temperature(self) -> bool {
        matches!(self, SegLoss::Ce | SegLoss::Segpgd | SegLoss::Cospgd)
    }
}

/// Per-pixel cross-entropy `[B, H, W]` of `z / temperature` against `r`.
fn pixel_ce(z: Tensor<4>, r: Tensor<4>, temperature: f32) -> Tensor<3> {
    let [b, _, h, w] = z.dims();
    (log_softmax(z / temperature, 1) * r)
        .sum_dim(1)
        .neg()
        .reshape([b, h, w])
}

/// The per-pixel weights `[B, H, W]` of the weighted losses at the logits `z` (no graph), or
/// `None` for the unweighted ones. `lambda` is SegPGD's `t / (2T)`.
pub fn pixel_weights(
    loss: SegLoss,
    z: Tensor<4>,
    r: Tensor<4>,
    targeted: bool,
    lambda: f32,
) -> Option<Tensor<3>> {
    let z = z.detach();
    let [b, _, h, w] = z.dims();
    match loss {
        SegLoss::Segpgd => {
            let right = z.argmax(1).equal(r.argmax(1)).float().reshape([b, h, w]);
            let (on_right, on_wrong) = if targeted {
                (lambda, 1.0 - lambda)
            } else {
                (1.0 - lambda, lambda)
            };
            Some(right.clone() * on_right + (right.neg() + 1.0) * on_wrong)
        }
        SegLoss::Cospgd => {
            let p = softmax(z, 1);
            let dot = (p.clone() * r.clone()).sum_dim(1);
            let norms = (p.powf_scalar(2.0).sum_dim(1) * r.powf_scalar(2.0).sum_dim(1))
                .sqrt()
                .clamp_min(1e-8);
            let cos = (dot / norms).reshape([b, h, w]);
            Some(if targeted { cos.neg() + 1.0 } else { cos })
        }
        SegLoss::Ce | SegLoss::Margin | SegLoss::Dice => None,
    }
}

/// The cross-entropy weighted per pixel by `weights` `[B, H, W]` (held constant), mean over
/// the pixels: `[B]`.
pub fn weighted_ce(z: Tensor<4>, r: Tensor<4>, weights: Tensor<3>, temperature: f32) -> Tensor<1> {
    let [b, _, h, w] = z.dims();
    (pixel_ce(z, r, temperature) * weights)
        .reshape([b, h * w])
        .mean_dim(1)
        .reshape([b])
}

/// The per-sample value `[B]` of `loss` on logits `z` against the reference `r` (before the
/// goal's sign). `lambda` is SegPGD's schedule, ignored by the other losses.
pub fn seg_loss(
    loss: SegLoss,
    z: Tensor<4>,
    r: Tensor<4>,
    targeted: bool,
    temperature: f32,
    lambda: f32,
) -> Tensor<1> {
    let [b, _, h, w] = z.dims();
    match loss {
        SegLoss::Ce => pixel_ce(z, r, temperature)
            .reshape([b, h * w])
            .mean_dim(1)
            .reshape([b]),
        SegLoss::Margin => {
            let z_y = (z.clone() * r.clone()).sum_dim(1);
            let others = (z - r * 1e4).max_dim(1);
            (others - z_y).reshape([b, h * w]).mean_dim(1).reshape([b])
        }
        SegLoss::Segpgd | SegLoss::Cospgd => {
            let weights = pixel_weights(loss, z.clone(), r.clone(), targeted, lambda)
                .expect("weighted losses have weights");
            weighted_ce(z, r, weights, temperature)
        }
        SegLoss::Dice => mira_nn::segmentation::soft_dice_loss(z, r),
    }
}

/// A segmentation network bound to a goal and a loss: the objective every gradient attack
/// climbs on segmentation tasks. Scheduled losses (SegPGD) read the attack's progress.
pub struct SegObjective<'a, M: Forward<4, 4> + Module> {
    inner: ModelObjective<M, Box<dyn Fn(Tensor<4>) -> Tensor<1> + 'a>, 4, 4>,
    /// SegPGD's λ as `f64` bits, shared with the loss.
    lambda: std::sync::Arc<AtomicU64>,
    /// Whether the loss reads λ (SegPGD, CosPGD).
    scheduled: bool,
}

/// Binds `model` to `goal` (one-hot label maps `[B, K, H, W]` on the plain device) with `loss`;
/// the logits are divided by `temperature` where the loss takes one. `observe` (when given)
/// sees the plain logits of every pass (early stopping's free checks).
pub fn segmentation_loss_objective<'a, M>(
    model: &M,
    goal: Goal<Tensor<4>>,
    loss: SegLoss,
    temperature: f32,
    observe: Option<Box<dyn Fn(Tensor<4>) + 'a>>,
) -> SegObjective<'a, M>
where
    M: Forward<4, 4> + Module,
{
    let sign = goal.sign();
    let scheduled = matches!(loss, SegLoss::Segpgd | SegLoss::Cospgd);
    let targeted = goal.is_targeted();
    let reference = goal.reference().clone();
    let lambda = std::sync::Arc::new(AtomicU64::new(0f64.to_bits()));
    let read = lambda.clone();
    let f = move |z: Tensor<4>| {
        if let Some(observe) = &observe {
            observe(z.clone().inner());
        }
        let l = f64::from_bits(read.load(Ordering::Relaxed)) as f32;
        seg_loss(loss, z, reference.clone(), targeted, temperature, l)
    };
    SegObjective {
        inner: ModelObjective::new(model, Box::new(f), sign),
        lambda,
        scheduled,
    }
}

impl<M: Forward<4, 4> + Module> Objective<4> for SegObjective<'_, M> {
    fn value_and_grad(&self, x: Tensor<4>) -> (Tensor<1>, Tensor<4>) {
        self.inner.value_and_grad(x)
    }

    fn value(&self, x: Tensor<4>) -> Tensor<1> {
        self.inner.value(x)
    }

    /// SegPGD's `λ = t / (2T)`; the other losses ignore it.
    fn schedule(&self, step: usize, steps: usize) {
        let l = step as f64 / (2.0 * steps.max(1) as f64);
        self.lambda.store(l.to_bits(), Ordering::Relaxed);
    }

    fn scheduled(&self) -> bool {
        self.scheduled
    }
}

/// The cross-entropy objective at `temperature` (1 normally; a distilled model can be attacked
/// at its training temperature to undo gradient saturation).
pub fn segmentation_objective<M>(
    model: &M,
    goal: Goal<Tensor<4>>,
    temperature: f32,
) -> SegObjective<'static, M>
where
    M: Forward<4, 4> + Module,
{
    segmentation_loss_objective(model, goal, SegLoss::Ce, temperature, None)
}

/// The per-pixel margin objective. It is linear in the logits, so unlike cross-entropy it does
/// not saturate when the softmax does: a model whose logits were scaled up (defensive
/// distillation deployed at T = 1) gives the same attack directions as before the scaling.
pub fn segmentation_margin_objective<M>(
    model: &M,
    goal: Goal<Tensor<4>>,
) -> SegObjective<'static, M>
where
    M: Forward<4, 4> + Module,
{
    segmentation_loss_objective(model, goal, SegLoss::Margin, 1.0, None)
}
