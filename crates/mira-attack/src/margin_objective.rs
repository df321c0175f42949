//! A per-pixel margin loss for segmentation (Carlini & Wagner 2017, per pixel).
//!
//! Value per sample: the mean over pixels of `max_{j ≠ y} z_j − z_y`, where `z` are the logits
//! and `y` the goal's label at that pixel (the truth for untargeted goals, the target for
//! targeted ones, where the sign flips). It is linear in the logits, so unlike cross-entropy
//! it does not saturate when the softmax does: a model whose logits were scaled up (defensive
//! distillation deployed at T = 1) gives the same attack directions as before the scaling.

use burn::prelude::*;
use mira_nn::Forward;

use crate::{Goal, ModelObjective};

/// Binds a segmentation network to a goal (one-hot label maps `[B, K, H, W]` on the plain
/// device) with the per-pixel margin loss.
pub fn segmentation_margin_objective<M>(
    model: &M,
    goal: Goal<Tensor<4>>,
) -> ModelObjective<M, impl Fn(Tensor<4>) -> Tensor<1>, 4, 4>
where
    M: Forward<4, 4> + Module,
{
    let sign = goal.sign();
    let reference = goal.reference().clone();
    ModelObjective::new(
        model,
        move |z: Tensor<4>| {
            let [b, _, h, w] = z.dims();
            let onehot = reference.clone();
            let z_y = (z.clone() * onehot.clone()).sum_dim(1);
            let others = (z - onehot * 1e4).max_dim(1);
            (others - z_y).reshape([b, h * w]).mean_dim(1).reshape([b])
        },
        sign,
    )
}
