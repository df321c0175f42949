//! Runs an experiment into an output folder, resuming where a previous run stopped.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use mira_data::SegDataset;
use mira_nn::checkpoint::{self, CheckpointMeta};
use mira_nn::default_device;
use mira_report::{
    CellRecord, SegRecord, SummaryRow, read_jsonl, read_records, summarise, to_csv, to_markdown,
};
use mira_train::{TrainEvent, predict_labels, train_defended};

use crate::fgsm_memo::FgsmMemo;
use crate::manifest::{BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session, dataset_hash};
use crate::outputs::{warnings_markdown, write_atomic, write_comparison, write_report};
use crate::seg_cell::{Cell, CellAttack, eps_f64, mix};
use crate::spec::DataSource;
use crate::{
    EvalError, Experiment, GoalSpec, ProbeSetup, Result, Warning, load_mni, probe_model,
    record_checks,
};
use crate::{SliceRef, folder_datasets};
use mira_attack::AttackSpec;

/// Progress of a run, for whoever displays it.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A phase starts.
    Phase(String),
    /// Training progress of a model.
    Train { model: String, event: TrainEvent },
    /// Training progress of a registration model.
    RegTrain {
        model: String,
        event: mira_train::RegTrainEvent,
    },
    /// Training progress of a shape model.
    ShapeTrain {
        model: String,
        event: mira_train::ShapeTrainEvent,
    },
    /// Training progress of a brain-age model.
    AgeTrain {
        model: String,
        event: mira_train::AgeTrainEvent,
    },
    /// Training progress of a learned synthesis attacker (S2): step `step` of `steps`.
    GeneratorTrain {
        model: String,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// A cell starts: how many cases it will attack.
    CellStart { cell: String, cases: usize },
    /// Cases of the running cell finished.
    CasesDone(usize),
    /// A cell finished and its records are on disk.
    CellDone { cell: String },
    /// A cell was already complete on disk and is not run again.
    CellSkipped { cell: String },
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Summary rows, one per cell.
    pub rows: Vec<SummaryRow>,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
    /// Sanity-check warnings (also in `warnings.json` and `summary.md`).
    pub warnings: Vec<Warning>,
    /// FGSM gradient passes saved by this invocation: a batch's gradient, taken once, served
    /// its other ε cells (see `MIRA_FGSM_MEMO_MB`).
    pub fgsm_gradients_reused: usize,
}

/// The three data splits; case `i` of each split depends only on `(seed, split, i)`. A folder
/// source also says where each test slice came from.
pub(crate) type Splits = (SegDataset, SegDataset, SegDataset, Option<Vec<SliceRef>>);

pub(crate) fn datasets(exp: &Experiment) -> Result<Splits> {
    let p = &exp.data.phantom;
    let d = &exp.data;
    match (d.source, &d.folder) {
        (DataSource::Folder, Some(f)) => {
            let (train, val, test, refs) =
                folder_datasets(f, mix(exp.seed, 7), [d.train, d.val, d.test])?;
            check_sides(exp, &test)?;
            Ok((train, val, test, Some(refs)))
        }
        (DataSource::Folder, None) => Err(EvalError::invalid("data.folder", "missing")),
        (DataSource::BrainMrPhantom, _) => Ok((
            p.generate(exp.seed, 0, d.train)?,
            p.generate(exp.seed, 1_000_000, d.val)?,
            p.generate(exp.seed, 2_000_000, d.test)?,
            None,
        )),
        (DataSource::BrainMrMni, _) => {
            let a = load_mni(&d.mni_dir())?;
            Ok((
                p.generate_on(&a, exp.seed, 0, d.train)?,
                p.generate_on(&a, exp.seed, 1_000_000, d.val)?,
                p.generate_on(&a, exp.seed, 2_000_000, d.test)?,
                None,
            ))
        }
    }
}

/// Folder slices have a size known only once read: every UNet must be able to halve it
/// `depth` times.
fn check_sides(exp: &Experiment, test: &SegDataset) -> Result<()> {
    let Some(s) = test.items.first() else {
        return Ok(());
    };
    for (i, m) in exp.models.iter().enumerate() {
        let depth = match &m.checkpoint {
            Some(c) => checkpoint::read_meta(c)?.unet.depth,
            None => m.depth.unwrap_or(3),
        };
        if !(s.height.is_multiple_of(1 << depth) && s.width.is_multiple_of(1 << depth)) {
            return Err(EvalError::invalid(
                format!("models[{i}]"),
                format!(
                    "slices of {}x{} cannot be halved {depth} times; set data.folder.size",
                    s.height, s.width
                ),
            ));
        }
    }
    Ok(())
}

