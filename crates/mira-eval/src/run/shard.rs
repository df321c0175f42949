//! Sharded runs of any task: the plan (every cell × every batch of test cases) is cut into `N`
//! disjoint, deterministic parts; part `K` runs alone (on another machine or Slurm array task)
//! into `shards/records-K-of-N.jsonl` of the shared run folder, and [`merge`] checks that every
//! (cell, case) is present exactly once and writes what an unsharded run writes.
//!
//! Units are dealt round-robin (unit `u` to shard `u mod N`) in plan order (cells in run order,
//! batches within), so shards get near-equal work whatever the cells cost. A batch draws its
//! randomness from `(cell seed, batch index)` only, so a unit's records are the same whichever
//! shard computes it. Models are trained once, before the shards (`mira run EXP --out DIR
//! --models-only`): shards and the merge only load them, and refuse a folder whose manifest,
//! data or weights differ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mira_report::read_jsonl;

use crate::run::folder::{RecordsFile, jsonl, lock_file, lock_run_dir, resume, write_atomic};
use crate::run::runner::{Outcome, cell_records, finish, prepare};
use crate::run::{CellKey, CellRun, FgsmMemo, Manifest, Planned, Record, RunEvent, Spec, Task};
use crate::{EvalError, Result};

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

/// The plan's units: (cell index, batch index) in run order.
fn units<C>(plan: &[Planned<C>]) -> Vec<(usize, usize)> {
    plan.iter()
        .enumerate()
        .flat_map(|(c, cell)| (0..cell.batches()).map(move |b| (c, b)))
        .collect()
}

/// Takes over a run folder and trains (or loads) its models, writing the manifest, without
/// attacking anything: the step before sharded runs.
///
/// # Errors
/// As [`crate::run::run`] up to the first cell.
pub fn prepare_models<T: Task>(
    spec: &T::Spec,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<()> {
    spec.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    prepare::<T>(spec, out, true, progress).map(|_| ())
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
pub fn run_shard<T: Task>(
    spec: &T::Spec,
    out: &Path,
    shard: Shard,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<ShardOutcome> {
    spec.validate()?;
    let _lock = lock_file(
        out,
        &format!(".lock-shard-{}-of-{}", shard.index, shard.count),
    )?;
    let prepared = prepare::<T>(spec, out, false, progress)?;
    let plan = T::plan(spec, &prepared.ready)?;
    let cell_of: HashMap<CellKey, usize> = plan
        .iter()
        .enumerate()
        .flat_map(|(c, cell)| cell.keys.iter().map(move |k| (k.clone(), c)))
        .collect();
    let path = shard.records_path(out);
    let done = resume(
        &path,
        |r: &T::Record| {
            let c = *cell_of.get(&r.key())?;
            Some((c, r.case() / plan[c].batch_size.max(1)))
        },
        |&(c, b)| plan[c].keys.len() * plan[c].batch_cases(b).len(),
    )?;
    let mut file = RecordsFile::open(&path)?;
    let memo = FgsmMemo::from_env();
    let run = CellRun::new(spec, &prepared.ready, out).with_memo(&memo);
    let (mut units_run, mut units_skipped) = (0, 0);
    for (u, (c, b)) in units(&plan).into_iter().enumerate() {
        if u % shard.count != shard.index {
            continue;
        }
        if done.contains(&(c, b)) {
            units_skipped += 1;
            continue;
        }
        let cell = &plan[c];
        T::before_cell(&run, cell, progress)?;
        let label = format!("{} / batch {b}", cell.label);
        progress(RunEvent::CellStart {
            cell: label.clone(),
            cases: cell.batch_cases(b).len(),
        });
        let (records, _) = cell_records(&run, cell, Some(&[b]), &mut |k| {
            progress(RunEvent::CasesDone(k))
        })?;
        file.append(&records)?;
        units_run += 1;
        progress(RunEvent::CellDone { cell: label });
    }
    Ok(ShardOutcome {
        units_run,
        units_skipped,
        records: path,
    })
}

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct MergeOutcome<S> {
    /// Shards merged (`N`).
    pub shards: usize,
    /// Records written to `records.jsonl`.
    pub records: usize,
    /// The run's outcome, as an unsharded run reports it (no cells run or skipped).
    pub outcome: Outcome<S>,
}

/// The shard files of `out`, as (K, N, path), sorted.
fn shard_files(out: &Path) -> Result<(usize, Vec<PathBuf>)> {
    let dir = out.join("shards");
    let mut files: Vec<(usize, usize, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
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
        EvalError::invalid("shards", format!("no shard files in {}", dir.display()))
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
    Ok((count, files.into_iter().map(|f| f.2).collect()))
}

/// Merges the shard files of `out`: every (cell, case) of the plan must be present exactly
/// once (gaps and duplicates are reported, naming up to ten of each); then `records.jsonl` (in
/// the order of an unsharded run), the pictures (their batches recomputed with the same
/// seeds), checks, summaries and `report.html` are written as an unsharded run writes them.
///
/// # Errors
/// No manifest or shard files, shard files of different `N`, gaps, duplicates, records of
/// cells not in the experiment, and the errors of loading the models.
pub fn merge<T: Task>(
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<MergeOutcome<T::Summary>> {
    let manifest = Manifest::<T::Spec>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let spec = manifest.experiment.clone();
    let _lock = lock_run_dir(out)?;
    let prepared = prepare::<T>(&spec, out, false, progress)?;
    let plan = T::plan(&spec, &prepared.ready)?;
    let (count, files) = shard_files(out)?;
    let mut by_case: HashMap<(CellKey, usize), Vec<T::Record>> = HashMap::new();
    for path in &files {
        for r in read_jsonl::<T::Record>(path)? {
            by_case.entry((r.key(), r.case())).or_default().push(r);
        }
    }
    let mut ordered: Vec<T::Record> = Vec::new();
    let (mut gaps, mut dups) = (Vec::new(), Vec::new());
    let mut spans = Vec::with_capacity(plan.len());
    for cell in &plan {
        let first = ordered.len();
        for key in &cell.keys {
            for case in 0..cell.cases {
                match by_case.remove(&(key.clone(), case)) {
                    None => gaps.push(format!("{key}/case {case}")),
                    Some(mut v) => {
                        if v.len() > 1 {
                            dups.push(format!("{key}/case {case} ×{}", v.len()));
                        }
                        ordered.push(v.swap_remove(0));
                    }
                }
            }
        }
        spans.push(first..ordered.len());
    }
    let extra = by_case.len();
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
    let path = out.join("records.jsonl");
    write_atomic(&path, jsonl(&ordered, &path)?.as_bytes())?;
    let run = CellRun::new(&spec, &prepared.ready, out).with_pictures();
    // Pictures: recompute the batches that hold the cases each cell's pictures show.
    for (cell, span) in plan.iter().zip(spans) {
        let mine = &ordered[span];
        let batches = T::picture_batches(cell, mine);
        if batches.is_empty() {
            continue;
        }
        T::before_cell(&run, cell, progress)?;
        let (_, kept) = cell_records(&run, cell, Some(&batches), &mut |_| {})?;
        T::save_pictures(&run, cell, mine, kept)?;
    }
    let (summary, warnings) = finish(&run, &prepared.manifest, &ordered, progress)?;
    Ok(MergeOutcome {
        shards: count,
        records: ordered.len(),
        outcome: Outcome {
            out: out.to_path_buf(),
            summary,
            cells_run: 0,
            cells_skipped: 0,
            warnings,
            fgsm_gradients_reused: 0,
        },
    })
}
