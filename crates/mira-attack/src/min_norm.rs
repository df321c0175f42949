//! Minimum-norm attack: "how small a perturbation breaks this case?" In the style of DDN
//! (Rony et al. 2019, decoupled direction and norm), for L2 and, with sign steps and the L∞
//! norm, for L∞.
//!
//! Each sample keeps a perturbation δ and a norm budget ε (starting at `max_epsilon`). Every
//! step moves δ along the steepest-ascent direction of the objective (step `rel_step · ε`,
//! cosine-annealed to a tenth), then adapts ε: down by a factor `1 − gamma` when the current
//! point already meets the task's **criterion** (Dice below a threshold, TRE above tolerance,
//! age error above k years: any host-side predicate), up by `1 + gamma` (capped at
//! `max_epsilon`) when it does not; δ is then rescaled to norm ε and clipped to the bounds.
//! The smallest-norm point that met the criterion is returned per sample, with its measured
//! norm; samples never broken within `max_epsilon` report `None`. The curve "share broken vs
//! ε" follows from the per-sample minima without attacking again.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ball::per_sample;
use crate::engine::check_finite;
use crate::{AttackError, Bounds, LpBall, Norm, Objective, Result, per_sample_norm};

/// Parameters of the minimum-norm attack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinNormConfig {
    /// Steps.
    pub steps: usize,
    /// Initial step as a fraction of the current ε (cosine-annealed to a tenth of it).
    pub rel_step: f32,
    /// Factor by which ε shrinks or grows each step.
    pub gamma: f32,
}

impl Default for MinNormConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            rel_step: 0.5,
            gamma: 0.05,
        }
    }
}

/// What the attack found for a batch.
#[derive(Debug, Clone)]
pub struct MinNormResult<const D: usize> {
    /// The smallest-norm input that met the criterion (the clean input where none did).
    pub adversarial: Tensor<D>,
    /// Its measured norm per sample (`None`: not broken within `max_epsilon`; `Some(0)`: the
    /// clean input already meets the criterion).
    pub min_norm: Vec<Option<f32>>,
}

