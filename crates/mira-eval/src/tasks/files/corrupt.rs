//! Corruption cells of the files task: each case corrupted by a family at a severity where
//! scanners corrupt it, in file units before the normalisation, written back in its format, and
//! scored as a deployed pipeline would see it (read, normalised with its own scale, predicted).
//!
//! A channel's file values `v` are put on the model's scale without clipping,
//! `u = (v − lo) / (hi − lo)` with the source's normalisation range `[lo, hi]` (so a severity's
//! parameters, stated in model units, mean what they mean in every task; a CT window makes
//! them HU), corrupted unclipped (`Corruption::apply_unclipped`: a CT noise or window shift
//! acts on the HU values outside the window too), and written as `lo + u' (hi − lo)`. The
//! model then sees the written file normalised with its own range (percentiles of a corrupted
//! MR scan move; a CT window stays), in memory (`adv_dice`) and read back (`written_dice`).
//! Files already in model units (`normalise = "none"`) are clipped to [0, 1], their range.

use std::path::PathBuf;

use burn::prelude::*;
use mira_nn::default_device;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::run::mix;
use crate::spec::CorruptionPick;
use crate::tasks::files::attack::{CaseSlices, case_slices, name_hash};
use crate::tasks::files::case_io::{
    Scales, Scored, clean_dice, pool_perceptibility, score_channels, source_values, volumes,
    write_values, written_dice,
};
use crate::tasks::files::{FileRecord, FilesExperiment, FilesReady};
use crate::tasks::segmentation::folder::{Channel3, Normalise, normalised, scale_of};
use crate::{EvalError, Result};

/// The folder a corruption cell's files are written to: `corrupt_<name>_s<severity>[_d<draw>]`.
fn folder(cell: &CorruptionPick, name: &str) -> PathBuf {
    let draw = cell.draw.map_or(String::new(), |d| format!("_d{d}"));
    PathBuf::from(format!("corrupt_{name}_s{}{draw}", cell.severity))
}

/// Corrupts case `index`, writes it under `out/<folder>/` and scores it.
///
/// # Errors
/// Reading, the draw (a CT family without a window), writing or predicting fails.
pub(crate) fn corrupt_case(
    exp: &FilesExperiment,
    ready: &FilesReady,
    index: usize,
    cell: &CorruptionPick,
    out: &std::path::Path,
) -> Result<FileRecord> {
    let entry = &exp.corruptions[cell.ci];
    let case = &ready.cases[index];
    let (slices, rc) = case_slices(exp, ready, case)?;
    let source = source_values(&rc);
    let dims = rc.channels[0].dims;
    let spatial = [dims[2], dims[1], dims[0]];
    let on_scale: Vec<f32> = source
        .iter()
        .zip(&rc.scales)
        .flat_map(|(v, &(lo, hi))| v.iter().map(move |x| (x - lo) / (hi - lo)))
        .collect();
    let shape = [1, source.len(), spatial[0], spatial[1], spatial[2]];
    let x = Tensor::<5>::from_data(TensorData::new(on_scale, shape), &default_device());
    let mut rng = StdRng::seed_from_u64(mix(cell.seed, name_hash(&case.name)));
    let bad = |e: mira_corrupt::CorruptError| EvalError::invalid("corruptions", e.to_string());
    let draw = entry
        .kind
        .draw(cell.severity, spatial, exp.hu_per_unit(), &mut rng)
        .map_err(bad)?;
    let u = mira_nn::tensor_to_vec(draw.apply_unclipped(x));
    let len = dims.iter().product::<usize>();
    // Files already in model units (`normalise = "none"`) must stay in [0, 1].
    let none = matches!(exp.normalise, Normalise::None);
    let corrupted: Vec<Vec<f32>> = rc
        .scales
        .iter()
        .enumerate()
        .map(|(c, &(lo, hi))| {
            u[c * len..(c + 1) * len]
                .iter()
                .map(|v| {
                    let v = lo + v * (hi - lo);
                    if none { v.clamp(0.0, 1.0) } else { v }
                })
                .collect()
        })
        .collect();
    // In memory: each channel normalised with its own range, as the pipeline would.
    let mut channels = Vec::with_capacity(corrupted.len());
    for (c, v) in corrupted.iter().enumerate() {
        let file = &case.images[c * case.images.len() / corrupted.len()];
        let scale = scale_of(file, v, &exp.normalise)?;
        channels.push(Channel3 {
            dims,
            data: normalised(v, scale),
        });
    }
    let memory = score_channels(exp, ready, &channels, &slices)?;
    let name = entry.name();
    let rel = folder(cell, &name);
    let dir = out.join(&rel);
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let desc = format!("Mira corruption {name} severity {}", cell.severity);
    let paths = write_values(case, &rc, &dir, &desc, &mut |c, i, _| corrupted[c][i])?;
    let back = written_dice(exp, ready, &paths, Scales::Own(&exp.normalise), &slices)?;
    let max_file_change = source
        .iter()
        .zip(&corrupted)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| f64::from((x - y).abs()))
                .fold(0.0, f64::max)
        })
        .collect();
    let (linf, perceptibility) = input_change(&slices, &memory);
    let names = paths.iter().filter_map(|p| p.file_name());
    Ok(FileRecord {
        model: exp.model_name().to_string(),
        attack: name,
        epsilon: f64::from(cell.severity),
        epsilon_physical: None,
        epsilon_unit: None,
        corruption: Some(entry.kind.name().to_string()),
        draw: cell.draw,
        case: index,
        name: case.name.clone(),
        format: rc.files[0].1.format(),
        sources: case
            .images
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        outputs: names.map(|n| rel.join(n).display().to_string()).collect(),
        slices: slices.data.items.len(),
        reference: if slices.labelled {
            "labels"
        } else {
            "clean prediction"
        }
        .into(),
        scales: back.scales.clone(),
        clean_dice: clean_dice(ready, &slices)?,
        adv_dice: memory.dice,
        written_dice: back.dice,
        volumes: volumes(exp, ready, &rc, &slices, back.volume_pred.as_deref()),
        linf,
        max_file_change,
        moved_into_range: 0,
        max_moved_change: 0.0,
        perceptibility,
    })
}

