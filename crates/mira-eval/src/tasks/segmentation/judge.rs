//! When is a segmentation case broken? The task's answer for the minimum-norm search and the
//! composite's cascade: an untargeted attack breaks a case when the mean foreground Dice of its
//! prediction falls below `sweep.break_dice`; a targeted one when at least `sweep.break_match`
//! of the pixels its goal changes are predicted as the target.

use std::cell::RefCell;

use burn::prelude::*;
use mira_attack::{AttackError, Goal, Judge, Objective};
use mira_nn::{UNet, argmax_labels, one_hot};

use crate::tasks::segmentation::cell::SegModel;
use mira_stats::{mean_defined, target_agreement};

use crate::tasks::segmentation::min_norm::breaks;
use crate::tasks::segmentation::{AttackLoss, dice};

/// One batch of cases with their references, and the break rule.
pub(crate) struct SegJudge<'a, M = UNet> {
    pub model: &'a M,
    /// Ground truth per case.
    pub truths: Vec<&'a [u8]>,
    /// Targets per case (targeted goals).
    pub targets: Vec<Option<Vec<u8>>>,
    pub targeted: bool,
    pub temperature: f32,
    pub loss: AttackLoss,
    /// The losses of a worst-over-losses cascade (`auto` with `losses`; empty otherwise).
    pub losses: Vec<AttackLoss>,
    pub classes: usize,
    pub height: usize,
    pub width: usize,
    pub break_dice: f64,
    pub break_match: f64,
    /// The rows and logits of the last pass of a judging objective (early stopping's free
    /// checks read their verdicts from it).
    pub last: RefCell<Option<(Vec<usize>, Tensor<4>)>>,
}

fn judge_error(reason: String) -> AttackError {
    AttackError::InvalidParameter {
        field: "judge",
        reason,
    }
}

impl<M: SegModel> SegJudge<'_, M> {
    /// Score (higher = worse for the model) and verdict of one prediction of case `i`:
    /// untargeted `1 − mean Dice`, broken below `break_dice` (a case without foreground in
    /// truth and prediction scores 0 and is never broken); targeted: the share of goal pixels
    /// predicted as the target, broken from `break_match` on.
    pub(crate) fn verdict(&self, i: usize, pred: &[u8]) -> crate::Result<(f64, bool)> {
        let truth = self.truths[i];
        let (score, dice_mean, target_match) = match &self.targets[i] {
            Some(t) if self.targeted => {
                let m = target_agreement(pred, truth, t)
                    .map_err(|e| crate::EvalError::invalid("data", e.to_string()))?;
                (m.unwrap_or(0.0), None, m)
            }
            _ => {
                let d = mean_defined(&dice(pred, truth, self.classes, false)?);
                (1.0 - d.unwrap_or(1.0), d, None)
            }
        };
        let broken = breaks(
            self.targeted,
            dice_mean,
            target_match,
            self.break_dice,
            self.break_match,
        );
        Ok((score, broken))
    }
}

impl<M: SegModel> SegJudge<'_, M> {
    /// The goal of the cases `rows`: their truth (untargeted) or target maps, one-hot.
    fn goal(&self, rows: &[usize]) -> mira_attack::Result<Goal<Tensor<4>>> {
        let refs: Vec<&[u8]> = rows
            .iter()
            .map(|&i| self.targets[i].as_deref().unwrap_or(self.truths[i]))
            .collect();
        let dev = mira_nn::default_device();
        let maps = one_hot(&refs, self.classes, self.height, self.width, &dev)
            .map_err(|e| judge_error(e.to_string()))?;
        Ok(if self.targeted {
            Goal::Targeted { target: maps }
        } else {
            Goal::Untargeted { truth: maps }
        })
    }
}

