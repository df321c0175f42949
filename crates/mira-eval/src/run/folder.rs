//! The run folder's contract, the same for every task: one writer at a time (an OS lock),
//! files written atomically, records appended one cell at a time and synced, and a resume that
//! keeps complete cells and drops the rest.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};

use mira_report::read_jsonl;

use crate::run::{CellKey, Record};
use crate::{EvalError, Result};

/// Writes a run file through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mira_nn::checkpoint::write_atomic(path, bytes).map_err(|e| EvalError::io(path, e))
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| EvalError::io(path, e))?;
    write_atomic(path, text.as_bytes())
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

/// Records as JSON lines.
pub(crate) fn jsonl<R: serde::Serialize>(records: &[R], path: &Path) -> Result<String> {
    let mut text = String::new();
    for r in records {
        text += &serde_json::to_string(r).map_err(|e| EvalError::io(path, e))?;
        text.push('\n');
    }
    Ok(text)
}

/// A records file open for appending, one unit (a cell, or a shard's cell × batch) per write.
pub(crate) struct RecordsFile {
    path: PathBuf,
    file: std::fs::File,
}

impl RecordsFile {
    /// Opens (creating) `path` for appending.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| EvalError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends `records` in one write, then syncs, so a unit is on disk whole or (after a
    /// crash) dropped whole on resume.
    pub(crate) fn append<R: serde::Serialize>(&mut self, records: &[R]) -> Result<()> {
        self.file
            .write_all(jsonl(records, &self.path)?.as_bytes())
            .map_err(|e| EvalError::io(&self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| EvalError::io(&self.path, e))
    }
}

/// Keeps the complete units of an existing records file and returns them: `unit` names the
/// unit of a record (`None`: a record of no unit of the plan, dropped) and `expected` how many
/// records make it complete. Incomplete units and a torn last line are dropped by an atomic
/// rewrite of the file.
pub(crate) fn resume<R: Record, U: Eq + Hash + Clone>(
    path: &Path,
    unit: impl Fn(&R) -> Option<U>,
    expected: impl Fn(&U) -> usize,
) -> Result<HashSet<U>> {
    if !path.exists() {
        return Ok(HashSet::new());
    }
    let records: Vec<R> = read_jsonl(path)?;
    let mut counts: HashMap<U, usize> = HashMap::new();
    for r in &records {
        if let Some(u) = unit(r) {
            *counts.entry(u).or_default() += 1;
        }
    }
    let done: HashSet<U> = counts
        .into_iter()
        .filter(|(u, n)| *n == expected(u))
        .map(|(u, _)| u)
        .collect();
    let kept: Vec<&R> = records
        .iter()
        .filter(|r| unit(r).is_some_and(|u| done.contains(&u)))
        .collect();
    let text = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    if kept.len() != records.len() || !text.is_empty() && !text.ends_with(b"\n") {
        write_atomic(path, jsonl(&kept, path)?.as_bytes())?;
    }
    Ok(done)
}

/// [`resume`] by cell key: complete keys of `path`, given the cases of each key of the plan.
pub(crate) fn resume_keys<R: Record>(
    path: &Path,
    cases: &HashMap<CellKey, usize>,
) -> Result<HashSet<CellKey>> {
    resume(
        path,
        |r: &R| Some(r.key()).filter(|k| cases.contains_key(k)),
        |k| cases.get(k).copied().unwrap_or(0),
    )
}
