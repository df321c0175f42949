//! Runs a synthesis experiment (study S2) into an output folder, resuming where a previous
//! run stopped (the folder contract of the other runners): segmenters and learned attackers
//! loaded or trained and saved, one cell per (model, method) holding every target, pictures of
//! the first test slices, summaries and `report.html`.

use std::path::{Path, PathBuf};

use burn::module::Module;

use mira_attack::{Bounds, Synthesis};
use mira_data::SegDataset;
use mira_nn::checkpoint;
use mira_nn::{
    DeformGenerator, GENERATOR_FORMAT, GeneratorMeta, UNet, UNetConfig, default_device,
    load_generator, save_generator,
};
use mira_report::{SynthRecord, SynthSummaryRow, read_jsonl};
use mira_train::{Defence, train_generator};

use crate::manifest::{BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session, dataset_hash};
use crate::runner::{
    UnetTraining, append_records, lock_run_dir, resume_records, train_and_save_unet,
};
use crate::seg_cell::{eps_f64, mix};
use crate::synth_cell::{LEARNED, PER_IMAGE, SynthCell, clean_dice};
use crate::{EvalError, Result, RunEvent, SynthExperiment};

/// What a synthesis run produced.
#[derive(Debug, Clone)]
pub struct SynthRunOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Summary rows.
    pub rows: Vec<SynthSummaryRow>,
    /// Findings, one sentence each.
    pub findings: Vec<String>,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
}

/// Training, validation and test slices; slice `i` of each split depends only on
/// `(seed, split, i)`.
pub fn synth_splits(exp: &SynthExperiment) -> Result<(SegDataset, SegDataset, SegDataset)> {
    let p = &exp.data.phantom;
    let d = &exp.data;
    Ok((
        p.generate(mix(exp.seed, 0x7A1), 0, d.train_slices)?,
        p.generate(mix(exp.seed, 0x7A1), 1_000_000, d.val_slices)?,
        p.generate(mix(exp.seed, 0x7E57), 0, d.test_slices)?,
    ))
}

fn unet(exp: &SynthExperiment, i: usize, data: &SegDataset) -> UNetConfig {
    let m = &exp.models[i];
    UNetConfig::new()
        .with_in_channels(data.channels())
        .with_classes(data.n_labels())
        .with_base_width(m.base_width)
        .with_depth(m.depth)
        .with_residual(m.residual)
}

