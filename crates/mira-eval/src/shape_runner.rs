//! Runs a disk-shape experiment (study S4) into an output folder, resuming where a previous
//! run stopped (the folder contract of the other runners), with findings next to the paper's.

use std::path::{Path, PathBuf};

use mira_data::{ShapeSample, SpinePhantomConfig};
use mira_nn::{
    SHAPE_FORMAT, ShapeNet, ShapeNetConfig, ShapeNetMeta, default_device, load_shape_net,
    save_shape_net,
};
use mira_report::{ShapeRecord, ShapeSummaryRow, read_jsonl, shape_markdown, summarise_shape};
use mira_train::{ShapeTrainConfig, mean_contour, train_shape};

use crate::manifest::{BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session, shapes_hash};
use crate::outputs::write_atomic;
use crate::runner::{append_records, lock_run_dir, resume_records};
use crate::seg_cell::CellAttack;
use crate::seg_cell::{eps_f64, mix};
use crate::shape_cell::{KeptShape, ShapeCell};
use crate::shape_ood::ood_images;
use crate::{EvalError, Result, RunEvent, ShapeExperiment, ShapeScope};

/// What a shape run produced.
#[derive(Debug, Clone)]
pub struct ShapeRunOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Summary rows.
    pub rows: Vec<ShapeSummaryRow>,
    /// Findings, one sentence each.
    pub findings: Vec<String>,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
}

/// Pixels per unit of the point head's raw output.
const POINT_SCALE: f32 = 10.0;

fn phantom(exp: &ShapeExperiment, modes: usize) -> SpinePhantomConfig {
    SpinePhantomConfig {
        size: exp.data.size,
        modes,
        noise: exp.data.noise,
        bias: exp.data.bias,
    }
}

/// The training and validation slices of model `i` (its shape variation; the set depends on
/// (seed, modes) only, so models of the same variation share slices) and the test slices.
pub(crate) fn shape_splits(
    exp: &ShapeExperiment,
    i: usize,
) -> Result<(Vec<ShapeSample>, Vec<ShapeSample>)> {
    let m = &exp.models[i];
    let seed = mix(exp.seed, 0x5A9E + m.modes as u64);
    let n = m.train_slices.unwrap_or(exp.data.train_slices);
    let p = phantom(exp, m.modes);
    Ok((
        p.generate(seed, 0, n)?,
        p.generate(seed, 1_000_000, exp.data.val_slices)?,
    ))
}

fn test_slices(exp: &ShapeExperiment) -> Result<Vec<ShapeSample>> {
    Ok(phantom(exp, mira_data::SHAPE_MODES).generate(
        mix(exp.seed, 0x7E57),
        0,
        exp.data.test_slices,
    )?)
}

