//! The seam between a task and the one runner.
//!
//! A task brings its experiment section ([`Spec`]), its record ([`Record`]), how to make its data
//! and models ready ([`Task::prepare`]), its cells ([`Task::plan`]), what one batch of a cell
//! computes ([`Task::run_batch`]), its checks and its outputs. The runner (`run/runner.rs`,
//! `run/shard.rs`) owns everything else, once for every task: the folder lock, the manifest,
//! resume, batches side by side, the FGSM memo, shards and merge, the order of records, the checks'
//! place in the run, `warnings.json` and the rebuild of a report from the folder.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::run::{CellKey, FgsmMemo, Manifest, RunEvent, Setup};
use crate::{Result, Warning};

/// The experiment file of a task: serialisable (the manifest pins it), comparable (resuming a
/// folder with another experiment is refused), validated beyond what serde checks.
pub trait Spec:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync
{
    /// The experiment's name (default output folder `runs/NAME`).
    fn name(&self) -> &str;
    /// The master seed.
    fn seed(&self) -> u64;
    /// Overrides the master seed (`mira run --seed`).
    fn set_seed(&mut self, seed: u64);
    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field, named.
    fn validate(&self) -> Result<()>;
    /// Makes relative paths of the file relative to its folder `base`.
    fn resolve_paths(&mut self, _base: &Path) {}
    /// Whether the model probes run (`[checks.probes] enabled`).
    fn probes_enabled(&self) -> bool {
        false
    }

    /// How the experiment's budgets convert to model units, for the manifest (empty: they are
    /// stated in model units).
    fn budget_units(&self) -> Vec<String> {
        Vec::new()
    }

    /// Reads, parses and validates an experiment file of this task; relative paths in it are
    /// relative to its folder. (`mira run` reads any task's file as an
    /// [`crate::run::Experiment`].)
    ///
    /// # Errors
    /// An unreadable file, parse errors naming the field and line, the first invalid value.
    fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::EvalError::io(path, e))?;
        let mut spec: Self = crate::spec::parse_toml(&text, &path.display().to_string())?;
        spec.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        spec.validate()?;
        Ok(spec)
    }
}

/// One JSON line of `records.jsonl`: one case of one cell.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync {
    /// The cell the record belongs to.
    fn key(&self) -> CellKey;
    /// The case's index in the test set.
    fn case(&self) -> usize;
}

/// A cell of the plan: the task's own description and what the runner needs to know of it.
#[derive(Debug, Clone)]
pub struct Planned<C> {
    /// The task's description of the cell.
    pub cell: C,
    /// Shown in progress lines.
    pub label: String,
    /// The keys the cell's records carry (one for most cells; a synthesis cell holds one per
    /// requested target). The cell is complete when every key has `cases` records.
    pub keys: Vec<CellKey>,
    /// Test cases per key.
    pub cases: usize,
    /// Cases per batch, the unit of lanes and shards (batch `b` holds cases
    /// `b·batch_size ..`); a cell that cannot be split says `cases`.
    pub batch_size: usize,
    /// A folder of state the cell keeps under the run folder while it runs (e.g. a cascade's
    /// members), removed once its records are on disk; `None`: none.
    pub state: Option<PathBuf>,
}

impl<C> Planned<C> {
    /// Batches of the cell.
    pub fn batches(&self) -> usize {
        self.cases.div_ceil(self.batch_size.max(1))
    }

    /// The cases of batch `b`.
    pub fn batch_cases(&self, b: usize) -> std::ops::Range<usize> {
        let first = b * self.batch_size;
        first..(first + self.batch_size).min(self.cases)
    }
}

/// What a cell's batches see besides the cell.
pub struct CellRun<'a, T: Task> {
    /// The experiment.
    pub spec: &'a T::Spec,
    /// Its data and models.
    pub ready: &'a T::Ready,
    /// The run folder.
    pub out: &'a Path,
    /// Whether pictures are made (not by shards: the merge makes them).
    pub pictures: bool,
    /// Where cell state folders live (`None`: state is not saved, as in shards).
    pub state_root: Option<&'a Path>,
    /// The run's memo of FGSM directions (`None`: every cell computes its own).
    pub fgsm_memo: Option<&'a FgsmMemo>,
}

