//! When is a brain-age subject broken? The task's answer for the minimum-norm search and the
//! composite's cascade, by the attack's goal and `sweep.threshold_years`: `error`, the
//! prediction off by more than the threshold; `older` / `younger`, moved that far in that
//! direction; `target`, within the threshold of `target_age`.

use burn::prelude::*;
use mira_attack::{Judge, ModelObjective, Objective};
use mira_nn::{Forward, tensor_to_vec};

use crate::tasks::brain_age::AgeModel;

use crate::tasks::brain_age::{AgeGoal, age_loss};

/// One batch of subjects with their true ages, and the break rule.
pub(crate) struct AgeJudge<'a> {
    /// The model the attack sees (with BPDA where the entry asks for it).
    pub model: &'a AgeModel,
    /// Its evaluation copy, made once per batch, for the verdicts.
    pub eval: AgeModel,
    pub ages: Vec<f64>,
    pub goal: AgeGoal,
    pub target: Option<f64>,
    /// Years.
    pub threshold: f64,
}

impl AgeJudge<'_> {
    /// Score (higher = worse for the model, in years) and verdict of prediction `p` for
    /// subject `i`.
    pub(crate) fn verdict(&self, i: usize, p: f64) -> (f64, bool) {
        let a = self.ages[i];
        let score = match self.goal {
            AgeGoal::Error => (p - a).abs(),
            AgeGoal::Older => p - a,
            AgeGoal::Younger => a - p,
            AgeGoal::Target => -(p - self.target.unwrap_or(0.0)).abs(),
        };
        let broken = match self.goal {
            AgeGoal::Target => -score < self.threshold,
            _ => score > self.threshold,
        };
        (score, broken)
    }
}

impl Judge<5> for AgeJudge<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<5> + '_>> {
        let ages: Vec<f32> = rows.iter().map(|&i| self.ages[i] as f32).collect();
        Ok(Box::new(ModelObjective::new(
            self.model,
            age_loss(self.goal, self.target, ages),
            1.0,
        )))
    }

    fn judge(&self, rows: &[usize], x: Tensor<5>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let pred = tensor_to_vec(self.eval.forward(x));
        Ok(rows
            .iter()
            .zip(&pred)
            .map(|(&i, &p)| self.verdict(i, p as f64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-checked verdicts at a 5-year threshold for a 40-year-old (target 48: within 5 years
    /// counts as reached).
    #[test]
    fn verdicts_follow_the_goal() {
        let dev = mira_nn::default_device();
        let model = AgeModel::Own(
            mira_nn::AgeNetConfig::cnn(16, 50.0, 20.0)
                .init_seeded(1, &dev)
                .unwrap(),
        );
        let j = |goal, target| AgeJudge {
            model: &model,
            eval: model.valid(),
            ages: vec![40.0],
            goal,
            target,
            threshold: 5.0,
        };
        assert_eq!(j(AgeGoal::Error, None).verdict(0, 46.0), (6.0, true));
        assert_eq!(j(AgeGoal::Error, None).verdict(0, 36.0), (4.0, false));
        assert_eq!(j(AgeGoal::Older, None).verdict(0, 46.0), (6.0, true));
        assert_eq!(j(AgeGoal::Younger, None).verdict(0, 46.0), (-6.0, false));
        assert_eq!(j(AgeGoal::Younger, None).verdict(0, 34.0), (6.0, true));
        assert_eq!(
            j(AgeGoal::Target, Some(48.0)).verdict(0, 46.0),
            (-2.0, true)
        );
        assert_eq!(
            j(AgeGoal::Target, Some(48.0)).verdict(0, 42.0),
            (-6.0, false)
        );
    }
}
