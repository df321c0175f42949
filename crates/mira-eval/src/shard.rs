//! Sharded sweeps of segmentation experiments: the plan of a run (every (model, attack, ε)
//! cell × every batch of test cases) is cut into `N` disjoint, deterministic parts; part `K`
//! runs alone (on another machine or Slurm array task) into `shards/records-K-of-N.jsonl` of
//! the shared run folder, and [`merge`] checks that every (cell, case) is present exactly once
//! and writes the records, summaries and report an unsharded run writes.
//!
//! Units are dealt round-robin (unit `u` to shard `u mod N`) in plan order (cells in run order,
//! batches within), so shards get near-equal work whatever the cells cost. A batch draws its
//! attack randomness from `(cell seed, batch index)` only, so a unit's records are the same
//! whichever shard computes it. Models are trained once, before the shards
//! (`mira run EXP --out DIR --models-only`): shards and the merge only load them, and refuse a
//! folder whose manifest, data or weights differ.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use mira_report::{SegRecord, SummaryRow, read_jsonl};
use mira_train::predict_labels;

use crate::manifest::Manifest;
use crate::outputs::write_atomic;
use crate::runner::{
    append_records, attack_specs, cells, finish, jsonl, lock_file, lock_run_dir, prepare,
};
use crate::seg_cell::{Cell, eps_f64};
use crate::{EvalError, Experiment, Result, RunEvent, Warning};

/// Part `index` of `count` (written `K/N`, `0 <= K < N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// `K`.
    pub index: usize,
    /// `N`.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = EvalError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            EvalError::invalid(
                "shard",
                format!("`{s}` is not K/N with 0 <= K < N <= 100000 (e.g. 0/4)"),
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || count > 100_000 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// The shard's records file inside a run folder.
    pub fn records_path(&self, out: &Path) -> PathBuf {
        out.join("shards")
            .join(format!("records-{}-of-{}.jsonl", self.index, self.count))
    }
}

/// The plan: (cell index, batch index) in run order.
fn plan(cells: &[Cell<'_>], cases: usize) -> Vec<(usize, usize)> {
    cells
        .iter()
        .enumerate()
        .flat_map(|(c, cell)| (0..cell.batches(cases)).map(move |b| (c, b)))
        .collect()
}

type CaseKey = (String, String, u64, usize);

fn case_key(r: &SegRecord) -> CaseKey {
    (
        r.model.clone(),
        r.attack.clone(),
        r.epsilon.to_bits(),
        r.case,
    )
}

fn cell_key(c: &Cell<'_>) -> (String, String, u64) {
    (
        c.model_name.to_string(),
        c.attack_name.to_string(),
        eps_f64(c.epsilon).to_bits(),
    )
}

/// Takes over a run folder and trains (or loads) its models, writing the manifest, without
/// attacking anything: the step before sharded runs.
///
/// # Errors
/// As [`crate::run`] up to the first cell.
pub fn prepare_models(
    exp: &Experiment,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<()> {
    exp.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    prepare(exp, out, true, progress).map(|_| ())
}

/// What a shard did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOutcome {
    /// Units (cell × batch) of this shard computed now.
    pub units_run: usize,
    /// Units found complete in its records file.
    pub units_skipped: usize,
    /// Its records file.
    pub records: PathBuf,
}

/// Runs part `shard` of the plan into its own records file; rerunning it resumes (complete
/// units are kept, a torn tail is dropped), so resubmitting a failed shard is idempotent.
///
/// # Errors
/// A folder not prepared (no manifest or untrained models) or holding another experiment,
/// build, data or weights; attack failures; budget violations.
pub fn run_shard(
    exp: &Experiment,
    out: &Path,
    shard: Shard,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<ShardOutcome> {
    exp.validate()?;
    let _lock = lock_file(
        out,
        &format!(".lock-shard-{}-of-{}", shard.index, shard.count),
    )?;
    let prepared = prepare(exp, out, false, progress)?;
    let test = &prepared.test;
    let specs = attack_specs(exp)?;
    let no_pictures = PathBuf::new();
    let memo = crate::fgsm_memo::FgsmMemo::from_env();
    let all_cells: Vec<Cell<'_>> = cells(
        exp,
        &prepared.models,
        &specs,
        &no_pictures,
        None,
        Some(&memo),
    )
    .into_iter()
    .map(|c| Cell {
        examples: None,
        ..c
    })
    .collect();
    let n = test.items.len();
    let mine: Vec<(usize, usize)> = plan(&all_cells, n)
        .into_iter()
        .enumerate()
        .filter(|(u, _)| u % shard.count == shard.index)
        .map(|(_, unit)| unit)
        .collect();
    let path = shard.records_path(out);
    let dir = path.parent().expect("shards folder");
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let done = resume_units(&path, exp.sweep.batch_size, n)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| EvalError::io(&path, e))?;
    let (mut units_run, mut units_skipped) = (0, 0);
    let mut clean: Option<(usize, Vec<Vec<u8>>)> = None;
    for (c, b) in mine {
        let cell = &all_cells[c];
        let (m, a, e) = cell_key(cell);
        if done.contains(&(m, a, e, b)) {
            units_skipped += 1;
            continue;
        }
        let mi = exp
            .models
            .iter()
            .position(|x| x.name == cell.model_name)
            .unwrap_or(0);
        if clean.as_ref().is_none_or(|(x, _)| *x != mi) {
            clean = Some((mi, predict_labels(cell.model, test, exp.sweep.batch_size)?));
        }
        let clean_pred = &clean.as_ref().expect("set above").1;
        let label = format!(
            "{} / {} / eps={} / batch {b}",
            cell.model_name, cell.attack_name, cell.epsilon
        );
        progress(RunEvent::CellStart {
            cell: label.clone(),
            cases: exp.sweep.batch_size.min(n - b * exp.sweep.batch_size),
        });
        let (records, _) = cell.run_batches(test, clean_pred, Some(&[b]), false, &mut |k| {
            progress(RunEvent::CasesDone(k))
        })?;
        append_records(&mut file, &path, &records)?;
        units_run += 1;
        progress(RunEvent::CellDone { cell: label });
    }
    Ok(ShardOutcome {
        units_run,
        units_skipped,
        records: path,
    })
}

