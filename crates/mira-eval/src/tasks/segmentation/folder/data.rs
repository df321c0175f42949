//! A user's folder of image/label pairs as train / validation / test [`SegDataset`]s: cases
//! found by file stem, split by case with a seeded shuffle, channels normalised per case,
//! volumes cut into 2D slices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mira_data::{SegDataset, SegSlice};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::tasks::segmentation::folder::{
    Channel3, channels_of, cut, normalised, scale_of, slice_count, slice_item, slice_shape,
};
use crate::tasks::segmentation::folder::{FolderSpec, SliceSelection};
use crate::{EvalError, Result};

/// One case: the file(s) of its image and the file of its label map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderCase {
    /// The stem shared by its files.
    pub name: String,
    /// One file per channel, or one file holding every channel.
    pub images: Vec<PathBuf>,
    /// The label map (absent when scanning images alone).
    pub label: Option<PathBuf>,
}

/// Where a test slice came from (written to `OUT/cases.json` by folder runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceRef {
    /// Case name.
    pub case: String,
    /// Slice index across `slice_axis`.
    pub slice: usize,
}

fn io(path: &Path, e: std::io::Error) -> EvalError {
    EvalError::io(path, e)
}

/// The image files of a folder by stem (sorted).
fn stems(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let p = e.map_err(|e| io(dir, e))?.path();
        if mira_io::is_medical_path(&p) {
            out.insert(mira_io::image_stem(&p), p);
        }
    }
    Ok(out)
}

/// Finds the cases of `images` (and their label maps in `labels`, when given). A stem
/// `<case>_<channel>` for a declared channel is one channel of `<case>`; any other stem is a
/// case whose single file holds every channel.
///
/// # Errors
/// Unreadable folders, no cases, a case missing a channel file or its label map.
pub fn scan_cases(
    images: &Path,
    labels: Option<&Path>,
    channels: &[String],
) -> Result<Vec<FolderCase>> {
    let found = stems(images)?;
    let mut cases: BTreeMap<String, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for (stem, path) in &found {
        // `<case>_<channel>`, the channel matched without regard to case (T1c, t1c).
        let split = channels.iter().enumerate().find_map(|(c, ch)| {
            let suffix = format!("_{ch}");
            let cut = stem.len().checked_sub(suffix.len())?;
            (cut > 0 && stem.is_char_boundary(cut) && stem[cut..].eq_ignore_ascii_case(&suffix))
                .then(|| (stem[..cut].to_string(), c))
        });
        match split {
            Some((case, c)) => cases.entry(case).or_default().push((c, path.clone())),
            None => cases
                .entry(stem.clone())
                .or_default()
                .push((usize::MAX, path.clone())),
        }
    }
    if cases.is_empty() {
        return Err(EvalError::invalid(
            images.display().to_string(),
            "no image files (.nii, .nii.gz, .dcm, DICOM folders, .png, .jpg)",
        ));
    }
    let label_stems = labels.map(stems).transpose()?;
    let mut out = Vec::new();
    for (name, mut files) in cases {
        files.sort();
        let paths: Vec<PathBuf> = if files.len() == 1 && files[0].0 == usize::MAX {
            vec![files[0].1.clone()]
        } else {
            if files.iter().any(|(c, _)| *c == usize::MAX) || files.len() != channels.len() {
                let have: Vec<String> =
                    files.iter().map(|(_, p)| p.display().to_string()).collect();
                return Err(EvalError::invalid(
                    images.display().to_string(),
                    format!(
                        "case `{name}` needs one file per channel {channels:?} (or one file with \
                         every channel); found {have:?}"
                    ),
                ));
            }
            files.into_iter().map(|(_, p)| p).collect()
        };
        let label = match (&label_stems, labels) {
            (Some(l), Some(dir)) => Some(l.get(&name).cloned().ok_or_else(|| {
                EvalError::invalid(
                    dir.display().to_string(),
                    format!("no label map for case `{name}` (a file with stem `{name}`)"),
                )
            })?),
            _ => None,
        };
        out.push(FolderCase {
            name,
            images: paths,
            label,
        });
    }
    Ok(out)
}

