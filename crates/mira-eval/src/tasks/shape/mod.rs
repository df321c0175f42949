//! Disk-shape regression (study S4): lumbar-disk contour networks trained on sets of different
//! shape variation (with or without adversarial training), attacked in distribution (contour
//! error), out of distribution (matching a test slice's outputs from noise, CT or X-ray
//! images) and by the min-norm search; findings next to the paper's.

mod cell;
mod checks;
mod corruptions;
mod data;
mod findings;
mod judge;
mod min_norm;
mod ood;
mod outputs;
mod probe;
mod spec;

use mira_attack::AttackSpec;
use mira_data::ShapeSample;
use mira_nn::{SHAPE_FORMAT, ShapeNet, ShapeNetConfig, ShapeNetMeta, ShapeOutput, save_shape_net};
use mira_report::{ShapeRecord, ShapeSummaryRow, shape_markdown};
use mira_train::{ShapeTrainConfig, mean_contour, train_shape};

use crate::cells::CellAttack;
use crate::cells::CellId;
use crate::run::{
    Batch, CellKey, CellRun, DataHashes, ModelJob, Outputs, Planned, Setup, Task, TrainFn,
    cell_label, cell_seed, eps_f64, mix, shapes_hash,
};
use crate::{Result, Warning};

pub use cell::KeptShape;
pub(crate) use cell::ShapeCell;
pub use data::shape_test_slices;
use data::{POINT_SCALE, shape_splits};
pub(crate) use findings::shape_findings;
pub(crate) use judge::ShapeJudge;
pub use min_norm::{shape_min_norm_tables, split_shape_min_norm};
pub use probe::ShapeProbe;
pub use spec::{
    OodSource, ShapeAttackEntry, ShapeChecks, ShapeDataSpec, ShapeExperiment, ShapeModelEntry,
    ShapeScope, ShapeSweep, ShapeTask,
};

/// A model's training and validation slices.
type Split = (Vec<ShapeSample>, Vec<ShapeSample>);

/// The disk-shape task.
pub struct Shape;

/// What a shape run's outputs say.
pub type ShapeSummary = crate::report::Findings<ShapeSummaryRow>;

/// The test slices, models, attacks and out-of-distribution starting images of a shape run.
pub struct ShapeReady {
    models: Vec<ShapeModel>,
    test: Vec<ShapeSample>,
    specs: Vec<AttackSpec>,
    /// Per attack: the OOD starting images (one per test slice) and their source's name.
    starts: Vec<Option<(Vec<Vec<f32>>, String)>>,
    /// The corruption entries' names.
    corruption_names: Vec<String>,
}

/// A cell of the plan: indices into the experiment.
pub struct ShapeCellRef {
    mi: usize,
    /// Index into the attacks, or (a corruption cell) into the corruptions.
    ai: usize,
    /// A corruption cell: `epsilon` holds the severity.
    corruption: bool,
    /// A corruption cell's draw (entries with `draws` > 1).
    draw: Option<usize>,
    epsilon: f32,
    seed: u64,
    /// The attack's largest ε: one picture.
    largest: bool,
    /// An out-of-distribution attack (its picture is the closest match, not the worst case).
    ood: bool,
}

crate::onnx_or!(
    /// A shape network: Mira's or an ONNX graph with the same three heads.
    ShapeModel,
    ShapeNet,
    4
);

impl ShapeModel {
    /// Points `[B, 352]`, mask logits and reconstruction `[B, 1, S, S]` (NaN where an ONNX
    /// graph refuses the input; see `onnx_graph`).
    pub fn heads(&self, x: burn::prelude::Tensor<4>) -> ShapeOutput {
        use burn::prelude::Tensor;
        match self {
            ShapeModel::Own(n) => n.heads(x),
            ShapeModel::Onnx(g) => {
                let [b, _, h, w] = x.dims();
                let dev = x.device();
                let mut ys = g.heads_any(x).into_iter();
                let nan4 = || Tensor::full([b, 1, h, w], f32::NAN, &dev);
                let points = ys.next().and_then(|t| t.into_rank::<2>().ok());
                let mask = ys.next().and_then(|t| t.into_rank::<4>().ok());
                let recon = ys.next().and_then(|t| t.into_rank::<4>().ok());
                ShapeOutput {
                    points: points.unwrap_or_else(|| {
                        Tensor::full([b, 2 * mira_data::DISK_POINTS], f32::NAN, &dev)
                    }),
                    mask_logits: mask.unwrap_or_else(nan4),
                    recon: recon.unwrap_or_else(nan4),
                }
            }
        }
    }
}

