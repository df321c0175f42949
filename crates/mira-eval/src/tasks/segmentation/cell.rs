//! One cell of a segmentation sweep: one model, one attack, one budget, all test cases.

use crate::cells::{Attacked, CellAttack, CellId, memo_key};
use crate::run::{eps_f64, example_file, mix};
use crate::tasks::segmentation::{AttackLoss, GoalSpec, SegJudge};
use crate::{EvalError, Result};
use mira_attack::{AttackError, AttackSpec, Bounds, CascadeState, LpBall};
use mira_data::SegDataset;
use mira_nn::{Forward, UNet, argmax_labels, default_device, images_to_tensor, tensor_to_vec};
use mira_report::{Hd95, Perceptibility, SegRecord};

use crate::tasks::segmentation::VolumeGeom;
use crate::tasks::segmentation::volume_metrics::hd95_per_label;
use mira_stats::{DiceOptions, dice_per_label, mean_defined, target_agreement};

/// An attacked case kept for pictures: (case, adversarial image, prediction).
pub(crate) type Kept = (usize, Vec<f32>, Vec<u8>);

/// What a segmentation cell needs of its model: logits of `[B, C, H, W]` inputs, as a burn
/// module (for evaluation copies), shareable across batches run side by side.
pub(crate) trait SegModel: Forward<4, 4> + burn::module::Module + Sync {}

impl<M: Forward<4, 4> + burn::module::Module + Sync> SegModel for M {}

/// Everything a cell needs.
pub(crate) struct Cell<'a, M = UNet> {
    /// Names, norm, budget, batch size and seed.
    pub id: CellId<'a>,
    pub model: &'a M,
    /// Volumes: their shape and spacing (records get HD95; pictures show three sections).
    pub volume: Option<&'a VolumeGeom>,
    pub attack: CellAttack<'a>,
    /// A case is broken below this mean Dice (untargeted) ...
    pub break_dice: f64,
    /// ... or from this share of goal pixels predicted as the target (targeted).
    pub break_match: f64,
    /// Where the composite saves its state after each member, per batch (`None`: not saved).
    pub state_dir: Option<std::path::PathBuf>,
    pub goal: GoalSpec,
    /// Logits are divided by this in the attack loss.
    pub temperature: f32,
    /// The attack's loss.
    pub loss: AttackLoss,
    /// `auto`: the losses of a worst-over-losses cascade (empty: `loss` alone).
    pub losses: Vec<AttackLoss>,
    /// Records list the truth's connected components (`sweep.size_bins`).
    pub lesions: bool,
    /// The runner's FGSM memo: FGSM cells of one (model, attack) share their batches'
    /// gradient directions across ε (`None`: each cell computes its own).
    pub fgsm_memo: Option<&'a crate::run::FgsmMemo>,
}

pub(crate) fn dice(
    pred: &[u8],
    truth: &[u8],
    n_labels: usize,
    background: bool,
) -> Result<Vec<Option<f64>>> {
    dice_per_label(
        pred,
        truth,
        DiceOptions {
            n_labels,
            include_background: background,
        },
    )
    .map_err(|e| EvalError::invalid("data", e.to_string()))
}

/// Every connected component of `truth` per foreground label (of `k` labels) with its
/// lesion-wise Dice under the clean and the attacked prediction.
/// Volumes (`volume`: dims and spacing) add each component's HD95.
fn lesions(
    (clean, adv, truth): (&[u8], &[u8], &[u8]),
    dims: &[usize],
    volume: Option<([usize; 3], [f64; 3])>,
    k: usize,
) -> Result<Vec<mira_report::Lesion>> {
    let err = |e: mira_stats::StatsError| EvalError::invalid("data", e.to_string());
    let mut out = Vec::new();
    for label in 1..k {
        let l = label as u8;
        let c = mira_stats::lesion_dice(clean, truth, dims, l).map_err(err)?;
        let a = mira_stats::lesion_dice(adv, truth, dims, l).map_err(err)?;
        let hd = |p: &[u8]| match volume {
            Some((d, s)) => mira_stats::lesion_hd95(p, truth, d, s, l).map_err(err),
            None => Ok(vec![None; c.len()]),
        };
        let (hc, ha) = (hd(clean)?, hd(adv)?);
        for (i, (c, a)) in c.iter().zip(&a).enumerate() {
            out.push(mira_report::Lesion {
                label: label - 1,
                size: c.0,
                clean: c.1,
                adv: a.1,
                hd95_clean: hc[i],
                hd95_adv: ha[i],
            });
        }
    }
    Ok(out)
}

