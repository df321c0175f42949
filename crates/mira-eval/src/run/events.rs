//! Progress of a run, as events for whoever displays them (the CLI's progress bars).

use mira_train::TrainEvent;

/// Progress of a run, for whoever displays it.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A phase starts.
    Phase(String),
    /// Training progress of a model.
    Train { model: String, event: TrainEvent },
    /// Training progress of a registration model.
    RegTrain {
        model: String,
        event: mira_train::RegTrainEvent,
    },
    /// Training progress of a shape model.
    ShapeTrain {
        model: String,
        event: mira_train::ShapeTrainEvent,
    },
    /// Training progress of a brain-age model.
    AgeTrain {
        model: String,
        event: mira_train::AgeTrainEvent,
    },
    /// Training progress of a learned synthesis attacker (S2): step `step` of `steps`.
    GeneratorTrain {
        model: String,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// A cell starts: how many cases it will attack.
    CellStart { cell: String, cases: usize },
    /// Cases of the running cell finished.
    CasesDone(usize),
    /// A cell finished and its records are on disk.
    CellDone { cell: String },
    /// A cell was already complete on disk and is not run again.
    CellSkipped { cell: String },
}
