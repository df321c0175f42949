//! Runs a brain-age experiment (study S3) into an output folder, resuming where a previous
//! run stopped: the folder contract of the other runners (lock, manifest, complete cells
//! kept, records appended per cell), with age records, universal perturbations as NIfTI,
//! paired comparisons and findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mira_data::AgeSubject;
use mira_nn::{
    AGE_FORMAT, AgeFeatureConfig, AgeNet, AgeNetConfig, AgeNetMeta, TissueMode, default_device,
    load_age_net, save_age_net,
};
use mira_report::{AgeRecord, AgeSummaryRow, compare_age, read_jsonl, summarise_age};
use mira_train::{feature_stats, fit_tissue_model, predict_age, train_age};

use crate::age_cell::AgeCell;
use crate::age_outputs::{age_warnings, write_age_outputs};
use crate::manifest::{BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session, subjects_hash};
use crate::runner::{append_records, lock_run_dir, resume_records};
use crate::seg_cell::{eps_f64, example_file, mix};
use crate::{
    AgeAnatomy, AgeExperiment, AgeGradient, AgeModelKind, AgeScope, EvalError, Result, RunEvent,
    Warning,
};

/// What a brain-age run produced.
#[derive(Debug, Clone)]
pub struct AgeRunOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Summary rows, one per cell.
    pub rows: Vec<AgeSummaryRow>,
    /// Findings, one sentence each.
    pub findings: Vec<String>,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
    /// Check warnings.
    pub warnings: Vec<Warning>,
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