impl<'a, M: SegModel> Cell<'a, M> {
    /// A fixed-budget untargeted cell: `spec` on the cross-entropy at temperature 1, a case
    /// broken below mean Dice 0.5, no saved state and no FGSM memo.
    pub(crate) fn untargeted(id: CellId<'a>, model: &'a M, spec: &'a AttackSpec) -> Self {
        Self {
            id,
            model,
            volume: None,
            attack: CellAttack::Fixed(spec),
            break_dice: 0.5,
            break_match: 0.5,
            state_dir: None,
            goal: GoalSpec::Untargeted,
            temperature: 1.0,
            loss: AttackLoss::Ce,
            losses: Vec::new(),
            lesions: false,
            fgsm_memo: None,
        }
    }
    /// Attacks every case of `test` and scores it (no pictures). `clean_pred` are the model's
    /// clean predictions, one per case; `on_batch` is called after each batch with the cases
    /// done.
    pub(crate) fn run(
        &self,
        test: &SegDataset,
        clean_pred: &[Vec<u8>],
        on_batch: &mut dyn FnMut(usize),
    ) -> Result<Vec<SegRecord>> {
        Ok(self.run_batches(test, clean_pred, None, false, on_batch)?.0)
    }

    /// Batches of `batch_size` consecutive cases in this cell (the last may be short).
    pub(crate) fn batches(&self, cases: usize) -> usize {
        cases.div_ceil(self.id.batch_size)
    }

    /// Attacks the cases of the given batches (all when `None`); batch `b` draws its attack
    /// randomness from `(seed, b)` alone, so any subset gives the records a whole run gives.
    /// With `keep`, the adversarial images and predictions come back too, by case.
    pub(crate) fn run_batches(
        &self,
        test: &SegDataset,
        clean_pred: &[Vec<u8>],
        only: Option<&[usize]>,
        keep: bool,
        on_batch: &mut dyn FnMut(usize),
    ) -> Result<(Vec<SegRecord>, Vec<Kept>)> {
        let ball = LpBall::new(self.id.norm, self.id.epsilon, Bounds::default())?;
        let todo: Vec<usize> = (0..self.batches(test.items.len()))
            .filter(|b| only.is_none_or(|o| o.contains(b)))
            .collect();
        crate::run::batches::records_side_by_side(
            &todo,
            |b| self.run_batch(test, clean_pred, b, &ball, keep),
            on_batch,
        )
    }

