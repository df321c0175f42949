//! The corruptions' part of a synthesis run (study S2's abdominal CT slices): each test slice
//! corrupted by a family at a severity in HU, before the phantom's window clips it (CT noise in
//! the air and a window shift over bone act as on a scanner's image; `Corruption::apply` on the
//! unclipped window scale is the corruption, then the window), judged like a synthesised slice on the attacked model and, for transfer, on every other
//! model, against the unmoved truth (a corruption does not move the anatomy); records keep
//! apart from the synthesis summaries and get their own table.

use burn::prelude::*;
use mira_nn::{Forward, argmax_labels, default_device, images_to_tensor, tensor_to_vec};
use mira_report::{Perceptibility, SynthRecord, TextTable};

use crate::Result;
use crate::cells::Corruptor;
use crate::report::corruption_tables::{SeverityCurve, corruption_table, mean_of, paired_p};
use crate::tasks::segmentation::{AttackLoss, SegJudge};
use crate::tasks::synthesis::cell::{SynthCell, mean_dice};

impl SynthCell<'_> {
    /// Corrupts the test slices `chunk` (batch `b`) with `corruptor` and judges them on every
    /// model; records name the entry `name` and carry the severity as `target`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn corrupted(
        &self,
        attacked: usize,
        (name, family): (&str, &str),
        corruptor: Corruptor,
        cell: &crate::spec::CorruptionPick,
        (test, test_hu, clean): (&mira_data::SegDataset, &[Vec<f32>], &[Vec<f64>]),
        chunk: &[usize],
        b: usize,
    ) -> Result<Vec<SynthRecord>> {
        let items: Vec<_> = chunk.iter().map(|&c| &test.items[c]).collect();
        let x0 = images_to_tensor(&items, &default_device())?;
        let (h, w) = (items[0].height, items[0].width);
        // The slices on the window's scale before it clips (the windowed ones without HU).
        let unclipped = if test_hu.len() == test.items.len() {
            let v: Vec<f32> = chunk
                .iter()
                .flat_map(|&c| test_hu[c].iter().copied())
                .collect();
            let shape = [chunk.len(), 1, h, w];
            Tensor::<4>::from_data(TensorData::new(v, shape), &default_device())
        } else {
            x0.clone()
        };
        let k = test.n_labels();
        let judge = SegJudge {
            model: &self.models[attacked],
            truths: items.iter().map(|s| s.labels.as_slice()).collect(),
            targets: vec![None; items.len()],
            targeted: false,
            temperature: 1.0,
            loss: AttackLoss::Ce,
            losses: Vec::new(),
            classes: k,
            height: h,
            width: w,
            break_dice: 0.5,
            break_match: 0.5,
            last: Default::default(),
        };
        let x = corruptor.apply(unclipped, crate::run::mix(cell.seed, b as u64), &judge)?;
        let preds: Vec<Vec<Vec<u8>>> = self
            .models
            .iter()
            .map(|m| argmax_labels(m.forward(x.clone())))
            .collect();
        let (xs, x0s) = (tensor_to_vec(x), tensor_to_vec(x0));
        let per = h * w * test.channels();
        let mut out = Vec::with_capacity(chunk.len());
        for (j, &case) in chunk.iter().enumerate() {
            let truth = &items[j].labels;
            let dice = preds
                .iter()
                .map(|p| mean_dice(&p[j], truth, k))
                .collect::<Result<Vec<_>>>()?;
            let drop = |m: usize| clean[m][case] - dice[m].0;
            let (a, c) = (&xs[j * per..(j + 1) * per], &x0s[j * per..(j + 1) * per]);
            let (linf, _) = crate::cells::check_bounds(a, c, name, case)?;
            out.push(SynthRecord {
                model: self.names[attacked].clone(),
                method: name.to_string(),
                target: f64::from(cell.severity),
                case,
                clean_dice: clean[attacked][case],
                adv_dice: dice[attacked].0,
                adv_dice_labels: dice[attacked].1.clone(),
                drop: drop(attacked),
                met: false,
                scale: 0.0,
                max_disp_mm: 0.0,
                max_bias: 0.0,
                max_additive: linf,
                min_jacobian: 1.0,
                transfer: self.transfer(attacked, drop),
                perceptibility: Perceptibility::measure(a, c, &[test.channels(), h, w]),
                corruption: Some(family.to_string()),
                draw: cell.draw,
            });
        }
        Ok(out)
    }
}

crate::report::corruption_tables::impl_corruption_row!(SynthRecord, method, target);

/// The synthesis records and the corruption records.
pub(crate) fn split_corruptions(records: &[SynthRecord]) -> (Vec<SynthRecord>, Vec<SynthRecord>) {
    records
        .iter()
        .cloned()
        .partition(|r| r.corruption.is_none())
}

/// The table (`None` without corruption records).
pub(crate) fn synth_corruption_table(corrupted: &[SynthRecord]) -> Option<TextTable> {
    let refs: Vec<&SynthRecord> = corrupted.iter().collect();
    corruption_table(
        &refs,
        "mean organ Dice clean → corrupted on the model, the paired Wilcoxon signed-rank test of \
         the Dice over slices, and the mean drop the same corrupted slices cause on the other \
         models.",
        &["Dice clean → corrupted", "Wilcoxon p", "drop on the others"],
        |g| {
            let others: Vec<f64> = g
                .iter()
                .flat_map(|r| r.transfer.iter().map(|t| t.drop))
                .collect();
            vec![
                format!(
                    "{:.3} → {:.3}",
                    mean_of(g, |r| r.clean_dice),
                    mean_of(g, |r| r.adv_dice)
                ),
                paired_p(g, |r| r.clean_dice, |r| r.adv_dice),
                if others.is_empty() {
                    "-".into()
                } else {
                    format!("{:.3}", others.iter().sum::<f64>() / others.len() as f64)
                },
            ]
        },
        &SeverityCurve {
            y_desc: "mean organ Dice",
            y_range: Some((0.0, 1.0)),
            value: &|r: &SynthRecord| Some(r.adv_dice),
            clean: &|r: &SynthRecord| Some(r.clean_dice),
        },
    )
}
