//! The machinery of the two cheaper adversarial trainings (see `defence.rs`):
//!
//! - [`FreePerturbation`]: free adversarial training's δ, carried across replays and batches,
//!   moved by the input gradient of each training step's own backward pass;
//! - [`DiceStop`]: the [`Judge`] of early-stopped inner attacks: a case is broken once the mean
//!   foreground Dice of the current weights' prediction falls below `stop_dice`. Its judging
//!   objective keeps the logits of each attack step, so the checks cost no extra pass.
//!
//! Invariant (free training): the images a step trains on are `project(x + δ)` on the ball of
//! the step's ε around the clean `x`, within `[0, 1]`, so a warm-up that lowers ε, or a new
//! batch, never sees a perturbation beyond its budget.

use std::cell::RefCell;

use burn::prelude::*;
use mira_attack::{Goal, Judge, LpBall, Objective, SegLoss, segmentation_loss_objective};
use mira_nn::segmentation::dice_scores;
use mira_nn::{UNet, argmax_labels, default_device, one_hot, tensor_to_vec};
use mira_stats::mean_defined;

/// Free adversarial training's perturbation of the first rows of each batch.
#[derive(Default)]
pub(crate) struct FreePerturbation {
    /// δ of the adversarial rows, plain device; `None` before the first step (δ = 0).
    delta: Option<Tensor<4>>,
}

impl FreePerturbation {
    /// The adversarial rows `x0` (clean, plain device) moved by δ and projected on `ball`
    /// (δ restarts from zero when the rows' shape changes, e.g. on a short last batch).
    pub(crate) fn apply(&mut self, x0: &Tensor<4>, ball: &LpBall<4>) -> Tensor<4> {
        match &self.delta {
            Some(d) if d.dims() == x0.dims() => ball.project(x0.clone() + d.clone(), x0),
            _ => x0.clone(),
        }
    }

    /// [`FreePerturbation::apply`] to the first `n` rows of the host batch `images` (shape
    /// `shape`), written back in place; their clean and perturbed tensors come back for
    /// [`FreePerturbation::update`].
    pub(crate) fn apply_rows(
        &mut self,
        images: &mut [f32],
        shape: [usize; 4],
        n: usize,
        ball: &LpBall<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let [_, c, h, w] = shape;
        let rows = n * c * h * w;
        let x0 = Tensor::<4>::from_data(
            TensorData::new(images[..rows].to_vec(), [n, c, h, w]),
            &default_device(),
        );
        let xa = self.apply(&x0, ball);
        images[..rows].copy_from_slice(&tensor_to_vec(xa.clone()));
        (x0, xa)
    }

    /// One ascent step of size `alpha` along `grad` (the training loss's input gradient at
    /// `x`, the rows [`FreePerturbation::apply`] returned), kept as the next δ.
    pub(crate) fn update(
        &mut self,
        x0: &Tensor<4>,
        x: Tensor<4>,
        grad: Tensor<4>,
        ball: &LpBall<4>,
        alpha: f32,
    ) {
        let moved = ball.project(x + ball.steepest_ascent(grad) * alpha, x0);
        self.delta = Some(moved - x0.clone());
    }
}

/// Early stopping of the inner attack: broken when the mean foreground Dice falls below
/// `stop_dice`.
pub(crate) struct DiceStop<'a> {
    /// The current weights in evaluation mode.
    pub model: &'a UNet,
    /// Label maps of the attacked cases.
    pub truths: Vec<&'a [u8]>,
    /// Classes including the background.
    pub classes: usize,
    /// `[H, W]`.
    pub size: [usize; 2],
    /// The Dice below which a case stops (0: never; the judge then only lends its objective).
    pub stop_dice: f64,
    /// Rows and logits of the last judging pass.
    pub last: RefCell<Option<(Vec<usize>, Tensor<4>)>>,
}

