//! The additive threat model: an Lp ball around the clean input, inside the valid range.

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{AttackError, Result};

/// The norm that measures a perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Largest absolute change of any voxel.
    Linf,
    /// Euclidean norm of the whole perturbation of one sample.
    L2,
}

/// Valid input range, in model-input units (`[0, 1]` for Mira's normalised images).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Smallest valid value.
    pub lo: f32,
    /// Largest valid value.
    pub hi: f32,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { lo: 0.0, hi: 1.0 }
    }
}

/// `||x - x0||_p <= epsilon`, `lo <= x <= hi`, and, with a mask, `x = x0` where the mask is 0.
///
/// Implements foolbox's three hooks: [`random_start`](Self::random_start),
/// [`steepest_ascent`](Self::steepest_ascent) and [`project`](Self::project).
#[derive(Debug, Clone)]
pub struct LpBall<const D: usize> {
    /// The norm.
    pub norm: Norm,
    /// The radius, in model-input units.
    pub epsilon: f32,
    /// The valid range.
    pub bounds: Bounds,
    /// Optional 0/1 mask broadcastable to the input: where may the adversary change voxels.
    pub mask: Option<Tensor<D>>,
}

/// L2 projections aim this share inside the ball: the norm is summed in f32 over the whole
/// input (262,144 voxels for a 64³ volume); one running sum was off by up to 2e-4 relative in
/// real S3 runs, and the runner's exact f64 re-check saw points that far outside. Norms are now
/// summed in blocks ([`per_sample_norm`]) and projections aim 0.1 % inside.
pub const L2_INSIDE: f32 = 1.0 - 1e-3;

/// Per-sample norm of a batch.
///
/// # Shapes
/// `[B, ...] -> [B]`.
pub fn per_sample_norm<const D: usize>(x: Tensor<D>, norm: Norm) -> Tensor<1> {
    let b = x.dims()[0];
    let flat = x.reshape([b as i64, -1]);
    match norm {
        Norm::Linf => flat.abs().max_dim(1).reshape([b]),
        Norm::L2 => blocked_sum(flat.powi_scalar(2)).sqrt().reshape([b]),
    }
}

/// Row sums of `[B, P]` in blocks of 1,024 (then over the block sums), so f32 rounding grows
/// with the number of blocks rather than with `P`: one long running sum over a 64³ volume was
/// off by 2e-4 relative, enough to cross an L2 ball's surface by the runner's exact measure.
fn blocked_sum(v: Tensor<2>) -> Tensor<2> {
    const BLOCK: usize = 1024;
    let [b, p] = v.dims();
    if p <= 4 * BLOCK {
        return v.sum_dim(1);
    }
    let k = p / BLOCK;
    let main = v
        .clone()
        .narrow(1, 0, k * BLOCK)
        .reshape([b, k, BLOCK])
        .sum_dim(2)
        .reshape([b, k])
        .sum_dim(1);
    if p == k * BLOCK {
        main
    } else {
        main + v.narrow(1, k * BLOCK, p - k * BLOCK).sum_dim(1)
    }
}

/// `[B]` reshaped to `[B, 1, ..., 1]` of rank `D`, for broadcasting per-sample factors.
pub(crate) fn per_sample<const D: usize>(v: Tensor<1>) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[0] = v.dims()[0];
    v.reshape(shape)
}

/// The per-sample better of `best` and `(x, v)`.
pub(crate) fn keep_best<const D: usize>(
    best: Option<(Tensor<D>, Tensor<1>)>,
    x: &Tensor<D>,
    v: &Tensor<1>,
) -> (Tensor<D>, Tensor<1>) {
    match best {
        None => (x.clone(), v.clone()),
        Some((bx, bv)) => {
            let better = v.clone().greater(bv.clone());
            let keep = per_sample::<D>(better.clone().float()).bool();
            (
                bx.mask_where(keep, x.clone()),
                bv.mask_where(better, v.clone()),
            )
        }
    }
}

impl<const D: usize> LpBall<D> {
    /// A ball without mask.
    ///
    /// # Errors
    /// A negative or non-finite `epsilon`, or empty bounds.
    pub fn new(norm: Norm, epsilon: f32, bounds: Bounds) -> Result<Self> {
        if !epsilon.is_finite() || epsilon < 0.0 {
            return Err(AttackError::InvalidParameter {
                field: "epsilon",
                reason: format!("{epsilon} must be finite and >= 0"),
            });
        }
        if !(bounds.lo.is_finite() && bounds.hi.is_finite() && bounds.lo < bounds.hi) {
            return Err(AttackError::InvalidParameter {
                field: "bounds",
                reason: "need finite lo < hi".into(),
            });
        }
        Ok(Self {
            norm,
            epsilon,
            bounds,
            mask: None,
        })
    }

    /// A uniformly random point of the ball around `x0` (L∞: uniform per voxel; L2: uniform in
    /// the ball), projected. Drawn on the host from `rng`, so results do not depend on the device.
    pub fn random_start(&self, x0: &Tensor<D>, rng: &mut StdRng) -> Tensor<D> {
        let shape = x0.shape();
        let b = x0.dims()[0];
        let per = shape.num_elements() / b.max(1);
        let mut noise: Vec<f32> = Vec::with_capacity(shape.num_elements());
        match self.norm {
            Norm::Linf => noise.extend(
                (0..shape.num_elements()).map(|_| rng.random_range(-1.0f32..=1.0) * self.epsilon),
            ),
            Norm::L2 => {
                for _ in 0..b {
                    let g: Vec<f32> = (0..per).map(|_| StandardNormal.sample(rng)).collect();
                    let n = g.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    let r = self.epsilon * rng.random::<f32>().powf(1.0 / per as f32);
                    noise.extend(g.iter().map(|v| v / n * r));
                }
            }
        }
        let delta = Tensor::<D>::from_data(TensorData::new(noise, shape), &x0.device());
        self.project(x0.clone() + delta, x0)
    }

