//! The probes of a brain-age network: the squared age error as the loss, the mean absolute
//! error (years) as the metric (collapse: beyond the fooling threshold). The plain model is
//! probed: a hybrid with hard tissue maps passes no gradient through them, which the probes
//! are there to show (S3's BPDA attack goes around it).

use burn::prelude::*;
use mira_attack::{ModelObjective, Objective};
use mira_data::AgeSubject;
use mira_nn::{Forward, default_device, tensor_to_vec};
use mira_train::volumes_tensor;

use crate::Result;
use crate::checks::{Metric, ProbeTarget};
use crate::tasks::brain_age::{AgeGoal, age_loss};

/// An age network on the first subjects of a test set.
pub struct AgeProbe<M> {
    eval: M,
    x0: Tensor<5>,
    ages: Vec<f64>,
    metric: Metric,
}

impl<M: Forward<5, 2> + Module> AgeProbe<M> {
    /// `model` on the first `sample` of `subjects`; `threshold` (years) is the fooling level,
    /// `tolerance` the noise of an MAE.
    ///
    /// # Errors
    /// Tensors that cannot be built from the subjects.
    pub fn new(
        model: &M,
        subjects: &[AgeSubject],
        sample: usize,
        threshold: f64,
        tolerance: f64,
    ) -> Result<Self> {
        let chunk = &subjects[..sample.max(1).min(subjects.len())];
        let refs: Vec<&AgeSubject> = chunk.iter().collect();
        Ok(Self {
            eval: model.valid(),
            x0: volumes_tensor(&refs, &default_device())?,
            ages: chunk.iter().map(|s| s.age).collect(),
            metric: Metric::new("MAE (y)", true, 2, tolerance).collapsing(
                threshold,
                format!("beyond the fooling threshold ({threshold} y)"),
            ),
        })
    }
}

impl<M: Forward<5, 2> + Module> ProbeTarget<5> for AgeProbe<M> {
    fn inputs(&self) -> Tensor<5> {
        self.x0.clone()
    }

    fn outputs(&self, x: Tensor<5>) -> Vec<f32> {
        tensor_to_vec(self.eval.forward(x))
    }

    fn objective(&self) -> Box<dyn Objective<5> + '_> {
        let ages = self.ages.iter().map(|&a| a as f32).collect();
        Box::new(ModelObjective::new(
            &self.eval,
            age_loss(AgeGoal::Error, None, ages),
            1.0,
        ))
    }

    fn metric(&self, x: Tensor<5>) -> Result<f64> {
        let pred: Vec<f64> = tensor_to_vec(self.eval.forward(x))
            .into_iter()
            .map(f64::from)
            .collect();
        Ok(mira_stats::mean_absolute_error(&pred, &self.ages))
    }

    fn scale(&self) -> &Metric {
        &self.metric
    }
}
