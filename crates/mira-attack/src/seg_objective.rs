//! The segmentation objective: per-sample pixel-wise cross-entropy of the logits against the
//! goal's label map, maximised for untargeted goals and minimised for targeted ones.

use burn::prelude::*;
use mira_nn::Forward;
use mira_nn::segmentation::cross_entropy;

use crate::{Goal, ModelObjective};

/// Binds a segmentation network to a goal given as one-hot (or soft) label maps `[B, K, H, W]`
/// on the plain device. `temperature` divides the logits (1 normally; a distilled model can be
/// attacked at its training temperature to undo gradient saturation).
pub fn segmentation_objective<M>(
    model: &M,
    goal: Goal<Tensor<4>>,
    temperature: f32,
) -> ModelObjective<M, impl Fn(Tensor<4>) -> Tensor<1>, 4, 4>
where
    M: Forward<4, 4> + Module,
{
    let sign = goal.sign();
    let reference = goal.reference().clone();
    ModelObjective::new(
        model,
        move |logits: Tensor<4>| cross_entropy(logits, reference.clone(), temperature),
        sign,
    )
}
