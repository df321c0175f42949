//! The probes of a registration network: the TRE of the predicted transform as both the loss
//! and the metric (mean TRE in the model's unit; collapse: above the passing tolerance), the
//! perturbation masked to the image(s) the reference attack may change.

use burn::prelude::*;
use mira_attack::{ModelObjective, Objective};
use mira_data::{RegPair, Rigid2d, tre, tre_grid};
use mira_nn::regression::rigid_tre;
use mira_nn::{Forward, default_device, tensor_to_vec};
use mira_train::{pairs_tensor, tensor_rigids};

use crate::Result;
use crate::checks::{Metric, ProbeTarget};
use crate::tasks::registration::{AttackedImage, TRE_GRID};

/// A pair network on the first pairs of a test set.
pub struct RegProbe<M> {
    eval: M,
    x0: Tensor<4>,
    truths: Vec<Rigid2d>,
    grid: Vec<[f64; 2]>,
    spacing: f64,
    image: AttackedImage,
    metric: Metric,
}

impl<M: Forward<4, 2> + Module> RegProbe<M> {
    /// `model` on the first `sample` of `pairs`; TRE in the model's unit (`spacing` mm per
    /// pixel, 1 for pixels), failing above `tolerance`; the attack changes `image`.
    ///
    /// # Errors
    /// Tensors that cannot be built from the pairs.
    pub fn new(
        model: &M,
        pairs: &[RegPair],
        sample: usize,
        (spacing, unit, tolerance): (f64, &str, f64),
        image: AttackedImage,
        noise: f64,
    ) -> Result<Self> {
        let chunk = &pairs[..sample.clamp(1, pairs.len().max(1)).min(pairs.len())];
        let size = chunk
            .first()
            .map_or(0, |p| (p.fixed.len() as f64).sqrt() as usize);
        let refs: Vec<&RegPair> = chunk.iter().collect();
        Ok(Self {
            eval: model.valid(),
            x0: pairs_tensor(&refs, size, &default_device())?,
            truths: chunk.iter().map(|p| p.truth).collect(),
            grid: tre_grid(size, TRE_GRID),
            spacing,
            image,
            metric: Metric::new(format!("mean TRE ({unit})"), true, 2, noise).collapsing(
                tolerance,
                format!("above the passing tolerance ({tolerance} {unit})"),
            ),
        })
    }
}

impl<M: Forward<4, 2> + Module> ProbeTarget<4> for RegProbe<M> {
    fn inputs(&self) -> Tensor<4> {
        self.x0.clone()
    }

    fn outputs(&self, x: Tensor<4>) -> Vec<f32> {
        tensor_to_vec(self.eval.forward(x))
    }

    fn objective(&self) -> Box<dyn Objective<4> + '_> {
        let truth: Vec<f32> = self
            .truths
            .iter()
            .flat_map(|t| [t.theta_deg as f32, t.tx as f32, t.ty as f32])
            .collect();
        let (n, grid) = (self.truths.len(), self.grid.clone());
        let loss = move |pred: Tensor<2>| {
            let t = Tensor::<2>::from_data(TensorData::new(truth.clone(), [n, 3]), &pred.device());
            rigid_tre(pred, t, &grid)
        };
        Box::new(ModelObjective::new(&self.eval, loss, 1.0))
    }

    fn metric(&self, x: Tensor<4>) -> Result<f64> {
        let pred = tensor_rigids(self.eval.forward(x));
        let sum: f64 = pred
            .iter()
            .zip(&self.truths)
            .map(|(p, t)| tre(p, t, &self.grid) * self.spacing)
            .sum();
        Ok(sum / pred.len().max(1) as f64)
    }

    fn scale(&self) -> &Metric {
        &self.metric
    }

    fn mask(&self) -> Option<Tensor<4>> {
        let m = Tensor::<1>::from_floats(self.image.mask(), &default_device());
        Some(m.reshape([1, 2, 1, 1]))
    }
}