/// Keeps the complete units of a shard's records file (rewriting it atomically without
/// incomplete units or a torn tail) and returns them as (model, attack, ε bits, batch).
fn resume_units(
    path: &Path,
    batch: usize,
    cases: usize,
) -> Result<HashSet<(String, String, u64, usize)>> {
    if !path.exists() {
        return Ok(HashSet::new());
    }
    let records: Vec<SegRecord> = read_jsonl(path)?;
    let unit = |r: &SegRecord| {
        (
            r.model.clone(),
            r.attack.clone(),
            r.epsilon.to_bits(),
            r.case / batch,
        )
    };
    let mut counts: HashMap<(String, String, u64, usize), usize> = HashMap::new();
    for r in &records {
        *counts.entry(unit(r)).or_default() += 1;
    }
    let done: HashSet<_> = counts
        .into_iter()
        .filter(|(k, c)| *c == batch.min(cases - k.3 * batch))
        .map(|(k, _)| k)
        .collect();
    let kept: Vec<&SegRecord> = records.iter().filter(|r| done.contains(&unit(r))).collect();
    let text = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    if kept.len() != records.len() || !text.is_empty() && !text.ends_with(b"\n") {
        write_atomic(path, jsonl(&kept, path)?.as_bytes())?;
    }
    Ok(done)
}

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// Shards merged (`N`).
    pub shards: usize,
    /// Records written to `records.jsonl`.
    pub records: usize,
    /// Summary rows, as an unsharded run reports them.
    pub rows: Vec<SummaryRow>,
    /// Sanity-check warnings.
    pub warnings: Vec<Warning>,
}