impl<M: SegModel> SegJudge<'_, M> {
    /// The objective of `loss` bound to the cases `rows`, its logits kept for
    /// [`Judge::last_verdicts`] when `keep`.
    fn loss_objective(
        &self,
        loss: AttackLoss,
        rows: &[usize],
        keep: bool,
    ) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        let goal = self.goal(rows)?;
        let observe: Option<Box<dyn Fn(Tensor<4>) + '_>> = keep.then(|| {
            let (rows, last) = (rows.to_vec(), &self.last);
            Box::new(move |logits| *last.borrow_mut() = Some((rows.clone(), logits))) as _
        });
        Ok(Box::new(mira_attack::segmentation_loss_objective(
            self.model,
            goal,
            loss,
            self.temperature,
            observe,
        )))
    }
}

impl<M: SegModel> Judge<4> for SegJudge<'_, M> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        self.loss_objective(self.loss, rows, false)
    }

    /// The losses of a worst-over-losses cascade (`losses` of an `auto` entry).
    fn variants(&self) -> Vec<String> {
        self.losses.iter().map(|l| l.name().to_string()).collect()
    }

    fn variant_objective(
        &self,
        variant: usize,
        rows: &[usize],
    ) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        let loss = *self
            .losses
            .get(variant)
            .ok_or_else(|| judge_error(format!("no loss {variant} of {}", self.losses.len())))?;
        self.loss_objective(loss, rows, false)
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        self.verdicts(rows, self.model.forward(x))
    }

    /// The attack's objective, its logits kept for [`Judge::last_verdicts`].
    fn judging_objective(
        &self,
        rows: &[usize],
    ) -> mira_attack::Result<Option<Box<dyn Objective<4> + '_>>> {
        self.loss_objective(self.loss, rows, true).map(Some)
    }

    fn last_verdicts(&self) -> mira_attack::Result<Option<Vec<(f64, bool)>>> {
        match self.last.borrow().clone() {
            Some((rows, logits)) => self.verdicts(&rows, logits).map(Some),
            None => Ok(None),
        }
    }
}