    /// Attacks and scores batch `b` (cases `b·batch_size ..`).
    pub(crate) fn run_batch(
        &self,
        test: &SegDataset,
        clean_pred: &[Vec<u8>],
        b: usize,
        ball: &LpBall<4>,
        keep: bool,
    ) -> Result<(Vec<SegRecord>, Vec<Kept>)> {
        let dev = default_device();
        let k = test.n_labels();
        let labels: Vec<String> = test.label_names[1..].to_vec();
        let first = b * self.id.batch_size;
        let chunk = &test.items[first..(first + self.id.batch_size).min(test.items.len())];
        let mut records = Vec::with_capacity(chunk.len());
        let mut kept: Vec<Kept> = Vec::new();
        let (h, w) = (chunk[0].height, chunk[0].width);
        let refs: Vec<_> = chunk.iter().collect();
        let x0 = images_to_tensor(&refs, &dev)?;
        let targets: Vec<Option<Vec<u8>>> =
            chunk.iter().map(|s| self.goal.target(&s.labels)).collect();
        let judge = SegJudge {
            model: self.model,
            truths: chunk.iter().map(|s| s.labels.as_slice()).collect(),
            targets: targets.clone(),
            targeted: self.goal != GoalSpec::Untargeted,
            temperature: self.temperature,
            loss: self.loss,
            losses: self.losses.clone(),
            classes: k,
            height: h,
            width: w,
            break_dice: self.break_dice,
            break_match: self.break_match,
            last: Default::default(),
        };
        let Attacked {
            adv,
            min_norm,
            member,
            unchanged,
            stopped_at,
        } = self.attack_batch(&judge, x0.clone(), ball, b)?;
        let (xa, xc) = (tensor_to_vec(adv.clone()), tensor_to_vec(x0));
        let pred = if unchanged {
            clean_pred[first..first + chunk.len()].to_vec()
        } else {
            argmax_labels(self.model.forward(adv))
        };
        let per = xa.len() / chunk.len();
        for (i, s) in chunk.iter().enumerate() {
            let case = first + i;
            let (a, c) = (&xa[i * per..(i + 1) * per], &xc[i * per..(i + 1) * per]);
            if keep {
                kept.push((case, a.to_vec(), pred[i].clone()));
            }
            let corrupted = matches!(self.attack, CellAttack::Corrupt(_));
            let (linf, l2) = if corrupted {
                crate::cells::check_bounds(a, c, &self.id.name(), case)?
            } else {
                self.id.check_budget(a, c, case)?
            };
            let channels = a.len() / (h * w);
            let shape: Vec<usize> = match self.volume {
                Some(v) => vec![channels, v.dims[0], v.dims[1], v.dims[2]],
                None => vec![channels, h, w],
            };
            let perceptibility = Perceptibility::measure(a, c, &shape);
            let lesions = self
                .lesions
                .then(|| {
                    let volume = self.volume.map(|v| (v.dims, v.spacing[case]));
                    let preds = (
                        clean_pred[case].as_slice(),
                        pred[i].as_slice(),
                        &s.labels[..],
                    );
                    lesions(preds, &shape[1..], volume, k)
                })
                .transpose()?;
            let agree = |p: &[u8], t: &[u8]| {
                target_agreement(p, &s.labels, t)
                    .map_err(|e| EvalError::invalid("data", e.to_string()))
            };
            let (clean_target_dice, adv_target_dice, clean_target_match, adv_target_match) =
                match &targets[i] {
                    Some(t) => (
                        mean_defined(&dice(&clean_pred[case], t, k, true)?),
                        mean_defined(&dice(&pred[i], t, k, true)?),
                        agree(&clean_pred[case], t)?,
                        agree(&pred[i], t)?,
                    ),
                    None => (None, None, None, None),
                };
            records.push(SegRecord {
                draw: None,
                model: self.id.model.into(),
                attack: self.id.attack.into(),
                goal: if corrupted {
                    "corruption".into()
                } else {
                    self.goal.describe()
                },
                norm: if corrupted {
                    "severity".into()
                } else {
                    format!("{:?}", self.id.norm).to_lowercase()
                },
                epsilon: eps_f64(self.id.epsilon),
                case,
                labels: labels.clone(),
                clean_dice: dice(&clean_pred[case], &s.labels, k, false)?,
                adv_dice: dice(&pred[i], &s.labels, k, false)?,
                clean_target_dice,
                adv_target_dice,
                clean_target_match,
                adv_target_match,
                linf,
                l2,
                min_norm: min_norm.as_ref().and_then(|m| m[i].map(f64::from)),
                member: member.as_ref().map(|m| m[i].clone()),
                stopped_at: stopped_at.as_ref().and_then(|s| s[i]),
                hd95: self.volume.map(|v| {
                    let hd = |p: &[u8]| hd95_per_label(p, &s.labels, v.dims, v.spacing[case], k);
                    Hd95 {
                        clean: hd(&clean_pred[case]),
                        adv: hd(&pred[i]),
                    }
                }),
                perceptibility,
                lesions,
            });
        }
        Ok((records, kept))
    }

