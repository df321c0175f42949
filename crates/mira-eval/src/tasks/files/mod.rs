//! The files task (`mira attack --input DIR`, or `task = "files"`): a saved segmentation UNet
//! attacked on a user's own image files, each adversarial case written back in its source's
//! format (NIfTI, DICOM file or series, PNG) beside a record of what reached the model before
//! and after writing. Through the runner it gets what every task gets: a manifest pinning the
//! weights and the input files, resume after an interruption, shards, the sanity checks and a
//! report page.
//!
//! A cell is one budget; a batch is one case (file or file set), attacked slice by slice
//! (`attack.rs`). The outputs (`outputs.rs`) summarise the damage per budget in memory and
//! as written, and warn where writing lost the attack (storage precision).

mod attack;
mod budgets;
mod case_io;
mod corrupt;
mod outputs;
mod plots;
mod spec;

use crate::tasks::segmentation::SegNet;
use mira_attack::AttackSpec;
use serde::{Deserialize, Serialize};

use crate::checks::{ProbePlan, Warning};
use crate::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, Planned, Setup, Task, cell_label, eps_f64,
};
use crate::tasks::segmentation::folder::{FolderCase, scan_cases};
use crate::{EvalError, Result};

pub use outputs::FilesRow;
pub use spec::FilesExperiment;

/// The files task.
pub struct Files;

/// One case attacked at one budget and written back in its format: a line of
/// `records.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The model (the checkpoint folder's name).
    pub model: String,
    /// The attack entry's name.
    pub attack: String,
    /// Budget in model units.
    pub epsilon: f64,
    /// The budget in `epsilon_unit`: HU under a CT window, else % of the normalisation range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_physical: Option<f64>,
    /// `HU` or `%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_unit: Option<String>,
    /// The case's index among the input cases (sorted by name).
    pub case: usize,
    /// Case name (file stem).
    pub name: String,
    /// Format written.
    pub format: String,
    /// Source files.
    pub sources: Vec<String>,
    /// Files written (one per source), relative to the run folder.
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
    /// A 3D model's volumes: HD95 and label volumes per foreground class.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<VolumeMetrics>,
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
    /// PSNR and SSIM of the attacked input against the clean one (absent in records written
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceptibility: Option<mira_report::Perceptibility>,
    /// A corruption cell's family (`[[corruptions]]`: `attack` is the entry's name, `epsilon`
    /// the severity; absent for attacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corruption: Option<String>,
    /// A corruption entry with `draws` > 1: which of the case's draws (1-based; absent for
    /// attacks and single draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<usize>,
}

/// Per-volume metrics of a 3D model's case, one value per foreground class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeMetrics {
    /// The 95th-percentile Hausdorff distance (mm, MONAI's semantics; `null` where a mask is
    /// empty) of the clean prediction against the reference.
    pub hd95_clean: Vec<Option<f64>>,
    /// The same for the prediction from the written volume read back.
    pub hd95_written: Vec<Option<f64>>,
    /// Label volumes (ml) of the reference.
    pub ml_reference: Vec<f64>,
    /// Of the clean prediction.
    pub ml_clean: Vec<f64>,
    /// Of the written volume's prediction.
    pub ml_written: Vec<f64>,
}

crate::run::impl_record!(FileRecord, attack, epsilon);
crate::run::impl_spec!(FilesExperiment, checks.enabled; budget_units);

/// The model, its names and the cases of a files run.
pub struct FilesReady {
    model: SegNet,
    /// Slices are padded to a multiple of this.
    multiple: usize,
    channels: Vec<String>,
    label_names: Vec<String>,
    label_values: Vec<i64>,
    cases: Vec<FolderCase>,
    spec: AttackSpec,
}

/// A budget of the sweep, and for a windowed 3D model what the attack differentiates; or a
/// corruption at a severity.
pub struct FilesCell {
    epsilon: f32,
    mode: crate::tasks::segmentation::WindowAttack,
    corruption: Option<crate::spec::CorruptionPick>,
}

/// The attack's name in records: `<name>-tiles` for tile attacks.
pub(crate) fn attack_name(
    exp: &FilesExperiment,
    mode: crate::tasks::segmentation::WindowAttack,
) -> String {
    crate::tasks::segmentation::mode_name(&exp.attack.name, mode)
}

impl Task for Files {
    const NAME: &'static str = "files";
    type Spec = FilesExperiment;
    type Record = FileRecord;
    type Ready = FilesReady;
    type Cell = FilesCell;
    type Kept = ();
    type Summary = crate::report::Findings<outputs::FilesRow>;

