//! Rigid registration (study S0): pair networks predicting (θ, tx, ty) from a fixed and a
//! moving image, attacked on the moving, fixed or both images; TRE and passing rate per cell,
//! first failures and pictures of the abrupt-change cases.

mod cell;
mod checks;
mod corruptions;
mod data;
mod judge;
mod min_norm;
mod outputs;
mod probe;
mod spec;

use mira_attack::AttackSpec;
use mira_data::{RegPair, Rigid2d};
use mira_nn::{PAIR_FORMAT, PairNet, PairNetMeta, save_pair_net};
use mira_report::{AbruptCase, RegRecord, RegSummaryRow, reg_markdown};
use mira_train::{predict_rigid, train_registration};

use crate::cells::CellAttack;
use crate::cells::CellId;
use crate::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, PerModel, Planned, RunEvent, Setup, Task,
    cell_label, cell_seed, eps_f64, mix, pairs_hash, sources_hash,
};
use crate::{EvalError, Result, Warning};

pub(crate) use cell::{RegCell, TRE_GRID};
pub(crate) use data::load_radiograph;
pub use data::{RegData, radiograph_file, reg_data};
pub(crate) use judge::RegJudge;
pub use min_norm::{reg_min_norm_tables, split_reg_min_norm};
pub use outputs::{reg_warnings, write_reg_report};
pub use probe::RegProbe;
pub use spec::{
    AttackedImage, RegAttackEntry, RegChecks, RegDataSpec, RegExperiment, RegModelEntry,
    RegSourceKind, RegTask,
};

/// The registration task.
pub struct Registration;

/// What a registration run's outputs say.
#[derive(Debug, Clone)]
pub struct RegSummary {
    /// Summary rows, one per cell.
    pub rows: Vec<RegSummaryRow>,
    /// Cases that pass clean and fail at some budget, first failure per case.
    pub first_failures: Vec<AbruptCase>,
}

crate::onnx_or!(
    /// A registration network: Mira's or an ONNX graph, `[B, 2, H, W]` in, `[B, 3]` (θ
    /// degrees, tx px, ty px) out.
    RegModel,
    PairNet,
    4
);

/// The pairs of every image family, the models and their attacks.
pub struct RegReady {
    models: Vec<RegModel>,
    families: Vec<(RegSourceKind, RegData)>,
    specs: Vec<Option<AttackSpec>>,
    /// Clean predictions per model, computed before the model's first cell runs.
    clean: PerModel<Vec<Rigid2d>>,
}

impl RegReady {
    /// The data of the image family `kind`.
    fn data(&self, kind: RegSourceKind) -> Result<&RegData> {
        self.families
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| d)
            .ok_or_else(|| EvalError::invalid("data", format!("no pairs of {kind:?}")))
    }

    /// The test pairs of model `mi` of `exp`.
    fn test(&self, exp: &RegExperiment, mi: usize) -> Result<&[RegPair]> {
        Ok(&self.data(exp.models[mi].source)?.test)
    }

    /// The clean predictions of model `mi`, computed when first needed.
    fn clean(
        &self,
        exp: &RegExperiment,
        mi: usize,
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<std::sync::Arc<Vec<Rigid2d>>> {
        self.clean.ensure(mi, || {
            let name = &exp.models[mi].name;
            progress(RunEvent::Phase(format!("clean predictions of {name}")));
            let test = self.test(exp, mi)?;
            Ok(predict_rigid(&self.models[mi], test, exp.sweep.batch_size)?)
        })
    }
}

/// A cell of the plan: indices into the experiment.
pub struct RegCellRef {
    mi: usize,
    /// Index into the attacks, or (a corruption cell) into the corruptions.
    ai: usize,
    /// Index into the sweep's budgets, or (a corruption cell) the severity.
    ei: usize,
    corruption: bool,
    /// A corruption cell's draw (entries with `draws` > 1).
    draw: Option<usize>,
    /// A corruption cell's seed (attack cells derive theirs in `reg_cell`).
    seed: u64,
}

/// The `norm` of corruption records (which have no budget norm).
pub(crate) const CORRUPTION: &str = "severity";

/// The data of every image family the experiment's models use, in model order.
fn families(exp: &RegExperiment) -> Result<Vec<(RegSourceKind, RegData)>> {
    let mut out: Vec<(RegSourceKind, RegData)> = Vec::new();
    for m in &exp.models {
        if !out.iter().any(|(k, _)| *k == m.source) {
            out.push((m.source, reg_data(exp, m)?));
        }
    }
    Ok(out)
}