/// What a run folder holds once its models are ready: the manifest, evaluation copies of the
/// models and the test slices.
pub(crate) struct Prepared {
    pub manifest: Manifest<Experiment>,
    pub models: Vec<mira_nn::UNet>,
    pub test: SegDataset,
}

/// Generates the data, then loads or trains every model. With `write`, the folder is taken
/// over (manifest resumed and written, missing models trained and saved); without it (shards,
/// merge) the folder must already hold the manifest and every model, and nothing is written.
pub(crate) fn prepare(
    exp: &Experiment,
    out: &Path,
    write: bool,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<Prepared> {
    progress(RunEvent::Phase("generating data".into()));
    let (train, val, test, refs) = datasets(exp)?;
    if write && let Some(refs) = &refs {
        std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
        let text = serde_json::to_string_pretty(refs).map_err(|e| EvalError::io(out, e))?;
        write_atomic(&out.join("cases.json"), text.as_bytes())?;
    }
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        build: BuildInfo::current(),
        experiment: exp.clone(),
        data: DataHashes {
            train: dataset_hash(&train),
            val: dataset_hash(&val),
            test: dataset_hash(&test),
        },
        models: Default::default(),
        sessions: vec![Session::now()],
    };
    if write {
        manifest.resume_from(out)?;
    } else {
        let old = Manifest::<Experiment>::read(out)?.ok_or_else(|| {
            EvalError::invalid(
                "out",
                format!(
                    "{} has no manifest.json: prepare it first with `mira run EXPERIMENT --out {} \
                     --models-only`",
                    out.display(),
                    out.display()
                ),
            )
        })?;
        old.check_resumable(&manifest, out)?;
        manifest = old;
    }

    let mut models = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        let dir = match &entry.checkpoint {
            Some(dir) => dir.clone(),
            None => out.join("models").join(&entry.name),
        };
        let weights_file = match &entry.torch_weights {
            Some(w) => w.clone(),
            None => dir.join(checkpoint::WEIGHTS_FILE),
        };
        let model = if let Some(w) = &entry.torch_weights {
            progress(RunEvent::Phase(format!(
                "importing PyTorch weights of {}",
                entry.name
            )));
            let cfg = entry.unet(test.channels(), test.n_labels());
            mira_nn::load_torch_unet(w, &cfg, &default_device())?
        } else if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!("loading model {}", entry.name)));
            checkpoint::load(&dir, &default_device())?.0
        } else if !write {
            return Err(EvalError::invalid(
                format!("models[{i}]"),
                format!(
                    "model '{}' is not trained in {}: train the models first with `mira run \
                     EXPERIMENT --out {} --models-only`",
                    entry.name,
                    out.display(),
                    out.display()
                ),
            ));
        } else {
            progress(RunEvent::Phase(format!("training model {}", entry.name)));
            let arch = entry.unet(train.channels(), train.n_labels());
            let setup = UnetTraining {
                name: &entry.name,
                arch: &arch,
                defence: &entry.defence,
                cfg: &exp.training,
                seed: mix(exp.seed, 1000 + i as u64),
            };
            train_and_save_unet(&setup, &train, &val, &dir, progress)?
        };
        manifest.pin_weights(i, &entry.name, &weights_file)?;
        models.push(model);
    }
    if write {
        manifest.write(out)?;
    }
    Ok(Prepared {
        manifest,
        models,
        test,
    })
}

/// What [`train_and_save_unet`] trains.
pub(crate) struct UnetTraining<'a> {
    pub name: &'a str,
    pub arch: &'a mira_nn::UNetConfig,
    pub defence: &'a mira_train::Defence,
    pub cfg: &'a mira_train::TrainConfig,
    pub seed: u64,
}

