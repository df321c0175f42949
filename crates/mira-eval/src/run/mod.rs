//! The one pipeline of every task: the [`Task`] seam and the runner behind it (folder lock,
//! manifest, resume, batches and models side by side on lanes, FGSM memo, shards and merge, checks, report rebuild).
//! A task folder under `tasks/` implements [`Task`]; nothing here knows any task.

pub(crate) mod batches;
mod events;
mod experiment;
pub(crate) mod fgsm_memo;
pub(crate) mod folder;
mod keys;
pub(crate) mod lanes;
mod manifest;
mod per_model;
pub(crate) mod runner;
mod setup;
mod shard;
mod task;

pub use events::RunEvent;
pub use experiment::{Experiment, FolderCall, TASKS, TaskCall, call_task};
pub use fgsm_memo::FgsmMemo;
pub use keys::{CellKey, cell_label, cell_seed, cell_stem, draw_name, eps_f64, example_file, mix};
pub use manifest::{
    BuildInfo, DataHashes, MANIFEST_FORMAT, Manifest, Session, dataset_hash, file_hash, pairs_hash,
    run_task, shapes_hash, sources_hash, subjects_hash,
};
pub use per_model::PerModel;
pub use runner::{Outcome, rebuild, run};
pub(crate) use setup::training_record;
pub use setup::{ModelJob, SavedModel, Setup, TrainFn};
pub use shard::{MergeOutcome, Shard, ShardOutcome, merge, prepare_models, run_shard};
pub use task::{Batch, CellRun, Outputs, Planned, Record, Spec, Task};
pub(crate) use task::{impl_record, impl_spec};
