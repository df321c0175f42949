//! When is a disk-shape case broken? The task's answer for the minimum-norm search and the
//! composite's cascade (in-distribution attacks): the mean distance between the predicted and
//! the true contour points (MRSE, px) above `sweep.break_mrse`.

use burn::prelude::*;
use mira_attack::{Judge, ModelObjective, Objective};
use mira_data::{ShapeSample, mean_point_distance};
use mira_nn::regression::sse;
use mira_nn::{Forward, tensor_to_vec};

use crate::tasks::shape::ShapeModel;
use mira_train::points_tensor;

/// One batch of slices with their true contours, and the break rule.
pub(crate) struct ShapeJudge<'a> {
    pub model: &'a ShapeModel,
    /// Its evaluation copy, made once per batch, for the verdicts.
    pub eval: ShapeModel,
    pub samples: Vec<&'a ShapeSample>,
    /// MRSE (px) above which a case counts as broken.
    pub break_mrse: f64,
}

impl ShapeJudge<'_> {
    /// MRSE (px) and verdict of predicted points `pred` (`[x0, y0, …]`) for case `i`.
    pub(crate) fn verdict(&self, i: usize, pred: &[f32]) -> (f64, bool) {
        let p: Vec<[f64; 2]> = pred.chunks(2).map(|q| [q[0] as f64, q[1] as f64]).collect();
        let e = mean_point_distance(&p, &self.samples[i].points);
        (e, e > self.break_mrse)
    }
}

impl Judge<4> for ShapeJudge<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        let refs: Vec<&ShapeSample> = rows.iter().map(|&i| self.samples[i]).collect();
        let truth = points_tensor(&refs, &mira_nn::default_device());
        let loss = move |p: Tensor<2>| {
            let d = p.device();
            sse(p, truth.clone().to_device(&d))
        };
        Ok(Box::new(ModelObjective::new(self.model, loss, 1.0)))
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let pred = tensor_to_vec(self.eval.forward(x));
        let per = pred.len() / rows.len().max(1);
        Ok(rows
            .iter()
            .enumerate()
            .map(|(k, &i)| self.verdict(i, &pred[k * per..(k + 1) * per]))
            .collect())
    }
}
