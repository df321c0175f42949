//! The synthesis threat model of study S2: a smooth deformation composed with a smooth
//! multiplicative bias field and an optional small additive term,
//!
//! `x_adv = clip(warp(x0, B_d(u)) ⊙ exp(B_b(b)) + δ, lo, hi)`,
//!
//! where `u` are displacements (px) on an `grid × grid` cubic B-spline control grid, `b` a
//! log-bias on a `bias_grid × bias_grid` grid, and `δ` an L∞-bounded additive term. Bounds:
//! `|u| <= max_disp_px`, `|b| <= ln(1 + max_bias)`, `|δ| <= additive_eps`, each times a
//! per-sample budget scale in `(0, 1]` (for the Dice-targeted search). A dense field is never
//! larger than its largest control value, and control displacements below `0.4 ×` the control
//! spacing cannot fold a cubic B-spline deformation (Choi & Lee 2000; Rueckert et al. 2006), so
//! [`Synthesis::new`] refuses budgets beyond that; callers still measure the Jacobian.
//!
//! The optimiser is signed-gradient ascent on all three parameter groups (steps of `rel_step`
//! times each bound), projected onto the bounds, best iterate per sample kept, with an optional
//! membrane-energy penalty `smoothness · mean((Δu)²)` on neighbouring control displacements.
//! Unlike additive attacks, the loss may depend on the dense displacement too (segmentation
//! judges the warped image against the equally warped truth); [`SynthesisConfig`] also
//! implements [`Attack`] for any [`Objective`] of the image alone.

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::engine::check_finite;
use crate::warp::{BsplineGrid, control_spacing, warp_bilinear};
use crate::{Attack, AttackError, Bounds, LpBall, Norm, Objective, Result};

/// Parameters of the synthesis threat model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthesisConfig {
    /// Deformation control points per side (>= 4).
    pub grid: usize,
    /// Largest control displacement, px.
    pub max_disp_px: f32,
    /// Bias-field control points per side (>= 4).
    pub bias_grid: usize,
    /// Largest bias change: the field stays in `[1 / (1 + a), 1 + a]`.
    pub max_bias: f32,
    /// L∞ bound of the additive term (0 = none).
    pub additive_eps: f32,
    /// Ascent steps.
    pub steps: usize,
    /// Step as a fraction of each bound.
    pub rel_step: f32,
    /// Weight of the membrane-energy penalty on the control displacements (px²).
    pub smoothness: f32,
}

impl Default for SynthesisConfig {
    fn default() -> Self {
        Self {
            grid: 6,
            max_disp_px: 4.0,
            bias_grid: 4,
            max_bias: 0.2,
            additive_eps: 0.0,
            steps: 20,
            rel_step: 0.15,
            smoothness: 0.0,
        }
    }
}

/// Control parameters of a batch, on the host: displacements `[B, 2, g, g]`, log-bias
/// `[B, 1, gb, gb]`, additive `[B, C, H, W]` (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct SynthesisParams {
    /// Batch size.
    pub batch: usize,
    /// Control displacements (px).
    pub disp: Vec<f32>,
    /// Log-bias control values.
    pub log_bias: Vec<f32>,
    /// Additive term.
    pub additive: Vec<f32>,
}

/// What an ascent found: the best parameters per sample and their loss values.
#[derive(Debug, Clone)]
pub struct SynthesisFit {
    /// Best parameters.
    pub params: SynthesisParams,
    /// Loss value (without the penalty) at the best parameters, per sample.
    pub values: Vec<f32>,
}

/// A per-sample loss of the synthesised batch on the autodiff device: `(x_adv, dense
/// displacement)` → `(differentiable values [B], host values)`.
pub type SynthesisLoss<'a> = dyn FnMut(Tensor<4>, Tensor<4>) -> Result<(Tensor<1>, Vec<f32>)> + 'a;

