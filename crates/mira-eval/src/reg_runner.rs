//! Runs a registration experiment (study S0) into an output folder, resuming where a previous
//! run stopped: the same folder contract as segmentation runs (lock, manifest, complete cells
//! kept, records appended per cell), with registration records and summaries.

use std::path::{Path, PathBuf};

use mira_data::Rigid2d;
use mira_nn::{PAIR_FORMAT, PairNet, PairNetMeta, default_device, load_pair_net, save_pair_net};
use mira_report::{
    AbruptCase, RegRecord, RegSummaryRow, TextTable, abrupt_csv, first_failures, non_monotone,
    read_jsonl, reg_csv, reg_markdown, summarise_reg,
};
use mira_train::{predict_rigid, train_registration};

use crate::checks::early_stop_warning;
use crate::manifest::{BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session};
use crate::outputs::{warnings_markdown, write_atomic};
use crate::reg_cell::RegCell;
use crate::reg_min_norm::{reg_min_norm_tables, split_reg_min_norm};
use crate::reg_outputs::{save_abrupt_examples, write_reg_report};
use crate::runner::{append_records, lock_run_dir, resume_records};
use crate::seg_cell::CellAttack;
use crate::seg_cell::{eps_f64, mix};
use crate::{
    EvalError, RegData, RegExperiment, RegSourceKind, Result, RunEvent, Warning, pairs_hash,
    reg_data, sources_hash,
};

/// What a registration run produced.
#[derive(Debug, Clone)]
pub struct RegRunOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Summary rows, one per cell.
    pub rows: Vec<RegSummaryRow>,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
    /// Check warnings.
    pub warnings: Vec<Warning>,
    /// FGSM gradient passes saved by this invocation: a batch's gradient, taken once, served
    /// its other ε cells (see `MIRA_FGSM_MEMO_MB`).
    pub fgsm_gradients_reused: usize,
    /// Cases that pass clean and fail at some budget, first failure per case.
    pub first_failures: Vec<AbruptCase>,
    /// The image source of each model (`radiograph`, `xray_phantom`, `natural`).
    pub sources: Vec<(String, String)>,
}

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

