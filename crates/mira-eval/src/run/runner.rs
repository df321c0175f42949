//! The one runner: any [`Task`] into a run folder, resuming where a previous run stopped.
//!
//! `run` = lock → prepare (data and models, manifest) → plan → resume (complete cells kept,
//! the rest dropped) → every missing cell, its batches side by side, its records appended in one
//! synced write → pictures and cross-cell files → checks → `warnings.json` → outputs.
//! [`rebuild`] writes the outputs again from the folder's files alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mira_report::read_jsonl;

use crate::run::batches::batches_side_by_side;
use crate::run::folder::{RecordsFile, lock_run_dir, resume_keys, write_json};
use crate::run::{
    CellKey, CellRun, FgsmMemo, Manifest, Outputs, Planned, Record, RunEvent, Setup, Spec, Task,
};
use crate::{EvalError, Result, Warning};

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome<S> {
    /// The output folder.
    pub out: PathBuf,
    /// What the task's outputs say (tables, findings).
    pub summary: S,
    /// Cells computed by this invocation.
    pub cells_run: usize,
    /// Cells found complete on disk.
    pub cells_skipped: usize,
    /// Sanity-check warnings (also in `warnings.json` and the summaries).
    pub warnings: Vec<Warning>,
    /// FGSM (and i-FGSM first-step) gradient passes saved by this invocation: a batch's
    /// gradient at the clean input, taken once, served its other ε cells (see
    /// `MIRA_FGSM_MEMO_MB`).
    pub fgsm_gradients_reused: usize,
}

/// A run folder's manifest and the task's data and models.
pub(crate) struct Prepared<T: Task> {
    pub manifest: Manifest<T::Spec>,
    pub ready: T::Ready,
}