    /// Scans the input folder, pins its files and the model's weights, and loads the model
    /// (nothing is trained: the model is the user's checkpoint).
    fn prepare(
        exp: &FilesExperiment,
        setup: &mut Setup<'_, FilesExperiment>,
    ) -> Result<FilesReady> {
        setup.phase(format!("reading {}", exp.input.display()));
        let (model, meta) = SegNet::load_as(&exp.model, exp.output)?;
        if exp.roi.is_some() && !meta.volumetric {
            return Err(EvalError::invalid(
                "roi",
                "a sliding window applies to 3D models (input [B, C, D, H, W]); this one is 2D",
            ));
        }
        let model = model.with_window(exp.windowing());
        if meta.probabilities {
            setup.phase(format!(
                "the model outputs probabilities{}; attacks use their logarithm as logits",
                if meta.softmax_detected {
                    " (a final Softmax)"
                } else {
                    ""
                }
            ));
        }
        let names = spec::model_names(exp, &meta)?;
        let cases = scan_cases(&exp.input, exp.labels.as_deref(), &names.channels)?;
        setup.data(DataHashes {
            train: String::new(),
            val: String::new(),
            test: cases_hash(&cases)?,
        })?;
        setup.pin(0, exp.model_name(), &SegNet::weights_file(&exp.model))?;
        let spec = exp
            .attack
            .spec("attack")?
            .ok_or_else(|| EvalError::invalid("attack.scope", "files take per-image attacks"))?;
        Ok(FilesReady {
            model,
            multiple: meta.multiple,
            channels: names.channels,
            label_names: names.label_names,
            label_values: names.label_values,
            cases,
            spec,
        })
    }

    /// One cell a budget (and window attack) or a corruption's severity (and draw), one batch
    /// a case.
    fn plan(exp: &FilesExperiment, ready: &FilesReady) -> Result<Vec<Planned<FilesCell>>> {
        let model = exp.model_name();
        let modes = if exp.roi.is_some() {
            exp.window_attack.modes()
        } else {
            vec![crate::tasks::segmentation::WindowAttack::Blended]
        };
        let mut cells = Vec::new();
        for mode in modes {
            let attack = attack_name(exp, mode);
            for epsilon in exp.model_epsilons() {
                cells.push(Planned {
                    label: cell_label(model, &attack, epsilon),
                    keys: vec![CellKey::new(model, &attack, eps_f64(epsilon))],
                    cases: ready.cases.len(),
                    batch_size: 1,
                    state: None,
                    cell: FilesCell {
                        epsilon,
                        mode,
                        corruption: None,
                    },
                });
            }
        }
        for c in crate::spec::corruption_cells(&exp.corruptions, model, 0, exp.seed) {
            cells.push(c.planned(ready.cases.len(), 1, |c| FilesCell {
                epsilon: f32::from(c.severity),
                mode: crate::tasks::segmentation::WindowAttack::Blended,
                corruption: Some(c),
            }));
        }
        Ok(cells)
    }

    fn run_batch(run: &CellRun<'_, Self>, p: &Planned<FilesCell>, b: usize) -> Result<Batch<Self>> {
        let c = &p.cell;
        let record = match &c.corruption {
            Some(k) => corrupt::corrupt_case(run.spec, run.ready, b, k, run.out)?,
            None => attack::attack_case(run.spec, run.ready, b, (c.epsilon, c.mode), run.out)?,
        };
        Ok(Batch {
            records: vec![record],
            kept: Vec::new(),
        })
    }

    /// Mean Dice monotone in ε, and the attack surviving the written files.
    fn record_checks(exp: &FilesExperiment, records: &[FileRecord]) -> Vec<Warning> {
        if !exp.checks.enabled {
            return Vec::new();
        }
        outputs::record_checks(exp, records)
    }

    /// The probes on the slices of the first case.
    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        let (exp, ready) = (run.spec, run.ready);
        let Some(first) = ready.cases.first() else {
            return Ok(Vec::new());
        };
        let (slices, _) = attack::case_slices(exp, ready, first)?;
        let epsilon = exp.model_epsilons().into_iter().fold(0.0f32, f32::max);
        let reference = (exp.attack.name.clone(), ready.spec.clone());
        let c = &exp.checks;
        let plan = ProbePlan::new(reference, exp.norm, epsilon, &c.probes(), exp.seed);
        let cfg = (c.sample, 1.0, c.tolerance, c.collapse_dice);
        let setup = plan.setup(exp.model_name(), 0);
        let model = slices.model(&ready.model);
        crate::tasks::segmentation::probe_segmenter(&model, &slices.data, &setup, cfg)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<Self::Summary> {
        outputs::write_files_outputs(run)
    }

    fn console(s: &Self::Summary) -> String {
        crate::report::findings_text(&s.findings) + &outputs::markdown(&s.rows)
    }
}

/// Hex SHA-256 over the input files (images, then labels) in case order, with their names.
fn cases_hash(cases: &[FolderCase]) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for c in cases {
        h.update(c.name.as_bytes());
        for p in c.images.iter().chain(&c.label) {
            h.update(crate::run::file_hash(p)?.as_bytes());
        }
    }
    Ok(format!("{:x}", h.finalize()))
}