impl DiceStop<'_> {
    fn goal(&self, rows: &[usize]) -> mira_attack::Result<Goal<Tensor<4>>> {
        let maps: Vec<&[u8]> = rows.iter().map(|&i| self.truths[i]).collect();
        let [h, w] = self.size;
        let truth = one_hot(&maps, self.classes, h, w, &default_device())
            .map_err(|e| judge_error(e.to_string()))?;
        Ok(Goal::Untargeted { truth })
    }

    fn build(&self, rows: &[usize], keep: bool) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        let observe: Option<Box<dyn Fn(Tensor<4>) + '_>> = keep.then(|| {
            let (rows, last) = (rows.to_vec(), &self.last);
            Box::new(move |logits| *last.borrow_mut() = Some((rows.clone(), logits))) as _
        });
        Ok(Box::new(segmentation_loss_objective(
            self.model,
            self.goal(rows)?,
            SegLoss::Ce,
            1.0,
            observe,
        )))
    }

    /// Per row: `1 − mean foreground Dice` and whether it is below `stop_dice` (a case with
    /// no foreground in truth or prediction is never broken).
    fn verdicts(&self, rows: &[usize], logits: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let pred = argmax_labels(logits);
        let truths: Vec<&[u8]> = rows.iter().map(|&i| self.truths[i]).collect();
        let scores =
            dice_scores(&pred, &truths, self.classes).map_err(|e| judge_error(e.to_string()))?;
        Ok(scores
            .iter()
            .map(|s| match mean_defined(s) {
                Some(d) => (1.0 - d, d < self.stop_dice),
                None => (0.0, false),
            })
            .collect())
    }
}

fn judge_error(reason: String) -> mira_attack::AttackError {
    mira_attack::AttackError::InvalidParameter {
        field: "stop_dice",
        reason,
    }
}

impl Judge<4> for DiceStop<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        self.build(rows, false)
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        self.verdicts(rows, self.model.logits(x))
    }

    fn judging_objective(
        &self,
        rows: &[usize],
    ) -> mira_attack::Result<Option<Box<dyn Objective<4> + '_>>> {
        self.build(rows, true).map(Some)
    }

    fn last_verdicts(&self) -> mira_attack::Result<Option<Vec<(f64, bool)>>> {
        match self.last.borrow().clone() {
            Some((rows, logits)) => self.verdicts(&rows, logits).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_attack::{Bounds, Norm};

    fn t(v: &[f32]) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(v.to_vec(), [1, 1, 1, v.len()]),
            &default_device(),
        )
    }

    #[test]
    fn free_delta_climbs_the_gradient_and_stays_in_the_ball() {
        let ball = |eps| LpBall::new(Norm::Linf, eps, Bounds::default()).unwrap();
        let x0 = t(&[0.5, 0.5, 0.99, 0.0]);
        let mut free = FreePerturbation::default();
        // First step: δ = 0.
        let x = free.apply(&x0, &ball(0.1));
        assert_eq!(mira_nn::tensor_to_vec(x.clone()), [0.5, 0.5, 0.99, 0.0]);
        // Ascent by sign(g) · 0.06, twice: clipped to ε = 0.1 and to [0, 1].
        let g = t(&[1.0, -2.0, 3.0, -1.0]);
        free.update(&x0, x, g.clone(), &ball(0.1), 0.06);
        let x = free.apply(&x0, &ball(0.1));
        free.update(&x0, x, g, &ball(0.1), 0.06);
        let got = mira_nn::tensor_to_vec(free.apply(&x0, &ball(0.1)));
        let want = [0.6, 0.4, 1.0, 0.0];
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{got:?}");
        }
        // A smaller ε (warm-up) or new rows see δ projected, or restarted.
        let got = mira_nn::tensor_to_vec(free.apply(&x0, &ball(0.05)));
        assert!((got[0] - 0.55).abs() < 1e-6 && (got[1] - 0.45).abs() < 1e-6);
        let other = t(&[0.2, 0.2]);
        assert_eq!(
            mira_nn::tensor_to_vec(free.apply(&other, &ball(0.1))),
            [0.2, 0.2]
        );
    }
}
