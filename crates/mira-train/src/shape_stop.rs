//! Early-stopped inner attacks of the disk-shape network's adversarial training: a slice
//! leaves the PGD once the mean distance between the predicted and the true contour points
//! (MRSE, px) exceeds `adv_stop_px`. The judging objective keeps each step's predicted points,
//! so the checks cost no extra pass.

use std::cell::RefCell;

use burn::prelude::*;
use mira_attack::{Judge, ModelObjective, Objective};
use mira_data::{ShapeSample, mean_point_distance};
use mira_nn::regression::sse;
use mira_nn::{ShapeNet, default_device, tensor_to_vec};

use crate::points_tensor;

/// The judge: broken when the MRSE exceeds `stop_px`.
pub(crate) struct MrseStop<'a> {
    /// The current weights (autodiff device).
    pub model: &'a ShapeNet,
    /// The attacked slices, with their true contours.
    pub samples: Vec<&'a ShapeSample>,
    /// The MRSE (px) above which a case stops.
    pub stop_px: f64,
    /// Rows and predicted points of the last judging pass.
    pub last: RefCell<Option<(Vec<usize>, Tensor<2>)>>,
}

impl MrseStop<'_> {
    fn build(&self, rows: &[usize], keep: bool) -> Box<dyn Objective<4> + '_> {
        let refs: Vec<&ShapeSample> = rows.iter().map(|&i| self.samples[i]).collect();
        let truth = points_tensor(&refs, &default_device());
        let (rows, last) = (rows.to_vec(), &self.last);
        let loss = move |p: Tensor<2>| {
            if keep {
                *last.borrow_mut() = Some((rows.clone(), p.clone().inner()));
            }
            let d = p.device();
            sse(p, truth.clone().to_device(&d))
        };
        Box::new(ModelObjective::new(self.model, loss, 1.0))
    }

    /// Per row: the MRSE and whether it exceeds `stop_px`.
    fn verdicts(&self, rows: &[usize], points: Tensor<2>) -> Vec<(f64, bool)> {
        let pred = tensor_to_vec(points);
        let per = pred.len() / rows.len().max(1);
        rows.iter()
            .enumerate()
            .map(|(k, &i)| {
                let p: Vec<[f64; 2]> = pred[k * per..(k + 1) * per]
                    .chunks(2)
                    .map(|q| [f64::from(q[0]), f64::from(q[1])])
                    .collect();
                let e = mean_point_distance(&p, &self.samples[i].points);
                (e, e > self.stop_px)
            })
            .collect()
    }
}

impl Judge<4> for MrseStop<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        Ok(self.build(rows, false))
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let eval = self.model.valid();
        Ok(self.verdicts(rows, mira_nn::Forward::forward(&eval, x)))
    }

    fn judging_objective(
        &self,
        rows: &[usize],
    ) -> mira_attack::Result<Option<Box<dyn Objective<4> + '_>>> {
        Ok(Some(self.build(rows, true)))
    }

    fn last_verdicts(&self) -> mira_attack::Result<Option<Vec<(f64, bool)>>> {
        Ok(self
            .last
            .borrow()
            .clone()
            .map(|(rows, p)| self.verdicts(&rows, p)))
    }
}
