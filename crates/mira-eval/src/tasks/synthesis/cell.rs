//! One synthesis cell (study S2): every test slice attacked on one model with one method
//! (per-image budget search or learned generator) for every requested Dice drop, judged on
//! the host against the warped truth, on the attacked model and on every other model.

use std::path::Path;

use burn::prelude::*;
use mira_attack::{
    IndexedLoss, Synthesis, SynthesisParams, min_jacobian_det, search_budget, stack, warp_bilinear,
    warp_labels_nearest,
};
use mira_data::{SegDataset, SynthPicture, save_synthesis_png};
use mira_nn::segmentation::soft_dice_loss;
use mira_nn::{
    DeformGenerator, Forward, UNet, argmax_labels, autodiff_device, default_device,
    images_to_tensor, one_hot, tensor_to_vec,
};
use mira_report::{Perceptibility, SynthRecord, TransferDrop};
use mira_stats::{DiceOptions, dice_per_label, mean_defined};

use crate::{EvalError, Result};

/// The per-image method's name in records.
pub(crate) const PER_IMAGE: &str = "per-image";
/// The learned method's name in records.
pub(crate) const LEARNED: &str = "learned";

/// The fixed parts of a synthesis run's cells.
pub(crate) struct SynthCell<'a> {
    /// Evaluation copies of every model.
    pub models: &'a [UNet],
    /// Their names.
    pub names: &'a [String],
    /// The threat model.
    pub synth: &'a Synthesis,
    /// Pixel spacing, mm.
    pub spacing_mm: f32,
    /// Requested Dice drops.
    pub targets: &'a [f32],
    /// Bisections of the per-image search.
    pub bisections: usize,
    /// Test slices drawn as pictures (the first ones).
    pub examples: usize,
}

/// Mean organ Dice (organs present in truth or prediction) and the per-organ values.
pub(crate) fn mean_dice(
    pred: &[u8],
    truth: &[u8],
    n_labels: usize,
) -> Result<(f64, Vec<Option<f64>>)> {
    let per = dice_per_label(pred, truth, DiceOptions::new(n_labels))
        .map_err(|e| EvalError::invalid("data", e.to_string()))?;
    Ok((mean_defined(&per).unwrap_or(1.0), per))
}

/// Mean organ Dice of each model's clean prediction on each test slice: `[model][case]`.
pub(crate) fn clean_dice(
    models: &[UNet],
    test: &SegDataset,
    batch: usize,
) -> Result<Vec<Vec<f64>>> {
    let k = test.n_labels();
    models
        .iter()
        .map(|m| {
            let mut out = Vec::with_capacity(test.items.len());
            for chunk in test.items.chunks(batch) {
                let refs: Vec<_> = chunk.iter().collect();
                let x = images_to_tensor(&refs, &default_device())?;
                for (p, s) in argmax_labels(m.forward(x)).iter().zip(chunk) {
                    out.push(mean_dice(p, &s.labels, k)?.0);
                }
            }
            Ok(out)
        })
        .collect()
}

/// What judging one synthesised slice found.
struct Judged {
    adv_dice: Vec<(f64, Vec<Option<f64>>)>,
    max_disp_px: f32,
    max_bias: f32,
    max_additive: f32,
    min_jacobian: f32,
    /// PSNR and SSIM of the synthesised slice against the clean one.
    percept: Option<Perceptibility>,
}