/// Trains a segmentation UNet (with its defence), saves it as a checkpoint under `dir` with
/// its training history, and returns its evaluation copy: shared by the segmentation (S1)
/// and synthesis (S2) runners.
pub(crate) fn train_and_save_unet(
    t: &UnetTraining<'_>,
    train: &SegDataset,
    val: &SegDataset,
    dir: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<mira_nn::UNet> {
    let (model, report) =
        train_defended(t.arch, t.defence, train, val, t.cfg, t.seed, &mut |event| {
            progress(RunEvent::Train {
                model: t.name.to_string(),
                event,
            })
        })?;
    let meta = CheckpointMeta {
        format: checkpoint::FORMAT.into(),
        unet: t.arch.clone(),
        channel_names: train.channel_names.clone(),
        label_names: train.label_names.clone(),
        training: serde_json::json!({ "config": t.cfg, "report": report }),
    };
    checkpoint::save(dir, &model, &meta)?;
    Ok(model.valid())
}

/// The (model, attack, ε) cells of `exp` in run order, bound to `models`.
/// Min-norm attacks have one cell, at the sweep's largest ε (the cap of the search). With
/// `state_root`, composite (`auto`) cells save their per-batch state under
/// `state_root/cascade/MODEL__ATTACK__eps=E/`. FGSM cells share `fgsm_memo` when given.
pub(crate) fn cells<'a>(
    exp: &'a Experiment,
    models: &'a [mira_nn::UNet],
    specs: &'a [Option<AttackSpec>],
    examples_dir: &'a Path,
    state_root: Option<&Path>,
    fgsm_memo: Option<&'a FgsmMemo>,
) -> Vec<Cell<'a>> {
    let max_eps = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    let mut out = Vec::new();
    for (mi, (entry, model)) in exp.models.iter().zip(models).enumerate() {
        for (ai, attack) in exp.attacks.iter().enumerate() {
            for (ei, &epsilon) in exp.sweep.epsilons.iter().enumerate() {
                let cell_attack = CellAttack::of(specs[ai].as_ref(), attack.min_norm())
                    .with_early_stop(attack.early_stop);
                // A min-norm search has one cell, at the sweep's largest ε (its cap); a composite
                // saves its per-batch state.
                let state_dir = match cell_attack {
                    CellAttack::MinNorm(_) if epsilon != max_eps => continue,
                    CellAttack::Fixed(AttackSpec::Auto(_)) => state_root.map(|r| {
                        r.join("cascade").join(crate::seg_cell::cell_stem(
                            &entry.name,
                            &attack.name,
                            &format!("eps={epsilon}"),
                        ))
                    }),
                    _ => None,
                };
                out.push(Cell {
                    model_name: &entry.name,
                    attack_name: &attack.name,
                    model,
                    attack: cell_attack,
                    break_dice: exp.sweep.break_dice,
                    break_match: exp.sweep.break_match,
                    state_dir,
                    goal: attack.goal,
                    temperature: attack.temperature.unwrap_or(1.0),
                    loss: attack.loss,
                    norm: exp.sweep.norm,
                    epsilon,
                    batch_size: exp.sweep.batch_size,
                    examples: (epsilon == max_eps && epsilon > 0.0).then_some(examples_dir),
                    seed: mix(
                        mix(mix(exp.seed, mi as u64), 100 + ai as u64),
                        10_000 + ei as u64,
                    ),
                    fgsm_memo,
                });
            }
        }
    }
    out
}

/// The attack of every entry, validated.
pub(crate) fn attack_specs(exp: &Experiment) -> Result<Vec<Option<AttackSpec>>> {
    exp.attacks
        .iter()
        .enumerate()
        .map(|(ai, a)| a.spec(&format!("attacks[{ai}]")))
        .collect()
}

