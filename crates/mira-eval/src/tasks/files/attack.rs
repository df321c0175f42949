//! One case of the files task: read, cut into slices, attacked at one budget and written back
//! in its source's format.
//!
//! A 2D model attacks a volume slice by slice: every slice across `slice_axis` is normalised
//! with the case's scale, zero-padded to a size a UNet model can halve, attacked, and the
//! change put back. A 3D model attacks the whole volume at once: one item `[C, D·H, W]` in the
//! model's axis order (`axes`; see `SegNet::for_depth`), no padding. In file units a voxel becomes `v + (a - c)(hi - lo)` (`a`, `c`: the
//! adversarial and clean model inputs, `[lo, hi]` the channel's normalisation range), or
//! `lo + a(hi - lo)` where `v` lay outside that range, so that the written file, normalised
//! with the same scale, gives the model exactly the input the attack found (up to the file's
//! storage precision). Every written file is then read back, predicted and scored: the attack
//! as it survives writing.

use std::path::{Path, PathBuf};

use mira_data::SegDataset;
use mira_report::Perceptibility;
use mira_stats::mean_defined;

use crate::cells::CellId;
use crate::run::mix;
use crate::tasks::files::case_io::{
    Scales, pool_perceptibility, volumes, write_values, written_dice,
};
use crate::tasks::files::{FileRecord, FilesExperiment, FilesReady};
use crate::tasks::segmentation::folder::{
    Channel3, FolderCase, FolderSpec, ReadCase, SliceSelection, VolumeAxes, cut, put, read_case,
    read_labels, slice_count, slice_item, slice_shape, unfit,
};
use crate::tasks::segmentation::{Cell, Kept, SegNet, WindowAttack, Windowing};
use crate::{EvalError, Result};

pub(crate) fn slices_dataset(
    channels: &[Channel3],
    labels: &[u8],
    axis: usize,
    pad: usize,
    names: (&[String], &[String]),
) -> (SegDataset, (usize, usize), (usize, usize)) {
    let dims = channels[0].dims;
    let hw = slice_shape(dims, axis);
    let target = (hw.0.div_ceil(pad) * pad, hw.1.div_ceil(pad) * pad);
    let items = (0..slice_count(dims, axis))
        .map(|k| slice_item(channels, labels, axis, k, target))
        .collect();
    let data = SegDataset {
        items,
        channel_names: names.0.to_vec(),
        label_names: names.1.to_vec(),
    };
    (data, hw, target)
}

/// A case cut into padded slices, with the model's clean prediction and the reference labels.
pub(crate) struct CaseSlices {
    /// The slices; their labels are the reference (the label map, else the clean prediction).
    pub data: SegDataset,
    /// The model's clean prediction per slice.
    pub clean: Vec<Vec<u8>>,
    /// The axis the volume was cut across (2 for 2D files).
    pub axis: usize,
    /// A slice's size in the file.
    pub hw: (usize, usize),
    /// A slice's size padded for the model.
    pub target: (usize, usize),
    /// Whether the reference is a label map.
    pub labelled: bool,
    /// A 3D model's volume: the model's spatial sizes `[D, H, W]` (one item).
    pub volume: Option<[usize; 3]>,
}

impl CaseSlices {
    /// The network for these items (a 3D graph learns the volumes' depth).
    pub(crate) fn model(&self, net: &SegNet) -> SegNet {
        net.for_depth(self.volume.map_or(0, |v| v[0]))
    }
}

/// The whole volume as one item `[C, D·H, W]` in the model's axis order.
pub(crate) fn volume_dataset(
    channels: &[Channel3],
    labels: &[u8],
    axes: VolumeAxes,
    names: (&[String], &[String]),
) -> (SegDataset, [usize; 3]) {
    let dims = channels[0].dims;
    let [d, h, w] = axes.model_dims(dims);
    let mut image = Vec::with_capacity(channels.len() * d * h * w);
    for c in channels {
        image.extend(axes.to_model(&c.data, dims));
    }
    let item = mira_data::SegSlice {
        image,
        labels: axes.to_model(labels, dims),
        channels: channels.len(),
        height: d * h,
        width: w,
    };
    let data = SegDataset {
        items: vec![item],
        channel_names: names.0.to_vec(),
        label_names: names.1.to_vec(),
    };
    (data, [d, h, w])
}

/// The folder settings the readers take.
fn folder_spec(exp: &FilesExperiment, ready: &FilesReady) -> FolderSpec {
    FolderSpec {
        path: PathBuf::new(),
        images: "images".into(),
        labels: "labels".into(),
        channels: ready.channels.clone(),
        label_names: ready.label_names.clone(),
        label_values: Some(ready.label_values.clone()),
        normalise: exp.normalise,
        slice_axis: exp.slice_axis,
        slices: SliceSelection::All,
        size: None,
        split: [0.0, 0.0, 1.0],
    }
}