/// Loads or trains every model of `exp` on its own slices (those to train side by side,
/// [`Setup::models`]), pinning each one's weights; the models come back in file order.
fn models(
    exp: &ShapeExperiment,
    splits: &[Split],
    setup: &mut Setup<'_, ShapeExperiment>,
) -> Result<Vec<ShapeModel>> {
    let mut models: Vec<Option<ShapeModel>> = Vec::new();
    let (mut jobs, mut slots) = (Vec::new(), Vec::new());
    for (i, entry) in exp.models.iter().enumerate() {
        if let Some(path) = &entry.onnx {
            setup.phase(format!("loading the ONNX model {}", entry.name));
            let s = exp.data.size;
            let heads = [
                vec![2 * mira_data::DISK_POINTS],
                vec![1, s, s],
                vec![1, s, s],
            ];
            let field = format!("models[{i}].onnx");
            let g = crate::onnx_graph::OnnxGraph::load_heads(path, &[1, 1, s, s], &heads, &field)?;
            models.push(Some(ShapeModel::Onnx(g)));
            setup.pin(i, &entry.name, path)?;
            continue;
        }
        let (train, val) = &splits[i];
        let slices = train.len();
        let adversarial = if entry.adversarial {
            ", adversarial"
        } else {
            ""
        };
        let training = format!(
            "training model {} on {} slices (P{}{adversarial})",
            entry.name,
            train.len(),
            entry.modes
        );
        slots.push(models.len());
        models.push(None);
        let train: TrainFn<'_, ShapeNet> = Box::new(move |dir, events| {
            let net = ShapeNetConfig {
                size: exp.data.size,
                width: entry.width.unwrap_or(8),
                points: mira_data::DISK_POINTS,
                point_scale: POINT_SCALE,
                mean_points: mean_contour(train),
            };
            let cfg = ShapeTrainConfig {
                adv_epsilon: if entry.adversarial {
                    exp.training.adv_epsilon
                } else {
                    0.0
                },
                ..exp.training.clone()
            };
            let seed = mix(exp.seed, 1000 + i as u64);
            let started = std::time::Instant::now();
            let (model, report) = train_shape(&net, train, val, &cfg, seed, events)?;
            let meta = ShapeNetMeta {
                format: SHAPE_FORMAT.into(),
                net,
                training: crate::run::training_record(&cfg, &report, started),
            };
            save_shape_net(dir, &model, &meta)?;
            Ok(model)
        });
        jobs.push(ModelJob {
            index: i,
            name: &entry.name,
            checkpoint: entry.checkpoint.as_deref(),
            training,
            // Slices × stem width² (every level costs about the same), adversarial training
            // with its input-gradient passes (every slice adversarial).
            cost: slices as f64
                * (entry.width.unwrap_or(8) as f64).powi(2)
                * if entry.adversarial {
                    1.0 + mira_train::INPUT_GRADIENT_COST * exp.training.adv_steps as f64
                } else {
                    1.0
                },
            train,
        });
    }
    for (slot, model) in slots.into_iter().zip(setup.models(jobs)?) {
        models[slot] = Some(ShapeModel::Own(model));
    }
    Ok(models.into_iter().flatten().collect())
}

/// The cell view of a planned cell.
fn view<'a>(run: &'a CellRun<'_, Shape>, p: &Planned<ShapeCellRef>) -> ShapeCell<'a> {
    let (exp, ready, c) = (run.spec, run.ready, &p.cell);
    if c.corruption {
        let entry = &exp.corruptions[c.ai];
        return ShapeCell {
            id: CellId {
                model: &exp.models[c.mi].name,
                attack: &ready.corruption_names[c.ai],
                norm: mira_attack::Norm::Linf,
                epsilon: c.epsilon,
                batch_size: exp.sweep.batch_size,
                seed: c.seed,
            },
            model: &ready.models[c.mi],
            attack: CellAttack::Corrupt(entry.corruptor(c.epsilon as u8, None, None)),
            scope: ShapeScope::Ind,
            break_mrse: exp.sweep.break_mrse,
            point_scale: POINT_SCALE,
            corrupted: true,
        };
    }
    let attack = &exp.attacks[c.ai];
    ShapeCell {
        id: CellId {
            model: &exp.models[c.mi].name,
            attack: &attack.name,
            norm: attack.norm,
            epsilon: c.epsilon,
            batch_size: exp.sweep.batch_size,
            seed: c.seed,
        },
        model: &ready.models[c.mi],
        attack: CellAttack::of(Some(&ready.specs[c.ai]), attack.min_norm()),
        scope: attack.scope,
        break_mrse: exp.sweep.break_mrse,
        point_scale: POINT_SCALE,
        corrupted: false,
    }
}

impl Task for Shape {
    const NAME: &'static str = "shape";
    type Spec = ShapeExperiment;
    type Record = ShapeRecord;
    type Ready = ShapeReady;
    type Cell = ShapeCellRef;
    type Kept = KeptShape;
    type Summary = ShapeSummary;

