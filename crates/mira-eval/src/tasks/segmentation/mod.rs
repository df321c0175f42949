//! Segmentation (study S1 and user folders): UNets on 2D slices, attacked per (model, attack,
//! ε) cell; Dice per label, targeted goals, composite and min-norm cells; defences compared
//! within an architecture; pictures of the worst and median case at the largest ε.

mod cell;
pub(crate) mod checks;
mod corruption_table;
mod data;
pub(crate) mod folder;
mod judge;
mod lesion_table;
mod min_norm;
mod models;
mod outputs;
mod probe;
mod seg_net;
mod spec;
mod validate;
pub(crate) mod volume_metrics;
mod volume_tables;
mod volumetric;
mod windowed;

use std::path::PathBuf;

use mira_attack::{AttackSpec, Bounds, LpBall};
use mira_data::SegDataset;
use mira_nn::UNet;
use mira_report::{SegRecord, SummaryRow, to_markdown};

use crate::cells::CellAttack;
use crate::cells::CellId;
use crate::run::folder::write_json;
use crate::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, PerModel, Planned, RunEvent, Setup, Task,
    cell_label, cell_seed, cell_stem, dataset_hash, eps_f64,
};
use crate::{Result, Warning};

pub(crate) use cell::{Cell, Kept, dice};
pub use corruption_table::corruption_records;
pub(crate) use judge::SegJudge;
pub use min_norm::{CONSISTENCY_SLACK, min_norm_tables, split_min_norm};
pub(crate) use models::{UnetTraining, train_and_save_unet, unet_cost};
pub use outputs::{model_groups, write_comparison, write_report};
pub use probe::{SegProbe, probe_segmenter};
pub use seg_net::{GraphSeg, OutputKind, SegNet, SegNetInfo};
pub use spec::{
    AttackEntry, AttackLoss, DataSource, DataSpec, GoalSpec, ModelEntry, SegExperiment, SegTaskTag,
    SweepSpec,
};
pub use windowed::{WindowAttack, Windowing};

/// The shape of the test volumes and each case's voxel spacing (mm, `[D, H, W]`).
pub(crate) struct VolumeGeom {
    pub dims: [usize; 3],
    pub spacing: Vec<[f64; 3]>,
}

/// An attack's name in records for a window mode: `<name>-tiles` for tile attacks.
pub(crate) fn mode_name(name: &str, mode: WindowAttack) -> String {
    match mode {
        WindowAttack::Tiles => format!("{name}-tiles"),
        _ => name.to_string(),
    }
}

/// The segmentation task.
pub struct Segmentation;

/// The test slices, the evaluation copies of the models and the attacks of a segmentation run.
pub struct SegReady {
    /// Per model, one copy per window mode (`SegExperiment::window_modes`): what its attacks
    /// differentiate; all predict through the blend.
    models: Vec<Vec<SegNet>>,
    test: SegDataset,
    specs: Vec<Option<AttackSpec>>,
    /// Per attack entry and window mode, the attack's name in records (`<name>-tiles`).
    attack_names: Vec<Vec<String>>,
    /// The corruption entries' names.
    corruption_names: Vec<String>,
    /// Volumes: their shape and each test case's spacing (HD95 in mm, pictures).
    volume: Option<VolumeGeom>,
    /// Clean predictions per model, computed before the model's first cell runs.
    clean: PerModel<Vec<Vec<u8>>>,
}

/// A cell of the plan: indices into the experiment.
pub struct SegCell {
    mi: usize,
    /// Index into the attacks, or (with `corruption`) into the corruptions.
    ai: usize,
    /// A corruption cell: `epsilon` holds the severity.
    corruption: bool,
    /// A corruption cell's draw (entries with `draws` > 1).
    draw: Option<usize>,
    /// Index into `SegExperiment::window_modes`.
    mode: usize,
    epsilon: f32,
    seed: u64,
    /// The sweep's largest ε (above 0): pictures of the worst and the median case.
    pictures: bool,
}

/// The attack of every entry, validated.
pub(crate) fn attack_specs(exp: &SegExperiment) -> Result<Vec<Option<AttackSpec>>> {
    exp.attacks
        .iter()
        .enumerate()
        .map(|(ai, a)| a.spec(&format!("attacks[{ai}]")))
        .collect()
}