impl<M: SegModel> SegJudge<'_, M> {
    /// Verdicts of the cases `rows` from their logits.
    fn verdicts(&self, rows: &[usize], logits: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        let pred = argmax_labels(logits);
        rows.iter()
            .zip(&pred)
            .map(|(&i, p)| self.verdict(i, p).map_err(|e| judge_error(e.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use mira_attack::{AutoConfig, CascadeState, Norm};

    /// The worst-over-losses cascade (`auto` with `losses`) is never weaker on a case than any
    /// of its loss members run alone (same seed, same cases): each APGD member attacks every
    /// case, broken or not, and each case keeps its most damaging input.
    #[test]
    fn the_loss_cascade_is_never_weaker_per_case_than_a_member_alone() {
        use super::{AttackLoss, SegJudge};
        use mira_attack::{Attack, Bounds, Judge, LpBall, member_seed, run_cascade};
        use rand::SeedableRng;
        let dev = mira_nn::default_device();
        let test = BrainPhantomConfig {
            size: 16,
            ..Default::default()
        }
        .generate(5, 0, 6)
        .unwrap();
        let model = UNetConfig::new()
            .with_base_width(4)
            .with_depth(2)
            .init_seeded(3, &dev)
            .unwrap();
        let refs: Vec<_> = test.items.iter().collect();
        let x0 = mira_nn::images_to_tensor(&refs, &dev).unwrap();
        let losses = vec![
            AttackLoss::Ce,
            AttackLoss::Segpgd,
            AttackLoss::Cospgd,
            AttackLoss::Dice,
        ];
        let judge = SegJudge {
            model: &model,
            truths: test.items.iter().map(|s| s.labels.as_slice()).collect(),
            targets: vec![None; 6],
            targeted: false,
            temperature: 1.0,
            loss: AttackLoss::Ce,
            losses: losses.clone(),
            classes: test.n_labels(),
            height: 16,
            width: 16,
            break_dice: 0.5,
            break_match: 0.5,
            last: Default::default(),
        };
        let ball = LpBall::new(Norm::Linf, 0.05, Bounds::default()).unwrap();
        let auto = AutoConfig {
            apgd_steps: 4,
            restarts: 1,
            square_queries: 10,
        };
        let members = auto.cascade(Norm::Linf, &judge.variants());
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "apgd-ce",
                "apgd-segpgd",
                "apgd-cospgd",
                "apgd-dice",
                "square"
            ]
        );
        let (_, st) = run_cascade(
            &members,
            &judge,
            x0.clone(),
            &ball,
            9,
            None,
            &mut |_| Ok(()),
        )
        .unwrap();
        let all: Vec<usize> = (0..6).collect();
        for (m, member) in members.iter().enumerate().take(losses.len()) {
            let f = judge.variant_objective(m, &all).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(member_seed(9, m));
            let adv = member
                .spec
                .perturb(f.as_ref(), x0.clone(), &ball, &mut rng)
                .unwrap();
            for (i, (score, broken)) in judge.judge(&all, adv).unwrap().into_iter().enumerate() {
                assert!(
                    st.score[i] >= score && (st.broken[i] || !broken),
                    "case {i}: cascade {} ({}) vs {} alone {score} ({broken})",
                    st.score[i],
                    st.broken[i],
                    member.name
                );
            }
        }
        assert_eq!(
            st.attacked[..4],
            [6, 6, 6, 6],
            "every loss attacks every case"
        );
    }

    use mira_data::BrainPhantomConfig;
    use mira_nn::UNetConfig;
    use mira_stats::mean_defined;

    use crate::cells::CellId;
    use crate::tasks::segmentation::Cell;

    /// A composite cell saves its state per batch, and a cell that finds a saved state uses it
    /// instead of attacking again: a tampered state (case 0 put back to its clean input) shows
    /// up in the records.
    #[test]
    fn a_composite_cell_saves_and_resumes_from_its_state() {
        let dev = mira_nn::default_device();
        let test = BrainPhantomConfig {
            size: 16,
            ..Default::default()
        }
        .generate(3, 0, 4)
        .unwrap();
        let model = UNetConfig::new()
            .with_base_width(4)
            .with_depth(2)
            .init_seeded(1, &dev)
            .unwrap();
        let clean = mira_train::predict_labels(&model, &test, 4).unwrap();
        let root = std::env::temp_dir().join(format!("mira-cascade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let spec = mira_attack::AttackSpec::Auto(AutoConfig {
            apgd_steps: 3,
            restarts: 1,
            square_queries: 5,
        });
        let id = CellId {
            model: "m",
            attack: "auto",
            norm: Norm::Linf,
            epsilon: 0.1,
            batch_size: 4,
            seed: 5,
        };
        let cell = Cell {
            state_dir: Some(root.join("cell")),
            ..Cell::untargeted(id, &model, &spec)
        };
        let (first, _) = cell
            .run_batches(&test, &clean, None, false, &mut |_| {})
            .unwrap();
        let file = root.join("cell").join("batch_0.json");
        let mut st: CascadeState =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(st.members_done, 2);
        assert_eq!(st.attacked[0], 4, "the first member attacks every case");
        // Same state: the same records, without attacking.
        let (again, _) = cell
            .run_batches(&test, &clean, None, false, &mut |_| {})
            .unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        // Tampered state: case 0 back to its clean input.
        let per = st.adversarial.len() / 4;
        let x: Vec<f32> = test.items[0].image.clone();
        st.adversarial[..per].copy_from_slice(&x);
        st.by_member[0] = None;
        std::fs::write(&file, serde_json::to_vec(&st).unwrap()).unwrap();
        let (tampered, _) = cell
            .run_batches(&test, &clean, None, false, &mut |_| {})
            .unwrap();
        assert_eq!(tampered[0].linf, 0.0);
        assert_eq!(tampered[0].member.as_deref(), Some("clean"));
        assert_eq!(
            mean_defined(&tampered[0].adv_dice),
            mean_defined(&tampered[0].clean_dice)
        );
        assert_eq!(tampered[1].l2, first[1].l2);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