/// Validates `exp`, then runs it into `out`: models (loaded, or trained and saved under
/// `out/models/NAME`), every (model, attack, ε) cell, `records.jsonl`, and the summaries
/// `summary.csv` and `summary.md`. Complete cells already in `out` are kept, not re-run.
///
/// # Errors
/// Invalid experiments, an `out` folder holding a different experiment, I/O, training or
/// attack failures, and budget violations.
pub fn run(exp: &Experiment, out: &Path, progress: &mut dyn FnMut(RunEvent)) -> Result<RunOutcome> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    let prepared = prepare(exp, out, true, progress)?;
    let test = &prepared.test;
    let records_path = out.join("records.jsonl");
    let done = resume_records::<SegRecord>(&records_path, exp.data.test)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(|e| EvalError::io(&records_path, e))?;
    let (mut cells_run, mut cells_skipped) = (0, 0);
    let examples_dir = out.join("examples");
    let specs = attack_specs(exp)?;
    let mut clean: Option<(usize, Vec<Vec<u8>>)> = None;
    let memo = FgsmMemo::from_env();
    for cell in cells(
        exp,
        &prepared.models,
        &specs,
        &examples_dir,
        Some(out),
        Some(&memo),
    ) {
        let mi = exp
            .models
            .iter()
            .position(|m| m.name == cell.model_name)
            .unwrap_or(0);
        let label = format!(
            "{} / {} / eps={}",
            cell.model_name, cell.attack_name, cell.epsilon
        );
        if done.contains(&(
            cell.model_name.to_string(),
            cell.attack_name.to_string(),
            eps_f64(cell.epsilon).to_bits(),
        )) {
            cells_skipped += 1;
            progress(RunEvent::CellSkipped { cell: label });
            continue;
        }
        if clean.as_ref().is_none_or(|(m, _)| *m != mi) {
            progress(RunEvent::Phase(format!(
                "clean predictions of {}",
                cell.model_name
            )));
            clean = Some((mi, predict_labels(cell.model, test, exp.sweep.batch_size)?));
        }
        let clean_pred = &clean.as_ref().expect("set above").1;
        progress(RunEvent::CellStart {
            cell: label.clone(),
            cases: test.items.len(),
        });
        let records = cell.run(test, clean_pred, &mut |n| progress(RunEvent::CasesDone(n)))?;
        append_records(&mut file, &records_path, &records)?;
        if let Some(dir) = &cell.state_dir
            && dir.exists()
        {
            std::fs::remove_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        }
        cells_run += 1;
        progress(RunEvent::CellDone { cell: label });
    }
    let all = read_records(&records_path)?;
    let (rows, warnings) = finish(exp, &prepared, &all, out, progress)?;
    Ok(RunOutcome {
        out: out.to_path_buf(),
        rows,
        cells_run,
        cells_skipped,
        warnings,
        fgsm_gradients_reused: memo.counts().1,
    })
}