/// Validates `exp`, then runs it into `out`: models (loaded, or trained and saved under
/// `out/models/NAME`), every (model, attack, ε) cell, records, summaries and `report.html`.
///
/// # Errors
/// Invalid experiments, a folder holding another experiment, I/O, training or attack
/// failures, and budget violations.
pub fn run_shape(
    exp: &ShapeExperiment,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<ShapeRunOutcome> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    progress(RunEvent::Phase("generating slices".into()));
    let test = test_slices(exp)?;
    let splits: Vec<(Vec<ShapeSample>, Vec<ShapeSample>)> = (0..exp.models.len())
        .map(|i| shape_splits(exp, i))
        .collect::<Result<_>>()?;
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        build: BuildInfo::current(),
        experiment: exp.clone(),
        data: DataHashes {
            train: splits
                .iter()
                .map(|s| shapes_hash(&s.0))
                .collect::<Vec<_>>()
                .join("+"),
            val: splits
                .iter()
                .map(|s| shapes_hash(&s.1))
                .collect::<Vec<_>>()
                .join("+"),
            test: shapes_hash(&test),
        },
        models: Default::default(),
        sessions: vec![Session::now()],
    };
    manifest.resume_from(out)?;
    let mut models: Vec<ShapeNet> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        let dir = entry
            .checkpoint
            .clone()
            .unwrap_or_else(|| out.join("models").join(&entry.name));
        let model = if dir.join("model.json").exists() {
            progress(RunEvent::Phase(format!("loading model {}", entry.name)));
            load_shape_net(&dir, &default_device())?.0
        } else {
            let (train, val) = &splits[i];
            progress(RunEvent::Phase(format!(
                "training model {} on {} slices (P{}{})",
                entry.name,
                train.len(),
                entry.modes,
                if entry.adversarial {
                    ", adversarial"
                } else {
                    ""
                }
            )));
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
            let name = entry.name.clone();
            let (model, report) = train_shape(
                &net,
                train,
                val,
                &cfg,
                mix(exp.seed, 1000 + i as u64),
                &mut |event| {
                    progress(RunEvent::ShapeTrain {
                        model: name.clone(),
                        event,
                    })
                },
            )?;
            let meta = ShapeNetMeta {
                format: SHAPE_FORMAT.into(),
                net,
                training: serde_json::json!({ "config": cfg, "report": report }),
            };
            save_shape_net(&dir, &model, &meta)?;
            model
        };
        manifest.pin_weights(i, &entry.name, &dir.join(mira_nn::checkpoint::WEIGHTS_FILE))?;
        models.push(model);
    }
    manifest.write(out)?;

    let records_path = out.join("records.jsonl");
    let done = resume_records::<ShapeRecord>(&records_path, exp.data.test_slices)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(|e| EvalError::io(&records_path, e))?;
    let (mut cells_run, mut cells_skipped) = (0, 0);
    for (ai, attack) in exp.attacks.iter().enumerate() {
        let spec = attack.spec(&format!("attacks[{ai}]"))?;
        let starts = match (attack.scope, attack.source) {
            (ShapeScope::Ood, Some(src)) => Some(ood_images(
                src,
                test.len(),
                exp.data.size,
                mix(exp.seed, 0x00D + ai as u64),
            )?),
            _ => None,
        };
        let cap = attack.epsilons.iter().copied().fold(0.0f32, f32::max);
        let cell_attack = CellAttack::of(Some(&spec), attack.min_norm());
        for (mi, (entry, model)) in exp.models.iter().zip(&models).enumerate() {
            for (ei, &epsilon) in attack.epsilons.iter().enumerate() {
                // A min-norm search has one cell, at its largest ε (the cap).
                if attack.scope == ShapeScope::MinNorm && epsilon != cap {
                    continue;
                }
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
                let cell = ShapeCell {
                    model_name: &entry.name,
                    attack_name: &attack.name,
                    model,
                    attack: cell_attack,
                    scope: attack.scope,
                    break_mrse: exp.sweep.break_mrse,
                    norm: attack.norm,
                    epsilon,
                    batch_size: exp.sweep.batch_size,
                    seed: mix(
                        mix(mix(exp.seed, mi as u64), 100 + ai as u64),
                        10_000 + ei as u64,
                    ),
                    point_scale: POINT_SCALE,
                };
                let s = starts
                    .as_ref()
                    .map(|(v, name)| (v.as_slice(), name.as_str()));
                let largest = attack.epsilons.iter().all(|&e| e <= epsilon);
                let (records, kept) =
                    cell.run(&test, s, largest, &mut |n| progress(RunEvent::CasesDone(n)))?;
                if largest {
                    save_example(out, &cell, &test, &records, &kept)?;
                }
                append_records(&mut file, &records_path, &records)?;
                cells_run += 1;
                progress(RunEvent::CellDone { cell: label });
            }
        }
    }
    let all: Vec<ShapeRecord> = read_jsonl(&records_path)?;
    let (rows, findings) = write_shape_outputs(&manifest, &all, out)?;
    Ok(ShapeRunOutcome {
        out: out.to_path_buf(),
        rows,
        findings,
        cells_run,
        cells_skipped,
    })
}

/// Whether the run folder `out` holds a shape run (by its manifest).
pub fn is_shape_run(out: &Path) -> bool {
    crate::manifest::run_task(out).is_some_and(|t| t == "shape")
}

