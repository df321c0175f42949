//! Early stopping for the projected-gradient engine: cases whose goal the task's [`Judge`]
//! calls met (broken) are frozen and leave the batch, so the remaining steps cost only the
//! cases still standing (as AutoAttack spends nothing more on points already misclassified).
//!
//! The judge is asked at the starting point (a case broken there is not attacked at all: it
//! keeps the clean input, or PGD's random start) and after every `every`-th step; a judge that
//! offers a judging objective answers from the step's own forward pass, for free. A case still standing
//! follows exactly the trajectory it follows in [`ProjectedGradient::perturb`]: the same
//! random start (drawn for the whole batch), the same per-case steps, since models do not mix
//! the cases of a batch. A frozen case keeps the input that met the goal, which is in general
//! *less* damaging than the full attack's: early stopping measures whether a case breaks
//! (passing rates, robust accuracy) faithfully, not how badly (Dice, TRE, error sizes).

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::cascade::rows_of;
use crate::engine::checked_value_and_grad;
use crate::{AttackError, Judge, LpBall, Objective, ProjectedGradient, Result, StepRule};

/// What an early-stopped attack returns.
pub struct Stopped<const D: usize> {
    /// The adversarial inputs of the whole batch.
    pub adv: Tensor<D>,
    /// Per case, the number of steps after which it was found broken (0: at its starting point);
    /// `None`: it ran every step.
    pub stopped_at: Vec<Option<usize>>,
    /// Gradient evaluations spent, summed over cases (a full run spends `steps` per case).
    pub gradients: usize,
}

impl ProjectedGradient {
    /// [`Attack::perturb`](crate::Attack::perturb) with early stopping: `judge` says whether
    /// each case is broken at its starting point and after every `every`-th step, and broken
    /// cases stop. One restart only (best-of-restarts needs every restart's end point).
    ///
    /// When the judge offers a [`Judge::judging_objective`], a check reads the verdicts the
    /// step's own forward pass left ([`Judge::last_verdicts`]): no extra pass, but a case
    /// found broken at step `s` has spent `s + 1` gradient passes (the last one unused).
    /// Otherwise each check is a [`Judge::judge`] pass of the cases still standing.
    ///
    /// # Errors
    /// Invalid parameters (`every == 0`, restarts > 1), non-finite objective values or
    /// gradients, and the judge's errors.
    pub fn perturb_until_broken<const D: usize>(
        &self,
        judge: &dyn Judge<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
        every: usize,
    ) -> Result<Stopped<D>> {
        self.validate()?;
        let bad = |field, reason: &str| AttackError::InvalidParameter {
            field,
            reason: reason.into(),
        };
        if every == 0 {
            return Err(bad("early_stop", "must check every >= 1 steps"));
        }
        if self.restarts != 1 || self.best_iterate {
            return Err(bad(
                "early_stop",
                "needs a single restart ending at its last iterate",
            ));
        }
        let b = x0.dims()[0];
        let mut stopped_at = vec![None; b];
        if ball.epsilon == 0.0 {
            return Ok(Stopped {
                adv: x0,
                stopped_at,
                gradients: 0,
            });
        }
        let per = x0.shape().num_elements() / b.max(1);
        let mut out = mira_nn::tensor_to_vec(x0.clone());
        let mut x = if self.random_start {
            ball.random_start(&x0, rng)
        } else {
            x0.clone()
        };
        let mut active: Vec<usize> = (0..b).collect();
        let build = |rows: &[usize], free: bool| -> Result<Box<dyn Objective<D> + '_>> {
            if free {
                judge
                    .judging_objective(rows)?
                    .ok_or_else(|| bad("judge", "stopped offering a judging objective"))
            } else {
                judge.objective(rows)
            }
        };
        let (mut f, free) = match judge.judging_objective(&active)? {
            Some(f) => (f, true),
            None => (judge.objective(&active)?, false),
        };
        let (mut xc, mut sub) = (x0.clone(), ball.clone());
        let alpha = self.rel_step * ball.epsilon;
        let mut state = self.step.start();
        let mut gradients = 0;
        let mut grad = |f: &dyn Objective<D>, x: Tensor<D>, n: usize, step: usize| {
            gradients += n;
            checked_value_and_grad(f, x, step, self.steps).map(|(_, g)| g)
        };
        for step in 0..self.steps {
            // The gradient of this step when a free check has computed it already.
            let mut pending = None;
            if step % every == 0 {
                let verdicts = if free {
                    pending = Some(grad(f.as_ref(), x.clone(), active.len(), step)?);
                    judge
                        .last_verdicts()?
                        .ok_or_else(|| bad("judge", "left no verdicts"))?
                } else {
                    judge.judge(&active, x.clone())?
                };
                let mut standing = Vec::with_capacity(active.len());
                for p in 0..active.len() {
                    if !verdict(&verdicts, p)? {
                        standing.push(p);
                    }
                }
                if standing.len() < active.len() {
                    let host = mira_nn::tensor_to_vec(x.clone());
                    for p in (0..active.len()).filter(|p| !standing.contains(p)) {
                        let i = active[p];
                        out[i * per..(i + 1) * per].copy_from_slice(&host[p * per..(p + 1) * per]);
                        stopped_at[i] = Some(step);
                    }
                    active = standing.iter().map(|&p| active[p]).collect();
                    if active.is_empty() {
                        break;
                    }
                    x = rows_of(&x, &standing);
                    xc = rows_of(&xc, &standing);
                    sub = sub_ball(ball, &active, b);
                    pending = pending.map(|g| rows_of(&g, &standing));
                    StepRule::select_rows(&mut state, &standing);
                    f = build(&active, free)?;
                }
            }
            let g = match pending {
                Some(g) => g,
                None => grad(f.as_ref(), x.clone(), active.len(), step)?,
            };
            let d = self.step.direction(&mut state, g, &sub);
            x = sub.project(x + d * alpha, &xc);
        }
        if !active.is_empty() {
            let host = mira_nn::tensor_to_vec(x);
            for (p, &i) in active.iter().enumerate() {
                out[i * per..(i + 1) * per].copy_from_slice(&host[p * per..(p + 1) * per]);
            }
        }
        let adv = Tensor::from_data(TensorData::new(out, x0.shape()), &x0.device());
        Ok(Stopped {
            adv,
            stopped_at,
            gradients,
        })
    }
}

