//! One cell of a registration sweep: one model, one attack, one budget, all test pairs.
//!
//! The objective is the TRE of the predicted transform against the true one (differentiable
//! through the predicted parameters), maximised inside an Lp ball masked to the attacked
//! image(s). Batch `b` draws its random starts from a stream of `(seed, b)`, so any batch can
//! be recomputed alone (the pictures of abrupt cases are made that way). The composite
//! (`auto`) runs as a cascade judged by the passing rule ([`RegJudge`]): members after the
//! first attack only the pairs still passing, and each pair keeps its highest-TRE input. A
//! min-norm cell searches, per pair, the smallest perturbation up to its ε that makes it fail.

use burn::prelude::*;
use mira_attack::{Bounds, LpBall};
use mira_data::{RegPair, Rigid2d, tre, tre_grid};
use mira_nn::{default_device, tensor_to_vec};

use crate::tasks::registration::RegModel;
use mira_report::{Perceptibility, RegRecord};
use mira_train::{pairs_tensor, tensor_rigids};

use crate::cells::{CellAttack, CellId, memo_key};
use crate::run::{FgsmMemo, eps_f64, mix};
use crate::tasks::registration::{AttackedImage, RegJudge};
use crate::{EvalError, Result};

/// Points of the TRE grid per side.
pub(crate) const TRE_GRID: usize = 8;

/// Everything a registration cell needs.
pub(crate) struct RegCell<'a> {
    /// Names, norm, budget, batch size and seed.
    pub id: CellId<'a>,
    pub model: &'a RegModel,
    pub attack: CellAttack<'a>,
    pub image: AttackedImage,
    /// mm per pixel (1 when the unit is the pixel).
    pub spacing: f64,
    /// `mm` or `px`.
    pub unit: &'a str,
    /// Passing tolerance in `unit`.
    pub tolerance: f64,
    /// The runner's FGSM memo: FGSM cells of one (model, attack) share their batches'
    /// gradient directions across ε (`None`: each cell computes its own).
    pub fgsm_memo: Option<&'a FgsmMemo>,
    /// A corruption cell: no budget to re-check; records' `norm` says `severity`.
    pub corrupted: bool,
}

/// The adversarial pairs of one batch.
pub(crate) struct RegBatch {
    /// Adversarial inputs, `[n, 2, size, size]` flattened.
    pub adv: Vec<f32>,
    /// Clean inputs, same layout.
    pub clean: Vec<f32>,
    /// Predictions on the adversarial inputs (pixels).
    pub pred: Vec<Rigid2d>,
    /// Min-norm cells: per pair, the smallest failing budget found (`None`: none within ε).
    pub min_norm: Option<Vec<Option<f32>>>,
    /// `auto` cells: per pair, the member whose input is kept (`clean`: none raised its TRE).
    pub member: Option<Vec<String>>,
    /// Early-stopped cells: per pair, the steps after which it failed (`None`: ran them all).
    pub stopped_at: Option<Vec<Option<usize>>>,
}

