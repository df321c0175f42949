//! Early stopping for the projected-gradient engine: cases whose goal the task's [`Judge`]
//! calls met (broken) are frozen and leave the batch, so the remaining steps cost only the
//! cases still standing (as AutoAttack spends nothing more on points already misclassified).
//!
//! The judge is asked before the first step (a case broken on its clean input is not attacked
//! at all: its input stays clean) and after every `every`-th step. A case still standing
//! follows exactly the trajectory it follows in [`ProjectedGradient::perturb`]: the same
//! random start (drawn for the whole batch), the same per-case steps, since models do not mix
//! the cases of a batch. A frozen case keeps the input that met the goal, which is in general
//! *less* damaging than the full attack's: early stopping measures whether a case breaks
//! (passing rates, robust accuracy) faithfully, not how badly (Dice, TRE, error sizes).

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::cascade::rows_of;
use crate::engine::check_finite;
use crate::{AttackError, Judge, LpBall, ProjectedGradient, Result};

/// What an early-stopped attack returns.
pub struct Stopped<const D: usize> {
    /// The adversarial inputs of the whole batch.
    pub adv: Tensor<D>,
    /// Per case, the number of steps after which it was found broken (0: on its clean input);
    /// `None`: it ran every step.
    pub stopped_at: Vec<Option<usize>>,
    /// Gradient evaluations spent, summed over cases (a full run spends `steps` per case).
    pub gradients: usize,
}

impl ProjectedGradient {
    /// [`Attack::perturb`](crate::Attack::perturb) with early stopping: `judge` is asked
    /// whether each case is broken before the first step and after every `every`-th step, and
    /// broken cases stop. One restart only (best-of-restarts needs every restart's end point).
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
        if self.restarts != 1 {
            return Err(bad("early_stop", "needs a single restart"));
        }
        let b = x0.dims()[0];
        let per = x0.shape().num_elements() / b.max(1);
        let mut out = mira_nn::tensor_to_vec(x0.clone());
        let mut stopped_at = vec![None; b];
        let mut gradients = 0;
        let x_start = if self.random_start && ball.epsilon > 0.0 {
            ball.random_start(&x0, rng)
        } else {
            x0.clone()
        };
        // Cases broken on their clean input keep it and are not attacked.
        let all: Vec<usize> = (0..b).collect();
        let clean = judge.judge(&all, x0.clone())?;
        let mut keep = Vec::with_capacity(b);
        for (i, stop) in stopped_at.iter_mut().enumerate() {
            if verdict(&clean, i)? {
                *stop = Some(0);
            } else {
                keep.push(i);
            }
        }
        if ball.epsilon == 0.0 || keep.is_empty() {
            return Ok(Stopped {
                adv: x0,
                stopped_at,
                gradients,
            });
        }
        let mut x = rows_of(&x_start, &keep);
        let mut xc = rows_of(&x0, &keep);
        let mut sub = sub_ball(ball, &keep, b);
        let mut active = keep;
        let mut f = judge.objective(&active)?;
        let alpha = self.rel_step * ball.epsilon;
        for step in 0..self.steps {
            let (v, g) = f.value_and_grad(x.clone());
            check_finite(&v, "objective value", step)?;
            check_finite(&g.clone().abs().sum().reshape([1]), "input gradient", step)?;
            gradients += active.len();
            x = sub.project(x + sub.steepest_ascent(g) * alpha, &xc);
            let done = step + 1;
            if done == self.steps || done % every != 0 {
                continue;
            }
            let verdicts = judge.judge(&active, x.clone())?;
            let mut standing = Vec::with_capacity(active.len());
            for p in 0..active.len() {
                if !verdict(&verdicts, p)? {
                    standing.push(p);
                }
            }
            if standing.len() == active.len() {
                continue;
            }
            let host = mira_nn::tensor_to_vec(x.clone());
            for p in (0..active.len()).filter(|p| !standing.contains(p)) {
                let i = active[p];
                out[i * per..(i + 1) * per].copy_from_slice(&host[p * per..(p + 1) * per]);
                stopped_at[i] = Some(done);
            }
            if standing.is_empty() {
                active.clear();
                break;
            }
            active = standing.iter().map(|&p| active[p]).collect();
            x = rows_of(&x, &standing);
            xc = rows_of(&xc, &standing);
            sub = sub_ball(ball, &active, b);
            f = judge.objective(&active)?;
        }
        let host = mira_nn::tensor_to_vec(x);
        for (p, &i) in active.iter().enumerate() {
            out[i * per..(i + 1) * per].copy_from_slice(&host[p * per..(p + 1) * per]);
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

    /// Per case f(x) = Σ w ⊙ (x − c)², broken from `threshold` on; the weights of case `i`
    /// are row `i` of `w`, so a sub-batch objective must pick its rows.
    struct Bowl {
        w: Vec<f32>,
        c: f32,
        per: usize,
        threshold: f64,
    }

    struct Rows(Tensor<2>, f32);

    impl Objective<2> for Rows {
        fn value_and_grad(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
            let d = x - self.1;
            let v = (self.0.clone() * d.clone() * d.clone())
                .sum_dim(1)
                .reshape([-1]);
            (v, self.0.clone() * d * 2.0)
        }
        fn value(&self, x: Tensor<2>) -> Tensor<1> {
            let d = x - self.1;
            (self.0.clone() * d.clone() * d).sum_dim(1).reshape([-1])
        }
    }

    impl Bowl {
        fn rows(&self, rows: &[usize]) -> Rows {
            let w: Vec<f32> = rows
                .iter()
                .flat_map(|&r| self.w[r * self.per..(r + 1) * self.per].to_vec())
                .collect();
            let dev = mira_nn::default_device();
            Rows(
                Tensor::from_data(TensorData::new(w, [rows.len(), self.per]), &dev),
                self.c,
            )
        }
    }

    impl Judge<2> for Bowl {
        fn objective(&self, rows: &[usize]) -> Result<Box<dyn Objective<2> + '_>> {
            Ok(Box::new(self.rows(rows)))
        }
        fn judge(&self, rows: &[usize], x: Tensor<2>) -> Result<Vec<(f64, bool)>> {
            let v = mira_nn::tensor_to_vec(self.rows(rows).value(x));
            Ok(v.iter()
                .map(|&s| (s as f64, s as f64 >= self.threshold))
                .collect())
        }
    }