/// Validates `exp`, then runs it into `out`: models (loaded, or trained and saved under
/// `out/models/NAME`), every applicable (model, attack, ε) cell, `records.jsonl`, universal
/// perturbations under `universal/`, summaries, comparisons, findings and `report.html`.
///
/// # Errors
/// Invalid experiments, an `out` folder holding a different experiment, I/O, training or
/// attack failures, and budget violations.
pub fn run_brain_age(
    exp: &AgeExperiment,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<AgeRunOutcome> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    progress(RunEvent::Phase("generating subjects".into()));
    let (train, val, test) = age_splits(exp)?;
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        build: BuildInfo::current(),
        experiment: exp.clone(),
        data: DataHashes {
            train: subjects_hash(&train),
            val: subjects_hash(&val),
            test: subjects_hash(&test),
        },
        models: Default::default(),
        sessions: vec![Session::now()],
    };
    manifest.resume_from(out)?;

    let mut models: Vec<AgeNet> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        let dir = entry
            .checkpoint
            .clone()
            .unwrap_or_else(|| out.join("models").join(&entry.name));
        let model = if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!("loading model {}", entry.name)));
            load_age_net(&dir, &default_device())?.0
        } else {
            progress(RunEvent::Phase(format!(
                "training model {} on {} subjects",
                entry.name,
                train.len()
            )));
            let net = net_config(exp, i, &train)?;
            let name = entry.name.clone();
            let (model, report) = train_age(
                &net,
                &train,
                &val,
                &exp.training,
                mix(exp.seed, 1000 + i as u64),
                &mut |event| {
                    progress(RunEvent::AgeTrain {
                        model: name.clone(),
                        event,
                    })
                },
            )?;
            let meta = AgeNetMeta {
                format: AGE_FORMAT.into(),
                net,
                training: serde_json::json!({ "config": exp.training, "report": report }),
            };
            save_age_net(&dir, &model, &meta)?;
            model
        };
        manifest.pin_weights(i, &entry.name, &dir.join(mira_nn::checkpoint::WEIGHTS_FILE))?;
        models.push(model);
    }
    manifest.write(out)?;

    let records_path = out.join("records.jsonl");
    let done = resume_records::<AgeRecord>(&records_path, exp.data.test_subjects)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(|e| EvalError::io(&records_path, e))?;
    let fits_path = out.join("universal.json");
    let mut fits: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&fits_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let fit_set = &train[..exp.data.universal_fit_subjects];
    let (mut cells_run, mut cells_skipped) = (0, 0);
    for (mi, (entry, model)) in exp.models.iter().zip(&models).enumerate() {
        progress(RunEvent::Phase(format!(
            "clean predictions of {}",
            entry.name
        )));
        let clean_pred = predict_age(model, &test, exp.sweep.batch_size)?;
        for (ai, attack) in exp.attacks.iter().enumerate() {
            if !exp.applies(mi, ai) {
                continue;
            }
            let spec = attack.spec(&format!("attacks[{ai}]"))?;
            let attacked = model
                .clone()
                .with_straight_through(attack.gradient == AgeGradient::Bpda);
            let last = attack.epsilons.len() - 1;
            for (ei, &epsilon) in attack.epsilons.iter().enumerate() {
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
                    cases: test.len(),
                });
                let cell = AgeCell {
                    model_name: &entry.name,
                    attack_name: &attack.name,
                    model: &attacked,
                    entry: attack,
                    spec: spec.as_ref(),
                    epsilon,
                    batch_size: exp.sweep.batch_size,
                    seed: mix(
                        mix(mix(exp.seed, mi as u64), 100 + ai as u64),
                        10_000 + ei as u64,
                    ),
                    threshold: exp.sweep.threshold_years,
                };
                let example = (exp.checks.examples && ei == last).then(|| {
                    out.join("examples").join(example_file(
                        &entry.name,
                        &attack.name,
                        "largest-eps",
                    ))
                });
                let mut tick = |n| progress(RunEvent::CasesDone(n));
                let records = match attack.scope {
                    AgeScope::PerImage => {
                        cell.run_per_image(&test, &clean_pred, example.as_deref(), &mut tick)?
                    }
                    AgeScope::MinNorm => {
                        cell.run_min_norm(&test, &clean_pred, example.as_deref(), &mut tick)?
                    }
                    AgeScope::Universal => {
                        let delta = out.join("universal").join(format!(
                            "{}_{}_eps{epsilon}.nii.gz",
                            entry.name, attack.name
                        ));
                        let (records, fit) = cell.run_universal(
                            fit_set,
                            &test,
                            &clean_pred,
                            &delta,
                            example.as_deref(),
                            &mut tick,
                        )?;
                        fits.insert(
                            format!("{} / {} / eps={epsilon}", entry.name, attack.name),
                            serde_json::json!({
                                "fit_subjects": fit_set.len(),
                                "fit": fit,
                                "delta": format!("universal/{}", delta.file_name().unwrap_or_default().to_string_lossy()),
                            }),
                        );
                        let json = serde_json::to_string_pretty(&fits)
                            .map_err(|e| EvalError::io(&fits_path, e))?;
                        crate::outputs::write_atomic(&fits_path, json.as_bytes())?;
                        records
                    }
                };
                append_records(&mut file, &records_path, &records)?;
                cells_run += 1;
                progress(RunEvent::CellDone { cell: label });
            }
        }
    }
    let all: Vec<AgeRecord> = read_jsonl(&records_path)?;
    let (rows, findings, warnings) = write_age_outputs(&manifest, &all, out)?;
    Ok(AgeRunOutcome {
        out: out.to_path_buf(),
        rows,
        findings,
        cells_run,
        cells_skipped,
        warnings,
    })
}

/// Whether the run folder `out` holds a brain-age run (by its manifest).
pub fn is_brain_age_run(out: &Path) -> bool {
    crate::manifest::run_task(out).is_some_and(|t| t == "brain_age")
}

/// Rebuilds the summaries, comparisons, findings and `report.html` of a brain-age run folder
/// from its records and manifest alone (pictures already in `examples/` are linked).
///
/// # Errors
/// A missing or malformed manifest or records file; write failures.
pub fn rebuild_brain_age_report(out: &Path) -> Result<Vec<AgeSummaryRow>> {
    let manifest = Manifest::<AgeExperiment>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let all: Vec<AgeRecord> = read_jsonl(&out.join("records.jsonl"))?;
    Ok(write_age_outputs(&manifest, &all, out)?.0)
}

/// Summary rows and comparisons of a set of records (the first model is the reference).
pub(crate) fn summarise(
    exp: &AgeExperiment,
    records: &[AgeRecord],
) -> (
    Vec<AgeSummaryRow>,
    Vec<mira_report::AgeComparison>,
    Vec<Warning>,
) {
    let rows = summarise_age(records, exp.sweep.threshold_years);
    let comparisons = compare_age(records, &exp.models[0].name);
    let warnings = age_warnings(exp, &rows);
    (rows, comparisons, warnings)
}