/// The cell of (model `mi`, attack `ai`, budget `ei`) running `attack`.
pub(crate) fn reg_cell<'a>(
    exp: &'a RegExperiment,
    mi: usize,
    ai: usize,
    ei: usize,
    model: &'a RegModel,
    attack: CellAttack<'a>,
) -> RegCell<'a> {
    let entry = &exp.models[mi];
    let spacing = entry.spacing_mm(&exp.data);
    RegCell {
        id: CellId {
            model: &entry.name,
            attack: &exp.attacks[ai].name,
            norm: exp.sweep.norm,
            epsilon: exp.sweep.epsilons[ei],
            batch_size: exp.sweep.batch_size,
            seed: cell_seed(exp.seed, mi, ai, ei),
        },
        model,
        attack,
        image: exp.attacks[ai].image,
        spacing: spacing.unwrap_or(1.0),
        unit: if spacing.is_some() { "mm" } else { "px" },
        tolerance: entry.tolerance(),
        fgsm_memo: None,
        corrupted: false,
    }
}

/// The attack entry `ai` runs: its min-norm search, or its attack with early stopping.
pub(crate) fn cell_attack<'a>(
    exp: &RegExperiment,
    specs: &'a [Option<AttackSpec>],
    ai: usize,
) -> CellAttack<'a> {
    let a = &exp.attacks[ai];
    CellAttack::of(specs[ai].as_ref(), a.min_norm()).with_early_stop(a.early_stop)
}

/// Loads or trains every model of `exp`, pinning each one's weights.
fn models(
    exp: &RegExperiment,
    fams: &[(RegSourceKind, RegData)],
    setup: &mut Setup<'_, RegExperiment>,
) -> Result<Vec<RegModel>> {
    let mut models = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        if let Some(path) = &entry.onnx {
            setup.phase(format!("loading the ONNX model {}", entry.name));
            let s = exp.data.size;
            let field = format!("models[{i}].onnx");
            models.push(RegModel::Onnx(crate::onnx_graph::OnnxGraph::load(
                path,
                &[1, 2, s, s],
                3,
                &field,
            )?));
            setup.pin(i, &entry.name, path)?;
            continue;
        }
        let data = &fams
            .iter()
            .find(|(k, _)| *k == entry.source)
            .ok_or_else(|| EvalError::invalid("data", "family not built"))?
            .1;
        let spacing = entry.spacing_mm(&exp.data);
        let ckpt = entry.checkpoint.as_deref();
        let training = format!(
            "training model {} on {} pairs",
            entry.name, data.source_name
        );
        let model = setup.model((i, &entry.name), ckpt, training, |dir, events| {
            let tol_px = entry.tolerance() / spacing.unwrap_or(1.0);
            let (model, report) = train_registration(
                &entry.net(&exp.data),
                &data.train,
                &data.val,
                &data.pair_cfg,
                tol_px,
                &exp.training,
                mix(exp.seed, 1000 + i as u64),
                events,
            )?;
            let meta = PairNetMeta {
                format: PAIR_FORMAT.into(),
                net: entry.net(&exp.data),
                size: exp.data.size,
                source: data.source_name.clone(),
                spacing_mm: spacing,
                training: serde_json::json!({ "config": exp.training, "report": report }),
            };
            save_pair_net(dir, &model, &meta)?;
            Ok(model)
        })?;
        models.push(RegModel::Own(model));
    }
    Ok(models)
}

impl Task for Registration {
    const NAME: &'static str = "registration";
    type Spec = RegExperiment;
    type Record = RegRecord;
    type Ready = RegReady;
    type Cell = RegCellRef;
    type Kept = ();
    type Summary = RegSummary;

    fn prepare(exp: &RegExperiment, setup: &mut Setup<'_, RegExperiment>) -> Result<RegReady> {
        setup.phase("generating pairs");
        let fams = families(exp)?;
        let joined = |f: &dyn Fn(&RegData) -> String| {
            fams.iter().map(|(_, d)| f(d)).collect::<Vec<_>>().join("+")
        };
        setup.data(DataHashes {
            train: joined(&|d| sources_hash(&d.train)),
            val: joined(&|d| pairs_hash(&d.val)),
            test: joined(&|d| pairs_hash(&d.test)),
        })?;
        let models = models(exp, &fams, setup)?;
        let specs = exp
            .attacks
            .iter()
            .enumerate()
            .map(|(ai, a)| a.spec(&format!("attacks[{ai}]")))
            .collect::<Result<Vec<_>>>()?;
        Ok(RegReady {
            clean: PerModel::new(models.len()),
            models,
            families: fams,
            specs,
        })
    }