/// The threat model bound to an image size.
#[derive(Debug, Clone)]
pub struct Synthesis {
    cfg: SynthesisConfig,
    deform: BsplineGrid,
    bias: BsplineGrid,
    channels: usize,
    height: usize,
    width: usize,
    bounds: Bounds,
}

impl SynthesisConfig {
    /// Checks the parameters for `height × width` images.
    ///
    /// # Errors
    /// [`AttackError::InvalidParameter`] naming the field.
    pub fn validate(&self, height: usize, width: usize) -> Result<()> {
        let bad = |field, reason: String| Err(AttackError::InvalidParameter { field, reason });
        if !(4..=64).contains(&self.grid) || !(4..=64).contains(&self.bias_grid) {
            return bad("grid", "control grids need 4..=64 points per side".into());
        }
        let fold_free = 0.4 * control_spacing(self.grid, height.min(width));
        if !(self.max_disp_px.is_finite() && self.max_disp_px >= 0.0) {
            return bad("max_disp_px", "must be >= 0".into());
        }
        if self.max_disp_px >= fold_free {
            return bad(
                "max_disp_px",
                format!(
                    "{} px could fold the deformation: a {}-point grid over {} px is fold-free \
                     below {fold_free:.2} px (0.4 x control spacing); use fewer control points \
                     or a smaller displacement",
                    self.max_disp_px,
                    self.grid,
                    height.min(width)
                ),
            );
        }
        if !(self.max_bias.is_finite() && (0.0..=1.0).contains(&self.max_bias)) {
            return bad("max_bias", "must be in 0..=1".into());
        }
        if !(self.additive_eps.is_finite() && (0.0..=0.5).contains(&self.additive_eps)) {
            return bad("additive_eps", "must be in 0..=0.5".into());
        }
        if !(1..=10_000).contains(&self.steps) {
            return bad("steps", "must be in 1..=10000".into());
        }
        if !(self.rel_step.is_finite() && self.rel_step > 0.0 && self.rel_step <= 1.0) {
            return bad("rel_step", "must be in (0, 1]".into());
        }
        if !(self.smoothness.is_finite() && self.smoothness >= 0.0) {
            return bad("smoothness", "must be >= 0".into());
        }
        Ok(())
    }
}

