//! When does a registration pair fail? The task's answer for the minimum-norm search and the
//! composite's cascade: the TRE of the predicted transform (in the model's unit, mm or px)
//! above the model's tolerance, the same rule as the passing rate of the tables.

use burn::prelude::*;
use mira_attack::{Judge, ModelObjective, Objective};
use mira_data::{Rigid2d, tre};
use mira_nn::{Forward, regression::rigid_tre};

use crate::tasks::registration::RegModel;
use mira_train::tensor_rigids;

/// One batch of pairs with their true transforms, and the passing rule.
pub(crate) struct RegJudge<'a> {
    pub model: &'a RegModel,
    /// Its evaluation copy, made once per batch, for the verdicts.
    pub eval: RegModel,
    /// True transforms per case (pixels).
    pub truths: Vec<Rigid2d>,
    /// The TRE grid (pixels).
    pub grid: Vec<[f64; 2]>,
    /// mm per pixel (1 when the unit is the pixel).
    pub spacing: f64,
    /// Passing tolerance in the model's unit.
    pub tolerance: f64,
}

impl RegJudge<'_> {
    /// TRE (in the model's unit) and verdict of one prediction of case `i`: failing when the
    /// TRE exceeds the tolerance.
    pub(crate) fn verdict(&self, i: usize, pred: &Rigid2d) -> (f64, bool) {
        let t = tre(pred, &self.truths[i], &self.grid) * self.spacing;
        (t, t > self.tolerance)
    }
}

impl Judge<4> for RegJudge<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        let truth: Vec<f32> = rows
            .iter()
            .flat_map(|&i| {
                let t = &self.truths[i];
                [t.theta_deg as f32, t.tx as f32, t.ty as f32]
            })
            .collect();
        let n = rows.len();
        let grid = self.grid.clone();
        let loss = move |pred: Tensor<2>| {
            let t = Tensor::<2>::from_data(TensorData::new(truth.clone(), [n, 3]), &pred.device());
            rigid_tre(pred, t, &grid)
        };
        Ok(Box::new(ModelObjective::new(self.model, loss, 1.0)))
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let pred = tensor_rigids(self.eval.forward(x));
        Ok(rows
            .iter()
            .zip(&pred)
            .map(|(&i, p)| self.verdict(i, p))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TRE of a pure translation of (3, 4) px is 5 px everywhere on the grid; at 0.4 mm/px
    /// that is 2 mm: passing at a 2 mm tolerance (≤), failing at 1.99 mm.
    #[test]
    fn verdicts_follow_the_passing_rule_in_the_models_unit() {
        let dev = mira_nn::default_device();
        let model = RegModel::Own(
            mira_nn::PairNetConfig::default()
                .init_seeded(1, &dev)
                .unwrap(),
        );
        let truth = Rigid2d {
            theta_deg: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        let pred = Rigid2d {
            theta_deg: 0.0,
            tx: 3.0,
            ty: 4.0,
        };
        let mut j = RegJudge {
            model: &model,
            eval: model.valid(),
            truths: vec![truth],
            grid: mira_data::tre_grid(32, 8),
            spacing: 0.4,
            tolerance: 2.0,
        };
        let (t, broken) = j.verdict(0, &pred);
        assert!((t - 2.0).abs() < 1e-9, "{t}");
        assert!(!broken);
        j.tolerance = 1.99;
        assert!(j.verdict(0, &pred).1);
    }
}
