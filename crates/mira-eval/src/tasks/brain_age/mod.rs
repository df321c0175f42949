//! Brain age from 3D T1 volumes (study S3): a 3D CNN and hybrids with regional tissue-volume
//! features, attacked per image (untargeted, older, younger, target age; plain gradients or
//! BPDA through hard tissue maps), by one universal perturbation, or by the min-norm search;
//! MAE, shift and paired comparisons, universal perturbations written as NIfTI.

mod cell;
mod checks;
mod corruptions;
mod judge;
mod outputs;
mod probe;
mod spec;

use std::collections::BTreeMap;

use mira_attack::AttackSpec;
use mira_data::AgeSubject;
use mira_nn::{
    AGE_FORMAT, AgeFeatureConfig, AgeNet, AgeNetConfig, AgeNetMeta, TissueMode, save_age_net,
};
use mira_report::{AgeRecord, AgeSummaryRow, summarise_age};
use mira_train::{feature_stats, fit_tissue_model, predict_age, train_age};

use crate::cells::CellAttack;
use crate::cells::CellId;
use crate::run::folder::write_json;
use crate::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, PerModel, Planned, RunEvent, Setup, Task,
    cell_label, cell_seed, eps_f64, example_file, mix, subjects_hash,
};
use crate::{EvalError, Result, Warning};

pub(crate) use cell::{AgeCell, age_loss, save_example};
pub(crate) use judge::AgeJudge;
pub use probe::AgeProbe;
pub use spec::{
    AgeAnatomy, AgeAttackEntry, AgeChecks, AgeDataSpec, AgeExperiment, AgeGoal, AgeGradient,
    AgeModelEntry, AgeModelKind, AgeScope, AgeSweep, AgeTask,
};

/// The brain-age task.
pub struct BrainAge;

/// What a brain-age run's outputs say.
pub type AgeSummary = crate::report::Findings<AgeSummaryRow>;

crate::onnx_or!(
    /// A brain-age network: Mira's (CNN or hybrid) or an ONNX regressor, `[B, 1, S, S, S]` in,
    /// `[B, 1]` years out.
    AgeModel,
    AgeNet,
    5
);

impl AgeModel {
    /// BPDA through the hard tissue maps (Mira's hybrid only; nothing else has them).
    pub fn with_straight_through(self, on: bool) -> Self {
        match self {
            AgeModel::Own(n) => AgeModel::Own(n.with_straight_through(on)),
            other => other,
        }
    }
}

/// The subjects, models and attacks of a brain-age run.
pub struct AgeReady {
    models: Vec<AgeModel>,
    train: Vec<AgeSubject>,
    test: Vec<AgeSubject>,
    specs: Vec<Option<AttackSpec>>,
    /// Per corruption entry, the attack entry its cells' records describe (per image, goal
    /// `error`, its severities as budgets).
    corruption_entries: Vec<AgeAttackEntry>,
    /// Clean predictions per model, computed before the model's first cell runs.
    clean: PerModel<Vec<f64>>,
}

/// A cell of the plan: indices into the experiment.
pub struct AgeCellRef {
    mi: usize,
    /// Index into the attacks, or (with `corruption`) into the corruptions.
    ai: usize,
    /// A corruption cell: `epsilon` holds the severity.
    corruption: bool,
    /// A corruption cell's draw (entries with `draws` > 1).
    draw: Option<usize>,
    epsilon: f32,
    seed: u64,
    /// The attack's largest ε, with pictures asked for: the first subject is drawn.
    picture: bool,
}

/// The three splits; subject `i` of the set depends only on `(seed, i)`.
pub fn age_splits(
    exp: &AgeExperiment,
) -> Result<(Vec<AgeSubject>, Vec<AgeSubject>, Vec<AgeSubject>)> {
    let d = &exp.data;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seed = mix(exp.seed, 0xA6E);
    let anatomy = match d.anatomy {
        AgeAnatomy::Synthetic => None,
        AgeAnatomy::Mni => Some(crate::load_mni(&d.template_dir())?),
    };
    let make = |first: usize, n: usize| match &anatomy {
        None => d.phantom.generate(seed, first, n, threads),
        Some(a) => d.phantom.generate_on(a, seed, first, n, threads),
    };
    Ok((
        make(0, d.train_subjects)?,
        make(d.train_subjects, d.val_subjects)?,
        make(d.train_subjects + d.val_subjects, d.test_subjects)?,
    ))
}