impl Synthesis {
    /// Binds `cfg` to `channels × height × width` images with intensity `bounds`.
    ///
    /// # Errors
    /// Invalid parameters.
    pub fn new(
        cfg: SynthesisConfig,
        channels: usize,
        height: usize,
        width: usize,
        bounds: Bounds,
    ) -> Result<Self> {
        cfg.validate(height, width)?;
        let device = mira_nn::default_device();
        Ok(Self {
            deform: BsplineGrid::new(cfg.grid, height, width, &device),
            bias: BsplineGrid::new(cfg.bias_grid, height, width, &device),
            cfg,
            channels,
            height,
            width,
            bounds,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SynthesisConfig {
        &self.cfg
    }

    /// All-zero (identity) parameters for `batch` samples.
    pub fn zeros(&self, batch: usize) -> SynthesisParams {
        let g = self.cfg.grid * self.cfg.grid;
        let gb = self.cfg.bias_grid * self.cfg.bias_grid;
        SynthesisParams {
            batch,
            disp: vec![0.0; batch * 2 * g],
            log_bias: vec![0.0; batch * gb],
            additive: vec![0.0; batch * self.channels * self.height * self.width],
        }
    }

    fn tensors(&self, p: &SynthesisParams, device: &Device) -> [Tensor<4>; 3] {
        let (g, gb) = (self.cfg.grid, self.cfg.bias_grid);
        [
            Tensor::<1>::from_floats(p.disp.as_slice(), device).reshape([p.batch, 2, g, g]),
            Tensor::<1>::from_floats(p.log_bias.as_slice(), device).reshape([p.batch, 1, gb, gb]),
            Tensor::<1>::from_floats(p.additive.as_slice(), device).reshape([
                p.batch,
                self.channels,
                self.height,
                self.width,
            ]),
        ]
    }

    /// The synthesised images and the dense displacement `[B, 2, H, W]` from control tensors
    /// (any device; differentiable).
    pub fn render_tensors(
        &self,
        x0: Tensor<4>,
        disp: Tensor<4>,
        log_bias: Tensor<4>,
        additive: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let dense = self.deform.dense(disp);
        let bias = self.bias.dense(log_bias).exp();
        let x = warp_bilinear(x0, dense.clone()) * bias + additive;
        (x.clamp(self.bounds.lo, self.bounds.hi), dense)
    }

    /// [`Self::render_tensors`] from host parameters, on the plain device.
    pub fn render(&self, x0: Tensor<4>, p: &SynthesisParams) -> (Tensor<4>, Tensor<4>) {
        let [d, b, a] = self.tensors(p, &x0.device());
        self.render_tensors(x0, d, b, a)
    }

    /// The dense multiplicative bias field `[B, 1, H, W]` of `p` (plain device).
    pub fn bias_field(&self, p: &SynthesisParams) -> Tensor<4> {
        let [_, b, _] = self.tensors(p, &mira_nn::default_device());
        self.bias.dense(b).exp()
    }

    /// Signed-gradient ascent of `loss` from the identity, each sample's bounds scaled by
    /// `scale[i]` in `[0, 1]`; the best iterate per sample is returned.
    ///
    /// # Errors
    /// A scale outside `[0, 1]`, a loss error, or a non-finite loss or gradient.
    pub fn ascend(
        &self,
        x0: &Tensor<4>,
        scale: &[f32],
        loss: &mut SynthesisLoss<'_>,
    ) -> Result<SynthesisFit> {
        let batch = x0.dims()[0];
        if scale.len() != batch || scale.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Err(AttackError::InvalidParameter {
                field: "scale",
                reason: format!("need {batch} budget scales in [0, 1]"),
            });
        }
        let ad = mira_nn::autodiff_device();
        let x0_ad = Tensor::<4>::from_data(x0.to_data(), &ad);
        let bound_bias = (1.0 + self.cfg.max_bias).ln();
        let groups = [self.cfg.max_disp_px, bound_bias, self.cfg.additive_eps];
        let mut p = self.zeros(batch);
        let mut best = p.clone();
        let mut best_v = vec![f32::NEG_INFINITY; batch];
        for step in 0..=self.cfg.steps {
            let [d, b, a] = self.tensors(&p, &ad).map(|t| t.require_grad());
            let (x, dense) = self.render_tensors(x0_ad.clone(), d.clone(), b.clone(), a.clone());
            let (v, values) = loss(x, dense)?;
            if values.len() != batch || values.iter().any(|v| !v.is_finite()) {
                return Err(AttackError::NonFinite {
                    what: "synthesis loss",
                    step,
                });
            }
            for i in 0..batch {
                if values[i] > best_v[i] {
                    best_v[i] = values[i];
                    copy_sample(&p, &mut best, i);
                }
            }
            if step == self.cfg.steps {
                break;
            }
            let objective = v - self.membrane(d.clone()) * self.cfg.smoothness;
            let grads = objective.sum().backward();
            let host_grad = |t: &Tensor<4>| -> Result<Vec<f32>> {
                let g = t
                    .grad(&grads)
                    .map(mira_nn::tensor_to_vec)
                    .unwrap_or_default();
                if g.iter().any(|v| !v.is_finite()) {
                    return Err(AttackError::NonFinite {
                        what: "synthesis gradient",
                        step,
                    });
                }
                Ok(g)
            };
            let (gd, gb, ga) = (host_grad(&d)?, host_grad(&b)?, host_grad(&a)?);
            for (vals, grad, bound) in [
                (&mut p.disp, gd, groups[0]),
                (&mut p.log_bias, gb, groups[1]),
                (&mut p.additive, ga, groups[2]),
            ] {
                let per = vals.len() / batch.max(1);
                let zeros = std::iter::repeat(&0.0);
                for (j, (v, g)) in vals.iter_mut().zip(grad.iter().chain(zeros)).enumerate() {
                    let lim = bound * scale[j / per.max(1)];
                    *v = (*v + self.cfg.rel_step * lim * sign(*g)).clamp(-lim, lim);
                }
            }
        }
        Ok(SynthesisFit {
            params: best,
            values: best_v,
        })
    }

    /// Per-sample mean squared difference of neighbouring control displacements, px².
    fn membrane(&self, disp: Tensor<4>) -> Tensor<1> {
        let [b, _, g, _] = disp.dims();
        let dx = disp.clone().narrow(3, 1, g - 1) - disp.clone().narrow(3, 0, g - 1);
        let dy = disp.clone().narrow(2, 1, g - 1) - disp.narrow(2, 0, g - 1);
        let n = (2 * 2 * g * (g - 1)) as f32;
        ((dx.powi_scalar(2).reshape([b, 2 * g * (g - 1)]).sum_dim(1)
            + dy.powi_scalar(2).reshape([b, 2 * g * (g - 1)]).sum_dim(1))
            / n)
            .reshape([b])
    }
}

/// `sign(g)` with `sign(0) = 0`.
fn sign(g: f32) -> f32 {
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn copy_sample(from: &SynthesisParams, to: &mut SynthesisParams, i: usize) {
    let n = from.batch.max(1);
    for (src, dst) in [
        (&from.disp, &mut to.disp),
        (&from.log_bias, &mut to.log_bias),
        (&from.additive, &mut to.additive),
    ] {
        let per = src.len() / n;
        dst[i * per..(i + 1) * per].copy_from_slice(&src[i * per..(i + 1) * per]);
    }
}

impl Attack<4> for SynthesisConfig {
    /// Maximises any image objective over the synthesis threat model: the ball supplies the
    /// intensity bounds and, in L∞, the additive term's bound (which replaces `additive_eps`).
    /// The ball's norm re-check does not describe this threat model: a deformation moves
    /// intensities by far more than ε.
    fn perturb(
        &self,
        f: &dyn Objective<4>,
        x0: Tensor<4>,
        ball: &LpBall<4>,
        _rng: &mut StdRng,
    ) -> Result<Tensor<4>> {
        if ball.norm != Norm::Linf {
            return Err(AttackError::InvalidParameter {
                field: "norm",
                reason: "the synthesis attack's additive term is bounded in L∞".into(),
            });
        }
        let [b, c, h, w] = x0.dims();
        let cfg = SynthesisConfig {
            additive_eps: ball.epsilon,
            ..*self
        };
        let synth = Synthesis::new(cfg, c, h, w, ball.bounds)?;
        let mut loss = |x: Tensor<4>, _dense: Tensor<4>| -> Result<(Tensor<1>, Vec<f32>)> {
            let (v, g) = f.value_and_grad(x.clone().inner());
            check_finite(&v, "objective", 0)?;
            let values = mira_nn::tensor_to_vec(v);
            // The chain rule through the synthesis: d f / d θ = (d f / d x) · (d x / d θ).
            let g = g.autodiff();
            let surrogate = (x * g).reshape([b, c * h * w]).sum_dim(1).reshape([b]);
            Ok((surrogate, values))
        };
        let fit = synth.ascend(&x0, &vec![1.0; b], &mut loss)?;
        Ok(synth.render(x0, &fit.params).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warp::min_jacobian_det;
    use mira_nn::{default_device, tensor_to_vec};
    use rand::SeedableRng;

    /// A linear objective `f(x) = Σ r ⊙ x` with a fixed pattern `r`.
    struct Linear(Tensor<4>);

    impl Objective<4> for Linear {
        fn value_and_grad(&self, x: Tensor<4>) -> (Tensor<1>, Tensor<4>) {
            let b = x.dims()[0];
            (self.value(x), self.0.clone().expand([b, 1, 32, 32]))
        }
        fn value(&self, x: Tensor<4>) -> Tensor<1> {
            let b = x.dims()[0];
            (x * self.0.clone())
                .reshape([b, 32 * 32])
                .sum_dim(1)
                .reshape([b])
        }
    }

    fn images(dev: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..2 * 32 * 32)
            .map(|i| {
                let (y, x) = ((i / 32) % 32, i % 32);
                0.5 + 0.3 * ((x as f32 * 0.3).sin() * (y as f32 * 0.2 + i as f32 / 1024.0).cos())
            })
            .collect();
        Tensor::<1>::from_floats(v.as_slice(), dev).reshape([2, 1, 32, 32])
    }

    #[test]
    fn identity_parameters_give_the_clean_image() {
        let dev = default_device();
        let x0 = images(&dev);
        let s = Synthesis::new(SynthesisConfig::default(), 1, 32, 32, Bounds::default()).unwrap();
        let (x, dense) = s.render(x0.clone(), &s.zeros(2));
        assert_eq!(tensor_to_vec(x), tensor_to_vec(x0));
        assert!(tensor_to_vec(dense).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn ascent_raises_the_objective_within_bounds_and_never_folds() {
        let dev = default_device();
        let x0 = images(&dev);
        let r: Vec<f32> = (0..32 * 32)
            .map(|i| if (i % 32) < 16 { 1.0 } else { -1.0 })
            .collect();
        let f = Linear(Tensor::<1>::from_floats(r.as_slice(), &dev).reshape([1, 1, 32, 32]));
        let cfg = SynthesisConfig {
            max_disp_px: 2.5,
            steps: 15,
            ..Default::default()
        };
        let ball = LpBall::new(Norm::Linf, 0.01, Bounds::default()).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let x = cfg.perturb(&f, x0.clone(), &ball, &mut rng).unwrap();
        let before = tensor_to_vec(f.value(x0.clone()));
        let after = tensor_to_vec(f.value(x.clone()));
        for i in 0..2 {
            assert!(
                after[i] > before[i] + 1.0,
                "{i}: {} -> {}",
                before[i],
                after[i]
            );
        }
        let xs = tensor_to_vec(x.clone());
        assert!(xs.iter().all(|v| (0.0..=1.0).contains(v)));
        // Deterministic: the same call gives the same images.
        assert_eq!(
            xs,
            tensor_to_vec(cfg.perturb(&f, x0.clone(), &ball, &mut rng).unwrap())
        );
        // Half budget: the dense field stays within half the bound and does not fold.
        let s = Synthesis::new(cfg, 1, 32, 32, Bounds::default()).unwrap();
        let mut loss = |x: Tensor<4>, _d: Tensor<4>| {
            let v = (x * f.0.clone().autodiff())
                .reshape([2, 32 * 32])
                .sum_dim(1)
                .reshape([2]);
            let host = tensor_to_vec(v.clone().inner());
            Ok((v, host))
        };
        let fit = s.ascend(&x0, &[0.5, 0.0], &mut loss).unwrap();
        let (_, dense) = s.render(x0, &fit.params);
        let dense = tensor_to_vec(dense);
        let px = 32 * 32;
        let max0 = dense[..2 * px].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max0 > 0.5 && max0 <= 1.25 + 1e-5, "max displacement {max0}");
        assert!(min_jacobian_det(&dense[..2 * px], 32, 32) > 0.0);
        assert!(
            dense[2 * px..].iter().all(|v| *v == 0.0),
            "scale 0 stays the identity"
        );
        assert!(fit.params.log_bias[16..].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn budgets_that_could_fold_are_refused() {
        let cfg = SynthesisConfig {
            grid: 8,
            max_disp_px: 5.0,
            ..Default::default()
        };
        // 8 points over 32 px: spacing 6.2 px, fold-free below 2.48 px.
        let err = cfg.validate(32, 32).unwrap_err().to_string();
        assert!(err.contains("fold"), "{err}");
        assert!(cfg.validate(128, 128).is_ok());
        let bad = SynthesisConfig {
            max_bias: 2.0,
            ..Default::default()
        };
        assert!(bad.validate(64, 64).is_err());
    }
}