/// Checks, summaries, comparison and report from the complete records of a run.
pub(crate) fn finish(
    exp: &Experiment,
    prepared: &Prepared,
    all: &[SegRecord],
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<(Vec<SummaryRow>, Vec<Warning>)> {
    let (fixed, min_norm) = crate::seg_min_norm::split_min_norm(exp, all);
    let tables = crate::seg_min_norm::min_norm_tables(exp, &fixed, &min_norm);
    let all = fixed.as_slice();
    let rows = summarise(all);
    let warnings = if exp.checks.enabled {
        progress(RunEvent::Phase("sanity checks".into()));
        run_checks(exp, &prepared.models, &prepared.test, all)?
    } else {
        Vec::new()
    };
    let warnings_json =
        serde_json::to_string_pretty(&warnings).map_err(|e| EvalError::io(out, e))?;
    write_atomic(&out.join("warnings.json"), warnings_json.as_bytes())?;
    write_atomic(&out.join("summary.csv"), to_csv(&rows).as_bytes())?;
    let json = serde_json::to_string_pretty(&rows).map_err(|e| EvalError::io(out, e))?;
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    let mut md = to_markdown(&rows);
    md += &warnings_markdown(exp.checks.enabled, &warnings);
    for t in &tables {
        md += &t.markdown();
    }
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let tests = write_comparison(exp, all, out)?;
    write_report(
        &prepared.manifest,
        all,
        &rows,
        &tests,
        &warnings,
        &tables,
        out,
    )?;
    Ok((rows, warnings))
}

/// Record checks over the whole run, then the model probes of every model with the
/// experiment's strongest untargeted gradient attack at the largest budget.
fn run_checks(
    exp: &Experiment,
    models: &[mira_nn::UNet],
    test: &SegDataset,
    records: &[SegRecord],
) -> Result<Vec<Warning>> {
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    let mut warnings = record_checks(records, &names, &exp.attacks, exp.checks.tolerance);
    let mut reference: Option<(String, AttackSpec, f32)> = None;
    for (i, a) in exp.attacks.iter().enumerate() {
        let Some(spec) = a.spec(&format!("attacks[{i}]"))? else {
            continue;
        };
        // The attack with the most gradient evaluations; on a tie APGD, the strong default.
        let better = reference.as_ref().is_none_or(|(_, r, _)| {
            let (n, m) = (spec.gradient_evaluations(), r.gradient_evaluations());
            n > m
                || (n == m
                    && matches!(spec, AttackSpec::Apgd(_))
                    && !matches!(r, AttackSpec::Apgd(_)))
        });
        // The probes need a gradient attack; score-based attacks (Square) never serve.
        let gradient = spec.gradient_evaluations() > 0;
        if a.goal == GoalSpec::Untargeted && a.loss == crate::AttackLoss::Ce && better && gradient {
            reference = Some((a.name.clone(), spec, a.temperature.unwrap_or(1.0)));
        }
    }
    let (attack, spec, temperature) = reference.unwrap_or_else(|| {
        (
            "apgd (probe)".into(),
            AttackSpec::Apgd(mira_attack::ApgdConfig {
                steps: 20,
                ..Default::default()
            }),
            1.0,
        )
    });
    let epsilon = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    for (mi, (entry, model)) in exp.models.iter().zip(models).enumerate() {
        let setup = ProbeSetup {
            model: &entry.name,
            attack: &attack,
            spec: spec.clone(),
            temperature,
            norm: exp.sweep.norm,
            epsilon,
            cfg: &exp.checks,
            seed: mix(exp.seed, 77_000 + mi as u64),
        };
        warnings.extend(probe_model(model, test, &setup)?);
    }
    Ok(warnings)
}

/// Takes an exclusive advisory lock on `out/.lock` for the life of the returned file, so two
/// runs never write into one folder at once. The OS releases it when the process ends, even
/// when killed, so a crashed run never leaves a stale lock.
pub(crate) fn lock_run_dir(out: &Path) -> Result<std::fs::File> {
    lock_file(out, ".lock")
}

/// [`lock_run_dir`] on the lock file `name` of `out` (shards hold one each).
pub(crate) fn lock_file(out: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let path = out.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| EvalError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EvalError::invalid(
            "out",
            format!(
                "{} is in use by another mira run (wait for it, or use another folder)",
                out.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(EvalError::io(&path, e)),
    }
}

/// Keeps the complete cells of an existing records file (rewritten atomically without
/// incomplete cells or a torn last line) and returns their keys.
pub(crate) fn resume_records<R: CellRecord>(
    path: &Path,
    cases: usize,
) -> Result<HashSet<(String, String, u64)>> {
    if !path.exists() {
        return Ok(HashSet::new());
    }
    let records: Vec<R> = read_jsonl(path)?;
    let mut counts: std::collections::HashMap<(String, String, u64), usize> = Default::default();
    for r in &records {
        *counts.entry(r.cell_key()).or_default() += 1;
    }
    let done: HashSet<_> = counts
        .into_iter()
        .filter(|(_, n)| *n == cases)
        .map(|(k, _)| k)
        .collect();
    let kept: Vec<&R> = records
        .iter()
        .filter(|r| done.contains(&r.cell_key()))
        .collect();
    if kept.len() != records.len()
        || !std::fs::read(path)
            .map_err(|e| EvalError::io(path, e))?
            .ends_with(b"\n")
    {
        write_atomic(path, jsonl(&kept, path)?.as_bytes())?;
    }
    Ok(done)
}

/// Records as JSON lines.
pub(crate) fn jsonl<R: serde::Serialize>(records: &[R], path: &Path) -> Result<String> {
    let mut text = String::new();
    for r in records {
        text += &serde_json::to_string(r).map_err(|e| EvalError::io(path, e))?;
        text.push('\n');
    }
    Ok(text)
}

/// Appends the records of one cell to the open records file in one write, then syncs, so a
/// cell is on disk whole or (after a crash) dropped whole on resume.
pub(crate) fn append_records<R: serde::Serialize>(
    file: &mut std::fs::File,
    path: &Path,
    records: &[R],
) -> Result<()> {
    file.write_all(jsonl(records, path)?.as_bytes())
        .map_err(|e| EvalError::io(path, e))?;
    file.sync_data().map_err(|e| EvalError::io(path, e))
}