/// A case read: normalised channels (all of one size), the `(lo, hi)` that map to 0 and 1 per
/// channel, the raw channels, and the source of each file (for writing back).
pub struct ReadCase {
    /// Channels in [0, 1].
    pub channels: Vec<Channel3>,
    /// Per channel, the intensities mapped to 0 and 1.
    pub scales: Vec<(f32, f32)>,
    /// Per file: the volume as read and its source.
    pub files: Vec<(mira_io::Volume, mira_io::MedicalSource)>,
}

/// Reads and normalises a case's image files.
///
/// # Errors
/// Read errors, non-finite values, a channel count other than `n_channels`, channels of
/// different sizes.
pub fn read_case(case: &FolderCase, n_channels: usize, spec: &FolderSpec) -> Result<ReadCase> {
    let mut raw = Vec::new();
    let mut files = Vec::new();
    for p in &case.images {
        let (v, src) = mira_io::read_medical(p)?;
        if v.data.iter().any(|x| !x.is_finite()) {
            return Err(EvalError::invalid(
                p.display().to_string(),
                "holds NaN or infinite values",
            ));
        }
        let ch = channels_of(p, &v, &src)?;
        if case.images.len() > 1 && ch.len() != 1 {
            return Err(EvalError::invalid(
                p.display().to_string(),
                format!("a per-channel file must hold one channel, not {}", ch.len()),
            ));
        }
        raw.extend(ch.into_iter().map(|c| (p.clone(), c)));
        files.push((v, src));
    }
    if raw.len() != n_channels {
        return Err(EvalError::invalid(
            case.images[0].display().to_string(),
            format!(
                "case `{}` has {} channel(s), the data declares {n_channels}",
                case.name,
                raw.len()
            ),
        ));
    }
    let dims = raw[0].1.dims;
    let mut channels = Vec::new();
    let mut scales = Vec::new();
    for (p, c) in raw {
        if c.dims != dims {
            return Err(EvalError::invalid(
                p.display().to_string(),
                format!(
                    "dims {:?} differ from the case's first channel {dims:?}",
                    c.dims
                ),
            ));
        }
        let s = scale_of(&p, &c.data, &spec.normalise)?;
        channels.push(Channel3 {
            dims,
            data: normalised(&c.data, s),
        });
        scales.push(s);
    }
    Ok(ReadCase {
        channels,
        scales,
        files,
    })
}

/// Reads a label map as class indices.
///
/// # Errors
/// Read errors, non-integer values, values not in `label_values`, dims other than `dims`.
pub fn read_labels(path: &Path, dims: [usize; 3], spec: &FolderSpec) -> Result<Vec<u8>> {
    let (v, src) = mira_io::read_medical(path)?;
    let ch = channels_of(path, &v, &src)?;
    let name = path.display().to_string();
    if ch.len() != 1 || ch[0].dims != dims {
        return Err(EvalError::invalid(
            name,
            format!(
                "label map of {} channel(s), dims {:?}; the image has dims {dims:?}",
                ch.len(),
                ch[0].dims
            ),
        ));
    }
    let values = spec.label_values();
    ch[0]
        .data
        .iter()
        .map(|&x| {
            let r = x.round();
            match values
                .iter()
                .position(|&v| (r - x).abs() < 1e-3 && v as f32 == r)
            {
                Some(c) => Ok(c as u8),
                None => Err(EvalError::invalid(
                    name.clone(),
                    format!("label value {x} is not one of label_values {values:?}"),
                )),
            }
        })
        .collect()
}

/// Case indices of train, validation and test: a seeded shuffle of the cases, cut by the
/// split fractions (at least one test case).
pub fn split_cases(n: usize, split: [f64; 3], seed: u64) -> [Vec<usize>; 3] {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let n_test = ((split[2] * n as f64).round() as usize).clamp(1, n);
    let n_val = ((split[1] * n as f64).round() as usize).min(n - n_test);
    let mut parts = [
        idx[..n - n_test - n_val].to_vec(),
        idx[n - n_test - n_val..n - n_test].to_vec(),
        idx[n - n_test..].to_vec(),
    ];
    for p in &mut parts {
        p.sort_unstable();
    }
    parts
}

