//! Reading and writing a files case beside the attack: its source values, copies written with
//! new values in its format, read back, normalised and scored by the model; the scores and
//! perceptibility pooled over a case's slices. Shared by attacks (`attack.rs`) and corruptions
//! (`corrupt.rs`).

use std::path::{Path, PathBuf};

use mira_data::SegDataset;
use mira_report::Perceptibility;
use mira_stats::mean_defined;

use crate::Result;
use crate::tasks::files::attack::{CaseSlices, slices_dataset, volume_dataset};
use crate::tasks::files::{FilesExperiment, FilesReady, VolumeMetrics};
use crate::tasks::segmentation::folder::{Channel3, FolderCase, ReadCase};
use crate::tasks::segmentation::volume_metrics::{hd95_per_label, volumes_ml};

/// Writes a copy of the case's files into `dir` in their formats, each voxel `i` of channel
/// `c` given the value `value(c, i, source value)` (file units); the written paths.
///
/// # Errors
/// Writing fails.
pub(crate) fn write_values(
    case: &FolderCase,
    rc: &ReadCase,
    dir: &Path,
    desc: &str,
    value: &mut dyn FnMut(usize, usize, f32) -> f32,
) -> Result<Vec<PathBuf>> {
    let dims = rc.channels[0].dims;
    let per_file = rc.channels.len() / rc.files.len();
    let len = dims.iter().product::<usize>();
    let mut paths = Vec::new();
    for (f, ((vol, src), path)) in rc.files.iter().zip(&case.images).enumerate() {
        let mut v = vol.clone();
        for j in 0..per_file {
            let c = f * per_file + j;
            for i in 0..len {
                let idx = file_index(vol, src, per_file, j, i, len);
                v.data[idx] = value(c, i, vol.data[idx]);
            }
        }
        let name = mira_io::image_stem(path);
        paths.push(mira_io::write_medical_like(&dir.join(name), &v, src, desc)?);
    }
    Ok(paths)
}

/// A case's source channels in file units, in the order of `rc.channels`.
pub(crate) fn source_values(rc: &ReadCase) -> Vec<Vec<f32>> {
    let dims = rc.channels[0].dims;
    let per_file = rc.channels.len() / rc.files.len();
    let len = dims.iter().product::<usize>();
    let mut out = Vec::with_capacity(rc.channels.len());
    for (vol, src) in &rc.files {
        for j in 0..per_file {
            out.push(
                (0..len)
                    .map(|i| vol.data[file_index(vol, src, per_file, j, i, len)])
                    .collect(),
            );
        }
    }
    out
}

