//! Experiments: a TOML file becomes a validated [`Experiment`], and the runner executes it.
//!
//! The runner is the source of truth for results: it computes clean scores, runs each attack
//! at each budget, **re-checks every adversarial example against its budget and bounds on the
//! host** (a violation is an error, not a warning), scores it, and appends one record per
//! case. Records of a cell are written together and flushed, so an interrupted run resumes at
//! the first incomplete cell without losing or duplicating records.

mod age_cell;
mod age_judge;
mod age_outputs;
mod age_runner;
mod age_spec;
mod anatomy;
mod bench;
mod bench_sweep;
mod cell_attack;
mod checks;
mod error;
mod fgsm_memo;
mod file_attack;
mod folder_data;
mod folder_phantom;
mod folder_spec;
mod folder_volume;
mod manifest;
mod min_norm_tables;
mod outputs;
mod probes;
mod reg_cell;
mod reg_data;
mod reg_judge;
mod reg_min_norm;
mod reg_outputs;
mod reg_runner;
mod reg_spec;
mod runner;
mod seg_cell;
mod seg_judge;
mod seg_min_norm;
mod shape_cell;
mod shape_findings;
mod shape_judge;
mod shape_min_norm;
mod shape_ood;
mod shape_runner;
mod shape_spec;
mod shard;
mod spec;
mod synth_cell;
mod synth_outputs;
mod synth_runner;
mod synth_spec;
mod waves;

pub use age_runner::{
    AgeRunOutcome, age_splits, is_brain_age_run, rebuild_brain_age_report, run_brain_age,
};
pub use age_spec::{
    AgeAnatomy, AgeAttackEntry, AgeChecks, AgeDataSpec, AgeExperiment, AgeGoal, AgeGradient,
    AgeModelEntry, AgeModelKind, AgeScope, AgeSweep, AgeTask, is_brain_age,
};
pub use anatomy::{DEFAULT_MNI_DIR, load_mni};
pub use bench::{BenchRow, bench_attack_steps};
pub use bench_sweep::{SWEEP_EPSILONS, SweepBench, SweepRow, bench_sweep, write_sweep_data};
pub use checks::{ChecksConfig, Warning, record_checks};
pub use error::{EvalError, Result};
pub use file_attack::{FileAttack, FileManifest, FileOutput};
pub use folder_data::{
    FolderCase, ReadCase, SliceRef, folder_datasets, read_case, read_labels, scan_cases,
    split_cases,
};
pub use folder_phantom::{
    PHANTOM_FOLDER_CHANNELS, PHANTOM_FOLDER_LABEL_VALUES, PhantomFolderFormat, write_phantom_folder,
};
pub use folder_spec::{FolderSpec, Normalise, SliceSelection};
pub use folder_volume::{
    Channel3, channels_of, cut, fit, percentile, put, slice_count, slice_shape, unfit,
};
pub use manifest::{
    BuildInfo, DataHashes, ExperimentName, MANIFEST_FORMAT, Manifest, Session, dataset_hash,
    pairs_hash, shapes_hash, sources_hash, subjects_hash,
};
pub use outputs::{model_groups, warnings_markdown, write_comparison, write_report};
pub use probes::{ProbeSetup, probe_model};
pub use reg_data::{RegData, radiograph_file, reg_data};
pub use reg_min_norm::{reg_min_norm_tables, split_reg_min_norm};
pub use reg_outputs::write_reg_report;
pub use reg_runner::{
    RegRunOutcome, is_registration_run, rebuild_registration_report, reg_warnings, run_registration,
};
pub use reg_spec::{
    AttackedImage, RegAttackEntry, RegChecks, RegDataSpec, RegExperiment, RegModelEntry,
    RegSourceKind, RegTask, is_registration,
};
pub use runner::{RunEvent, RunOutcome, run};
pub use seg_min_norm::{CONSISTENCY_SLACK, min_norm_tables, split_min_norm};
pub use shape_runner::{ShapeRunOutcome, is_shape_run, rebuild_shape_report, run_shape};
pub use shape_spec::{
    OodSource, ShapeAttackEntry, ShapeDataSpec, ShapeExperiment, ShapeModelEntry, ShapeScope,
    ShapeSweep, ShapeTask, is_shape,
};
pub use shard::{MergeOutcome, Shard, ShardOutcome, merge, prepare_models, run_shard};
pub use spec::{
    AttackEntry, AttackLoss, AttackScope, DataSource, DataSpec, Experiment, GoalSpec, ModelEntry,
    SweepSpec,
};
pub use synth_runner::{
    SynthRunOutcome, is_synthesis_run, rebuild_synthesis_report, run_synthesis, synth_splits,
};
pub use synth_spec::{
    GeneratorSpec, SearchSpec, SynthDataSpec, SynthExperiment, SynthModelEntry, SynthTask,
    ThreatSpec, is_synthesis,
};