/// Validates `exp`, then runs it into `out`.
///
/// # Errors
/// Invalid experiments, a folder holding another experiment, I/O, training or attack
/// failures, and folding fields.
pub fn run_synthesis(
    exp: &SynthExperiment,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<SynthRunOutcome> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    progress(RunEvent::Phase("generating abdominal CT slices".into()));
    let (train, val, test) = synth_splits(exp)?;
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
    manifest.resume_from(out)?;
    let mut models: Vec<UNet> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        let dir = entry
            .checkpoint
            .clone()
            .unwrap_or_else(|| out.join("models").join(&entry.name));
        let model = if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!("loading model {}", entry.name)));
            checkpoint::load(&dir, &default_device())?.0.valid()
        } else {
            progress(RunEvent::Phase(format!(
                "training model {} on {} slices",
                entry.name,
                train.items.len()
            )));
            let arch = unet(exp, i, &train);
            let setup = UnetTraining {
                name: &entry.name,
                arch: &arch,
                defence: &Defence::None,
                cfg: &exp.training,
                seed: mix(exp.seed, 1000 + i as u64),
            };
            train_and_save_unet(&setup, &train, &val, &dir, progress)?
        };
        manifest.pin_weights(i, &entry.name, &dir.join(checkpoint::WEIGHTS_FILE))?;
        models.push(model);
    }
    let size = exp.data.phantom.size;
    let spacing = exp.data.phantom.spacing_mm();
    let synth = Synthesis::new(
        exp.threat.config(spacing),
        train.channels(),
        size,
        size,
        Bounds::default(),
    )?;
    let mut generators: Vec<Option<DeformGenerator>> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        if !exp.generator.enabled {
            generators.push(None);
            continue;
        }
        let dir = out.join("generators").join(&entry.name);
        let generator = if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!(
                "loading the attacker of {}",
                entry.name
            )));
            load_generator(&dir, &default_device())?.0
        } else {
            let name = entry.name.clone();
            let steps = exp.generator.train.steps;
            let (generator, report) = train_generator(
                &synth,
                &models[i],
                &train,
                &exp.search.targets,
                &exp.generator.train,
                mix(exp.seed, 2000 + i as u64),
                &mut |step, loss| {
                    progress(RunEvent::GeneratorTrain {
                        model: name.clone(),
                        step,
                        steps,
                        loss,
                    })
                },
            )?;
            let meta = GeneratorMeta {
                format: GENERATOR_FORMAT.into(),
                net: mira_nn::DeformGeneratorConfig {
                    in_channels: train.channels(),
                    width: exp.generator.train.width,
                    grid: exp.threat.grid,
                    bias_grid: exp.threat.bias_grid,
                },
                training: serde_json::json!({
                    "config": exp.generator.train,
                    "targets": exp.search.targets,
                    "report": report,
                }),
            };
            save_generator(&dir, &generator, &meta)?;
            // Evaluate what was saved: the reloaded weights, on the plain device.
            drop(generator);
            load_generator(&dir, &default_device())?.0
        };
        manifest.pin_weights(
            exp.models.len() + i,
            &format!("attacker:{}", entry.name),
            &dir.join(checkpoint::WEIGHTS_FILE),
        )?;
        generators.push(Some(generator));
    }
    manifest.write(out)?;

    progress(RunEvent::Phase("clean predictions".into()));
    let clean = clean_dice(&models, &test, exp.search.batch_size)?;
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    let cell = SynthCell {
        models: &models,
        names: &names,
        synth: &synth,
        spacing_mm: spacing,
        targets: &exp.search.targets,
        bisections: exp.search.bisections,
        batch_size: exp.search.batch_size,
        examples: exp.data.examples,
    };
    let records_path = out.join("records.jsonl");
    let done = resume_records::<SynthRecord>(&records_path, test.items.len())?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(|e| EvalError::io(&records_path, e))?;
    let pictures = out.join("examples");
    let (mut cells_run, mut cells_skipped) = (0, 0);
    for (mi, name) in names.iter().enumerate() {
        let methods: Vec<&str> = if generators[mi].is_some() {
            vec![PER_IMAGE, LEARNED]
        } else {
            vec![PER_IMAGE]
        };
        for method in methods {
            let label = format!("{name} / {method}");
            let complete =
                exp.search.targets.iter().all(|&t| {
                    done.contains(&(name.clone(), method.to_string(), eps_f64(t).to_bits()))
                });
            if complete {
                cells_skipped += 1;
                progress(RunEvent::CellSkipped { cell: label });
                continue;
            }
            progress(RunEvent::CellStart {
                cell: label.clone(),
                cases: test.items.len(),
            });
            let mut tick = |n| progress(RunEvent::CasesDone(n));
            let records = match (method, &generators[mi]) {
                (LEARNED, Some(g)) => cell.learned(mi, g, &test, &clean, &pictures, &mut tick)?,
                _ => cell.per_image(mi, &test, &clean, &pictures, &mut tick)?,
            };
            // A cell whose targets were partly on disk (a torn run) is recomputed whole, but
            // only the targets missing from disk are written, so none is duplicated.
            let records: Vec<SynthRecord> = records
                .into_iter()
                .filter(|r| {
                    !done.contains(&(r.model.clone(), r.method.clone(), r.target.to_bits()))
                })
                .collect();
            append_records(&mut file, &records_path, &records)?;
            cells_run += 1;
            progress(RunEvent::CellDone { cell: label });
        }
    }
    let all: Vec<SynthRecord> = read_jsonl(&records_path)?;
    let (rows, findings) = crate::synth_outputs::write_synth_outputs(&manifest, &all, out)?;
    Ok(SynthRunOutcome {
        out: out.to_path_buf(),
        rows,
        findings,
        cells_run,
        cells_skipped,
    })
}

/// Whether the run folder `out` holds a synthesis run (by its manifest).
pub fn is_synthesis_run(out: &Path) -> bool {
    crate::manifest::run_task(out).is_some_and(|t| t == "synthesis")
}

/// Rebuilds the summaries, findings and `report.html` of a synthesis run from its files.
///
/// # Errors
/// A missing or malformed manifest or records file; write failures.
pub fn rebuild_synthesis_report(out: &Path) -> Result<Vec<SynthSummaryRow>> {
    let manifest = Manifest::<SynthExperiment>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let all: Vec<SynthRecord> = read_jsonl(&out.join("records.jsonl"))?;
    Ok(crate::synth_outputs::write_synth_outputs(&manifest, &all, out)?.0)
}