/// Rebuilds the summaries, findings and `report.html` of a shape run from its files.
///
/// # Errors
/// A missing or malformed manifest or records file; write failures.
pub fn rebuild_shape_report(out: &Path) -> Result<Vec<ShapeSummaryRow>> {
    let manifest = Manifest::<ShapeExperiment>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let all: Vec<ShapeRecord> = read_jsonl(&out.join("records.jsonl"))?;
    Ok(write_shape_outputs(&manifest, &all, out)?.0)
}

/// Summary files, findings and `report.html`.
fn write_shape_outputs(
    manifest: &Manifest<ShapeExperiment>,
    records: &[ShapeRecord],
    out: &Path,
) -> Result<(Vec<ShapeSummaryRow>, Vec<String>)> {
    let exp = &manifest.experiment;
    let (fixed, min_norm) = crate::shape_min_norm::split_shape_min_norm(exp, records);
    let tables = crate::shape_min_norm::shape_min_norm_tables(exp, &fixed, &min_norm);
    let rows = summarise_shape(&fixed);
    let findings = crate::shape_findings::shape_findings(exp, &fixed, &rows);
    let json = serde_json::to_string_pretty(&rows).map_err(|e| EvalError::io(out, e))?;
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    let mut md = String::from("## Findings\n\n");
    for f in &findings {
        md += &format!("- {f}\n");
    }
    md += "\n## Cells\n\n";
    md += &shape_markdown(&rows);
    for t in &tables {
        md += &t.markdown();
    }
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let manifest_json =
        serde_json::to_string_pretty(manifest).map_err(|e| EvalError::io(out, e))?;
    let mut examples = Vec::new();
    for a in &exp.attacks {
        let (tag, what) = match a.scope {
            ShapeScope::Ood => ("best-match", "closest OOD match"),
            _ => ("worst", "worst case"),
        };
        let largest = a.epsilons.iter().copied().fold(0.0f32, f32::max);
        for m in &exp.models {
            let file = crate::seg_cell::example_file(&m.name, &a.name, tag);
            if out.join("examples").join(&file).is_file() {
                examples.push((
                    format!("{} / {}: {what} at ε = {largest}", m.name, a.name),
                    format!("examples/{file}"),
                ));
            }
        }
    }
    let html = mira_report::render_shape_html(
        &rows,
        &mira_report::ShapePage {
            n_records: records.len(),
            title: &exp.name,
            version: &manifest.build.version,
            findings: &findings,
            examples: &examples,
            tables: &tables,
            manifest: &manifest_json,
        },
    )?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok((rows, findings))
}

/// The picture of a cell at its attack's largest ε, written before the cell's records so a
/// rerun of an interrupted cell rewrites it: in distribution the case with the largest error
/// (`worst`), out of distribution the closest match (`best-match`).
fn save_example(
    out: &Path,
    cell: &ShapeCell<'_>,
    test: &[ShapeSample],
    records: &[ShapeRecord],
    kept: &[KeptShape],
) -> Result<()> {
    let ood = cell.scope == ShapeScope::Ood;
    let pick = records.iter().max_by(|a, b| {
        let o = a.adv_mrse.total_cmp(&b.adv_mrse);
        if ood { o.reverse() } else { o }
    });
    let Some(r) = pick else {
        return Ok(());
    };
    let Some(k) = kept.iter().find(|k| k.case == r.case) else {
        return Ok(());
    };
    let s = &test[r.case];
    let reference = if ood { &k.clean } else { &s.points };
    let dir = out.join("examples");
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let tag = if ood { "best-match" } else { "worst" };
    let file = dir.join(crate::seg_cell::example_file(
        cell.model_name,
        cell.attack_name,
        tag,
    ));
    let pic = mira_data::ShapePicture {
        size: s.size,
        slice: &s.image,
        start: &k.start,
        adv: &k.adv,
        reference,
        clean: &k.clean,
        adversarial: &k.adversarial,
    };
    // The perturbation's largest change is drawn at full colour.
    let largest = k
        .adv
        .iter()
        .zip(&k.start)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let gain = 1.0 / largest.max(1e-6);
    mira_data::save_shape_png(&pic, gain, 3, &file)?;
    Ok(())
}