    /// Every (model, attack, ε), model by model; a min-norm search has one cell, at the sweep's
    /// largest ε (its cap).
    fn plan(exp: &RegExperiment, ready: &RegReady) -> Result<Vec<Planned<RegCellRef>>> {
        let max_eps = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
        let mut out = Vec::new();
        for (mi, entry) in exp.models.iter().enumerate() {
            let cases = ready.test(exp, mi)?.len();
            for (ai, attack) in exp.attacks.iter().enumerate() {
                for (ei, &epsilon) in exp.sweep.epsilons.iter().enumerate() {
                    if attack.min_norm().is_some() && epsilon != max_eps {
                        continue;
                    }
                    out.push(Planned {
                        label: cell_label(&entry.name, &attack.name, epsilon),
                        keys: vec![CellKey::new(&entry.name, &attack.name, eps_f64(epsilon))],
                        cases,
                        batch_size: exp.sweep.batch_size,
                        state: None,
                        cell: RegCellRef {
                            mi,
                            ai,
                            ei,
                            corruption: false,
                            draw: None,
                            seed: 0,
                        },
                    });
                }
            }
            for c in crate::spec::corruption_cells(&exp.corruptions, &entry.name, mi, exp.seed) {
                out.push(c.planned(cases, exp.sweep.batch_size, |c| RegCellRef {
                    mi,
                    ai: c.ci,
                    ei: usize::from(c.severity),
                    corruption: true,
                    draw: c.draw,
                    seed: c.seed,
                }));
            }
        }
        Ok(out)
    }

    fn before_cell(
        run: &CellRun<'_, Self>,
        cell: &Planned<RegCellRef>,
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        run.ready
            .clean(run.spec, cell.cell.mi, progress)
            .map(|_| ())
    }

    fn run_batch(
        run: &CellRun<'_, Self>,
        p: &Planned<RegCellRef>,
        b: usize,
    ) -> Result<Batch<Self>> {
        let (exp, ready, c) = (run.spec, run.ready, &p.cell);
        if c.corruption {
            let name = exp.corruptions[c.ai].name();
            let corruptor = exp.corruptions[c.ai].corruptor(c.ei as u8, None, None);
            let base = reg_cell(
                exp,
                c.mi,
                0,
                0,
                &ready.models[c.mi],
                CellAttack::Corrupt(corruptor),
            );
            let cell = RegCell {
                id: CellId {
                    attack: &name,
                    epsilon: c.ei as f32,
                    seed: c.seed,
                    ..base.id
                },
                image: AttackedImage::Both,
                corrupted: true,
                ..base
            };
            let mut records = cell.run_batch(ready.test(exp, c.mi)?, &ready.clean.get(c.mi)?, b)?;
            records.iter_mut().for_each(|r| r.draw = c.draw);
            return Ok(Batch {
                records,
                kept: Vec::new(),
            });
        }
        let attack = cell_attack(exp, &ready.specs, c.ai);
        let cell = RegCell {
            fgsm_memo: run.fgsm_memo,
            ..reg_cell(exp, c.mi, c.ai, c.ei, &ready.models[c.mi], attack)
        };
        let records = cell.run_batch(ready.test(exp, c.mi)?, &ready.clean.get(c.mi)?, b)?;
        Ok(Batch {
            records,
            kept: Vec::new(),
        })
    }

    /// Pictures of the abrupt-change cases, recomputed from their cells' seeds.
    fn after_cells(
        run: &CellRun<'_, Self>,
        records: &[RegRecord],
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        let (exp, ready) = (run.spec, run.ready);
        let (fixed, _) = split_reg_min_norm(exp, records);
        let failures = mira_report::first_failures(&fixed);
        progress(RunEvent::Phase(
            "pictures of the abrupt-change cases".into(),
        ));
        let clean = (0..exp.models.len())
            .map(|mi| ready.clean(exp, mi, progress))
            .collect::<Result<Vec<_>>>()?;
        outputs::save_abrupt_examples(
            exp,
            &ready.models,
            &ready.specs,
            &|k| ready.data(k).map(|d| d.test.as_slice()),
            &clean,
            &failures,
            &fixed,
            run.out,
        )
    }

    /// The passing-rate monotonicity check and early-stop notices, FGSM against the
    /// iterative attacks on mean TRE, then the probes of every model.
    /// The passing-rate monotonicity check and FGSM against the iterative attacks.
    fn record_checks(exp: &RegExperiment, records: &[RegRecord]) -> Vec<Warning> {
        let (fixed, _) = split_reg_min_norm(exp, records);
        let rows = mira_report::summarise_reg(&fixed);
        let mut warnings = reg_warnings(exp, &rows, &fixed);
        warnings.extend(checks::iterative_weaker(exp, &fixed));
        warnings
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        checks::probes(run.spec, run.ready)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<RegSummary> {
        outputs::write_reg_outputs(run)
    }

    fn console(s: &RegSummary) -> String {
        let mut text = reg_markdown(&s.rows);
        let early = s.first_failures.iter().filter(|f| f.earliest).count();
        text += &format!("\n{early} abrupt-change cases (first_failures.csv, examples/).\n");
        text
    }
}

crate::run::impl_record!(RegRecord, attack, epsilon);
crate::run::impl_spec!(RegExperiment, checks.probes.enabled);