/// The network of model entry `i`, with statistics fitted on `train`.
fn net_config(exp: &AgeExperiment, i: usize, train: &[AgeSubject]) -> Result<AgeNetConfig> {
    let m = &exp.models[i];
    let n = train.len() as f64;
    let mean = train.iter().map(|s| s.age).sum::<f64>() / n;
    let sd = (train.iter().map(|s| (s.age - mean).powi(2)).sum::<f64>() / n).sqrt();
    let base = AgeNetConfig::cnn(exp.data.phantom.size, mean as f32, sd.max(1.0) as f32);
    let mut cfg = AgeNetConfig {
        width: m.width.unwrap_or(base.width),
        hidden: m.hidden.unwrap_or(base.hidden),
        dropout: m.dropout.unwrap_or(base.dropout),
        ..base
    };
    if m.kind == AgeModelKind::Hybrid {
        let tissue = fit_tissue_model(train)?;
        let mode = m.features.unwrap_or(TissueMode::Soft);
        let (mean, sd) = feature_stats(&tissue, mode, train)?;
        cfg.features = Some(AgeFeatureConfig {
            tissue,
            mode,
            mean,
            sd,
            embed: m.embed.unwrap_or(32),
        });
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Loads or trains every model of `exp`, pinning each one's weights.
fn models(
    exp: &AgeExperiment,
    train: &[AgeSubject],
    val: &[AgeSubject],
    setup: &mut Setup<'_, AgeExperiment>,
) -> Result<Vec<AgeModel>> {
    let mut models = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        if let Some(path) = &entry.onnx {
            setup.phase(format!("loading the ONNX model {}", entry.name));
            let s = exp.data.phantom.size;
            let field = format!("models[{i}].onnx");
            models.push(AgeModel::Onnx(crate::onnx_graph::OnnxGraph::load(
                path,
                &[1, 1, s, s, s],
                1,
                &field,
            )?));
            setup.pin(i, &entry.name, path)?;
            continue;
        }
        let ckpt = entry.checkpoint.as_deref();
        let training = format!("training model {} on {} subjects", entry.name, train.len());
        let model = setup.model((i, &entry.name), ckpt, training, |dir, events| {
            let net = net_config(exp, i, train)?;
            let seed = mix(exp.seed, 1000 + i as u64);
            let (model, report) = train_age(&net, train, val, &exp.training, seed, events)?;
            let meta = AgeNetMeta {
                format: AGE_FORMAT.into(),
                net,
                training: serde_json::json!({ "config": exp.training, "report": report }),
            };
            save_age_net(dir, &model, &meta)?;
            Ok(model)
        })?;
        models.push(AgeModel::Own(model));
    }
    Ok(models)
}

/// The cell view of a planned cell: the model with BPDA switched on where the entry asks.
fn view<'a>(
    run: &'a CellRun<'_, BrainAge>,
    p: &Planned<AgeCellRef>,
    model: &'a AgeModel,
) -> AgeCell<'a> {
    let (exp, c) = (run.spec, &p.cell);
    let attack = if c.corruption {
        &run.ready.corruption_entries[c.ai]
    } else {
        &exp.attacks[c.ai]
    };
    AgeCell {
        id: CellId {
            model: &exp.models[c.mi].name,
            attack: &attack.name,
            norm: attack.norm,
            epsilon: c.epsilon,
            batch_size: exp.sweep.batch_size,
            seed: c.seed,
        },
        model,
        entry: attack,
        spec: if c.corruption {
            None
        } else {
            run.ready.specs[c.ai].as_ref()
        },
        threshold: exp.sweep.threshold_years,
        corrupted: c.corruption,
    }
}

/// The universal perturbation of a cell, as `universal/` names it.
fn delta_file(model: &str, attack: &str, epsilon: f32) -> String {
    format!("{model}_{attack}_eps{epsilon}.nii.gz")
}

impl Task for BrainAge {
    const NAME: &'static str = "brain_age";
    type Spec = AgeExperiment;
    type Record = AgeRecord;
    type Ready = AgeReady;
    type Cell = AgeCellRef;
    /// The first test subject's adversarial volume.
    type Kept = Vec<f32>;
    type Summary = AgeSummary;

