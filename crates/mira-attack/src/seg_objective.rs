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
    segmentation_objective_observed(model, goal, temperature, None::<fn(Tensor<4>)>)
}

/// [`segmentation_objective`] that hands `observe` (when given) the logits, as plain values,
/// of every pass, so a caller can judge the input from the pass the attack makes anyway (early
/// stopping's free checks).
pub fn segmentation_objective_observed<M>(
    model: &M,
    goal: Goal<Tensor<4>>,
    temperature: f32,
    observe: Option<impl Fn(Tensor<4>)>,
) -> ModelObjective<M, impl Fn(Tensor<4>) -> Tensor<1>, 4, 4>
where
    M: Forward<4, 4> + Module,
{
    let sign = goal.sign();
    let reference = goal.reference().clone();
    ModelObjective::new(
        model,
        move |logits: Tensor<4>| {
            if let Some(observe) = &observe {
                observe(logits.clone().inner());
            }
            cross_entropy(logits, reference.clone(), temperature)
        },
        sign,
    )
}