/// Makes the task ready in `out` (see [`Setup::new`] for `write`); writes the manifest when
/// writing.
pub(crate) fn prepare<T: Task>(
    spec: &T::Spec,
    out: &Path,
    write: bool,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<Prepared<T>> {
    let mut setup = Setup::new(spec, out, write, progress);
    let ready = T::prepare(spec, &mut setup)?;
    let manifest = setup.into_manifest()?;
    if write {
        manifest.write(out)?;
    }
    Ok(Prepared { manifest, ready })
}

/// Records per key of the plan.
pub(crate) fn cases_by_key<C>(plan: &[Planned<C>]) -> HashMap<CellKey, usize> {
    plan.iter()
        .flat_map(|c| c.keys.iter().map(move |k| (k.clone(), c.cases)))
        .collect()
}

/// Orders a cell's records as a run writes them: by key (in the cell's order), then case.
pub(crate) fn order<R: Record>(records: &mut [R], keys: &[CellKey]) {
    let rank: HashMap<&CellKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    records.sort_by_key(|r| (rank.get(&r.key()).copied().unwrap_or(usize::MAX), r.case()));
}

/// A cell's records and what its batches kept for pictures.
pub(crate) type CellRecords<T> = (Vec<<T as Task>::Record>, Vec<<T as Task>::Kept>);

/// Runs the batches `only` (every batch when `None`) of `cell` side by side; records come back
/// ordered by (key, case), kept items in batch order. `on_batch` hears each batch's cases.
///
/// # Errors
/// The first batch's error, in batch order.
pub(crate) fn cell_records<T: Task>(
    run: &CellRun<'_, T>,
    cell: &Planned<T::Cell>,
    only: Option<&[usize]>,
    on_batch: &mut dyn FnMut(usize),
) -> Result<CellRecords<T>> {
    let todo: Vec<usize> = (0..cell.batches())
        .filter(|b| only.is_none_or(|o| o.contains(b)))
        .collect();
    let (mut records, mut kept) = (Vec::new(), Vec::new());
    batches_side_by_side(
        &todo,
        |b| T::run_batch(run, cell, b),
        |b, batch| {
            on_batch(cell.batch_cases(b).len());
            records.extend(batch.records);
            kept.extend(batch.kept);
            Ok(())
        },
    )?;
    order(&mut records, &cell.keys);
    Ok((records, kept))
}

/// After the cells: pictures and files across cells, checks, `warnings.json`, outputs.
pub(crate) fn finish<T: Task>(
    run: &CellRun<'_, T>,
    manifest: &Manifest<T::Spec>,
    records: &[T::Record],
    progress: &mut dyn FnMut(RunEvent),
) -> Result<(T::Summary, Vec<Warning>)> {
    T::after_cells(run, records, progress)?;
    progress(RunEvent::Phase("sanity checks".into()));
    let mut warnings = T::record_checks(run.spec, records);
    if run.spec.probes_enabled() {
        progress(RunEvent::Phase("sanity checks: model probes".into()));
        warnings.extend(T::probes(run)?);
    }
    write_warnings(run.out, &warnings)?;
    let summary = T::outputs(&Outputs {
        manifest,
        records,
        warnings: &warnings,
        out: run.out,
    })?;
    Ok((summary, warnings))
}

/// Validates `spec`, then runs it into `out`: models (loaded, or trained and saved under
/// `out/models/NAME`), every cell not yet complete on disk, `records.jsonl`, checks,
/// summaries and `report.html`.
///
/// # Errors
/// Invalid experiments, an `out` folder holding a different experiment (or in use), I/O,
/// training or attack failures, and budget violations.
pub fn run<T: Task>(
    spec: &T::Spec,
    out: &Path,
    progress: &mut dyn FnMut(RunEvent),
) -> Result<Outcome<T::Summary>> {
    spec.validate()?;
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let _lock = lock_run_dir(out)?;
    let prepared = prepare::<T>(spec, out, true, progress)?;
    let plan = T::plan(spec, &prepared.ready)?;
    let path = out.join("records.jsonl");
    let done = resume_keys::<T::Record>(&path, &cases_by_key(&plan))?;
    let mut file = RecordsFile::open(&path)?;
    let memo = FgsmMemo::from_env();
    let run = CellRun::new(spec, &prepared.ready, out)
        .with_pictures()
        .saving_state()
        .with_memo(&memo);
    let (mut cells_run, mut cells_skipped) = (0, 0);
    for cell in &plan {
        let label = cell.label.clone();
        if cell.keys.iter().all(|k| done.contains(k)) {
            cells_skipped += 1;
            progress(RunEvent::CellSkipped { cell: label });
            continue;
        }
        T::before_cell(&run, cell, progress)?;
        progress(RunEvent::CellStart {
            cell: label.clone(),
            cases: cell.cases,
        });
        let (mut records, kept) =
            cell_records(&run, cell, None, &mut |n| progress(RunEvent::CasesDone(n)))?;
        T::save_pictures(&run, cell, &records, kept)?;
        // A cell whose keys were partly on disk is recomputed whole; only its missing keys
        // are written, so none is duplicated.
        records.retain(|r| !done.contains(&r.key()));
        file.append(&records)?;
        if let Some(dir) = run.state_dir(cell)
            && dir.exists()
        {
            std::fs::remove_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
        }
        cells_run += 1;
        progress(RunEvent::CellDone { cell: label });
    }
    let all: Vec<T::Record> = read_jsonl(&path)?;
    let (summary, warnings) = finish(&run, &prepared.manifest, &all, progress)?;
    Ok(Outcome {
        out: out.to_path_buf(),
        summary,
        cells_run,
        cells_skipped,
        warnings,
        fgsm_gradients_reused: memo.counts().1,
    })
}

/// Rebuilds the summaries, findings and `report.html` of a run folder from its records,
/// manifest and `warnings.json` alone (pictures already in the folder are linked).
///
/// # Errors
/// A missing or malformed manifest or records file; write failures.
pub fn rebuild<T: Task>(out: &Path) -> Result<T::Summary> {
    let manifest = Manifest::<T::Spec>::read(out)?.ok_or_else(|| {
        EvalError::invalid("run", format!("{} has no manifest.json", out.display()))
    })?;
    let records: Vec<T::Record> = read_jsonl(&out.join("records.jsonl"))?;
    let path = out.join("warnings.json");
    let warnings: Vec<Warning> = if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| EvalError::io(&path, e))?
    } else {
        Vec::new()
    };
    T::outputs(&Outputs {
        manifest: &manifest,
        records: &records,
        warnings: &warnings,
        out,
    })
}

/// Writes `warnings.json`.
fn write_warnings(out: &Path, warnings: &[Warning]) -> Result<()> {
    write_json(&out.join("warnings.json"), warnings)
}