/// The computational view of a planned cell.
fn view<'a>(run: &'a CellRun<'_, Segmentation>, p: &Planned<SegCell>) -> Cell<'a, SegNet> {
    let (exp, ready, c) = (run.spec, run.ready, &p.cell);
    if c.corruption {
        let entry = &exp.corruptions[c.ai];
        let id = CellId {
            model: &exp.models[c.mi].name,
            attack: &ready.corruption_names[c.ai],
            norm: exp.sweep.norm,
            epsilon: c.epsilon,
            batch_size: exp.sweep.batch_size,
            seed: c.seed,
        };
        let corruptor = entry.corruptor(c.epsilon as u8, exp.hu_per_unit(), exp.volume_dims());
        return Cell {
            id,
            model: &ready.models[c.mi][0],
            volume: ready.volume.as_ref(),
            attack: CellAttack::Corrupt(corruptor),
            break_dice: exp.sweep.break_dice,
            break_match: exp.sweep.break_match,
            state_dir: None,
            goal: GoalSpec::Untargeted,
            temperature: 1.0,
            loss: AttackLoss::Ce,
            losses: Vec::new(),
            lesions: exp.sweep.size_bins.is_some(),
            fgsm_memo: None,
        };
    }
    let attack = &exp.attacks[c.ai];
    Cell {
        id: CellId {
            model: &exp.models[c.mi].name,
            attack: &ready.attack_names[c.ai][c.mode],
            norm: exp.sweep.norm,
            epsilon: c.epsilon,
            batch_size: exp.sweep.batch_size,
            seed: c.seed,
        },
        model: &ready.models[c.mi][c.mode],
        volume: ready.volume.as_ref(),
        attack: CellAttack::of(ready.specs[c.ai].as_ref(), attack.min_norm())
            .with_early_stop(attack.early_stop),
        break_dice: exp.sweep.break_dice,
        break_match: exp.sweep.break_match,
        state_dir: run.state_dir(p),
        goal: attack.goal,
        temperature: attack.temperature.unwrap_or(1.0),
        loss: attack.loss,
        losses: attack.losses.clone().unwrap_or_default(),
        lesions: exp.sweep.size_bins.is_some(),
        fgsm_memo: run.fgsm_memo,
    }
}

impl Task for Segmentation {
    const NAME: &'static str = "segmentation";
    type Spec = SegExperiment;
    type Record = SegRecord;
    type Ready = SegReady;
    type Cell = SegCell;
    type Kept = Kept;
    type Summary = Vec<SummaryRow>;

    fn prepare(exp: &SegExperiment, setup: &mut Setup<'_, SegExperiment>) -> Result<SegReady> {
        setup.phase("generating data");
        let (train, val, test, refs, spacing) = data::datasets(exp)?;
        if setup.writes()
            && let Some(refs) = &refs
        {
            std::fs::create_dir_all(setup.out())
                .map_err(|e| crate::EvalError::io(setup.out(), e))?;
            write_json(&setup.out().join("cases.json"), refs)?;
        }
        setup.data(DataHashes {
            train: dataset_hash(&train),
            val: dataset_hash(&val),
            test: dataset_hash(&test),
        })?;
        let models = models::models(exp, &train, &val, setup)?;
        let modes = exp.window_modes();
        let depth = exp.volume_dims().map_or(0, |d| d[0]);
        let models: Vec<Vec<SegNet>> = models
            .into_iter()
            .map(|m| {
                let m = m.for_depth(depth);
                modes
                    .iter()
                    .map(|&attack| {
                        let w = exp.windowing().map(|w| Windowing { attack, ..w });
                        m.clone().with_window(w)
                    })
                    .collect()
            })
            .collect();
        let corruption_names = exp.corruptions.iter().map(|c| c.name()).collect();
        let attack_names = exp
            .attacks
            .iter()
            .map(|a| modes.iter().map(|&m| mode_name(&a.name, m)).collect())
            .collect();
        Ok(SegReady {
            clean: PerModel::new(models.len()),
            models,
            test,
            specs: attack_specs(exp)?,
            attack_names,
            corruption_names,
            volume: exp
                .volume_dims()
                .zip(spacing)
                .map(|(dims, spacing)| VolumeGeom { dims, spacing }),
        })
    }

