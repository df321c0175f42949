//! An experiment file of any task, parsed once: `task = "..."` (absent: segmentation) picks
//! the task, whose section is then deserialised from the same syntax tree, so unknown keys and
//! bad values are errors naming their field and line.

use std::path::Path;

use crate::run::{Spec, Task};
use crate::spec::Document;
use crate::tasks::brain_age::{AgeExperiment, BrainAge};
use crate::tasks::files::{Files, FilesExperiment};
use crate::tasks::registration::{RegExperiment, Registration};
use crate::tasks::segmentation::{SegExperiment, Segmentation};
use crate::tasks::shape::{Shape, ShapeExperiment};
use crate::tasks::synthesis::{SynthExperiment, Synthesis};
use crate::{EvalError, Result};

/// Something done with an experiment of any task, generic over the task (`mira run`, shards,
/// `--models-only`).
pub trait TaskCall {
    /// What it gives back.
    type Output;
    /// Does it for task `T` and its experiment.
    fn call<T: Task>(self, spec: T::Spec) -> Self::Output;
}

/// Something done with the run folder of any task, generic over the task (`mira report`,
/// `mira merge`): the task comes from the folder's manifest.
pub trait FolderCall {
    /// What it gives back.
    type Output;
    /// Does it for task `T`.
    fn call<T: Task>(self) -> Self::Output;
}

/// An experiment file of one of the tasks.
#[derive(Debug, Clone, PartialEq)]
pub enum Experiment {
    /// `task = "segmentation"` or no task tag (S1, user folders).
    Segmentation(SegExperiment),
    /// `task = "registration"` (S0).
    Registration(RegExperiment),
    /// `task = "brain_age"` (S3).
    BrainAge(AgeExperiment),
    /// `task = "shape"` (S4).
    Shape(ShapeExperiment),
    /// `task = "synthesis"` (S2).
    Synthesis(SynthExperiment),
    /// `task = "files"` (a saved model on a user's image files; `mira attack --input`).
    Files(FilesExperiment),
}

/// The tasks by name, as `task = "..."` says.
pub const TASKS: [&str; 6] = [
    Segmentation::NAME,
    Registration::NAME,
    BrainAge::NAME,
    Shape::NAME,
    Synthesis::NAME,
    Files::NAME,
];

impl Experiment {
    /// Parses TOML text (not yet validated, paths as written); `file` names it in messages.
    ///
    /// # Errors
    /// [`EvalError::Parse`] naming the offending field and its line, or an unknown task.
    pub fn from_toml(text: &str, file: &str) -> Result<Self> {
        let doc = Document::parse(text, file)?;
        let task = doc.top_str("task");
        Ok(match task.as_ref().map(|(t, _)| t.as_str()) {
            None | Some("segmentation") => Self::Segmentation(doc.deserialize()?),
            Some("registration") => Self::Registration(doc.deserialize()?),
            Some("brain_age") => Self::BrainAge(doc.deserialize()?),
            Some("shape") => Self::Shape(doc.deserialize()?),
            Some("synthesis") => Self::Synthesis(doc.deserialize()?),
            Some("files") => Self::Files(doc.deserialize()?),
            Some(other) => {
                let line = task.as_ref().map_or(1, |t| t.1);
                return Err(EvalError::Parse {
                    file: file.into(),
                    message: format!(
                        "`task` (line {line}): unknown task `{other}`, expected one of {}",
                        TASKS.map(|t| format!("`{t}`")).join(", ")
                    ),
                });
            }
        })
    }

    /// Reads, parses and validates an experiment file; relative paths in it are relative to
    /// its folder.
    ///
    /// # Errors
    /// An unreadable file, parse errors with the field and line, or the first invalid value.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let mut exp = Self::from_toml(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        exp.visit_mut(|s| s.resolve_paths(base));
        exp.validate()?;
        Ok(exp)
    }

    fn visit_mut(&mut self, f: impl FnOnce(&mut dyn SpecMut)) {
        match self {
            Self::Segmentation(s) => f(s),
            Self::Registration(s) => f(s),
            Self::BrainAge(s) => f(s),
            Self::Shape(s) => f(s),
            Self::Synthesis(s) => f(s),
            Self::Files(s) => f(s),
        }
    }

    /// The task's name.
    pub fn task(&self) -> &'static str {
        match self {
            Self::Segmentation(_) => Segmentation::NAME,
            Self::Registration(_) => Registration::NAME,
            Self::BrainAge(_) => BrainAge::NAME,
            Self::Shape(_) => Shape::NAME,
            Self::Synthesis(_) => Synthesis::NAME,
            Self::Files(_) => Files::NAME,
        }
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Segmentation(s) => s.name(),
            Self::Registration(s) => s.name(),
            Self::BrainAge(s) => s.name(),
            Self::Shape(s) => s.name(),
            Self::Synthesis(s) => s.name(),
            Self::Files(s) => s.name(),
        }
    }

    /// Overrides the master seed.
    pub fn set_seed(&mut self, seed: u64) {
        self.visit_mut(|s| s.set_seed_dyn(seed));
    }

    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Segmentation(s) => s.validate(),
            Self::Registration(s) => Spec::validate(s),
            Self::BrainAge(s) => Spec::validate(s),
            Self::Shape(s) => Spec::validate(s),
            Self::Synthesis(s) => Spec::validate(s),
            Self::Files(s) => Spec::validate(s),
        }
    }

    /// Does `c` with this experiment's task.
    pub fn call<C: TaskCall>(self, c: C) -> C::Output {
        match self {
            Self::Segmentation(s) => c.call::<Segmentation>(s),
            Self::Registration(s) => c.call::<Registration>(s),
            Self::BrainAge(s) => c.call::<BrainAge>(s),
            Self::Shape(s) => c.call::<Shape>(s),
            Self::Synthesis(s) => c.call::<Synthesis>(s),
            Self::Files(s) => c.call::<Files>(s),
        }
    }
}

/// Does `c` with the task named `task` (a manifest's).
///
/// # Errors
/// An unknown task name.
pub fn call_task<C: FolderCall>(task: &str, c: C) -> Result<C::Output> {
    match task {
        "segmentation" => Ok(c.call::<Segmentation>()),
        "registration" => Ok(c.call::<Registration>()),
        "brain_age" => Ok(c.call::<BrainAge>()),
        "shape" => Ok(c.call::<Shape>()),
        "synthesis" => Ok(c.call::<Synthesis>()),
        "files" => Ok(c.call::<Files>()),
        other => Err(EvalError::invalid(
            "task",
            format!("unknown task `{other}` in the run folder's manifest"),
        )),
    }
}

/// The object-safe part of [`Spec`] that [`Experiment`] changes in place.
trait SpecMut {
    fn resolve_paths(&mut self, base: &Path);
    fn set_seed_dyn(&mut self, seed: u64);
}

impl<S: Spec> SpecMut for S {
    fn resolve_paths(&mut self, base: &Path) {
        Spec::resolve_paths(self, base)
    }

    fn set_seed_dyn(&mut self, seed: u64) {
        self.set_seed(seed)
    }
}