    fn prepare(exp: &AgeExperiment, setup: &mut Setup<'_, AgeExperiment>) -> Result<AgeReady> {
        setup.phase("generating subjects");
        let (train, val, test) = age_splits(exp)?;
        setup.data(DataHashes {
            train: subjects_hash(&train),
            val: subjects_hash(&val),
            test: subjects_hash(&test),
        })?;
        let models = models(exp, &train, &val, setup)?;
        let specs = exp
            .attacks
            .iter()
            .enumerate()
            .map(|(ai, a)| a.spec(&format!("attacks[{ai}]")))
            .collect::<Result<Vec<_>>>()?;
        let corruption_entries = exp
            .corruptions
            .iter()
            .map(|c| {
                let severities: Vec<f32> = c.severities.iter().map(|&s| f32::from(s)).collect();
                serde_json::from_value(serde_json::json!({
                    "name": c.name(),
                    "norm": "linf",
                    "epsilons": severities,
                }))
                .map_err(|e| EvalError::invalid("corruptions", e.to_string()))
            })
            .collect::<Result<Vec<AgeAttackEntry>>>()?;
        Ok(AgeReady {
            clean: PerModel::new(models.len()),
            models,
            train,
            test,
            specs,
            corruption_entries,
        })
    }

    /// Every applicable (model, attack, ε), model by model, at each attack's own budgets; a
    /// universal cell is one unit (one δ fitted for every test subject).
    fn plan(exp: &AgeExperiment, ready: &AgeReady) -> Result<Vec<Planned<AgeCellRef>>> {
        let n = ready.test.len();
        let mut out = Vec::new();
        for (mi, entry) in exp.models.iter().enumerate() {
            for (ai, attack) in exp.attacks.iter().enumerate() {
                if !exp.applies(mi, ai) {
                    continue;
                }
                let last = attack.epsilons.len() - 1;
                for (ei, &epsilon) in attack.epsilons.iter().enumerate() {
                    let universal = attack.scope == AgeScope::Universal;
                    out.push(Planned {
                        label: cell_label(&entry.name, &attack.name, epsilon),
                        keys: vec![CellKey::new(&entry.name, &attack.name, eps_f64(epsilon))],
                        cases: n,
                        batch_size: if universal { n } else { exp.sweep.batch_size },
                        state: None,
                        cell: AgeCellRef {
                            mi,
                            ai,
                            corruption: false,
                            draw: None,
                            epsilon,
                            seed: cell_seed(exp.seed, mi, ai, ei),
                            picture: exp.checks.examples && ei == last,
                        },
                    });
                }
            }
            for c in crate::spec::corruption_cells(&exp.corruptions, &entry.name, mi, exp.seed) {
                out.push(c.planned(n, exp.sweep.batch_size, |c| AgeCellRef {
                    mi,
                    ai: c.ci,
                    corruption: true,
                    draw: c.draw,
                    epsilon: f32::from(c.severity),
                    seed: c.seed,
                    picture: false,
                }));
            }
        }
        Ok(out)
    }

    fn before_cell(
        run: &CellRun<'_, Self>,
        cell: &Planned<AgeCellRef>,
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        let (exp, ready, mi) = (run.spec, run.ready, cell.cell.mi);
        ready.clean.ensure(mi, || {
            let name = &exp.models[mi].name;
            progress(RunEvent::Phase(format!("clean predictions of {name}")));
            Ok(predict_age(
                &ready.models[mi],
                &ready.test,
                exp.sweep.batch_size,
            )?)
        })?;
        Ok(())
    }

