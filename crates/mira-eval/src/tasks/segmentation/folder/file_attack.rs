//! `mira attack --input DIR`: attack a segmentation model on a user's image files and write
//! the adversarial images back in each file's own format (NIfTI, DICOM file or series, PNG),
//! with a JSON manifest that says what was done and checks the written files end to end.
//!
//! A volume is attacked slice by slice (the model is 2D): every slice across `slice_axis` is
//! normalised with the case's scale, zero-padded to a size the UNet can halve, attacked, and
//! the change put back. In file units a voxel becomes `v + (a - c)(hi - lo)` (`a`, `c`: the
//! adversarial and clean model inputs, `[lo, hi]` the channel's normalisation range), or
//! `lo + a(hi - lo)` where `v` lay outside that range, so that the written file, normalised
//! with the same scale, gives the model exactly the input the attack found (up to the file's
//! storage precision). The manifest then re-reads every written file, predicts it and records
//! the Dice it reaches: the attack as it survives writing.

use std::path::{Path, PathBuf};

use mira_attack::{AttackSpec, Norm};
use mira_data::SegDataset;
use mira_nn::UNet;
use mira_stats::mean_defined;
use serde::{Deserialize, Serialize};

use crate::run::folder::write_atomic;
use crate::run::mix;
use crate::tasks::segmentation::folder::{
    Channel3, cut, put, slice_count, slice_item, slice_shape, unfit,
};
use crate::tasks::segmentation::folder::{FolderCase, Normalise, read_case, read_labels};
use crate::tasks::segmentation::{Cell, GoalSpec};
use crate::{EvalError, Result};

/// What to attack and how.
pub struct FileAttack<'a> {
    /// The model.
    pub model: &'a UNet,
    /// Its depth (slices are padded to a multiple of `2^depth`).
    pub depth: usize,
    /// Attack name in the manifest.
    pub attack_name: &'a str,
    /// The attack.
    pub spec: &'a AttackSpec,
    /// Budget norm; budgets in [0, 1] model units.
    pub norm: Norm,
    /// Budgets.
    pub epsilons: &'a [f32],
    /// Channel names (their count is the model's input channels).
    pub channels: &'a [String],
    /// Label names (background first); label files use `label_values`.
    pub label_names: &'a [String],
    /// Value of each class in label files.
    pub label_values: Vec<i64>,
    /// Normalisation to model units.
    pub normalise: Normalise,
    /// Axis volumes are cut across.
    pub slice_axis: usize,
    /// Slices per forward pass.
    pub batch_size: usize,
    /// Seed of random starts.
    pub seed: u64,
}

/// One written adversarial case at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileOutput {
    /// Case name (file stem).
    pub case: String,
    /// Budget in model units.
    pub epsilon: f64,
    /// Format written.
    pub format: String,
    /// Source files.
    pub sources: Vec<String>,
    /// Files written (one per source).
    pub outputs: Vec<String>,
    /// Slices attacked.
    pub slices: usize,
    /// What Dice is measured against: `labels` (given label maps) or `clean prediction`.
    pub reference: String,
    /// Per channel, the file intensities mapped to 0 and 1.
    pub scales: Vec<(f32, f32)>,
    /// Mean over slices of the clean mean Dice (foreground classes).
    pub clean_dice: Option<f64>,
    /// The same for the adversarial input the attack found (in memory).
    pub adv_dice: Option<f64>,
    /// The same for the written file, read back and normalised with `scales`.
    pub written_dice: Option<f64>,
    /// Largest |adversarial − clean| in model units over the case (≤ ε for L∞).
    pub linf: f64,
    /// Per channel, the largest |written − source| in file units over voxels inside the
    /// normalisation range (at most ε·(hi − lo) for L∞, before storage rounding).
    pub max_file_change: Vec<f64>,
    /// Voxels whose source value lay outside the normalisation range (clipped in model units)
    /// and were moved into it so the model sees the adversarial input.
    pub moved_into_range: usize,
    /// Largest |written − source| over those moved voxels, file units (0 when none).
    pub max_moved_change: f64,
}

/// The manifest of an attack on files: settings, then one entry per (case, ε).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileManifest {
    /// `mira-file-attack/1`.
    pub format: String,
    /// Mira version and git commit of the build that started the folder.
    pub mira: crate::run::BuildInfo,
    /// Everything that must match for a resume: model weights hash, attack, norm, channels,
    /// normalisation, axis, seed.
    pub settings: serde_json::Value,
    /// Written cases.
    pub outputs: Vec<FileOutput>,
}

const FORMAT: &str = "mira-file-attack/1";