impl SynthCell<'_> {
    /// Renders `p` on `x0` and judges the slices against the warped truth: on every model
    /// (records, transfer) or, with `every_model = false`, on the attacked one only (the
    /// search, which needs only its drop; the others' entries are NaN).
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        attacked: usize,
        every_model: bool,
        test: &SegDataset,
        cases: &[usize],
        x0: &Tensor<4>,
        p: &SynthesisParams,
        pictures: Option<(&Path, &str)>,
    ) -> Result<Vec<Judged>> {
        let (x, dense) = self.synth.render(x0.clone(), p);
        let bias = tensor_to_vec(self.synth.bias_field(p));
        let dense = tensor_to_vec(dense);
        let xs = tensor_to_vec(x.clone());
        let x0s = tensor_to_vec(x0.clone());
        let preds: Vec<Option<Vec<Vec<u8>>>> = self
            .models
            .iter()
            .enumerate()
            .map(|(m, model)| {
                (every_model || m == attacked).then(|| argmax_labels(model.forward(x.clone())))
            })
            .collect();
        let (h, w) = (test.items[0].height, test.items[0].width);
        let (n, c) = (h * w, test.channels());
        let k = test.n_labels();
        let mut out = Vec::with_capacity(cases.len());
        for (j, &case) in cases.iter().enumerate() {
            let d = &dense[j * 2 * n..(j + 1) * 2 * n];
            let truth = warp_labels_nearest(&test.items[case].labels, d, h, w);
            let adv_dice = preds
                .iter()
                .map(|pm| match pm {
                    Some(pm) => mean_dice(&pm[j], &truth, k),
                    None => Ok((f64::NAN, Vec::new())),
                })
                .collect::<Result<Vec<_>>>()?;
            let max_abs =
                |v: &[f32], shift: f32| v.iter().fold(0.0f32, |m, x| m.max((x - shift).abs()));
            let disp_mag = (0..n).map(|i| d[i].hypot(d[n + i])).fold(0.0f32, f32::max);
            let per_add = p.additive.len() / p.batch.max(1);
            let judged = Judged {
                adv_dice,
                max_disp_px: disp_mag,
                max_bias: max_abs(&bias[j * n..(j + 1) * n], 1.0),
                max_additive: max_abs(&p.additive[j * per_add..(j + 1) * per_add], 0.0),
                min_jacobian: min_jacobian_det(d, h, w),
                percept: Perceptibility::measure(
                    &xs[j * c * n..(j + 1) * c * n],
                    &x0s[j * c * n..(j + 1) * c * n],
                    &[c, h, w],
                ),
            };
            if judged.min_jacobian <= 0.0 {
                return Err(EvalError::invalid(
                    "threat",
                    format!(
                        "the synthesis field of test slice {case} folds (Jacobian determinant {}): \
                         a bug, since the bounds are below the fold-free limit",
                        judged.min_jacobian
                    ),
                ));
            }
            if let Some((dir, stem)) = pictures
                && case < self.examples
            {
                let slice = &test.items[case];
                let pic = SynthPicture {
                    clean: &slice.image[..n],
                    truth: &slice.labels,
                    adversarial: &xs[j * c * n..j * c * n + n],
                    displacement: d,
                    bias: &bias[j * n..(j + 1) * n],
                    max_bias: self.synth.config().max_bias,
                    prediction: &preds[attacked].as_ref().expect("judged")[j],
                    warped_truth: &truth,
                };
                std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
                let path = dir.join(format!("{stem}_case{case}.png"));
                save_synthesis_png(slice, &pic, 2, &path)?;
            }
            out.push(judged);
        }
        Ok(out)
    }

    /// The drop `drop(m)` on every model but the attacked one.
    pub(crate) fn transfer(
        &self,
        attacked: usize,
        drop: impl Fn(usize) -> f64,
    ) -> Vec<TransferDrop> {
        (0..self.models.len())
            .filter(|&m| m != attacked)
            .map(|m| TransferDrop {
                model: self.names[m].clone(),
                drop: drop(m),
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        attacked: usize,
        method: &str,
        target: f32,
        case: usize,
        clean: &[Vec<f64>],
        j: &Judged,
        scale: f32,
    ) -> SynthRecord {
        let drop = |m: usize| clean[m][case] - j.adv_dice[m].0;
        SynthRecord {
            draw: None,
            corruption: None,
            model: self.names[attacked].clone(),
            method: method.into(),
            target: crate::run::eps_f64(target),
            case,
            clean_dice: clean[attacked][case],
            adv_dice: j.adv_dice[attacked].0,
            adv_dice_labels: j.adv_dice[attacked].1.clone(),
            drop: drop(attacked),
            met: drop(attacked) >= f64::from(target),
            scale: f64::from(scale),
            max_disp_mm: f64::from(j.max_disp_px * self.spacing_mm),
            max_bias: f64::from(j.max_bias),
            max_additive: f64::from(j.max_additive),
            min_jacobian: f64::from(j.min_jacobian),
            transfer: self.transfer(attacked, drop),
            perceptibility: j.percept.clone(),
        }
    }

    /// The per-image budget search on model `attacked` for every target, on the test slices
    /// `chunk` (one batch); records in (target, case) order. Pictures of the first slices go
    /// to `pictures` when given.
    pub(crate) fn per_image(
        &self,
        attacked: usize,
        test: &SegDataset,
        clean: &[Vec<f64>],
        chunk: &[usize],
        pictures: Option<&Path>,
    ) -> Result<Vec<SynthRecord>> {
        let model = &self.models[attacked];
        let k = test.n_labels();
        let (h, w) = (test.items[0].height, test.items[0].width);
        let ad = autodiff_device();
        let mut by_target: Vec<Vec<SynthRecord>> = vec![Vec::new(); self.targets.len()];
        {
            let refs: Vec<_> = chunk.iter().map(|&i| &test.items[i]).collect();
            let maps: Vec<&[u8]> = refs.iter().map(|s| s.labels.as_slice()).collect();
            let x0 = images_to_tensor(&refs, &default_device())?;
            let truth = one_hot(&maps, k, h, w, &ad)?;
            let mut loss = |idx: &[usize], x: Tensor<4>, dense: Tensor<4>| {
                let sel = Tensor::<1, Int>::from_ints(
                    idx.iter().map(|&i| i as i32).collect::<Vec<_>>().as_slice(),
                    &ad,
                );
                let target = warp_bilinear(truth.clone().select(0, sel), dense);
                let v = soft_dice_loss(model.forward(x), target);
                let host = tensor_to_vec(v.clone().inner());
                Ok((v, host))
            };
            let loss: &mut IndexedLoss<'_> = &mut loss;
            let mut damage = |idx: &[usize], p: &SynthesisParams| {
                let sel: Vec<usize> = idx.iter().map(|&i| chunk[i]).collect();
                let sub = select(&x0, idx);
                let judged = self
                    .judge(attacked, false, test, &sel, &sub, p, None)
                    .map_err(|e| mira_attack::AttackError::InvalidParameter {
                        field: "damage",
                        reason: e.to_string(),
                    })?;
                Ok(judged
                    .iter()
                    .zip(&sel)
                    .map(|(j, &case)| (clean[attacked][case] - j.adv_dice[attacked].0) as f32)
                    .collect())
            };
            let found = search_budget(
                self.synth,
                &x0,
                self.targets,
                self.bisections,
                loss,
                &mut damage,
            )?;
            for (t, outcomes) in found.iter().enumerate() {
                let params = stack(&outcomes.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
                let stem = format!("{}_{PER_IMAGE}_d{}", self.names[attacked], self.targets[t]);
                let judged = self.judge(
                    attacked,
                    true,
                    test,
                    chunk,
                    &x0,
                    &params,
                    pictures.map(|p| (p, stem.as_str())),
                )?;
                for ((j, &case), (o, _)) in judged.iter().zip(chunk).zip(outcomes) {
                    by_target[t].push(self.record(
                        attacked,
                        PER_IMAGE,
                        self.targets[t],
                        case,
                        clean,
                        j,
                        o.scale,
                    ));
                }
            }
        }
        Ok(by_target.into_iter().flatten().collect())
    }

    /// The learned attacker of model `attacked` on the test slices `chunk` (one batch) for
    /// every target; records in (target, case) order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn learned(
        &self,
        attacked: usize,
        generator: &DeformGenerator,
        test: &SegDataset,
        clean: &[Vec<f64>],
        chunk: &[usize],
        pictures: Option<&Path>,
    ) -> Result<Vec<SynthRecord>> {
        let cfg = self.synth.config();
        let (u_max, b_max) = (cfg.max_disp_px, (1.0 + cfg.max_bias).ln());
        let mut by_target: Vec<Vec<SynthRecord>> = vec![Vec::new(); self.targets.len()];
        let dev = default_device();
        {
            let refs: Vec<_> = chunk.iter().map(|&i| &test.items[i]).collect();
            let x0 = images_to_tensor(&refs, &dev)?;
            for (t, &target) in self.targets.iter().enumerate() {
                let tt = Tensor::<1>::from_floats(vec![target; chunk.len()].as_slice(), &dev);
                let (d, b) = generator.forward(x0.clone(), tt);
                let (d, b) = (tensor_to_vec(d), tensor_to_vec(b));
                let mut p = self.synth.zeros(chunk.len());
                p.disp = d.iter().map(|v| v * u_max).collect();
                p.log_bias = b.iter().map(|v| v * b_max).collect();
                let (pd, pb) = (d.len() / chunk.len(), b.len() / chunk.len());
                let stem = format!("{}_{LEARNED}_d{target}", self.names[attacked]);
                let judged = self.judge(
                    attacked,
                    true,
                    test,
                    chunk,
                    &x0,
                    &p,
                    pictures.map(|p| (p, stem.as_str())),
                )?;
                for (k, (j, &case)) in judged.iter().zip(chunk).enumerate() {
                    let scale = d[k * pd..(k + 1) * pd]
                        .iter()
                        .chain(&b[k * pb..(k + 1) * pb])
                        .fold(0.0f32, |m, v| m.max(v.abs()));
                    by_target[t]
                        .push(self.record(attacked, LEARNED, target, case, clean, j, scale));
                }
            }
        }
        Ok(by_target.into_iter().flatten().collect())
    }
}

fn select(x: &Tensor<4>, idx: &[usize]) -> Tensor<4> {
    let sel = Tensor::<1, Int>::from_ints(
        idx.iter().map(|&i| i as i32).collect::<Vec<_>>().as_slice(),
        &x.device(),
    );
    x.clone().select(0, sel)
}