/// Reads `case` and cuts it into slices the model can take, with its clean prediction.
///
/// # Errors
/// Unreadable or inconsistent files.
pub(crate) fn case_slices(
    exp: &FilesExperiment,
    ready: &FilesReady,
    case: &FolderCase,
) -> Result<(CaseSlices, ReadCase)> {
    let spec = folder_spec(exp, ready);
    let rc = read_case(case, ready.channels.len(), &spec)?;
    let dims = rc.channels[0].dims;
    let axis = if dims[2] == 1 { 2 } else { exp.slice_axis };
    let truth = case
        .label
        .as_deref()
        .map(|p| read_labels(p, dims, &spec))
        .transpose()?;
    let zeros;
    let labels = match truth.as_deref() {
        Some(t) => t,
        None => {
            zeros = vec![0; dims.iter().product()];
            &zeros
        }
    };
    let names = (&ready.channels[..], &ready.label_names[..]);
    let (mut data, hw, target, volume) = if ready.model.is_volumetric() {
        let (data, v) = volume_dataset(&rc.channels, labels, exp.axes, names);
        (data, (v[0] * v[1], v[2]), (v[0] * v[1], v[2]), Some(v))
    } else {
        let (data, hw, target) = slices_dataset(&rc.channels, labels, axis, ready.multiple, names);
        (data, hw, target, None)
    };
    let model = ready.model.for_depth(volume.map_or(0, |v| v[0]));
    let clean = model.predict_labels(&data, exp.batch_size)?;
    if truth.is_none() {
        for (s, p) in data.items.iter_mut().zip(&clean) {
            s.labels.clone_from(p);
        }
    }
    let slices = CaseSlices {
        data,
        clean,
        axis,
        hw,
        target,
        labelled: truth.is_some(),
        volume,
    };
    Ok((slices, rc))
}

/// Attacks case `index` at `eps` (a windowed 3D model: through the blend or the tiles, `mode`),
/// writes it under `out/eps_<ε>/` (tiles: `out/tiles_eps_<ε>/`) and scores what was written.
///
/// # Errors
/// Reading, attacking or writing fails.
pub(crate) fn attack_case(
    exp: &FilesExperiment,
    ready: &FilesReady,
    index: usize,
    (eps, mode): (f32, WindowAttack),
    out: &Path,
) -> Result<FileRecord> {
    let case = &ready.cases[index];
    let (slices, rc) = case_slices(exp, ready, case)?;
    let attack = crate::tasks::files::attack_name(exp, mode);
    let id = CellId {
        model: exp.model_name(),
        attack: &attack,
        norm: exp.norm,
        epsilon: eps,
        batch_size: exp.batch_size,
        seed: mix(exp.seed, name_hash(&case.name)),
    };
    let window = exp.windowing().map(|w| Windowing { attack: mode, ..w });
    let model = slices.model(&ready.model).with_window(window);
    let cell = Cell {
        loss: exp.attack.loss,
        losses: exp.attack.losses.clone().unwrap_or_default(),
        ..Cell::untargeted(id, &model, &ready.spec)
    };
    let (data, clean) = (&slices.data, &slices.clean);
    let (records, kept) = cell.run_batches(data, clean, None, true, &mut |_| {})?;
    let (adv, linf) = adversarial_channels(&rc, &slices, &kept, exp.axes);
    let rel = PathBuf::from(match mode {
        WindowAttack::Tiles => format!("tiles_eps_{eps}"),
        _ => format!("eps_{eps}"),
    });
    let dir = out.join(&rel);
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let written = write_case(exp, case, &rc, &adv, &dir)?;
    let back = written_dice(
        exp,
        ready,
        &written.paths,
        Scales::Given(&rc.scales),
        &slices,
    )?;
    let (written_dice, written_pred) = (back.dice, back.volume_pred);
    let volumes = volumes(exp, ready, &rc, &slices, written_pred.as_deref());
    let mean = |f: &dyn Fn(&mira_report::SegRecord) -> Option<f64>| {
        let v: Vec<Option<f64>> = records.iter().map(f).collect();
        mean_defined(&v)
    };
    let names = written.paths.iter().filter_map(|p| p.file_name());
    let reference = if slices.labelled {
        "labels"
    } else {
        "clean prediction"
    };
    let perceptibility = pooled_perceptibility(&records);
    let physical = exp.physical(eps);
    Ok(FileRecord {
        draw: None,
        corruption: None,
        perceptibility,
        epsilon_physical: physical.map(|b| b.physical),
        epsilon_unit: physical.map(|b| b.unit.to_string()),
        model: exp.model_name().to_string(),
        attack: attack.clone(),
        epsilon: crate::run::eps_f64(eps),
        case: index,
        name: case.name.clone(),
        format: rc.files[0].1.format(),
        sources: case
            .images
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        outputs: names.map(|n| rel.join(n).display().to_string()).collect(),
        slices: data.items.len(),
        reference: reference.into(),
        scales: rc.scales.clone(),
        clean_dice: mean(&|r| mean_defined(&r.clean_dice)),
        adv_dice: mean(&|r| mean_defined(&r.adv_dice)),
        written_dice,
        volumes,
        linf,
        max_file_change: written.max_change,
        moved_into_range: written.moved,
        max_moved_change: written.max_moved,
    })
}