/// The largest change of the model's input (model units) and its perceptibility, slice by
/// slice pooled as for attacks.
fn input_change(
    slices: &CaseSlices,
    memory: &Scored,
) -> (f64, Option<mira_report::Perceptibility>) {
    let mut linf = 0f64;
    let mut each = Vec::with_capacity(slices.data.items.len());
    for (c, a) in slices.data.items.iter().zip(&memory.data.items) {
        for (x, y) in c.image.iter().zip(&a.image) {
            linf = linf.max(f64::from((x - y).abs()));
        }
        let shape: Vec<usize> = match slices.volume {
            Some(v) => vec![c.channels, v[0], v[1], v[2]],
            None => vec![c.channels, c.height, c.width],
        };
        each.extend(mira_report::Perceptibility::measure(
            &a.image, &c.image, &shape,
        ));
    }
    (linf, pool_perceptibility(&each))
}

crate::report::corruption_tables::impl_corruption_row!(FileRecord, attack, epsilon);

/// The files' Natural corruptions table (`None` without corruption records).
pub(crate) fn corruption_table(records: &[FileRecord]) -> Option<mira_report::TextTable> {
    use crate::report::corruption_tables::{SeverityCurve, paired_p};
    let corrupted: Vec<&FileRecord> = records.iter().filter(|r| r.corruption.is_some()).collect();
    let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    crate::report::corruption_tables::corruption_table(
        &corrupted,
        "each case corrupted in file units before the normalisation and written to \
         corrupt_<name>_s<severity>/; mean foreground Dice clean → corrupted (in memory, each \
         channel normalised with its own range as the pipeline would) and as written (read \
         back), the paired Wilcoxon signed-rank test of the in-memory Dice over cases, and the \
         largest change in file units.",
        &[
            "Dice clean → corrupted",
            "Dice written",
            "Wilcoxon p",
            "max |Δ| (file units)",
        ],
        |g| {
            let mean = |f: fn(&FileRecord) -> Option<f64>| {
                mira_stats::mean_defined(&g.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            // Cases whose Dice is undefined (no foreground in reference or prediction) are
            // left out of the test.
            let both: Vec<&FileRecord> = g
                .iter()
                .copied()
                .filter(|r| r.clean_dice.is_some() && r.adv_dice.is_some())
                .collect();
            let dice = |v: Option<f64>| v.unwrap_or_default();
            vec![
                format!(
                    "{} → {}",
                    show(mean(|r| r.clean_dice)),
                    show(mean(|r| r.adv_dice))
                ),
                show(mean(|r| r.written_dice)),
                paired_p(&both, |r| dice(r.clean_dice), |r| dice(r.adv_dice)),
                format!(
                    "{:.4}",
                    g.iter()
                        .flat_map(|r| r.max_file_change.iter().copied())
                        .fold(0.0, f64::max)
                ),
            ]
        },
        &SeverityCurve {
            y_desc: "mean foreground Dice",
            y_range: Some((0.0, 1.0)),
            value: &|r: &FileRecord| r.adv_dice,
            clean: &|r: &FileRecord| r.clean_dice,
        },
    )
}