impl MinNormConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// Out-of-range values, named.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(AttackError::InvalidParameter { field, reason });
        if !(1..=100_000).contains(&self.steps) {
            return bad("steps", format!("{} must be in 1..=100000", self.steps));
        }
        if !(self.rel_step > 0.0 && self.rel_step <= 2.0) {
            return bad("rel_step", format!("{} must be in (0, 2]", self.rel_step));
        }
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return bad("gamma", format!("{} must be in (0, 1)", self.gamma));
        }
        Ok(())
    }

    /// Searches, per sample, the smallest `norm` perturbation of `x0` (at most `max_epsilon`)
    /// that makes `criterion` true, climbing `f`.
    ///
    /// # Errors
    /// Invalid parameters or budget, a criterion of the wrong length, or a non-finite
    /// objective or gradient.
    pub fn minimize<const D: usize>(
        &self,
        f: &dyn Objective<D>,
        criterion: &dyn Fn(Tensor<D>) -> Vec<bool>,
        x0: Tensor<D>,
        norm: Norm,
        max_epsilon: f32,
        bounds: Bounds,
    ) -> Result<MinNormResult<D>> {
        let ball = LpBall::new(norm, max_epsilon, bounds)?;
        self.minimize_in(f, criterion, x0, &ball)
    }

    /// [`Self::minimize`] inside a threat model: the ball's radius is the cap, its bounds clip,
    /// and its mask (if any) says where the perturbation may be non-zero (the moving image of
    /// a registration pair, say).
    ///
    /// # Errors
    /// As [`Self::minimize`].
    pub fn minimize_in<const D: usize>(
        &self,
        f: &dyn Objective<D>,
        criterion: &dyn Fn(Tensor<D>) -> Vec<bool>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
    ) -> Result<MinNormResult<D>> {
        self.validate()?;
        let (norm, max_epsilon, bounds) = (ball.norm, ball.epsilon, ball.bounds);
        if !(max_epsilon.is_finite() && max_epsilon > 0.0) {
            return Err(AttackError::InvalidParameter {
                field: "max_epsilon",
                reason: format!("{max_epsilon} must be finite and > 0"),
            });
        }
        let b = x0.dims()[0];
        let dev = x0.device();
        let broken = |x: &Tensor<D>| -> Result<Vec<bool>> {
            let c = criterion(x.clone());
            if c.len() != b {
                return Err(AttackError::InvalidParameter {
                    field: "criterion",
                    reason: format!("returned {} verdicts for {b} samples", c.len()),
                });
            }
            Ok(c)
        };
        let mut best = x0.clone();
        let mut min_norm: Vec<Option<f32>> =
            broken(&x0)?.iter().map(|&c| c.then_some(0.0)).collect();
        let mut eps = vec![max_epsilon; b];
        let mut delta = Tensor::<D>::zeros(x0.shape(), &dev);
        for step in 0..self.steps {
            let x = (x0.clone() + delta.clone()).clamp(bounds.lo, bounds.hi);
            f.schedule(step, self.steps);
            let (v, g) = f.value_and_grad(x.clone());
            check_finite(&v, "objective", step)?;
            let now = broken(&x)?;
            let norms = mira_nn::tensor_to_vec(per_sample_norm(x.clone() - x0.clone(), norm));
            let mut keep = vec![0.0f32; b];
            for i in 0..b {
                if now[i] && min_norm[i].is_none_or(|m| norms[i] < m) {
                    min_norm[i] = Some(norms[i]);
                    keep[i] = 1.0;
                }
                eps[i] = if now[i] {
                    (1.0 - self.gamma) * eps[i].min(norms[i].max(1e-12))
                } else {
                    ((1.0 + self.gamma) * eps[i]).min(max_epsilon)
                };
            }
            let k = per_sample::<D>(Tensor::<1>::from_floats(keep.as_slice(), &dev)).bool();
            best = best.mask_where(k, x);
            let anneal = 0.1
                + 0.9
                    * 0.5
                    * (1.0 + (std::f32::consts::PI * step as f32 / self.steps as f32).cos());
            let e = per_sample::<D>(Tensor::<1>::from_floats(eps.as_slice(), &dev));
            delta = delta + ball.steepest_ascent(g) * e.clone() * (self.rel_step * anneal);
            // Rescale δ to norm ε (DDN's projection onto the sphere), then clip to bounds.
            let n = per_sample::<D>(per_sample_norm(delta.clone(), norm).clamp_min(1e-12));
            let inside = if norm == Norm::L2 {
                crate::ball::L2_INSIDE
            } else {
                1.0
            };
            delta = delta / n * e * inside;
            if let Some(m) = &ball.mask {
                delta = delta * m.clone();
            }
            delta = (x0.clone() + delta).clamp(bounds.lo, bounds.hi) - x0.clone();
        }
        // The last iterate counts too.
        let x = (x0.clone() + delta).clamp(bounds.lo, bounds.hi);
        let now = broken(&x)?;
        let norms = mira_nn::tensor_to_vec(per_sample_norm(x.clone() - x0.clone(), norm));
        let mut keep = vec![0.0f32; b];
        for i in 0..b {
            if now[i] && min_norm[i].is_none_or(|m| norms[i] < m) {
                min_norm[i] = Some(norms[i]);
                keep[i] = 1.0;
            }
        }
        let k = per_sample::<D>(Tensor::<1>::from_floats(keep.as_slice(), &dev)).bool();
        Ok(MinNormResult {
            adversarial: best.mask_where(k, x),
            min_norm,
        })
    }
}