impl<'a, T: Task> CellRun<'a, T> {
    /// Cells of `spec` on `ready` writing into `out`: no pictures, no saved state, no memo
    /// (what a shard runs; the builders below add the rest).
    pub fn new(spec: &'a T::Spec, ready: &'a T::Ready, out: &'a Path) -> Self {
        Self {
            spec,
            ready,
            out,
            pictures: false,
            state_root: None,
            fgsm_memo: None,
        }
    }

    /// Pictures are made.
    #[must_use]
    pub fn with_pictures(self) -> Self {
        Self {
            pictures: true,
            ..self
        }
    }

    /// Cell state is saved under the run folder.
    #[must_use]
    pub fn saving_state(self) -> Self {
        Self {
            state_root: Some(self.out),
            ..self
        }
    }

    /// FGSM cells share `memo`.
    #[must_use]
    pub fn with_memo(self, memo: &'a FgsmMemo) -> Self {
        Self {
            fgsm_memo: Some(memo),
            ..self
        }
    }

    /// The state folder of `cell`, when state is saved.
    pub fn state_dir(&self, cell: &Planned<T::Cell>) -> Option<PathBuf> {
        Some(self.state_root?.join(cell.state.as_ref()?))
    }
}

/// The records of one batch (for every key of the cell, cases of the batch) and what it kept
/// for pictures.
pub struct Batch<T: Task> {
    /// Records, in any order: the runner orders them by (key, case).
    pub records: Vec<T::Record>,
    /// What pictures need (empty unless asked for).
    pub kept: Vec<T::Kept>,
}

/// What a task's outputs are made from (a run, a merge, `mira report`).
pub struct Outputs<'a, T: Task> {
    /// The run's manifest (its experiment, build and data hashes).
    pub manifest: &'a Manifest<T::Spec>,
    /// Every record of the run, in plan order.
    pub records: &'a [T::Record],
    /// The sanity-check warnings.
    pub warnings: &'a [Warning],
    /// The run folder.
    pub out: &'a Path,
}

impl<'a, T: Task> Outputs<'a, T> {
    /// The manifest, records, warnings and run folder.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        &self,
    ) -> (
        &'a Manifest<T::Spec>,
        &'a [T::Record],
        &'a [Warning],
        &'a Path,
    ) {
        (self.manifest, self.records, self.warnings, self.out)
    }
}

impl<T: Task> Clone for Outputs<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Task> Copy for Outputs<'_, T> {}

