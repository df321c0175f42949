//! The probes of a disk-shape network in distribution: the summed squared point error as the
//! loss (the S4 paper's), the mean point distance (MRSE, px) as the metric (collapse: beyond
//! the break threshold).

use burn::prelude::*;
use mira_attack::{ModelObjective, Objective};
use mira_data::{ShapeSample, mean_point_distance};
use mira_nn::regression::sse;
use mira_nn::{Forward, default_device, tensor_to_vec};
use mira_train::{points_tensor, slices_tensor};

use crate::Result;
use crate::checks::{Metric, ProbeTarget};

/// A shape network on the first slices of a test set.
pub struct ShapeProbe<'a, M> {
    eval: M,
    x0: Tensor<4>,
    samples: &'a [ShapeSample],
    metric: Metric,
}

impl<'a, M: Forward<4, 2> + Module> ShapeProbe<'a, M> {
    /// `model` on the first `sample` of `slices`; `break_mrse` (px) is the break level,
    /// `tolerance` the noise of a mean MRSE.
    ///
    /// # Errors
    /// Tensors that cannot be built from the slices.
    pub fn new(
        model: &M,
        slices: &'a [ShapeSample],
        sample: usize,
        break_mrse: f64,
        tolerance: f64,
    ) -> Result<Self> {
        let samples = &slices[..sample.max(1).min(slices.len())];
        let refs: Vec<&ShapeSample> = samples.iter().collect();
        Ok(Self {
            eval: model.valid(),
            x0: slices_tensor(&refs, &default_device())?,
            samples,
            metric: Metric::new("mean MRSE (px)", true, 2, tolerance).collapsing(
                break_mrse,
                format!("beyond the break threshold ({break_mrse} px)"),
            ),
        })
    }
}

impl<M: Forward<4, 2> + Module> ProbeTarget<4> for ShapeProbe<'_, M> {
    fn inputs(&self) -> Tensor<4> {
        self.x0.clone()
    }

    fn outputs(&self, x: Tensor<4>) -> Vec<f32> {
        tensor_to_vec(self.eval.forward(x))
    }

    fn objective(&self) -> Box<dyn Objective<4> + '_> {
        let refs: Vec<&ShapeSample> = self.samples.iter().collect();
        let truth = points_tensor(&refs, &default_device());
        let loss = move |p: Tensor<2>| {
            let d = p.device();
            sse(p, truth.clone().to_device(&d))
        };
        Box::new(ModelObjective::new(&self.eval, loss, 1.0))
    }

    fn metric(&self, x: Tensor<4>) -> Result<f64> {
        let pred = tensor_to_vec(self.eval.forward(x));
        let per = pred.len() / self.samples.len().max(1);
        let sum: f64 = self
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p: Vec<[f64; 2]> = pred[i * per..(i + 1) * per]
                    .chunks(2)
                    .map(|q| [q[0] as f64, q[1] as f64])
                    .collect();
                mean_point_distance(&p, &s.points)
            })
            .sum();
        Ok(sum / self.samples.len().max(1) as f64)
    }

    fn scale(&self) -> &Metric {
        &self.metric
    }
}
