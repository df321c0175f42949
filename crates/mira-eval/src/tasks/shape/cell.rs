//! One cell of a disk-shape sweep (study S4): one model, one attack, one budget, all test
//! slices.
//!
//! In distribution: maximise the summed squared point error around each test slice (the
//! paper's loss), then score MRSE and the Dice of the predicted polygon. Out of distribution:
//! start from an OOD image and minimise the distance of all three heads' outputs (points in
//! units of the point scale, mask probabilities, reconstruction) to the model's outputs on the
//! test slice, inside an Lp ball around the start; score how closely the points match and the
//! reconstruction errors the OOD detector sees. Batch `b` draws its random starts from a
//! stream of `(seed, b)`. In distribution, the composite (`auto`) runs as a cascade judged by
//! `sweep.break_mrse` ([`ShapeJudge`]) and a min-norm cell searches, per slice, the smallest
//! perturbation up to its ε that pushes the MRSE past it.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use mira_attack::{Attack, Bounds, LpBall, Objective};
use mira_data::{ShapeSample, mask_dice, mean_point_distance, polygon_mask};
use mira_nn::{autodiff_device, default_device, tensor_to_vec};

use crate::tasks::shape::ShapeModel;
use mira_report::{Perceptibility, ShapeRecord};
use mira_train::slices_tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::cells::{CellAttack, CellId};
use crate::run::{eps_f64, mix};
use crate::tasks::shape::{ShapeJudge, ShapeScope};
use crate::{EvalError, Result};

/// Points per contour as `[x, y]`.
fn to_points(v: &[f32]) -> Vec<[f64; 2]> {
    v.chunks(2).map(|q| [q[0] as f64, q[1] as f64]).collect()
}

/// Per-sample reconstruction MSE of `x`.
fn recon_error(model: &ShapeModel, x: Tensor<4>) -> Vec<f64> {
    let b = x.dims()[0];
    let r = model.heads(x.clone()).recon;
    tensor_to_vec((r - x).powi_scalar(2).reshape([b as i64, -1]).mean_dim(1))
        .into_iter()
        .map(f64::from)
        .collect()
}

/// −(distance of all three heads to targets), per sample: what an OOD attack maximises.
struct MatchObjective {
    eval: ShapeModel,
    points: Tensor<2>,
    mask: Tensor<4>,
    recon: Tensor<4>,
    scale2: f32,
}

impl MatchObjective {
    fn value_of(&self, x: Tensor<4>) -> Tensor<1> {
        let b = x.dims()[0];
        let dev = x.device();
        let out = self.eval.heads(x);
        let flat = |t: Tensor<4>| t.reshape([b as i64, -1]).mean_dim(1).reshape([b]);
        let p = (out.points - self.points.clone().to_device(&dev))
            .powi_scalar(2)
            .mean_dim(1)
            .reshape([b])
            .div_scalar(self.scale2);
        let m = flat((sigmoid(out.mask_logits) - self.mask.clone().to_device(&dev)).powi_scalar(2));
        let r = flat((out.recon - self.recon.clone().to_device(&dev)).powi_scalar(2));
        (p + m + r).neg()
    }
}

impl Objective<4> for MatchObjective {
    fn value_and_grad(&self, x: Tensor<4>) -> (Tensor<1>, Tensor<4>) {
        let x = Tensor::<4>::from_data(x.into_data(), &autodiff_device()).require_grad();
        let v = self.value_of(x.clone());
        let grads = v.clone().sum().backward();
        let g = x.grad(&grads).expect("the input requires a gradient");
        (v.inner(), g)
    }

    fn value(&self, x: Tensor<4>) -> Tensor<1> {
        self.value_of(x)
    }
}

/// An attacked case kept for a picture: start image, adversarial image, the model's points on
/// the clean slice and on the adversarial image.
pub struct KeptShape {
    pub case: usize,
    pub start: Vec<f32>,
    pub adv: Vec<f32>,
    pub clean: Vec<[f64; 2]>,
    pub adversarial: Vec<[f64; 2]>,
}

/// Everything a shape cell needs.
pub(crate) struct ShapeCell<'a> {
    /// Names, norm, budget, batch size and seed.
    pub id: CellId<'a>,
    pub model: &'a ShapeModel,
    pub attack: CellAttack<'a>,
    pub scope: ShapeScope,
    /// MRSE (px) above which a case counts as broken (min-norm and composite cells).
    pub break_mrse: f64,
    pub point_scale: f32,
    /// A corruption cell: no budget to re-check; records' `scope` says `corruption`.
    pub corrupted: bool,
}

/// The `scope` of corruption records.
pub(crate) const CORRUPTION: &str = "corruption";

