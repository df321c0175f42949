//! Experiments: a TOML file becomes a validated experiment of one task, and one runner
//! executes it.
//!
//! The runner is the source of truth for results: it computes clean scores, runs each attack
//! at each budget, **re-checks every adversarial example against its budget and bounds on the
//! host** (a violation is an error, not a warning), scores it, and appends one record per
//! case. Records of a cell are written together and flushed, so an interrupted run resumes at
//! the first incomplete cell without losing or duplicating records.
//!
//! Layout: `run/` is the one pipeline (the [`Task`] trait and the runner, shards, manifest);
//! `tasks/` holds one folder per task; `cells/`, `checks/`, `report/` and `spec/` hold what the
//! tasks share; `bench/` the benchmarks.

mod anatomy;
mod bench;
mod cells;
mod checks;
mod error;
pub mod onnx_graph;
mod report;
pub mod run;
mod spec;
pub mod tasks;

pub use anatomy::{DEFAULT_MNI_DIR, load_mni};
pub use bench::{
    BenchRow, SWEEP_EPSILONS, SweepBench, SweepRow, bench_attack_steps, bench_sweep,
    write_sweep_data,
};
pub use cells::check_budget;
pub use checks::{
    Alternative, AttackFacts, ChecksConfig, Metric, ProbeConfig, ProbePlan, ProbeSetup,
    ProbeTarget, Warning, check_records, probe, record_checks,
};
pub use error::{EvalError, Result};
pub use report::warnings_markdown;
pub use run::{
    BuildInfo, CellKey, DataHashes, Experiment, FolderCall, MANIFEST_FORMAT, Manifest,
    MergeOutcome, Outcome, RunEvent, Session, Shard, ShardOutcome, Task, TaskCall, call_task,
    merge, prepare_models, rebuild, run, run_shard,
};
pub use spec::{AttackKind, AttackScope, CorruptionEntry};
pub use tasks::brain_age::{
    AgeAnatomy, AgeAttackEntry, AgeChecks, AgeDataSpec, AgeExperiment, AgeGoal, AgeGradient,
    AgeModelEntry, AgeModelKind, AgeProbe, AgeScope, AgeSummary, AgeSweep, AgeTask, BrainAge,
    age_splits,
};
pub use tasks::files::{FileRecord, Files, FilesExperiment, FilesRow, VolumeMetrics};
pub use tasks::registration::{
    AttackedImage, RegAttackEntry, RegChecks, RegData, RegDataSpec, RegExperiment, RegModelEntry,
    RegProbe, RegSourceKind, RegSummary, RegTask, Registration, radiograph_file, reg_data,
};
pub use tasks::segmentation::folder::{
    Channel3, FolderCase, FolderSpec, Normalise, PHANTOM_FOLDER_CHANNELS,
    PHANTOM_FOLDER_LABEL_VALUES, PhantomFolderFormat, ReadCase, SliceRef, SliceSelection,
    VolumeAxes, channels_of, cut, fit, folder_datasets, percentile, put, read_case, read_labels,
    scan_cases, slice_count, slice_shape, split_cases, unfit, write_phantom_folder,
    write_volume_phantom_folder,
};
pub use tasks::segmentation::{
    AttackEntry, AttackLoss, CONSISTENCY_SLACK, DataSource, DataSpec, GoalSpec, ModelEntry,
    OutputKind, SegExperiment, SegNet, SegNetInfo, SegProbe, Segmentation, SweepSpec, WindowAttack,
    Windowing, min_norm_tables, model_groups, probe_segmenter, split_min_norm, write_comparison,
    write_report,
};
pub use tasks::shape::{
    OodSource, Shape, ShapeAttackEntry, ShapeChecks, ShapeDataSpec, ShapeExperiment,
    ShapeModelEntry, ShapeProbe, ShapeScope, ShapeSummary, ShapeSweep, ShapeTask,
    shape_test_slices,
};
pub use tasks::synthesis::{
    GeneratorSpec, SearchSpec, SynthChecks, SynthDataSpec, SynthExperiment, SynthModelEntry,
    SynthSummary, SynthTask, Synthesis, ThreatSpec, synth_splits,
};