/// How read-back files are normalised: with given scales per channel (the source's, as the
/// attack saw them), or each with its own (a corrupted scan through the usual pipeline).
pub(crate) enum Scales<'a> {
    Given(&'a [(f32, f32)]),
    Own(&'a crate::tasks::segmentation::folder::Normalise),
}

/// Reads the written files back, normalises them (`scales`) and scores the model's
/// prediction against the case's reference labels: the mean Dice, a volume's prediction, the
/// model inputs and the scales used.
pub(crate) fn written_dice(
    exp: &FilesExperiment,
    ready: &FilesReady,
    outputs: &[PathBuf],
    scales: Scales<'_>,
    slices: &CaseSlices,
) -> Result<Scored> {
    let mut channels = Vec::new();
    for p in outputs {
        let (v, s) = mira_io::read_medical(p)?;
        channels.extend(crate::tasks::segmentation::folder::channels_of(p, &v, &s)?);
    }
    let channels_len = channels.len();
    let mut used = Vec::with_capacity(channels_len);
    for (c, ch) in channels.iter_mut().enumerate() {
        let scale = match &scales {
            Scales::Given(s) => s[c],
            Scales::Own(n) => {
                let path = outputs[c * outputs.len() / channels_len].as_path();
                crate::tasks::segmentation::folder::scale_of(path, &ch.data, n)?
            }
        };
        ch.data = crate::tasks::segmentation::folder::normalised(&ch.data, scale);
        used.push(scale);
    }
    let mut scored = score_channels(exp, ready, &channels, slices)?;
    scored.scales = used;
    Ok(scored)
}

/// A case's channels as the model scored them.
pub(crate) struct Scored {
    /// Mean over slices (one for a volume) of the mean foreground Dice.
    pub dice: Option<f64>,
    /// A volume's prediction.
    pub volume_pred: Option<Vec<u8>>,
    /// The model inputs (slices padded as the clean ones).
    pub data: SegDataset,
    /// The normalisation scales used (empty: not read back).
    pub scales: Vec<(f32, f32)>,
}

/// Scores normalised `channels` of a case: the model's prediction against the reference
/// labels of the clean slices.
pub(crate) fn score_channels(
    exp: &FilesExperiment,
    ready: &FilesReady,
    channels: &[Channel3],
    slices: &CaseSlices,
) -> Result<Scored> {
    let none: Vec<u8> = vec![0; channels[0].dims.iter().product()];
    let names = (&ready.channels[..], &ready.label_names[..]);
    let back = if slices.volume.is_some() {
        volume_dataset(channels, &none, exp.axes, names).0
    } else {
        slices_dataset(channels, &none, slices.axis, ready.multiple, names).0
    };
    let data = &slices.data;
    let pred = slices
        .model(&ready.model)
        .predict_labels(&back, exp.batch_size)?;
    Ok(Scored {
        dice: mean_slice_dice(&pred, data, ready.label_names.len())?,
        volume_pred: slices.volume.and_then(|_| pred.into_iter().next()),
        data: back,
        scales: Vec::new(),
    })
}

/// Index in the file's volume of voxel `i` of channel `j` of that file (colour PNGs
/// interleave channels; 4D NIfTI stacks them).
fn file_index(
    vol: &mira_io::Volume,
    src: &mira_io::MedicalSource,
    per_file: usize,
    j: usize,
    i: usize,
    len: usize,
) -> usize {
    match src {
        mira_io::MedicalSource::Image2d(info) if info.channels == 3 && vol.dims.len() == 3 => {
            j + 3 * i
        }
        _ if per_file > 1 => j * len + i,
        _ => i,
    }
}

/// Slices' PSNR and SSIM pooled into the case's (one: a volume's own): SSIM the mean over
/// slices per channel, PSNR from the mean squared error over slices (slices are padded to one
/// size, so the mean of their MSEs is the case's, padding included).
pub(crate) fn pool_perceptibility(all: &[Perceptibility]) -> Option<Perceptibility> {
    if let [one] = all {
        return Some(one.clone());
    }
    let n = all.len().max(1) as f64;
    let channels = all.first()?.ssim_channels.len();
    let ssim_channels: Vec<f64> = (0..channels)
        .map(|c| all.iter().map(|p| p.ssim_channels[c]).sum::<f64>() / n)
        .collect();
    let mse = all
        .iter()
        .map(|p| p.psnr.map_or(0.0, |db| 10f64.powf(-db / 10.0)))
        .sum::<f64>()
        / n;
    Some(Perceptibility {
        psnr: (mse > 0.0).then(|| -10.0 * mse.log10()),
        ssim: ssim_channels.iter().sum::<f64>() / channels.max(1) as f64,
        ssim_channels,
        window: all.first()?.window,
    })
}

/// The mean over a case's slices (one for a volume) of the clean prediction's mean
/// foreground Dice against the reference.
///
/// # Errors
/// Predictions and labels of different sizes.
pub(crate) fn clean_dice(ready: &FilesReady, slices: &CaseSlices) -> Result<Option<f64>> {
    mean_slice_dice(&slices.clean, &slices.data, ready.label_names.len())
}

/// The mean over slices of the mean foreground Dice of `preds` against `data`'s labels (`k`
/// classes).
fn mean_slice_dice(preds: &[Vec<u8>], data: &SegDataset, k: usize) -> Result<Option<f64>> {
    let per = preds
        .iter()
        .zip(&data.items)
        .map(|(p, s)| {
            Ok(mean_defined(&crate::tasks::segmentation::dice(
                p, &s.labels, k, false,
            )?))
        })
        .collect::<Result<Vec<Option<f64>>>>()?;
    Ok(mean_defined(&per))
}

/// A volume's HD95 and label volumes, clean and as written.
pub(crate) fn volumes(
    exp: &FilesExperiment,
    ready: &FilesReady,
    rc: &ReadCase,
    slices: &CaseSlices,
    written: Option<&[u8]>,
) -> Option<VolumeMetrics> {
    let v = slices.volume?;
    let k = ready.label_names.len();
    let spacing = crate::tasks::files::attack::model_spacing(rc, exp);
    let truth = &slices.data.items[0].labels;
    let hd = |p: &[u8]| hd95_per_label(p, truth, v, spacing, k);
    let ml = |p: &[u8]| volumes_ml(p, spacing, k);
    let written = written.unwrap_or(&[]);
    Some(VolumeMetrics {
        hd95_clean: hd(&slices.clean[0]),
        hd95_written: hd(written),
        ml_reference: ml(truth),
        ml_clean: ml(&slices.clean[0]),
        ml_written: ml(written),
    })
}