    fn setup() -> (Bowl, Tensor<2>) {
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
        };
        (bowl, Tensor::from_data(TensorData::new(x0, [4, per]), &dev))
    }

    #[test]
    fn broken_cases_stop_standing_cases_follow_the_full_run() {
        let (bowl, x0) = setup();
        let per = 6;
        for norm in [Norm::Linf, Norm::L2] {
            let eps = if norm == Norm::Linf { 0.2 } else { 0.4 };
            let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
            let engine = ProjectedGradient {
                steps: 12,
                rel_step: 0.125,
                random_start: true,
                restarts: 1,
            };
            let full_f = bowl.rows(&[0, 1, 2, 3]);
            let mut rng = StdRng::seed_from_u64(3);
            let full = mira_nn::tensor_to_vec(
                engine
                    .perturb(&full_f, x0.clone(), &ball, &mut rng)
                    .unwrap(),
            );
            let mut rng = StdRng::seed_from_u64(3);
            let got = engine
                .perturb_until_broken(&bowl, x0.clone(), &ball, &mut rng, 3)
                .unwrap();
            let adv = mira_nn::tensor_to_vec(got.adv.clone());
            let scores = bowl.judge(&[0, 1, 2, 3], got.adv).unwrap();
            // Case 3 is broken clean: not attacked, its input stays clean.
            assert_eq!(got.stopped_at[3], Some(0), "{norm:?}");
            assert_eq!(
                adv[3 * per..],
                mira_nn::tensor_to_vec(x0.clone())[3 * per..]
            );
            // Case 0 breaks early, at a check (a multiple of 3 steps), and is broken there.
            let s0 = got.stopped_at[0].expect("case 0 breaks");
            assert!(
                s0 > 0 && s0.is_multiple_of(3) && s0 < 12 && scores[0].1,
                "{norm:?}: {s0} {:?}",
                scores[0]
            );
            // Case 2 never breaks: it ran every step, to the full run's end point, bit for bit.
            assert_eq!(got.stopped_at[2], None, "{norm:?}");
            assert_eq!(adv[2 * per..3 * per], full[2 * per..3 * per], "{norm:?}");
            // Gradients: every step for the cases that ran to the end, `stopped_at` for the others.
            let spent: usize = got.stopped_at.iter().map(|s| s.unwrap_or(12)).sum();
            assert_eq!(got.gradients, spent, "{norm:?}");
            assert!(got.gradients < 4 * 12);
            // Every perturbation is inside the ball.
            let x0h = mira_nn::tensor_to_vec(x0.clone());
            for i in 0..4 {
                let d: Vec<f32> = (0..per)
                    .map(|k| adv[i * per + k] - x0h[i * per + k])
                    .collect();
                let n = match norm {
                    Norm::Linf => d.iter().fold(0.0f32, |m, v| m.max(v.abs())),
                    Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                };
                assert!(n <= eps * 1.0001, "{norm:?} case {i}: {n}");
            }
        }
    }

    #[test]
    fn refuses_a_zero_interval_and_restarts() {
        let (bowl, x0) = setup();
        let ball = LpBall::new(Norm::Linf, 0.1, Bounds::default()).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let pgd = |restarts| ProjectedGradient {
            steps: 4,
            rel_step: 0.25,
            random_start: false,
            restarts,
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