/// Evenly spaced `cap` of `n` indices (all when `n <= cap`).
fn spaced(n: usize, cap: usize) -> Vec<usize> {
    if n <= cap {
        (0..n).collect()
    } else {
        (0..cap).map(|i| i * n / cap).collect()
    }
}

/// The slices of a set of cases as a dataset, at most `cap` of them (evenly spaced).
///
/// # Errors
/// Reading a case, slices of different sizes without `size`.
pub fn slices_of(
    cases: &[FolderCase],
    spec: &FolderSpec,
    cap: usize,
) -> Result<(SegDataset, Vec<SliceRef>)> {
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    let mut read = Vec::new();
    if cap > 0 {
        for (ci, case) in cases.iter().enumerate() {
            let rc = read_case(case, spec.channels.len(), spec)?;
            let dims = rc.channels[0].dims;
            let label = case.label.as_deref().ok_or_else(|| {
                EvalError::invalid(case.name.clone(), "a case without a label map")
            })?;
            let labels = read_labels(label, dims, spec)?;
            let axis = if dims[2] == 1 { 2 } else { spec.slice_axis };
            for k in 0..slice_count(dims, axis) {
                if spec.slices == SliceSelection::All
                    || cut(&labels, dims, axis, k).iter().any(|&l| l > 0)
                {
                    candidates.push((ci, k));
                }
            }
            read.push((rc.channels, labels, axis));
        }
    }
    let mut items = Vec::new();
    let mut refs = Vec::new();
    for i in spaced(candidates.len(), cap) {
        let (ci, k) = candidates[i];
        let (channels, labels, axis) = &read[ci];
        let hw = slice_shape(channels[0].dims, *axis);
        let target = spec.size.map_or(hw, |[h, w]| (h, w));
        let item = slice_item(channels, labels, *axis, k, target);
        if let Some(first) = items.first().map(|s: &SegSlice| (s.height, s.width))
            && first != target
        {
            return Err(EvalError::invalid(
                "data.folder.size",
                format!(
                    "slices of {}x{} and {}x{} (case `{}`): give a size to crop or pad them to",
                    first.0, first.1, target.0, target.1, cases[ci].name
                ),
            ));
        }
        items.push(item);
        refs.push(SliceRef {
            case: cases[ci].name.clone(),
            slice: k,
        });
    }
    let data = SegDataset {
        items,
        channel_names: spec.channels.clone(),
        label_names: spec.label_names.clone(),
    };
    if !data.items.is_empty() {
        data.validate()?;
    }
    Ok((data, refs))
}

/// Train, validation and test datasets of a folder (at most `caps` slices each), and where
/// each test slice came from.
///
/// # Errors
/// Scanning or reading errors; too few cases for a split that needs slices.
pub fn folder_datasets(
    spec: &FolderSpec,
    seed: u64,
    caps: [usize; 3],
) -> Result<(SegDataset, SegDataset, SegDataset, Vec<SliceRef>)> {
    let cases = scan_cases(
        &spec.path.join(&spec.images),
        Some(&spec.path.join(&spec.labels)),
        &spec.channels,
    )?;
    let parts = split_cases(cases.len(), spec.split, seed);
    let names = ["train", "val", "test"];
    let mut sets = Vec::new();
    let mut test_refs = Vec::new();
    for (s, part) in parts.iter().enumerate() {
        if caps[s] > 0 && part.is_empty() {
            return Err(EvalError::invalid(
                "data.folder.split",
                format!("{} cases leave none for {}", cases.len(), names[s]),
            ));
        }
        let chosen: Vec<FolderCase> = part.iter().map(|&i| cases[i].clone()).collect();
        let (set, refs) = slices_of(&chosen, spec, caps[s])?;
        if caps[s] > 0 && set.items.is_empty() {
            return Err(EvalError::invalid(
                "data.folder.slices",
                format!(
                    "the {} cases have no slice to use (no foreground?)",
                    names[s]
                ),
            ));
        }
        if s == 2 {
            test_refs = refs;
        }
        sets.push(set);
    }
    let [train, val, test]: [SegDataset; 3] = sets
        .try_into()
        .map_err(|_| EvalError::invalid("data.folder", "three splits expected"))?;
    Ok((train, val, test, test_refs))
}