impl RegCell<'_> {
    /// Attacks batch `b` of `pairs` (cases `b * batch_size ..`).
    pub(crate) fn attack_batch(&self, pairs: &[RegPair], b: usize) -> Result<RegBatch> {
        let dev = default_device();
        let first = b * self.id.batch_size;
        let chunk = &pairs[first..(first + self.id.batch_size).min(pairs.len())];
        let size = (chunk[0].fixed.len() as f64).sqrt() as usize;
        let refs: Vec<&RegPair> = chunk.iter().collect();
        let x0 = pairs_tensor(&refs, size, &dev)?;
        let judge = RegJudge {
            model: self.model,
            eval: self.model.valid(),
            truths: chunk.iter().map(|p| p.truth).collect(),
            grid: tre_grid(size, TRE_GRID),
            spacing: self.spacing,
            tolerance: self.tolerance,
        };
        let mut ball = LpBall::new(self.id.norm, self.id.epsilon, Bounds::default())?;
        ball.mask = Some(Tensor::<1>::from_floats(self.image.mask(), &dev).reshape([1, 2, 1, 1]));
        // The mask follows from the attacked image, part of the attack entry; named anyway.
        let key = format!(
            "{}\u{0}{:?}",
            memo_key(self.id.model, self.id.attack),
            self.image
        );
        let memo = self.fgsm_memo.map(|m| (m, key.as_str(), b));
        let attacked = self.attack.run(
            &judge,
            x0.clone(),
            &ball,
            mix(self.id.seed, b as u64),
            None,
            memo,
        )?;
        let adv = attacked.adv;
        let pred = tensor_rigids(mira_nn::Forward::forward(&judge.eval, adv.clone()));
        Ok(RegBatch {
            adv: tensor_to_vec(adv),
            clean: tensor_to_vec(x0),
            pred,
            min_norm: attacked.min_norm,
            member: attacked.member,
            stopped_at: attacked.stopped_at,
        })
    }

    /// Attacks batch `b` of `test` and scores it; `clean_pred` are the clean predictions.
    pub(crate) fn run_batch(
        &self,
        test: &[RegPair],
        clean_pred: &[Rigid2d],
        b: usize,
    ) -> Result<Vec<RegRecord>> {
        let size = (test[0].fixed.len() as f64).sqrt() as usize;
        let grid = tre_grid(size, TRE_GRID);
        let batch = self.attack_batch(test, b)?;
        let per = 2 * size * size;
        let mut records = Vec::with_capacity(batch.pred.len());
        for (i, adv_pred) in batch.pred.iter().enumerate() {
            let case = b * self.id.batch_size + i;
            let p = &test[case];
            let (a, c) = (
                &batch.adv[i * per..(i + 1) * per],
                &batch.clean[i * per..(i + 1) * per],
            );
            let (linf, l2) = if self.corrupted {
                crate::cells::check_bounds(a, c, &self.id.name(), case)?
            } else {
                self.id.check_budget(a, c, case)?
            };
            self.check_mask(a, c, case)?;
            let perceptibility = self.perceptibility(a, c, size);
            let mm = |t: &Rigid2d| [t.theta_deg, t.tx * self.spacing, t.ty * self.spacing];
            records.push(RegRecord {
                draw: None,
                model: self.id.model.into(),
                attack: self.id.attack.into(),
                image: self.image.describe().into(),
                norm: if self.corrupted {
                    crate::tasks::registration::CORRUPTION.into()
                } else {
                    format!("{:?}", self.id.norm).to_lowercase()
                },
                epsilon: eps_f64(self.id.epsilon),
                case,
                source: p.source,
                unit: self.unit.into(),
                tolerance: self.tolerance,
                truth: mm(&p.truth),
                clean_pred: mm(&clean_pred[case]),
                adv_pred: mm(adv_pred),
                clean_tre: tre(&clean_pred[case], &p.truth, &grid) * self.spacing,
                adv_tre: tre(adv_pred, &p.truth, &grid) * self.spacing,
                linf,
                l2,
                min_norm: batch.min_norm.as_ref().and_then(|m| m[i].map(f64::from)),
                member: batch.member.as_ref().map(|m| m[i].clone()),
                stopped_at: batch.stopped_at.as_ref().and_then(|s| s[i]),
                perceptibility,
            });
        }
        Ok(records)
    }

    /// The image the adversary may not touch is unchanged.
    /// PSNR and SSIM of the images the attack may change (fixed, moving or both).
    fn perceptibility(&self, adv: &[f32], clean: &[f32], size: usize) -> Option<Perceptibility> {
        let half = adv.len() / 2;
        let (mut a, mut c) = (Vec::new(), Vec::new());
        for (ch, allowed) in self.image.mask().iter().enumerate() {
            if *allowed != 0.0 {
                a.extend_from_slice(&adv[ch * half..(ch + 1) * half]);
                c.extend_from_slice(&clean[ch * half..(ch + 1) * half]);
            }
        }
        Perceptibility::measure(&a, &c, &[a.len() / half.max(1), size, size])
    }

    fn check_mask(&self, adv: &[f32], clean: &[f32], case: usize) -> Result<()> {
        let half = adv.len() / 2;
        for (ch, allowed) in self.image.mask().iter().enumerate() {
            let r = ch * half..(ch + 1) * half;
            if *allowed == 0.0 && adv[r.clone()] != clean[r] {
                return Err(EvalError::BudgetViolation {
                    cell: self.id.name(),
                    case,
                    reason: format!(
                        "the {} image changed, but the attack may only change the {}",
                        ["fixed", "moving"][ch],
                        self.image.describe()
                    ),
                });
            }
        }
        Ok(())
    }
}