impl ShapeCell<'_> {
    /// Attacks and scores batch `b` (cases `b·batch_size ..`); for OOD cells `starts` holds
    /// one starting image per slice and `source` its name. With `keep`, every case's images
    /// and contours come back too.
    pub(crate) fn run_batch(
        &self,
        test: &[ShapeSample],
        starts: Option<(&[Vec<f32>], &str)>,
        keep: bool,
        b: usize,
    ) -> Result<(Vec<ShapeRecord>, Vec<KeptShape>)> {
        let ball = &LpBall::new(self.id.norm, self.id.epsilon, Bounds::default())?;
        let eval = &self.model.valid();
        let dev = default_device();
        let first = b * self.id.batch_size;
        let chunk = &test[first..(first + self.id.batch_size).min(test.len())];
        let (mut records, mut kept) = (Vec::with_capacity(chunk.len()), Vec::new());
        let first = b * self.id.batch_size;
        let refs: Vec<&ShapeSample> = chunk.iter().collect();
        let slices = slices_tensor(&refs, &dev)?;
        let clean = eval.heads(slices.clone());
        let clean_points = tensor_to_vec(clean.points.clone());
        let per = clean_points.len() / chunk.len();
        let recon_ind = recon_error(eval, slices.clone());
        let mut rng = StdRng::seed_from_u64(mix(self.id.seed, b as u64));
        let (mut min_norm, mut member): (Option<Vec<Option<f32>>>, Option<Vec<String>>) =
            (None, None);
        let (x0, adv) = match (self.scope, starts) {
            (ShapeScope::Ood, Some((images, _))) => {
                let s = chunk[0].size;
                let v: Vec<f32> = images[first..first + chunk.len()].concat();
                let x0 = Tensor::<4>::from_data(TensorData::new(v, [chunk.len(), 1, s, s]), &dev);
                let f = MatchObjective {
                    eval: eval.clone(),
                    points: clean.points.clone(),
                    mask: sigmoid(clean.mask_logits.clone()),
                    recon: clean.recon.clone(),
                    scale2: self.point_scale * self.point_scale,
                };
                let CellAttack::Fixed(spec) = self.attack else {
                    return Err(EvalError::invalid(
                        "scope",
                        "out-of-distribution cells run a fixed-budget attack",
                    ));
                };
                let adv = spec.perturb(&f, x0.clone(), ball, &mut rng)?;
                (x0, adv)
            }
            _ => {
                let judge = ShapeJudge {
                    model: self.model,
                    eval: eval.clone(),
                    samples: refs.clone(),
                    break_mrse: self.break_mrse,
                };
                let attacked = self.attack.run(
                    &judge,
                    slices.clone(),
                    ball,
                    mix(self.id.seed, b as u64),
                    None,
                    None,
                )?;
                (min_norm, member) = (attacked.min_norm, attacked.member);
                let adv = attacked.adv;
                (slices.clone(), adv)
            }
        };
        let adv_points = tensor_to_vec(mira_nn::Forward::forward(eval, adv.clone()));
        let start_points = tensor_to_vec(mira_nn::Forward::forward(eval, x0.clone()));
        let recon_adv = recon_error(eval, adv.clone());
        let recon_start = recon_error(eval, x0.clone());
        let (adv_host, x0_host) = (tensor_to_vec(adv), tensor_to_vec(x0));
        let px = adv_host.len() / chunk.len();
        for (i, s) in chunk.iter().enumerate() {
            let case = first + i;
            let (a, c) = (
                &adv_host[i * px..(i + 1) * px],
                &x0_host[i * px..(i + 1) * px],
            );
            let (linf, l2) = if self.corrupted {
                crate::cells::check_bounds(a, c, &self.id.name(), case)?
            } else {
                self.id.check_budget(a, c, case)?
            };
            let perceptibility = Perceptibility::measure(a, c, &[1, s.size, s.size]);
            let cp = to_points(&clean_points[i * per..(i + 1) * per]);
            let ap = to_points(&adv_points[i * per..(i + 1) * per]);
            let n = s.size;
            let poly = |p: &[[f64; 2]]| polygon_mask(p, n, n);
            let ood = self.scope == ShapeScope::Ood;
            // OOD: the reference is the model's own output on the test slice.
            let (reference, ref_mask) = if ood {
                (cp.clone(), poly(&cp))
            } else {
                (s.points.clone(), s.mask.clone())
            };
            let sp = to_points(&start_points[i * per..(i + 1) * per]);
            if keep {
                kept.push(KeptShape {
                    case,
                    start: x0_host[i * px..(i + 1) * px].to_vec(),
                    adv: adv_host[i * px..(i + 1) * px].to_vec(),
                    clean: cp.clone(),
                    adversarial: ap.clone(),
                });
            }
            records.push(ShapeRecord {
                draw: None,
                model: self.id.model.into(),
                attack: self.id.attack.into(),
                scope: match self.scope {
                    _ if self.corrupted => CORRUPTION,
                    ShapeScope::Ind => "ind",
                    ShapeScope::Ood => "ood",
                    ShapeScope::MinNorm => "min-norm",
                }
                .into(),
                source: starts.filter(|_| ood).map(|(_, name)| name.to_string()),
                norm: format!("{:?}", self.id.norm).to_lowercase(),
                epsilon: eps_f64(self.id.epsilon),
                case,
                clean_mrse: mean_point_distance(&cp, &s.points),
                adv_mrse: mean_point_distance(&ap, &reference),
                clean_dice: mask_dice(&poly(&cp), &s.mask),
                adv_dice: mask_dice(&poly(&ap), &ref_mask),
                start_mrse: ood.then(|| mean_point_distance(&sp, &reference)),
                recon_ind: recon_ind[i],
                recon_start: ood.then(|| recon_start[i]),
                recon_adv: recon_adv[i],
                linf,
                l2,
                min_norm: min_norm.as_ref().and_then(|m| m[i].map(f64::from)),
                member: member.as_ref().map(|m| m[i].clone()),
                perceptibility,
            });
        }
        Ok((records, kept))
    }
}