/// A prediction problem Mira attacks: see the module docs. `NAME` is its `task = "..."`.
pub trait Task: Sized + 'static {
    /// `task = "..."` in experiment files and manifests.
    const NAME: &'static str;
    /// The experiment file.
    type Spec: Spec;
    /// One record.
    type Record: Record;
    /// Data and models, ready for cells.
    type Ready: Sync;
    /// The task's description of a cell.
    type Cell: Sync;
    /// What a batch keeps for pictures.
    type Kept: Send;
    /// What the outputs say, for the caller (tables, findings).
    type Summary;

    /// Makes the data and loads (or, when `setup` may write, trains and saves) the models,
    /// pinning data and weights in the manifest through `setup`.
    ///
    /// # Errors
    /// Data, training and loading failures; a folder holding another experiment.
    fn prepare(spec: &Self::Spec, setup: &mut Setup<'_, Self::Spec>) -> Result<Self::Ready>;

    /// The cells, in the order their records appear in `records.jsonl`.
    ///
    /// # Errors
    /// Invalid attack entries.
    fn plan(spec: &Self::Spec, ready: &Self::Ready) -> Result<Vec<Planned<Self::Cell>>>;

    /// Runs on the runner's thread before the batches of `cell` (which may run in parallel):
    /// what they share, such as the model's clean predictions, is computed here.
    ///
    /// # Errors
    /// Whatever computing it fails with.
    fn before_cell(
        _run: &CellRun<'_, Self>,
        _cell: &Planned<Self::Cell>,
        _progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        Ok(())
    }

    /// Attacks and scores batch `batch` of `cell`, re-checking every budget on the host.
    ///
    /// # Errors
    /// Attack failures and budget violations.
    fn run_batch(
        run: &CellRun<'_, Self>,
        cell: &Planned<Self::Cell>,
        batch: usize,
    ) -> Result<Batch<Self>>;

    /// Writes the pictures of a finished cell from what its batches kept.
    ///
    /// # Errors
    /// Writing fails, or a case pictures need was not kept.
    fn save_pictures(
        _run: &CellRun<'_, Self>,
        _cell: &Planned<Self::Cell>,
        _records: &[Self::Record],
        _kept: Vec<Self::Kept>,
    ) -> Result<()> {
        Ok(())
    }

    /// The batches whose kept items the pictures of `cell` need, given its records (the merge
    /// of a sharded run recomputes them).
    fn picture_batches(_cell: &Planned<Self::Cell>, _records: &[Self::Record]) -> Vec<usize> {
        Vec::new()
    }

    /// What needs the models once every cell is on disk (pictures across cells, files
    /// assembled from cells); run by `run` and by the merge, not by a report rebuild.
    ///
    /// # Errors
    /// Attack or writing failures.
    fn after_cells(
        _run: &CellRun<'_, Self>,
        _records: &[Self::Record],
        _progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        Ok(())
    }

    /// The record checks on the task's metric (monotone in ε, iterative at least as strong as
    /// FGSM: [`crate::checks::record_checks`]), over every record of the run.
    fn record_checks(spec: &Self::Spec, records: &[Self::Record]) -> Vec<Warning>;

    /// The model probes of every model ([`crate::checks::probe`] on the task's metric), after
    /// the record checks.
    ///
    /// # Errors
    /// Probe failures other than those the checks report.
    fn probes(_run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        Ok(Vec::new())
    }

    /// Summaries, findings and `report.html` from the records, the manifest and the warnings:
    /// what a run, a merge and `mira report` write.
    ///
    /// # Errors
    /// Writing fails.
    fn outputs(run: &Outputs<'_, Self>) -> Result<Self::Summary>;

    /// What `mira run` prints of the summary (tables, findings), without the checks.
    fn console(summary: &Self::Summary) -> String;
}

/// Implements [`Spec`] for an experiment struct with `name` and `seed` fields and inherent
/// `validate` and `resolve_paths` methods (every built-in task's experiment), whose probes run
/// when the bool at `$($probes).+` (`checks.probes.enabled`) is set.
macro_rules! impl_spec {
    ($experiment:ty, $($probes:ident).+; budget_units) => {
        $crate::run::impl_spec!(@impl $experiment, $($probes).+;
            fn budget_units(&self) -> Vec<String> {
                <$experiment>::budget_units(self)
            }
        );
    };
    ($experiment:ty, $($probes:ident).+) => {
        $crate::run::impl_spec!(@impl $experiment, $($probes).+;);
    };
    (@impl $experiment:ty, $($probes:ident).+; $($extra:item)*) => {
        impl $crate::run::Spec for $experiment {
            fn name(&self) -> &str {
                &self.name
            }

            fn seed(&self) -> u64 {
                self.seed
            }

            fn set_seed(&mut self, seed: u64) {
                self.seed = seed;
            }

            fn validate(&self) -> $crate::Result<()> {
                <$experiment>::validate(self)
            }

            fn resolve_paths(&mut self, base: &std::path::Path) {
                <$experiment>::resolve_paths(self, base)
            }

            fn probes_enabled(&self) -> bool {
                self.$($probes).+
            }

            $($extra)*
        }
    };
}
pub(crate) use impl_spec;

/// Implements [`Record`] for a record with `model`, `case` and `draw` fields, keyed by its
/// `$attack` name (with the draw, [`crate::run::draw_name`]) and `$budget` fields (`attack` and
/// `epsilon` for most tasks).
macro_rules! impl_record {
    ($record:ty, $attack:ident, $budget:ident) => {
        impl $crate::run::Record for $record {
            fn key(&self) -> $crate::run::CellKey {
                $crate::run::CellKey::new(
                    &self.model,
                    &$crate::run::draw_name(&self.$attack, self.draw),
                    self.$budget,
                )
            }

            fn case(&self) -> usize {
                self.case
            }
        }
    };
}
pub(crate) use impl_record;