/// Validates `exp`, then runs it into `out`: models (loaded, or trained and saved under
/// `out/models/NAME`), every (model, attack, ε) cell, `records.jsonl`, summaries, the
/// first-failure list, pictures of the abrupt cases and `report.html`.
///
/// # Errors
/// Invalid experiments, an `out` folder holding a different experiment, I/O, training or
/// attack failures, and budget violations.
pub fn run_registration(
    exp: &RegExperiment,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<RegRunOutcome> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    progress(RunEvent::Phase("generating pairs".into()));
    let fams = families(exp)?;
    let joined = |f: &dyn Fn(&RegData) -> String| {
        fams.iter().map(|(_, d)| f(d)).collect::<Vec<_>>().join("+")
    };
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        build: BuildInfo::current(),
        experiment: exp.clone(),
        data: DataHashes {
            train: joined(&|d| sources_hash(&d.train)),
            val: joined(&|d| pairs_hash(&d.val)),
            test: joined(&|d| pairs_hash(&d.test)),
        },
        models: Default::default(),
        sessions: vec![Session::now()],
    };
    manifest.resume_from(out)?;
    let data_of = |k: RegSourceKind| &fams.iter().find(|(f, _)| *f == k).expect("built").1;

    let mut models: Vec<PairNet> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        let dir = entry
            .checkpoint
            .clone()
            .unwrap_or_else(|| out.join("models").join(&entry.name));
        let data = data_of(entry.source);
        let spacing = entry.spacing_mm(&exp.data);
        let model = if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!("loading model {}", entry.name)));
            load_pair_net(&dir, &default_device())?.0
        } else {
            progress(RunEvent::Phase(format!(
                "training model {} on {} pairs",
                entry.name, data.source_name
            )));
            let name = entry.name.clone();
            let tol_px = entry.tolerance() / spacing.unwrap_or(1.0);
            let (model, report) = train_registration(
                &entry.net(&exp.data),
                &data.train,
                &data.val,
                &data.pair_cfg,
                tol_px,
                &exp.training,
                mix(exp.seed, 1000 + i as u64),
                &mut |event| {
                    progress(RunEvent::RegTrain {
                        model: name.clone(),
                        event,
                    })
                },
            )?;
            let meta = PairNetMeta {
                format: PAIR_FORMAT.into(),
                net: entry.net(&exp.data),
                size: exp.data.size,
                source: data.source_name.clone(),
                spacing_mm: spacing,
                training: serde_json::json!({ "config": exp.training, "report": report }),
            };
            save_pair_net(&dir, &model, &meta)?;
            model
        };
        manifest.pin_weights(i, &entry.name, &dir.join(mira_nn::checkpoint::WEIGHTS_FILE))?;
        models.push(model);
    }
    manifest.write(out)?;

    let records_path = out.join("records.jsonl");
    let done = resume_records::<RegRecord>(&records_path, exp.data.test_pairs)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(|e| EvalError::io(&records_path, e))?;
    let (mut cells_run, mut cells_skipped) = (0, 0);
    let mut clean: Vec<Vec<Rigid2d>> = Vec::new();
    let specs = exp
        .attacks
        .iter()
        .enumerate()
        .map(|(ai, a)| a.spec(&format!("attacks[{ai}]")))
        .collect::<Result<Vec<_>>>()?;
    let max_eps = exp.sweep.epsilons.iter().copied().fold(0.0f32, f32::max);
    let memo = crate::fgsm_memo::FgsmMemo::from_env();
    for (mi, (entry, model)) in exp.models.iter().zip(&models).enumerate() {
        let data = data_of(entry.source);
        progress(RunEvent::Phase(format!(
            "clean predictions of {}",
            entry.name
        )));
        let clean_pred = predict_rigid(model, &data.test, exp.sweep.batch_size)?;
        for (ai, attack) in exp.attacks.iter().enumerate() {
            for (ei, &epsilon) in exp.sweep.epsilons.iter().enumerate() {
                // A min-norm search has one cell, at the sweep's largest ε (its cap).
                if attack.min_norm().is_some() && epsilon != max_eps {
                    continue;
                }
                let cell_attack = CellAttack::of(specs[ai].as_ref(), attack.min_norm())
                    .with_early_stop(attack.early_stop);
                let cell = RegCell {
                    fgsm_memo: Some(&memo),
                    ..reg_cell(exp, mi, ai, ei, model, cell_attack)
                };
                let label = format!("{} / {} / eps={epsilon}", entry.name, attack.name);
                let key = (
                    entry.name.clone(),
                    attack.name.clone(),
                    eps_f64(epsilon).to_bits(),
                );
                if done.contains(&key) {
                    cells_skipped += 1;
                    progress(RunEvent::CellSkipped { cell: label });
                    continue;
                }
                progress(RunEvent::CellStart {
                    cell: label.clone(),
                    cases: data.test.len(),
                });
                let records = cell.run(&data.test, &clean_pred, &mut |n| {
                    progress(RunEvent::CasesDone(n))
                })?;
                append_records(&mut file, &records_path, &records)?;
                cells_run += 1;
                progress(RunEvent::CellDone { cell: label });
            }
        }
        clean.push(clean_pred);
    }
    let every: Vec<RegRecord> = read_jsonl(&records_path)?;
    let (all, min_norm) = split_reg_min_norm(exp, &every);
    let tables = reg_min_norm_tables(exp, &all, &min_norm);
    let rows = summarise_reg(&all);
    let warnings = reg_warnings(exp, &rows, &all);
    let failures = first_failures(&all);
    progress(RunEvent::Phase(
        "pictures of the abrupt-change cases".into(),
    ));
    save_abrupt_examples(
        exp,
        &models,
        &|k| &data_of(k).test,
        &clean,
        &failures,
        &all,
        out,
    )?;
    write_reg_outputs(out, &rows, &warnings, &failures, &tables)?;
    write_reg_report(&manifest, &every, &rows, &warnings, &failures, &tables, out)?;
    Ok(RegRunOutcome {
        out: out.to_path_buf(),
        rows,
        cells_run,
        cells_skipped,
        warnings,
        fgsm_gradients_reused: memo.counts().1,
        first_failures: failures,
        sources: exp
            .models
            .iter()
            .map(|m| (m.name.clone(), data_of(m.source).source_name.clone()))
            .collect(),
    })
}

