//! Random search: a gradient-free attack in the spirit of the Square Attack (Andriushchenko et
//! al. 2020, "Square Attack: a query-efficient black-box adversarial attack via random search").
//!
//! Threat model: the ball's (L∞ or L2). It starts from a random vertex-like perturbation
//! (`±ε` per voxel, projected), then for `queries` iterations redraws the perturbation inside
//! one random square window of the last two axes (side `window · min(H, W)`, all leading
//! channels; for vectors, rank 2, a run of `window · N` consecutive values) as `±ε` signs,
//! projects, and keeps the proposal for the samples whose objective rose. It only calls [`Objective::value`], so it is blind to gradient masking: when it beats
//! a gradient attack, the gradients are lying (Athalye et al. 2018). Mira uses it as a sanity
//! check (docs/checks.md).

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;

use crate::ball::per_sample;
use crate::engine::check_finite;
use crate::{Attack, AttackError, LpBall, Objective, Result};

/// Parameters of the random search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomSearch {
    /// Objective evaluations after the start (>= 1).
    pub queries: usize,
    /// Side of the redrawn window as a fraction of the image side (0, 1].
    pub window: f32,
}

impl Default for RandomSearch {
    fn default() -> Self {
        Self {
            queries: 200,
            window: 0.25,
        }
    }
}

fn signs(n: usize, eps: f32, rng: &mut StdRng) -> Vec<f32> {
    (0..n)
        .map(|_| if rng.random::<bool>() { eps } else { -eps })
        .collect()
}

impl<const D: usize> Attack<D> for RandomSearch {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        if self.queries == 0 || !(self.window > 0.0 && self.window <= 1.0) || D < 2 {
            return Err(AttackError::InvalidParameter {
                field: "random_search",
                reason: "needs queries >= 1, window in (0, 1] and batched inputs (rank >= 2)"
                    .into(),
            });
        }
        if ball.epsilon == 0.0 {
            return Ok(x0);
        }
        let dims = x0.dims();
        // Images and volumes: the last two axes; vectors: one row.
        let (h, w) = if D >= 3 {
            (dims[D - 2], dims[D - 1])
        } else {
            (1, dims[1])
        };
        let b = dims[0];
        let total: usize = dims.iter().product();
        let planes = total / (b * h * w); // leading channel (and depth) planes per sample
        let dev = x0.device();
        let to_tensor = |v: Vec<f32>| Tensor::<D>::from_data(TensorData::new(v, dims), &dev);
        let mut x = ball.project(x0.clone() + to_tensor(signs(total, ball.epsilon, rng)), &x0);
        let mut best = f.value(x.clone());
        let side_of = |n: usize| ((self.window * n as f32).round() as usize).clamp(1, n);
        let (side_h, side_w) = if D >= 3 {
            let side = side_of(h.min(w));
            (side, side)
        } else {
            (1, side_of(w))
        };
        for query in 0..self.queries {
            let mut delta: Vec<f32> = (x.clone() - x0.clone())
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| AttackError::InvalidParameter {
                    field: "input",
                    reason: format!("{e:?}"),
                })?;
            for s in 0..b {
                let (r0, c0) = (
                    rng.random_range(0..=h - side_h),
                    rng.random_range(0..=w - side_w),
                );
                for p in 0..planes {
                    let base = (s * planes + p) * h * w;
                    for r in r0..r0 + side_h {
                        for c in c0..c0 + side_w {
                            delta[base + r * w + c] = if rng.random::<bool>() {
                                ball.epsilon
                            } else {
                                -ball.epsilon
                            };
                        }
                    }
                }
            }
            let proposal = ball.project(x0.clone() + to_tensor(delta), &x0);
            let v = f.value(proposal.clone());
            check_finite(&v, "objective value", query)?;
            let better = v.clone().greater(best.clone());
            let keep = per_sample::<D>(better.clone().float()).bool();
            x = x.mask_where(keep, proposal);
            best = best.mask_where(better, v);
        }
        Ok(x)
    }
}