fn slices_dataset(
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

impl FileAttack<'_> {
    fn settings(&self, weights_sha256: &str) -> serde_json::Value {
        serde_json::json!({
            "weights_sha256": weights_sha256,
            "attack": self.attack_name,
            "spec": format!("{:?}", self.spec),
            "norm": format!("{:?}", self.norm),
            "channels": self.channels,
            "label_values": self.label_values,
            "normalise": self.normalise,
            "slice_axis": self.slice_axis,
            "seed": self.seed,
        })
    }

    fn folder_spec(&self) -> crate::tasks::segmentation::folder::FolderSpec {
        crate::tasks::segmentation::folder::FolderSpec {
            path: PathBuf::new(),
            images: "images".into(),
            labels: "labels".into(),
            channels: self.channels.to_vec(),
            label_names: self.label_names.to_vec(),
            label_values: Some(self.label_values.clone()),
            normalise: self.normalise,
            slice_axis: self.slice_axis,
            slices: crate::tasks::segmentation::folder::SliceSelection::All,
            size: None,
            split: [0.0, 0.0, 1.0],
        }
    }

    /// Attacks every case at every budget, writing `out/eps_<ε>/<file>` and
    /// `out/manifest.json` (atomically, after each case and budget, so an interrupted run
    /// resumes where it stopped). The SHA-256 of `weights` (the model's file) pins the model.
    ///
    /// # Errors
    /// Reading, attacking or writing; a manifest in `out` with other settings.
    pub fn run(
        &self,
        cases: &[FolderCase],
        out: &Path,
        weights: &Path,
        progress: &mut dyn FnMut(&FileOutput),
    ) -> Result<FileManifest> {
        std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
        let settings = self.settings(&crate::run::file_hash(weights)?);
        let path = out.join("manifest.json");
        let mut manifest = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let m: FileManifest =
                    serde_json::from_str(&text).map_err(|e| EvalError::io(&path, e))?;
                if m.format != FORMAT || m.settings != settings {
                    return Err(EvalError::invalid(
                        "out",
                        format!(
                            "{} holds an attack with other settings or weights; use a new folder",
                            out.display()
                        ),
                    ));
                }
                m
            }
            Err(_) => FileManifest {
                format: FORMAT.into(),
                mira: crate::run::BuildInfo::current(),
                settings,
                outputs: Vec::new(),
            },
        };
        let spec = self.folder_spec();
        for case in cases {
            let todo: Vec<f32> = self
                .epsilons
                .iter()
                .copied()
                .filter(|&e| {
                    !manifest
                        .outputs
                        .iter()
                        .any(|o| o.case == case.name && o.epsilon == crate::run::eps_f64(e))
                })
                .collect();
            if todo.is_empty() {
                continue;
            }
            let rc = read_case(case, self.channels.len(), &spec)?;
            let dims = rc.channels[0].dims;
            let axis = if dims[2] == 1 { 2 } else { self.slice_axis };
            let truth = case
                .label
                .as_deref()
                .map(|p| read_labels(p, dims, &spec))
                .transpose()?;
            let (mut data, hw, target) = slices_dataset(
                &rc.channels,
                truth.as_deref().unwrap_or(&vec![0; dims.iter().product()]),
                axis,
                1 << self.depth,
                (self.channels, self.label_names),
            );
            let clean = mira_train::predict_labels(self.model, &data, self.batch_size)?;
            if truth.is_none() {
                for (s, p) in data.items.iter_mut().zip(&clean) {
                    s.labels.clone_from(p);
                }
            }
            for &eps in &todo {
                let o = self.one(
                    case,
                    &rc,
                    &data,
                    &clean,
                    (axis, hw, target),
                    eps,
                    out,
                    truth.is_some(),
                )?;
                progress(&o);
                manifest.outputs.push(o);
                let text =
                    serde_json::to_string_pretty(&manifest).map_err(|e| EvalError::io(&path, e))?;
                write_atomic(&path, text.as_bytes())?;
            }
        }
        Ok(manifest)
    }

    #[allow(clippy::too_many_arguments)]
    fn one(
        &self,
        case: &FolderCase,
        rc: &crate::tasks::segmentation::folder::ReadCase,
        data: &SegDataset,
        clean: &[Vec<u8>],
        (axis, hw, target): (usize, (usize, usize), (usize, usize)),
        eps: f32,
        out: &Path,
        labelled: bool,
    ) -> Result<FileOutput> {
        let cell = Cell {
            model_name: "model",
            attack_name: self.attack_name,
            model: self.model,
            attack: crate::cells::CellAttack::Fixed(self.spec),
            break_dice: 0.5,
            break_match: 0.5,
            state_dir: None,
            goal: GoalSpec::Untargeted,
            temperature: 1.0,
            loss: crate::tasks::segmentation::AttackLoss::Ce,
            norm: self.norm,
            epsilon: eps,
            batch_size: self.batch_size,
            seed: mix(self.seed, name_hash(&case.name)),
            fgsm_memo: None,
        };
        let (records, kept) = cell.run_batches(data, clean, None, true, &mut |_| {})?;
        let dims = rc.channels[0].dims;
        let px = target.0 * target.1;
        // Adversarial channels in model units, cropped back to the volume.
        let mut adv: Vec<Vec<f32>> = rc.channels.iter().map(|c| c.data.clone()).collect();
        let mut linf = 0f64;
        for (k, a, _) in &kept {
            for (c, ch) in adv.iter_mut().enumerate() {
                let mut slice = cut(ch, dims, axis, *k);
                unfit(&a[c * px..(c + 1) * px], target, &mut slice, hw);
                let before = cut(&rc.channels[c].data, dims, axis, *k);
                for (x, y) in slice.iter().zip(&before) {
                    linf = linf.max(f64::from((x - y).abs()));
                }
                put(ch, dims, axis, *k, &slice);
            }
        }
        // Back to file units, file by file.
        let dir = out.join(format!("eps_{eps}"));
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
        let per_file = self.channels.len() / rc.files.len();
        let mut outputs = Vec::new();
        let mut max_change = vec![0f64; self.channels.len()];
        let mut moved = 0;
        let mut max_moved = 0f64;
        let len = dims.iter().product::<usize>();
        for (f, ((vol, src), path)) in rc.files.iter().zip(&case.images).enumerate() {
            let mut v = vol.clone();
            for j in 0..per_file {
                let c = f * per_file + j;
                let (lo, hi) = rc.scales[c];
                for (i, (&a, &cl)) in adv[c].iter().zip(&rc.channels[c].data).enumerate() {
                    if a == cl {
                        continue;
                    }
                    let idx = file_index(vol, src, per_file, j, i, len);
                    let orig = vol.data[idx];
                    let inside = (lo..=hi).contains(&orig);
                    let new = if inside {
                        orig + (a - cl) * (hi - lo)
                    } else {
                        lo + a * (hi - lo)
                    };
                    let change = f64::from((new - orig).abs());
                    if inside {
                        max_change[c] = max_change[c].max(change);
                    } else {
                        moved += 1;
                        max_moved = max_moved.max(change);
                    }
                    v.data[idx] = new;
                }
            }
            let name = mira_io::image_stem(path);
            let desc = format!("Mira {} eps={eps} ({:?})", self.attack_name, self.norm);
            let written = mira_io::write_medical_like(&dir.join(name), &v, src, &desc)?;
            outputs.push(written);
        }
        let written_dice = self.written_dice(&outputs, rc, data, axis)?;
        let mean = |f: &dyn Fn(&mira_report::SegRecord) -> Option<f64>| {
            let v: Vec<Option<f64>> = records.iter().map(f).collect();
            mean_defined(&v)
        };
        Ok(FileOutput {
            case: case.name.clone(),
            epsilon: crate::run::eps_f64(eps),
            format: rc.files[0].1.format(),
            sources: case
                .images
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            outputs: outputs.iter().map(|p| p.display().to_string()).collect(),
            slices: data.items.len(),
            reference: if labelled {
                "labels"
            } else {
                "clean prediction"
            }
            .into(),
            scales: rc.scales.clone(),
            clean_dice: mean(&|r| mean_defined(&r.clean_dice)),
            adv_dice: mean(&|r| mean_defined(&r.adv_dice)),
            written_dice,
            linf,
            max_file_change: max_change,
            moved_into_range: moved,
            max_moved_change: max_moved,
        })
    }

    /// Reads the written files back, normalises them with the source's scales and scores the
    /// model's prediction against the same reference labels.
    fn written_dice(
        &self,
        outputs: &[PathBuf],
        rc: &crate::tasks::segmentation::folder::ReadCase,
        data: &SegDataset,
        axis: usize,
    ) -> Result<Option<f64>> {
        let mut channels = Vec::new();
        for p in outputs {
            let (v, s) = mira_io::read_medical(p)?;
            channels.extend(crate::tasks::segmentation::folder::channels_of(p, &v, &s)?);
        }
        for (c, ch) in channels.iter_mut().enumerate() {
            ch.data = crate::tasks::segmentation::folder::normalised(&ch.data, rc.scales[c]);
        }
        // Scored against the reference labels of the attacked slices (`data`).
        let none: Vec<u8> = vec![0; channels[0].dims.iter().product()];
        let (back, _, _) = slices_dataset(
            &channels,
            &none,
            axis,
            1 << self.depth,
            (self.channels, self.label_names),
        );
        let pred = mira_train::predict_labels(self.model, &back, self.batch_size)?;
        let k = self.label_names.len();
        let per = pred
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

/// FNV-1a of a case name: the case's own stream of attack randomness.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