/// The adversarial channels in model units, cropped back to the volume, and their largest
/// change.
fn adversarial_channels(
    rc: &ReadCase,
    s: &CaseSlices,
    kept: &[Kept],
    axes: VolumeAxes,
) -> (Vec<Vec<f32>>, f64) {
    let dims = rc.channels[0].dims;
    let px = s.target.0 * s.target.1;
    let mut adv: Vec<Vec<f32>> = rc.channels.iter().map(|c| c.data.clone()).collect();
    let mut linf = 0f64;
    if s.volume.is_some() {
        for (_, a, _) in kept {
            for (c, ch) in adv.iter_mut().enumerate() {
                *ch = axes.from_model(&a[c * px..(c + 1) * px], dims);
                for (x, y) in ch.iter().zip(&rc.channels[c].data) {
                    linf = linf.max(f64::from((x - y).abs()));
                }
            }
        }
        return (adv, linf);
    }
    for (k, a, _) in kept {
        for (c, ch) in adv.iter_mut().enumerate() {
            let mut slice = cut(ch, dims, s.axis, *k);
            unfit(&a[c * px..(c + 1) * px], s.target, &mut slice, s.hw);
            let before = cut(&rc.channels[c].data, dims, s.axis, *k);
            for (x, y) in slice.iter().zip(&before) {
                linf = linf.max(f64::from((x - y).abs()));
            }
            put(ch, dims, s.axis, *k, &slice);
        }
    }
    (adv, linf)
}

/// What writing a case changed.
struct Written {
    paths: Vec<PathBuf>,
    max_change: Vec<f64>,
    moved: usize,
    max_moved: f64,
}

/// Writes the adversarial case into `dir`, file by file, in file units.
fn write_case(
    exp: &FilesExperiment,
    case: &FolderCase,
    rc: &ReadCase,
    adv: &[Vec<f32>],
    dir: &Path,
) -> Result<Written> {
    let channels = rc.channels.len();
    let mut w = Written {
        paths: Vec::new(),
        max_change: vec![0f64; channels],
        moved: 0,
        max_moved: 0.0,
    };
    let eps_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let desc = format!("Mira {} {eps_name} ({:?})", exp.attack.name, exp.norm);
    w.paths = write_values(case, rc, dir, &desc, &mut |c, i, orig| {
        let (a, cl) = (adv[c][i], rc.channels[c].data[i]);
        if a == cl {
            return orig;
        }
        let (lo, hi) = rc.scales[c];
        let inside = (lo..=hi).contains(&orig);
        let new = if inside {
            orig + (a - cl) * (hi - lo)
        } else {
            lo + a * (hi - lo)
        };
        let change = f64::from((new - orig).abs());
        if inside {
            w.max_change[c] = w.max_change[c].max(change);
        } else {
            w.moved += 1;
            w.max_moved = w.max_moved.max(change);
        }
        new
    })?;
    Ok(w)
}

/// The voxel spacing (mm) of a case in the model's axis order.
pub(crate) fn model_spacing(rc: &ReadCase, exp: &FilesExperiment) -> [f64; 3] {
    let s = &rc.files[0].0.spacing;
    let at = |i: usize| {
        s.get(i)
            .copied()
            .filter(|v| *v > 0.0)
            .map_or(1.0, f64::from)
    };
    let (x, y, z) = (at(0), at(1), at(2));
    match exp.axes {
        VolumeAxes::Zyx => [z, y, x],
        VolumeAxes::Xyz => [x, y, z],
    }
}

/// FNV-1a of a case name: the case's own stream of attack randomness.
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A case's PSNR and SSIM in model units from its slices' (one record: a volume's own).
fn pooled_perceptibility(records: &[mira_report::SegRecord]) -> Option<Perceptibility> {
    let all: Vec<Perceptibility> = records
        .iter()
        .map(|r| r.perceptibility.clone())
        .collect::<Option<_>>()?;
    pool_perceptibility(&all)
}