    fn run_batch(
        run: &CellRun<'_, Self>,
        p: &Planned<AgeCellRef>,
        b: usize,
    ) -> Result<Batch<Self>> {
        let (exp, ready, c) = (run.spec, run.ready, &p.cell);
        if c.corruption {
            let model = ready.models[c.mi].clone();
            let cell = view(run, p, &model);
            let clean = ready.clean.get(c.mi)?;
            let corruptor = exp.corruptions[c.ai].corruptor(c.epsilon as u8, None, None);
            let (mut records, _) =
                cell.run_batch(&ready.test, &clean, b, CellAttack::Corrupt(corruptor))?;
            records.iter_mut().for_each(|r| r.draw = c.draw);
            return Ok(Batch {
                records,
                kept: Vec::new(),
            });
        }
        let entry = &exp.attacks[c.ai];
        let model = ready.models[c.mi]
            .clone()
            .with_straight_through(entry.gradient == AgeGradient::Bpda);
        let cell = view(run, p, &model);
        let clean = ready.clean.get(c.mi)?;
        let keep = run.pictures && c.picture && b == 0;
        let (records, first) = match entry.scope {
            AgeScope::Universal => {
                let name = &exp.models[c.mi].name;
                let file = delta_file(name, &entry.name, c.epsilon);
                let delta = run.out.join("universal").join(&file);
                let fit_set = &ready.train[..exp.data.universal_fit_subjects];
                let (records, fit, first) =
                    cell.run_universal(fit_set, &ready.test, &clean, &delta)?;
                record_fit(
                    run.out,
                    &format!("{name} / {} / eps={}", entry.name, c.epsilon),
                    serde_json::json!({
                        "fit_subjects": fit_set.len(),
                        "fit": fit,
                        "delta": format!("universal/{file}"),
                    }),
                )?;
                (records, first)
            }
            AgeScope::PerImage | AgeScope::MinNorm => {
                let attack = match (entry.scope, cell.spec) {
                    (AgeScope::MinNorm, _) => CellAttack::MinNorm(
                        entry
                            .min_norm()
                            .ok_or_else(|| EvalError::invalid("attack", "not a min-norm attack"))?,
                    ),
                    (_, Some(spec)) => CellAttack::Fixed(spec),
                    (_, None) => {
                        return Err(EvalError::invalid(
                            "attack",
                            "per-image attack without a kind",
                        ));
                    }
                };
                let (records, adv) = cell.run_batch(&ready.test, &clean, b, attack)?;
                let per = ready.test[0].t1.len();
                (records, adv[..per.min(adv.len())].to_vec())
            }
        };
        Ok(Batch {
            records,
            kept: if keep { vec![first] } else { Vec::new() },
        })
    }

    /// Mid-slices of the first test subject at the attack's largest ε.
    fn save_pictures(
        run: &CellRun<'_, Self>,
        p: &Planned<AgeCellRef>,
        _records: &[AgeRecord],
        kept: Vec<Vec<f32>>,
    ) -> Result<()> {
        let (exp, c) = (run.spec, &p.cell);
        let Some(adv) = kept.first().filter(|_| run.pictures && c.picture) else {
            return Ok(());
        };
        let path = run.out.join("examples").join(example_file(
            &exp.models[c.mi].name,
            &exp.attacks[c.ai].name,
            "largest-eps",
        ));
        save_example(&run.ready.test[0], adv, c.epsilon, &path)
    }

    fn picture_batches(p: &Planned<AgeCellRef>, _records: &[AgeRecord]) -> Vec<usize> {
        if p.cell.picture { vec![0] } else { Vec::new() }
    }

    /// The MAE monotonicity check and FGSM against the iterative attacks.
    fn record_checks(exp: &AgeExperiment, records: &[AgeRecord]) -> Vec<Warning> {
        let (records, _) = corruptions::split_corruptions(records);
        let records = records.as_slice();
        let rows = summarise_age(records, exp.sweep.threshold_years);
        let mut warnings = outputs::age_warnings(exp, &rows);
        warnings.extend(checks::iterative_weaker(exp, records));
        warnings
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        checks::probes(run.spec, run.ready)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<AgeSummary> {
        outputs::write_age_outputs(run)
    }

    fn console(s: &AgeSummary) -> String {
        crate::report::findings_text(&s.findings)
    }
}

/// Adds the fit of one universal cell to `universal.json` (a read-modify-write under a lock,
/// since shards may fit universal cells at the same time).
fn record_fit(out: &std::path::Path, key: &str, fit: serde_json::Value) -> Result<()> {
    let lock_path = out.join(".lock-universal");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| EvalError::io(&lock_path, e))?;
    lock.lock().map_err(|e| EvalError::io(&lock_path, e))?;
    let path = out.join("universal.json");
    let mut fits: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    fits.insert(key.to_string(), fit);
    write_json(&path, &fits)
}

crate::run::impl_record!(AgeRecord, attack, epsilon);
crate::run::impl_spec!(AgeExperiment, checks.probes.enabled);
