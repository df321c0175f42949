//! The probes of a segmentation model: cross-entropy (at the attack's temperature) as the
//! reference loss, the per-pixel margin as the non-saturating alternative, mean foreground Dice
//! as the metric (collapse: towards 0).

use burn::prelude::*;
use mira_attack::{Goal, Objective, segmentation_margin_objective, segmentation_objective};
use mira_data::SegDataset;
use mira_nn::{Forward, argmax_labels, default_device, images_to_tensor, one_hot, tensor_to_vec};
use mira_stats::{DiceOptions, dice_per_label, mean_defined};

use crate::checks::{Alternative, Metric, ProbeSetup, ProbeTarget, probe};
use crate::{EvalError, Result, Warning};

/// A segmentation model on the first cases of a test set.
pub struct SegProbe<'a, M> {
    eval: M,
    x0: Tensor<4>,
    maps: Vec<&'a [u8]>,
    truth: Tensor<4>,
    classes: usize,
    temperature: f32,
    metric: Metric,
}

impl<'a, M: Forward<4, 4> + Module> SegProbe<'a, M> {
    /// `model` on the first `sample` cases of `test`; the reference loss is cross-entropy at
    /// `temperature`; `tolerance` and `collapse` in mean Dice.
    ///
    /// # Errors
    /// Tensors that cannot be built from the cases.
    pub fn new(
        model: &M,
        test: &'a SegDataset,
        sample: usize,
        temperature: f32,
        tolerance: f64,
        collapse: f64,
    ) -> Result<Self> {
        let dev = default_device();
        let n = sample.min(test.items.len()).max(1);
        let items: Vec<_> = test.items[..n.min(test.items.len())].iter().collect();
        let (h, w) = items.first().map_or((0, 0), |i| (i.height, i.width));
        let classes = test.n_labels();
        let maps: Vec<&[u8]> = items.iter().map(|i| i.labels.as_slice()).collect();
        Ok(Self {
            eval: model.valid(),
            x0: images_to_tensor(&items, &dev)?,
            truth: one_hot(&maps, classes, h, w, &dev)?,
            maps,
            classes,
            temperature,
            metric: Metric::new("mean Dice", false, 3, tolerance).collapsing(collapse, "towards 0"),
        })
    }
}

impl<M: Forward<4, 4> + Module> ProbeTarget<4> for SegProbe<'_, M> {
    fn inputs(&self) -> Tensor<4> {
        self.x0.clone()
    }

    fn outputs(&self, x: Tensor<4>) -> Vec<f32> {
        tensor_to_vec(self.eval.forward(x))
    }

    fn objective(&self) -> Box<dyn Objective<4> + '_> {
        let goal = Goal::Untargeted {
            truth: self.truth.clone(),
        };
        Box::new(segmentation_objective(&self.eval, goal, self.temperature))
    }

    fn alternative(&self) -> Option<Alternative<'_, 4>> {
        let goal = Goal::Untargeted {
            truth: self.truth.clone(),
        };
        Some(Alternative {
            loss: "per-pixel margin loss",
            base: "cross-entropy",
            why: "the cross-entropy saturates (softmax saturation, e.g. defensive distillation); \
                  evaluate with a margin loss",
            objective: Box::new(segmentation_margin_objective(&self.eval, goal)),
        })
    }

    /// Mean over cases of the mean foreground Dice of the prediction on `x` (cases without
    /// foreground in truth and prediction are left out).
    fn metric(&self, x: Tensor<4>) -> Result<f64> {
        let pred = argmax_labels(self.eval.forward(x));
        let per: Vec<f64> = pred
            .iter()
            .zip(&self.maps)
            .map(|(p, t)| {
                dice_per_label(p, t, DiceOptions::new(self.classes))
                    .map(|d| mean_defined(&d))
                    .map_err(|e| EvalError::invalid("data", e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(per.iter().sum::<f64>() / per.len().max(1) as f64)
    }

    fn scale(&self) -> &Metric {
        &self.metric
    }
}

/// Runs the probes on a segmentation `model` (any network with the UNet's contract, e.g. a
/// gradient-masked canary) with the first `sample` cases of `test`.
///
/// # Errors
/// Attack failures other than non-finite gradients.
pub fn probe_segmenter<M: Forward<4, 4> + Module>(
    model: &M,
    test: &SegDataset,
    setup: &ProbeSetup<'_>,
    (sample, temperature, tolerance, collapse): (usize, f32, f64, f64),
) -> Result<Vec<Warning>> {
    if test.items.is_empty() {
        return Ok(Vec::new());
    }
    let target = SegProbe::new(model, test, sample, temperature, tolerance, collapse)?;
    probe(&target, setup)
}