    /// The unit-norm direction of steepest ascent for gradient `g`: `sign(g)` for L∞,
    /// `g / ||g||_2` per sample for L2 (zero where the gradient is zero). With a mask, the
    /// gradient is masked first, so an L2 step spends its whole length where changes are allowed.
    pub fn steepest_ascent(&self, g: Tensor<D>) -> Tensor<D> {
        let g = match &self.mask {
            Some(m) => g * m.clone(),
            None => g,
        };
        match self.norm {
            Norm::Linf => g.sign(),
            Norm::L2 => {
                let n = per_sample_norm(g.clone(), Norm::L2).clamp_min(1e-12);
                g / per_sample::<D>(n)
            }
        }
    }

    /// The point of the threat model nearest to `x` in the ball's geometry: clip the
    /// perturbation to the ball (L∞: per voxel; L2: rescale to at most `ε · L2_INSIDE`), apply
    /// the mask, clip to bounds.
    /// Clipping to bounds never increases any `|x_i - x0_i|`, so the result stays in the ball.
    pub fn project(&self, x: Tensor<D>, x0: &Tensor<D>) -> Tensor<D> {
        let mut delta = x - x0.clone();
        delta = match self.norm {
            Norm::Linf => delta.clamp(-self.epsilon, self.epsilon),
            Norm::L2 => {
                let n = per_sample_norm(delta.clone(), Norm::L2);
                let scale =
                    (n.clamp_min(1e-12).recip() * (self.epsilon * L2_INSIDE)).clamp_max(1.0);
                delta * per_sample::<D>(scale)
            }
        };
        if let Some(mask) = &self.mask {
            delta = delta * mask.clone();
        }
        (x0.clone() + delta).clamp(self.bounds.lo, self.bounds.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn t(v: &[f32], shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(v.to_vec(), shape),
            &mira_nn::default_device(),
        )
    }

    fn vals(x: Tensor<2>) -> Vec<f32> {
        mira_nn::tensor_to_vec(x)
    }

    #[test]
    fn linf_projection_clips_per_voxel_and_to_bounds() {
        let ball = LpBall::new(Norm::Linf, 0.1, Bounds::default()).unwrap();
        let x0 = t(&[0.5, 0.95, 0.0], [1, 3]);
        let p = vals(ball.project(t(&[0.9, 1.2, -0.3], [1, 3]), &x0));
        assert_eq!(p, vec![0.6, 1.0, 0.0]);
    }

    #[test]
    fn l2_projection_rescales_per_sample() {
        let ball = LpBall::new(
            Norm::L2,
            1.0,
            Bounds {
                lo: -10.0,
                hi: 10.0,
            },
        )
        .unwrap();
        let x0 = t(&[0.0, 0.0, 1.0, 1.0], [2, 2]);
        // Sample 0: delta (3, 4), norm 5 -> (0.6, 0.8) · L2_INSIDE. Sample 1: delta (0.3, 0),
        // inside, unchanged.
        let p = vals(ball.project(t(&[3.0, 4.0, 1.3, 1.0], [2, 2]), &x0));
        let k = L2_INSIDE;
        for (a, b) in p.iter().zip([0.6 * k, 0.8 * k, 1.3, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
        // A 64³ perturbation projected to ε = 0.25 lands inside the ball when measured in f64
        // (an S3 run had found 0.250011 without the margin).
        let n = 64 * 64 * 64;
        let big: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 4e-3)
            .collect();
        let zero = Tensor::<2>::zeros([1, n], &mira_nn::default_device());
        let ball = LpBall::new(Norm::L2, 0.25, Bounds { lo: -1.0, hi: 1.0 }).unwrap();
        let p = vals(ball.project(t(&big, [1, n]), &zero));
        let l2 = p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!(l2 <= 0.25 && l2 > 0.249, "{l2}");
        // Blocked sums: the L2 norm of 262,144 voxels agrees with an f64 sum to 1e-5.
        let f = mira_nn::tensor_to_vec(per_sample_norm(t(&big, [1, n]), Norm::L2))[0] as f64;
        let exact = big.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!((f / exact - 1.0).abs() < 1e-5, "{f} vs {exact}");
    }

    #[test]
    fn mask_freezes_voxels_and_random_start_stays_inside() {
        let mut ball = LpBall::new(Norm::Linf, 0.2, Bounds::default()).unwrap();
        ball.mask = Some(t(&[1.0, 0.0], [1, 2]));
        let x0 = t(&[0.5, 0.5, 0.5, 0.5], [2, 2]);
        let mut rng = StdRng::seed_from_u64(1);
        let x = vals(ball.random_start(&x0, &mut rng));
        assert!((x[0] - 0.5).abs() <= 0.2 && x[0] != 0.5);
        assert_eq!(x[1], 0.5);
        assert_eq!(x[3], 0.5);
        for norm in [Norm::L2, Norm::Linf] {
            let ball = LpBall::new(norm, 0.3, Bounds::default()).unwrap();
            let x = ball.random_start(&x0, &mut rng);
            let n = vals(per_sample_norm(x - x0.clone(), norm).reshape([1, 2]));
            assert!(n.iter().all(|v| *v <= 0.3 + 1e-6), "{n:?}");
        }
        assert!(LpBall::<2>::new(Norm::L2, -0.1, Bounds::default()).is_err());
    }
}