/// Whether row `p` of a judge's verdicts says broken; an error for a short or NaN answer.
fn verdict(v: &[(f64, bool)], p: usize) -> Result<bool> {
    match v.get(p) {
        Some(&(s, broken)) if !s.is_nan() => Ok(broken),
        _ => Err(AttackError::InvalidParameter {
            field: "judge",
            reason: format!("no valid verdict for row {p} of {}", v.len()),
        }),
    }
}

/// `ball` for the rows `rows` of a batch of `b`: a per-case mask is cut to those rows.
fn sub_ball<const D: usize>(ball: &LpBall<D>, rows: &[usize], b: usize) -> LpBall<D> {
    let mut sub = ball.clone();
    if let Some(m) = &ball.mask
        && m.dims()[0] == b
        && b > 1
    {
        sub.mask = Some(rows_of(m, rows));
    }
    sub
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attack, Bounds, Norm, Objective};
    use rand::SeedableRng;
    use std::cell::RefCell;

    /// Per case f(x) = Σ w ⊙ (x − c)², broken from `threshold` on; the weights of case `i`
    /// are row `i` of `w`, so a sub-batch objective must pick its rows. With `free`, it offers
    /// a judging objective that keeps the values of its last pass (the verdict's score).
    struct Bowl {
        w: Vec<f32>,
        c: f32,
        per: usize,
        threshold: f64,
        free: bool,
        last: RefCell<Option<Vec<f32>>>,
    }

    struct Rows<'a>(Tensor<2>, f32, Option<&'a RefCell<Option<Vec<f32>>>>);

    impl Objective<2> for Rows<'_> {
        fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
            let d = x - self.1;
            let v = (self.0.clone() * d.clone() * d.clone())
                .sum_dim(1)
                .reshape([-1]);
            if let Some(last) = self.2 {
                *last.borrow_mut() = Some(mira_nn::tensor_to_vec(v.clone()));
            }
            (v, self.0.clone() * d * 2.0)
        }
        fn value(&self, x: Tensor<2>) -> Tensor<1> {
            let d = x - self.1;
            (self.0.clone() * d.clone() * d).sum_dim(1).reshape([-1])
        }
    }

    impl Bowl {
        fn rows(&self, rows: &[usize]) -> Rows<'_> {
            let w: Vec<f32> = rows
                .iter()
                .flat_map(|&r| self.w[r * self.per..(r + 1) * self.per].to_vec())
                .collect();
            let dev = mira_nn::default_device();
            let w = Tensor::from_data(TensorData::new(w, [rows.len(), self.per]), &dev);
            Rows(w, self.c, None)
        }

        fn verdicts(&self, v: &[f32]) -> Vec<(f64, bool)> {
            v.iter()
                .map(|&s| (s as f64, s as f64 >= self.threshold))
                .collect()
        }
    }

    impl Judge<2> for Bowl {
        fn objective(&self, rows: &[usize]) -> Result<Box<dyn Objective<2> + '_>> {
            Ok(Box::new(self.rows(rows)))
        }
        fn judge(&self, rows: &[usize], x: Tensor<2>) -> Result<Vec<(f64, bool)>> {
            Ok(self.verdicts(&mira_nn::tensor_to_vec(self.rows(rows).value(x))))
        }
        fn judging_objective(&self, rows: &[usize]) -> Result<Option<Box<dyn Objective<2> + '_>>> {
            Ok(self.free.then(|| {
                let r = self.rows(rows);
                Box::new(Rows(r.0, r.1, Some(&self.last))) as Box<dyn Objective<2>>
            }))
        }
        fn last_verdicts(&self) -> Result<Option<Vec<(f64, bool)>>> {
            Ok(self.last.borrow().as_ref().map(|v| self.verdicts(v)))
        }
    }

    fn setup(free: bool) -> (Bowl, Tensor<2>) {
        let per = 6;
        // Case 0 climbs fast (large weights), case 1 slowly, case 2 barely, case 3 starts broken.
        let scale = [4.0, 1.0, 0.02, 50.0];
        let w: Vec<f32> = (0..4 * per)
            .map(|k| scale[k / per] * (1.0 + (k % per) as f32 * 0.1))
            .collect();
        let x0: Vec<f32> = (0..4 * per).map(|k| 0.4 + 0.03 * (k % 5) as f32).collect();
        let dev = mira_nn::default_device();
        let bowl = Bowl {
            w,
            c: 0.45,
            per,
            threshold: 0.5,
            free,
            last: RefCell::new(None),
        };
        (bowl, Tensor::from_data(TensorData::new(x0, [4, per]), &dev))
    }

    #[test]
    fn broken_cases_stop_standing_cases_follow_the_full_run() {
        let per = 6;
        for free in [false, true] {
            let (bowl, x0) = setup(free);
            let x0h = mira_nn::tensor_to_vec(x0.clone());
            for (norm, random_start) in [(Norm::Linf, true), (Norm::L2, true), (Norm::Linf, false)]
            {
                let what = format!("free={free} {norm:?} random_start={random_start}");
                let eps = if norm == Norm::Linf { 0.2 } else { 0.4 };
                let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
                let engine = ProjectedGradient {
                    steps: 12,
                    rel_step: 0.125,
                    random_start,
                    restarts: 1,
                    step: StepRule::Sign,
                    best_iterate: false,
                };
                let full_f = bowl.rows(&[0, 1, 2, 3]);
                let mut rng = StdRng::seed_from_u64(3);
                let full = engine
                    .perturb(&full_f, x0.clone(), &ball, &mut rng)
                    .unwrap();
                let full = mira_nn::tensor_to_vec(full);
                let mut rng = StdRng::seed_from_u64(3);
                let got = engine
                    .perturb_until_broken(&bowl, x0.clone(), &ball, &mut rng, 3)
                    .unwrap();
                let adv = mira_nn::tensor_to_vec(got.adv.clone());
                let scores = bowl.judge(&[0, 1, 2, 3], got.adv).unwrap();
                // Case 3 is broken at its start: not attacked (i-FGSM: its input stays clean).
                assert_eq!(got.stopped_at[3], Some(0), "{what}");
                assert!(scores[3].1, "{what}");
                if !random_start {
                    assert_eq!(adv[3 * per..], x0h[3 * per..], "{what}");
                }
                // Case 0 breaks early, at a check (a multiple of 3 steps; from the clean input
                // not at once), and is broken there.
                let s0 = got.stopped_at[0].expect("case 0 breaks");
                assert!(
                    (s0 > 0 || random_start) && s0.is_multiple_of(3) && s0 < 12 && scores[0].1,
                    "{what}: {s0} {:?}",
                    scores[0]
                );
                // Case 2 never breaks: it ran every step, to the full run's end point, bit for bit.
                assert_eq!(got.stopped_at[2], None, "{what}");
                assert_eq!(adv[2 * per..3 * per], full[2 * per..3 * per], "{what}");
                // Gradients: every step for the cases that ran to the end; a stopped case `s`
                // (separate checks) or `s + 1` (free checks: the check's own pass included).
                let spent: usize = got
                    .stopped_at
                    .iter()
                    .map(|s| s.map_or(12, |s| s + usize::from(free)))
                    .sum();
                assert_eq!(got.gradients, spent, "{what}");
                assert!(got.gradients < 4 * 12);
                // Every perturbation is inside the ball.
                for i in 0..4 {
                    let d: Vec<f32> = (0..per)
                        .map(|k| adv[i * per + k] - x0h[i * per + k])
                        .collect();
                    let n = match norm {
                        Norm::Linf => d.iter().fold(0.0f32, |m, v| m.max(v.abs())),
                        Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    };
                    assert!(n <= eps * 1.0001, "{what} case {i}: {n}");
                }
            }
        }
    }

    #[test]
    fn refuses_a_zero_interval_and_restarts() {
        let (bowl, x0) = setup(false);
        let ball = LpBall::new(Norm::Linf, 0.1, Bounds::default()).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let pgd = |restarts| ProjectedGradient {
            steps: 4,
            rel_step: 0.25,
            random_start: false,
            restarts,
            step: StepRule::Sign,
            best_iterate: false,
        };
        for (engine, every) in [(pgd(1), 0), (pgd(2), 1)] {
            let e = engine.perturb_until_broken(&bowl, x0.clone(), &ball, &mut rng, every);
            assert!(matches!(
                e,
                Err(AttackError::InvalidParameter {
                    field: "early_stop",
                    ..
                })
            ));
        }
    }
}