/// The cell of (model `mi`, attack `ai`, budget `ei`).
pub(crate) fn reg_cell<'a>(
    exp: &'a RegExperiment,
    mi: usize,
    ai: usize,
    ei: usize,
    model: &'a PairNet,
    attack: CellAttack<'a>,
) -> RegCell<'a> {
    let entry = &exp.models[mi];
    let spacing = entry.spacing_mm(&exp.data);
    RegCell {
        model_name: &entry.name,
        attack_name: &exp.attacks[ai].name,
        model,
        attack,
        image: exp.attacks[ai].image,
        norm: exp.sweep.norm,
        epsilon: exp.sweep.epsilons[ei],
        batch_size: exp.sweep.batch_size,
        seed: mix(
            mix(mix(exp.seed, mi as u64), 100 + ai as u64),
            10_000 + ei as u64,
        ),
        spacing: spacing.unwrap_or(1.0),
        unit: if spacing.is_some() { "mm" } else { "px" },
        tolerance: entry.tolerance(),
        fgsm_memo: None,
    }
}

/// The monotonicity check (the passing rate must not rise with ε beyond the tolerance) and
/// the `early-stop` notice of every early-stopped attack and model.
pub fn reg_warnings(
    exp: &RegExperiment,
    rows: &[RegSummaryRow],
    records: &[RegRecord],
) -> Vec<Warning> {
    let mut out: Vec<Warning> = non_monotone(rows, exp.checks.monotone_tolerance)
        .into_iter()
        .map(|(model, attack, e0, e1, r0, r1)| Warning {
            check: "non-monotone".into(),
            model,
            attack: Some(attack),
            message: format!(
                "passing rate rises from {:.1}% at ε={e0} to {:.1}% at ε={e1}: the attack did \
                 not find the failures a smaller budget found (weak or noisy optimisation)",
                100.0 * r0,
                100.0 * r1
            ),
        })
        .collect();
    for a in exp.attacks.iter().filter(|a| a.early_stop.is_some()) {
        let Some(steps) = a.spec("attack").ok().flatten().map(|s| s.steps()) else {
            continue;
        };
        for m in &exp.models {
            let stopped: Vec<Option<usize>> = records
                .iter()
                .filter(|r| r.model == m.name && r.attack == a.name && r.epsilon > 0.0)
                .map(|r| r.stopped_at)
                .collect();
            let read = "A pair that failed at a check stays failed (passing rates are never \
                        higher than the full attack's); its TRE is measured where it failed, \
                        not at the full attack: read passing rates, not mean TRE";
            let every = a.early_stop.unwrap_or(1);
            out.extend(early_stop_warning(
                &m.name,
                &a.name,
                (steps, every),
                false,
                &stopped,
                read,
            ));
        }
    }
    out
}

/// Summary files beside the records.
pub(crate) fn write_reg_outputs(
    out: &Path,
    rows: &[RegSummaryRow],
    warnings: &[Warning],
    failures: &[AbruptCase],
    tables: &[TextTable],
) -> Result<()> {
    let json = serde_json::to_string_pretty(warnings).map_err(|e| EvalError::io(out, e))?;
    write_atomic(&out.join("warnings.json"), json.as_bytes())?;
    write_atomic(&out.join("summary.csv"), reg_csv(rows).as_bytes())?;
    let json = serde_json::to_string_pretty(rows).map_err(|e| EvalError::io(out, e))?;
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    write_atomic(
        &out.join("first_failures.csv"),
        abrupt_csv(failures).as_bytes(),
    )?;
    let mut md = reg_markdown(rows);
    for t in tables {
        md += &t.markdown();
    }
    md += &crate::reg_outputs::abrupt_markdown(failures);
    md += &warnings_markdown(true, warnings);
    write_atomic(&out.join("summary.md"), md.as_bytes())
}

/// Whether the run folder `out` holds a registration run (by its manifest).
pub fn is_registration_run(out: &Path) -> bool {
    crate::manifest::run_task(out).is_some_and(|t| t == "registration")
}

/// Rebuilds the summaries, first failures and `report.html` of a registration run folder from
/// its records and manifest alone (pictures already in `examples/` are kept and linked).
///
/// # Errors
/// A missing or malformed manifest or records file; write failures.
pub fn rebuild_registration_report(out: &Path) -> Result<Vec<RegSummaryRow>> {
    let manifest = Manifest::<RegExperiment>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let every: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl"))?;
    let exp = &manifest.experiment;
    let (all, min_norm) = split_reg_min_norm(exp, &every);
    let tables = reg_min_norm_tables(exp, &all, &min_norm);
    let rows = summarise_reg(&all);
    let warnings = reg_warnings(exp, &rows, &all);
    let failures = first_failures(&all);
    write_reg_outputs(out, &rows, &warnings, &failures, &tables)?;
    write_reg_report(&manifest, &every, &rows, &warnings, &failures, &tables, out)?;
    Ok(rows)
}