    /// Every (model, attack, ε), model by model; a min-norm search has one cell, at the sweep's
    /// largest ε (its cap); a composite (`auto`) keeps its per-batch state under
    /// `cascade/MODEL__ATTACK__eps=E/` while it runs.
    fn plan(exp: &SegExperiment, ready: &SegReady) -> Result<Vec<Planned<SegCell>>> {
        let max_eps = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
        let n = ready.test.items.len();
        let mut out = Vec::new();
        for (mi, entry) in exp.models.iter().enumerate() {
            for ((ai, attack), mode) in exp
                .attacks
                .iter()
                .enumerate()
                .flat_map(|a| (0..ready.attack_names[a.0].len()).map(move |m| (a, m)))
            {
                let name = &ready.attack_names[ai][mode];
                for (ei, &epsilon) in exp.sweep.epsilons.iter().enumerate() {
                    if attack.min_norm().is_some() && epsilon != max_eps {
                        continue;
                    }
                    let auto = matches!(ready.specs[ai], Some(AttackSpec::Auto(_)))
                        && attack.min_norm().is_none();
                    out.push(Planned {
                        label: cell_label(&entry.name, name, epsilon),
                        keys: vec![CellKey::new(&entry.name, name, eps_f64(epsilon))],
                        cases: n,
                        batch_size: exp.sweep.batch_size,
                        state: auto.then(|| {
                            PathBuf::from("cascade").join(cell_stem(
                                &entry.name,
                                name,
                                &format!("eps={epsilon}"),
                            ))
                        }),
                        cell: SegCell {
                            mi,
                            ai,
                            corruption: false,
                            draw: None,
                            mode,
                            epsilon,
                            seed: cell_seed(exp.seed, mi, ai, ei),
                            pictures: epsilon == max_eps && epsilon > 0.0,
                        },
                    });
                }
            }
            // Corruptions: one cell per (entry, severity), the severity in place of ε.
            for c in crate::spec::corruption_cells(&exp.corruptions, &entry.name, mi, exp.seed) {
                out.push(c.planned(n, exp.sweep.batch_size, |c| SegCell {
                    mi,
                    ai: c.ci,
                    corruption: true,
                    draw: c.draw,
                    mode: 0,
                    epsilon: f32::from(c.severity),
                    seed: c.seed,
                    pictures: false,
                }));
            }
        }
        Ok(out)
    }

    fn before_cell(
        run: &CellRun<'_, Self>,
        cell: &Planned<SegCell>,
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        let (mi, ready) = (cell.cell.mi, run.ready);
        ready.clean.ensure(mi, || {
            let name = &run.spec.models[mi].name;
            progress(RunEvent::Phase(format!("clean predictions of {name}")));
            ready.models[mi][0].predict_labels(&ready.test, run.spec.sweep.batch_size)
        })?;
        Ok(())
    }

    fn run_batch(run: &CellRun<'_, Self>, p: &Planned<SegCell>, b: usize) -> Result<Batch<Self>> {
        let cell = view(run, p);
        let clean = run.ready.clean.get(p.cell.mi)?;
        let ball = LpBall::new(cell.id.norm, cell.id.epsilon, Bounds::default())?;
        let keep = run.pictures && p.cell.pictures;
        let (mut records, kept) = cell.run_batch(&run.ready.test, &clean, b, &ball, keep)?;
        records.iter_mut().for_each(|r| r.draw = p.cell.draw);
        Ok(Batch { records, kept })
    }

    fn save_pictures(
        run: &CellRun<'_, Self>,
        p: &Planned<SegCell>,
        records: &[SegRecord],
        kept: Vec<Kept>,
    ) -> Result<()> {
        if !(run.pictures && p.cell.pictures) {
            return Ok(());
        }
        let clean = run.ready.clean.get(p.cell.mi)?;
        let dir = run.out.join("examples");
        view(run, p).save_examples(&dir, &run.ready.test, &clean, records, &kept)
    }

    fn picture_batches(p: &Planned<SegCell>, records: &[SegRecord]) -> Vec<usize> {
        if !p.cell.pictures {
            return Vec::new();
        }
        let mut batches: Vec<usize> = Cell::<UNet>::example_cases(records)
            .into_iter()
            .flatten()
            .map(|(_, case)| case / p.batch_size)
            .collect();
        batches.sort_unstable();
        batches.dedup();
        batches
    }

    /// Record checks on mean foreground Dice (`[checks] enabled` gates every check).
    fn record_checks(exp: &SegExperiment, records: &[SegRecord]) -> Vec<Warning> {
        if !exp.checks.enabled {
            return Vec::new();
        }
        let (fixed, _) = split_min_norm(exp, records);
        let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
        checks::record_checks(&fixed, &names, &exp.attacks, exp.checks.tolerance)
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        let models: Vec<SegNet> = run.ready.models.iter().map(|m| m[0].clone()).collect();
        checks::probes(run.spec, &models, &run.ready.test)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<Vec<SummaryRow>> {
        outputs::write_outputs(run)
    }

    fn console(rows: &Vec<SummaryRow>) -> String {
        to_markdown(rows)
    }
}

crate::run::impl_record!(SegRecord, attack, epsilon);
crate::run::impl_spec!(SegExperiment, checks.enabled);