    fn prepare(
        exp: &ShapeExperiment,
        setup: &mut Setup<'_, ShapeExperiment>,
    ) -> Result<ShapeReady> {
        setup.phase("generating slices");
        let test = shape_test_slices(exp)?;
        let splits: Vec<Split> = (0..exp.models.len())
            .map(|i| shape_splits(exp, i))
            .collect::<Result<_>>()?;
        let joined =
            |f: &dyn Fn(&Split) -> String| splits.iter().map(f).collect::<Vec<_>>().join("+");
        setup.data(DataHashes {
            train: joined(&|s| shapes_hash(&s.0)),
            val: joined(&|s| shapes_hash(&s.1)),
            test: shapes_hash(&test),
        })?;
        let models = models(exp, &splits, setup)?;
        let mut specs = Vec::new();
        let mut starts = Vec::new();
        for (ai, attack) in exp.attacks.iter().enumerate() {
            specs.push(attack.spec(&format!("attacks[{ai}]"))?);
            starts.push(match (attack.scope, attack.source) {
                (ShapeScope::Ood, Some(src)) => Some(ood::ood_images(
                    src,
                    test.len(),
                    exp.data.size,
                    mix(exp.seed, 0x00D + ai as u64),
                )?),
                _ => None,
            });
        }
        Ok(ShapeReady {
            models,
            test,
            specs,
            starts,
            corruption_names: exp.corruptions.iter().map(|c| c.name()).collect(),
        })
    }

    /// Attack by attack, every (model, ε) at the attack's own budgets; a min-norm search has
    /// one cell, at its largest ε (the cap).
    fn plan(exp: &ShapeExperiment, ready: &ShapeReady) -> Result<Vec<Planned<ShapeCellRef>>> {
        let mut out = Vec::new();
        for (ai, attack) in exp.attacks.iter().enumerate() {
            let cap = attack.epsilons.iter().copied().fold(0.0f32, f32::max);
            for (mi, entry) in exp.models.iter().enumerate() {
                for (ei, &epsilon) in attack.epsilons.iter().enumerate() {
                    if attack.scope == ShapeScope::MinNorm && epsilon != cap {
                        continue;
                    }
                    out.push(Planned {
                        label: cell_label(&entry.name, &attack.name, epsilon),
                        keys: vec![CellKey::new(&entry.name, &attack.name, eps_f64(epsilon))],
                        cases: ready.test.len(),
                        batch_size: exp.sweep.batch_size,
                        state: None,
                        cell: ShapeCellRef {
                            mi,
                            ai,
                            corruption: false,
                            draw: None,
                            epsilon,
                            seed: cell_seed(exp.seed, mi, ai, ei),
                            largest: attack.epsilons.iter().all(|&e| e <= epsilon),
                            ood: attack.scope == ShapeScope::Ood,
                        },
                    });
                }
            }
        }
        for (mi, entry) in exp.models.iter().enumerate() {
            for c in crate::spec::corruption_cells(&exp.corruptions, &entry.name, mi, exp.seed) {
                out.push(
                    c.planned(ready.test.len(), exp.sweep.batch_size, |c| ShapeCellRef {
                        mi,
                        ai: c.ci,
                        corruption: true,
                        draw: c.draw,
                        epsilon: f32::from(c.severity),
                        seed: c.seed,
                        largest: false,
                        ood: false,
                    }),
                );
            }
        }
        Ok(out)
    }

    fn run_batch(
        run: &CellRun<'_, Self>,
        p: &Planned<ShapeCellRef>,
        b: usize,
    ) -> Result<Batch<Self>> {
        let starts = if p.cell.corruption {
            None
        } else {
            run.ready.starts[p.cell.ai]
                .as_ref()
                .map(|(v, name)| (v.as_slice(), name.as_str()))
        };
        let keep = run.pictures && p.cell.largest;
        let (mut records, kept) = view(run, p).run_batch(&run.ready.test, starts, keep, b)?;
        records.iter_mut().for_each(|r| r.draw = p.cell.draw);
        Ok(Batch { records, kept })
    }

    fn save_pictures(
        run: &CellRun<'_, Self>,
        p: &Planned<ShapeCellRef>,
        records: &[ShapeRecord],
        kept: Vec<KeptShape>,
    ) -> Result<()> {
        if !(run.pictures && p.cell.largest) {
            return Ok(());
        }
        outputs::save_example(run.out, &view(run, p), &run.ready.test, records, &kept)
    }

    fn picture_batches(p: &Planned<ShapeCellRef>, records: &[ShapeRecord]) -> Vec<usize> {
        if !p.cell.largest {
            return Vec::new();
        }
        outputs::example_case(records, p.cell.ood)
            .map(|case| vec![case / p.batch_size])
            .unwrap_or_default()
    }

    /// Record checks on mean MRSE.
    fn record_checks(exp: &ShapeExperiment, records: &[ShapeRecord]) -> Vec<Warning> {
        let (fixed, _) = split_shape_min_norm(exp, records);
        checks::shape_record_checks(exp, &fixed)
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        checks::probes(run.spec, run.ready)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<ShapeSummary> {
        outputs::write_shape_outputs(run)
    }

    fn console(s: &ShapeSummary) -> String {
        let text = crate::report::findings_text(&s.findings);
        text + &shape_markdown(&s.rows)
    }
}

crate::run::impl_record!(ShapeRecord, attack, epsilon);
crate::run::impl_spec!(ShapeExperiment, checks.probes.enabled);