/// Share of cases broken at each budget, from per-case minimal norms (`None`: never broken).
pub fn success_curve(min_norms: &[Option<f32>], epsilons: &[f32]) -> Vec<f64> {
    let n = min_norms.len().max(1) as f64;
    epsilons
        .iter()
        .map(|&e| {
            min_norms
                .iter()
                .filter(|m| m.is_some_and(|m| m <= e))
                .count() as f64
                / n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_nn::{Forward, default_device};

    /// `y = w · x` per sample.
    #[derive(burn::module::Module, Debug)]
    struct Linear {
        w: burn::module::Param<Tensor<1>>,
    }

    impl Forward<2, 2> for Linear {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            let b = x.dims()[0];
            (x * self.w.val().unsqueeze::<2>())
                .sum_dim(1)
                .reshape([b, 1])
        }
    }

    #[test]
    fn finds_the_analytic_minimal_norm_of_a_linear_criterion() {
        let dev = default_device();
        let w = [0.5f32, -1.0, 2.0, 0.25];
        let model = Linear {
            w: burn::module::Param::from_tensor(Tensor::from_floats(w, &dev)),
        };
        let f = crate::ModelObjective::new(&model, |y: Tensor<2>| y.reshape([-1]), 1.0);
        let x0 = Tensor::<1>::from_floats([0.5, 0.5, 0.5, 0.5, 0.4, 0.6, 0.5, 0.5], &dev)
            .reshape([2, 4]);
        // Broken when w · x > t: t = 1.35 for both. w · x0 = 0.875 and 0.725.
        let t = 1.35f32;
        let crit = move |x: Tensor<2>| -> Vec<bool> {
            mira_nn::tensor_to_vec(model_out(&x, &w))
                .iter()
                .map(|v| *v > t)
                .collect()
        };
        fn model_out(x: &Tensor<2>, w: &[f32; 4]) -> Tensor<1> {
            let b = x.dims()[0];
            let wt = Tensor::<1>::from_floats(*w, &x.device()).unsqueeze::<2>();
            (x.clone() * wt).sum_dim(1).reshape([b])
        }
        let cfg = MinNormConfig {
            steps: 200,
            ..Default::default()
        };
        // L2: (t − w·x0) / ‖w‖₂ with ‖w‖₂ = 2.3049 → 0.2061 and 0.2712 (bounds inactive).
        let r = cfg
            .minimize(&f, &crit, x0.clone(), Norm::L2, 1.0, Bounds::default())
            .unwrap();
        for (got, want) in r.min_norm.iter().zip([0.475 / 2.3049, 0.625 / 2.3049]) {
            let got = got.unwrap();
            assert!(
                got >= want * 0.999 && got < want * 1.05,
                "L2 {got} vs {want}"
            );
        }
        // L∞: (t − w·x0) / ‖w‖₁ with ‖w‖₁ = 3.75 → 0.1267 and 0.1667.
        let r = cfg
            .minimize(&f, &crit, x0.clone(), Norm::Linf, 0.5, Bounds::default())
            .unwrap();
        for (got, want) in r.min_norm.iter().zip([0.475 / 3.75, 0.625 / 3.75]) {
            let got = got.unwrap();
            assert!(
                got >= want * 0.999 && got < want * 1.05,
                "L∞ {got} vs {want}"
            );
        }
        // The returned inputs meet the criterion at their reported norms.
        assert!(crit(r.adversarial.clone()).iter().all(|&c| c));
        // Masked to the first two coordinates: L∞ minimum (t − w·x0) / (|w0| + |w1|) = / 1.5 →
        // 0.3167 and 0.4167, and the frozen coordinates never move.
        let mut ball = LpBall::new(Norm::Linf, 0.5, Bounds::default()).unwrap();
        ball.mask = Some(Tensor::<1>::from_floats([1.0, 1.0, 0.0, 0.0], &dev).reshape([1, 4]));
        let m = cfg.minimize_in(&f, &crit, x0.clone(), &ball).unwrap();
        for (got, want) in m.min_norm.iter().zip([0.475 / 1.5, 0.625 / 1.5]) {
            let got = got.unwrap();
            assert!(
                got >= want * 0.999 && got < want * 1.05,
                "masked {got} vs {want}"
            );
        }
        let moved = mira_nn::tensor_to_vec(m.adversarial - x0.clone());
        assert!(moved[2..4].iter().chain(&moved[6..8]).all(|d| *d == 0.0));
        // Out of reach within the cap: None.
        let r = cfg
            .minimize(&f, &crit, x0, Norm::Linf, 0.05, Bounds::default())
            .unwrap();
        assert_eq!(r.min_norm, vec![None, None]);
        assert_eq!(
            success_curve(&[Some(0.1), None, Some(0.3), Some(0.0)], &[0.0, 0.2, 1.0]),
            vec![0.25, 0.5, 0.75]
        );
    }
}
