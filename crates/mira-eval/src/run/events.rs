//! Progress of a run, as events for whoever displays them (the CLI's progress bars).

use mira_train::TrainEvent;

/// Progress of a run, for whoever displays it.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A phase starts.
    Phase(String),
    /// Training progress of a model (or of a learned attacker, `attacker of NAME`).
    Train { model: String, event: TrainEvent },
    /// A cell starts: how many cases it will attack.
    CellStart { cell: String, cases: usize },
    /// Cases of the running cell finished.
    CasesDone(usize),
    /// A cell finished and its records are on disk.
    CellDone { cell: String },
    /// A cell was already complete on disk and is not run again.
    CellSkipped { cell: String },
}