    /// Attacks one batch (batch index `b`): the adversarial inputs, and per case the minimal
    /// norm found (min-norm cells) or the composite member whose input is kept (`auto`, whose
    /// state is saved per member under `state_dir` and picked up from there).
    fn attack_batch(
        &self,
        judge: &SegJudge<'_, M>,
        x0: burn::prelude::Tensor<4>,
        ball: &LpBall<4>,
        b: usize,
    ) -> Result<Attacked<4>> {
        let state_file = self
            .state_dir
            .as_ref()
            .map(|d| d.join(format!("batch_{b}.json")));
        let state = match &state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p).map_err(|e| EvalError::io(p, e))?;
                serde_json::from_str(&text).ok()
            }
            _ => None,
        };
        let mut save = |st: &CascadeState| -> mira_attack::Result<()> {
            let (Some(p), Some(dir)) = (&state_file, &self.state_dir) else {
                return Ok(());
            };
            let io = |e: String| AttackError::InvalidParameter {
                field: "state",
                reason: format!("{}: {e}", p.display()),
            };
            std::fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
            let json = serde_json::to_vec(st).map_err(|e| io(e.to_string()))?;
            crate::run::folder::write_atomic(p, &json).map_err(|e| io(e.to_string()))
        };
        let key = memo_key(self.id.model, self.id.attack);
        self.attack.run(
            judge,
            x0,
            ball,
            mix(self.id.seed, b as u64),
            Some((state, &mut save)),
            self.fgsm_memo.map(|m| (m, key.as_str(), b)),
        )
    }

    /// The worst and the median case (by attacked mean Dice) of this cell's records.
    pub(crate) fn example_cases(records: &[SegRecord]) -> Option<[(&'static str, usize); 2]> {
        let mut order: Vec<(usize, f64)> = records
            .iter()
            .filter_map(|r| Some((r.case, mean_defined(&r.adv_dice)?)))
            .collect();
        if order.is_empty() {
            return None;
        }
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        Some([("worst", order[0].0), ("median", order[order.len() / 2].0)])
    }

    /// Pictures of the worst and the median case (by attacked mean Dice) of this cell;
    /// `kept` must hold those two cases.
    pub(crate) fn save_examples(
        &self,
        dir: &std::path::Path,
        test: &SegDataset,
        clean_pred: &[Vec<u8>],
        records: &[SegRecord],
        kept: &[Kept],
    ) -> Result<()> {
        let Some(cases) = Self::example_cases(records) else {
            return Ok(());
        };
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        let channel = usize::from(test.channels() > 1); // T1c when there is one
        for (tag, case) in cases {
            let Some((_, adv, pred)) = kept.iter().find(|k| k.0 == case) else {
                return Err(EvalError::invalid(
                    "examples",
                    format!("case {case} of {} was not kept", self.id.name()),
                ));
            };
            let path = dir.join(example_file(self.id.model, self.id.attack, tag));
            if let Some(v) = self.volume {
                mira_data::save_volume_attack_png(
                    &test.items[case],
                    v.dims[0],
                    adv,
                    channel,
                    (&clean_pred[case], pred),
                    10.0,
                    3,
                    &path,
                )?;
                continue;
            }
            mira_data::save_attack_png(
                &test.items[case],
                adv,
                channel,
                &clean_pred[case],
                pred,
                10.0,
                3,
                &path,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Cells of one (model, attack) at three ε, with a shared memo and without: the same
    /// records byte for byte, and each batch's gradient (FGSM's, i-FGSM's first step's) taken
    /// once per norm.
    #[test]
    fn fgsm_and_ifgsm_cells_sharing_the_memo_give_the_records_of_cells_without_it() {
        use crate::cells::CellId;
        use crate::run::FgsmMemo;
        use crate::tasks::segmentation::Cell;
        use mira_attack::{AttackSpec, Norm};

        let dev = mira_nn::default_device();
        let test = mira_data::BrainPhantomConfig {
            size: 16,
            ..Default::default()
        }
        .generate(5, 0, 7)
        .unwrap();
        let model = mira_nn::UNetConfig::new()
            .with_base_width(4)
            .with_depth(2)
            .init_seeded(2, &dev)
            .unwrap();
        let clean = mira_train::predict_labels(&model, &test, 2).unwrap();
        let memo = FgsmMemo::with_budget(1 << 20);
        // 7 cases in batches of 2: 4 batches, the last one short.
        let fgsm = AttackSpec::Fgsm(mira_attack::FgsmConfig);
        let ifgsm = AttackSpec::Ifgsm(mira_attack::IfgsmConfig {
            steps: 3,
            rel_step: 0.4,
        });
        let cell = |(attack, spec), norm, epsilon, fgsm_memo| {
            let id = CellId {
                model: "m",
                attack,
                norm,
                epsilon,
                batch_size: 2,
                seed: 9,
            };
            Cell {
                fgsm_memo,
                ..Cell::untargeted(id, &model, spec)
            }
        };
        for attack in [("fgsm", &fgsm), ("ifgsm", &ifgsm)] {
            for (norm, eps) in [(Norm::Linf, [0.02, 0.05, 0.1]), (Norm::L2, [0.3, 0.6, 1.2])] {
                for e in eps {
                    let run = |m| {
                        let recs = cell(attack, norm, e, m)
                            .run(&test, &clean, &mut |_| {})
                            .unwrap();
                        serde_json::to_string(&recs).unwrap()
                    };
                    assert_eq!(run(Some(&memo)), run(None), "{} {norm:?} eps={e}", attack.0);
                }
            }
        }
        // Per attack and norm: 4 batches computed at the first ε, reused at the other two.
        assert_eq!(memo.counts(), (16, 32));
    }
}