/// Merges the shard files of `out`: every (cell, case) of the plan must be present exactly
/// once (gaps and duplicates are reported, naming up to ten of each); then `records.jsonl`
/// (in the order of an unsharded run), the example pictures (their batches re-attacked with
/// the same seeds), checks, summaries and `report.html` are written as an unsharded run
/// writes them.
///
/// # Errors
/// No manifest or shard files, shard files of different `N`, gaps, duplicates, records of
/// cells not in the experiment, and the errors of loading the models.
pub fn merge(out: &Path, progress: &mut dyn FnMut(RunEvent)) -> Result<MergeOutcome> {
    let manifest = Manifest::<Experiment>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let exp = manifest.experiment.clone();
    let _lock = lock_run_dir(out)?;
    let prepared = prepare(&exp, out, false, progress)?;
    let shards_dir = out.join("shards");
    let mut files: Vec<(usize, usize, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&shards_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let parsed = name
                .strip_prefix("records-")
                .and_then(|s| s.strip_suffix(".jsonl"))
                .and_then(|s| s.split_once("-of-"))
                .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)));
            if let Some((k, n)) = parsed {
                files.push((k, n, e.path()));
            }
        }
    }
    files.sort();
    let count = files.first().map(|f| f.1).ok_or_else(|| {
        EvalError::invalid(
            "shards",
            format!("no shard files in {}", shards_dir.display()),
        )
    })?;
    if let Some(f) = files.iter().find(|f| f.1 != count) {
        return Err(EvalError::invalid(
            "shards",
            format!(
                "shard files of different splits: {} is of {} parts, others of {count}",
                f.2.display(),
                f.1
            ),
        ));
    }
    let mut by_key: HashMap<CaseKey, Vec<SegRecord>> = HashMap::new();
    for (_, _, path) in &files {
        for r in read_jsonl::<SegRecord>(path)? {
            by_key.entry(case_key(&r)).or_default().push(r);
        }
    }
    let specs = attack_specs(&exp)?;
    let examples_dir = out.join("examples");
    let all_cells = cells(&exp, &prepared.models, &specs, &examples_dir, None, None);
    let n = prepared.test.items.len();
    let mut ordered: Vec<SegRecord> = Vec::with_capacity(all_cells.len() * n);
    let (mut gaps, mut dups) = (Vec::new(), Vec::new());
    for cell in &all_cells {
        let (m, a, e) = cell_key(cell);
        for case in 0..n {
            let key = (m.clone(), a.clone(), e, case);
            match by_key.remove(&key) {
                None => gaps.push(format!("{m}/{a}/eps={}/case {case}", cell.epsilon)),
                Some(mut v) => {
                    if v.len() > 1 {
                        dups.push(format!(
                            "{m}/{a}/eps={}/case {case} ×{}",
                            cell.epsilon,
                            v.len()
                        ));
                    }
                    ordered.push(v.swap_remove(0));
                }
            }
        }
    }
    let extra = by_key.len();
    if !gaps.is_empty() || !dups.is_empty() || extra > 0 {
        let list = |v: &[String]| v.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
        return Err(EvalError::invalid(
            "shards",
            format!(
                "{} shard file(s) of {count} do not cover the plan exactly once: {} missing \
                 ({}), {} duplicated ({}), {extra} record(s) of cells not in the experiment; \
                 rerun the missing shards (`mira run EXP --out DIR --shard K/{count}`)",
                files.len(),
                gaps.len(),
                list(&gaps),
                dups.len(),
                list(&dups)
            ),
        ));
    }
    let records_path = out.join("records.jsonl");
    write_atomic(&records_path, jsonl(&ordered, &records_path)?.as_bytes())?;
    // Pictures: re-attack the batches that hold each picture cell's worst and median case.
    for cell in all_cells.iter().filter(|c| c.examples.is_some()) {
        let (m, a, e) = cell_key(cell);
        let mine: Vec<SegRecord> = ordered
            .iter()
            .filter(|r| {
                (r.model.as_str(), r.attack.as_str(), r.epsilon.to_bits())
                    == (m.as_str(), a.as_str(), e)
            })
            .cloned()
            .collect();
        let Some(cases) = Cell::example_cases(&mine) else {
            continue;
        };
        let mut batches: Vec<usize> = cases.iter().map(|(_, c)| c / cell.batch_size).collect();
        batches.dedup();
        let clean_pred = predict_labels(cell.model, &prepared.test, exp.sweep.batch_size)?;
        let (_, kept) = cell.run_batches(
            &prepared.test,
            &clean_pred,
            Some(&batches),
            true,
            &mut |_| {},
        )?;
        cell.save_examples(&examples_dir, &prepared.test, &clean_pred, &mine, &kept)?;
    }
    let (rows, warnings) = finish(&exp, &prepared, &ordered, out, progress)?;
    Ok(MergeOutcome {
        shards: count,
        records: ordered.len(),
        rows,
        warnings,
    })
}
