//! What a task's `prepare` sees: the run folder, whether it may write into it, progress, and the
//! manifest it pins its data and weights in.

use std::path::{Path, PathBuf};

use mira_train::TrainEvent;

use crate::run::{DataHashes, Manifest, RunEvent, Spec};
use crate::{EvalError, Result};

/// The preparation of a run folder (see [`crate::run::Task::prepare`]).
pub struct Setup<'a, S: Spec> {
    spec: &'a S,
    out: &'a Path,
    write: bool,
    progress: &'a mut dyn FnMut(RunEvent),
    manifest: Option<Manifest<S>>,
}

impl<'a, S: Spec> Setup<'a, S> {
    /// A setup of `out` for `spec`; with `write`, the folder is taken over (manifest resumed and
    /// written, missing models trained and saved), without it (shards, merge) the folder must
    /// already hold the manifest and every model, and nothing is written.
    pub(crate) fn new(
        spec: &'a S,
        out: &'a Path,
        write: bool,
        progress: &'a mut dyn FnMut(RunEvent),
    ) -> Self {
        Self {
            spec,
            out,
            write,
            progress,
            manifest: None,
        }
    }

    /// The run folder.
    pub fn out(&self) -> &Path {
        self.out
    }

    /// Whether models may be trained and files written.
    pub fn writes(&self) -> bool {
        self.write
    }

    /// Reports a phase (`generating data`, `loading model m`).
    pub fn phase(&mut self, text: impl Into<String>) {
        (self.progress)(RunEvent::Phase(text.into()))
    }

    /// Reports any event (training progress).
    pub fn event(&mut self, event: RunEvent) {
        (self.progress)(event)
    }

    /// The progress callback, for trainers that report as they go.
    pub fn progress(&mut self) -> &mut dyn FnMut(RunEvent) {
        self.progress
    }

    /// Pins the data: a new manifest for this run, resumed from the folder's (refusing another
    /// experiment, build or data) when writing, or checked against the folder's and taken over
    /// when not.
    ///
    /// # Errors
    /// A folder of another experiment, build or data; a folder that is not prepared.
    pub fn data(&mut self, hashes: DataHashes) -> Result<()> {
        let mut manifest = Manifest::new(self.spec, hashes);
        if self.write {
            manifest.resume_from(self.out)?;
        } else {
            let old = Manifest::<S>::read(self.out)?.ok_or_else(|| {
                EvalError::invalid(
                    "out",
                    format!(
                        "{} has no manifest.json: prepare it first with `mira run EXPERIMENT \
                         --out {} --models-only`",
                        self.out.display(),
                        self.out.display()
                    ),
                )
            })?;
            old.check_resumable(&manifest, self.out)?;
            manifest = old;
        }
        self.manifest = Some(manifest);
        Ok(())
    }

    /// Where model `name` lives: its checkpoint, or `out/models/NAME`.
    pub fn model_dir(&self, name: &str, checkpoint: Option<&Path>) -> PathBuf {
        match checkpoint {
            Some(c) => c.to_path_buf(),
            None => self.out.join("models").join(name),
        }
    }

    /// Refuses to train model `i` (`name`) when the folder may not be written: shards and the
    /// merge load models trained by `--models-only`.
    ///
    /// # Errors
    /// The model is not trained and this setup may not train it.
    pub fn may_train(&self, i: usize, name: &str) -> Result<()> {
        if self.write {
            return Ok(());
        }
        Err(EvalError::invalid(
            format!("models[{i}]"),
            format!(
                "model '{name}' is not trained in {}: train the models first with `mira run \
                 EXPERIMENT --out {} --models-only`",
                self.out.display(),
                self.out.display()
            ),
        ))
    }

    /// Pins the weights file of model `i` (`name`; SHA-256), refusing weights that changed
    /// since the run started.
    ///
    /// # Errors
    /// Called before [`Setup::data`]; unreadable or changed weights.
    pub fn pin(&mut self, i: usize, name: &str, weights: &Path) -> Result<()> {
        let manifest = self
            .manifest
            .as_mut()
            .ok_or_else(|| EvalError::invalid("models", "weights pinned before the data"))?;
        manifest.pin_weights(i, name, weights)
    }

    /// Model `i` (`name`): loaded from its folder (`checkpoint`, or `out/models/NAME`)
    /// when that holds `model.json`, else trained by `train` into that folder (reported as the
    /// phase `training`; refused when the folder may not be written), its training events
    /// reported under its name. Its weights file is pinned either way.
    ///
    /// # Errors
    /// Loading, training or saving fails; the model is missing and may not be trained; its
    /// weights changed since the run started.
    pub fn model<M: SavedModel>(
        &mut self,
        (i, name): (usize, &str),
        checkpoint: Option<&Path>,
        training: String,
        train: impl FnOnce(&Path, &mut dyn FnMut(TrainEvent)) -> Result<M>,
    ) -> Result<M> {
        let dir = self.model_dir(name, checkpoint);
        let model = if dir.join("model.json").exists() {
            self.phase(format!("loading model {name}"));
            M::load(&dir)?
        } else {
            self.may_train(i, name)?;
            self.phase(training);
            let progress = &mut *self.progress;
            train(&dir, &mut |event| {
                progress(RunEvent::Train {
                    model: name.to_string(),
                    event,
                })
            })?
        };
        self.pin(i, name, &dir.join(mira_nn::checkpoint::WEIGHTS_FILE))?;
        Ok(model)
    }

    /// The manifest, once the data is pinned.
    pub(crate) fn into_manifest(self) -> Result<Manifest<S>> {
        self.manifest
            .ok_or_else(|| EvalError::invalid("data", "the task did not pin its data"))
    }
}

/// A network saved in a folder (`model.json` beside its weights) that [`Setup::model`] loads.
pub trait SavedModel: Sized {
    /// Loads the network saved in `dir` onto the default device.
    ///
    /// # Errors
    /// A missing, malformed or incompatible checkpoint.
    fn load(dir: &Path) -> Result<Self>;
}

macro_rules! saved_model {
    ($($model:ty => $load:path),* $(,)?) => {$(
        impl SavedModel for $model {
            fn load(dir: &Path) -> Result<Self> {
                Ok($load(dir, &mira_nn::default_device())?.0)
            }
        }
    )*};
}

saved_model!(
    mira_nn::UNet => mira_nn::checkpoint::load,
    mira_nn::PairNet => mira_nn::load_pair_net,
    mira_nn::AgeNet => mira_nn::load_age_net,
    mira_nn::ShapeNet => mira_nn::load_shape_net,
);

/// What a trained model's `model.json` says about its training: the settings, the trainer's
/// report and the wall time since `started` in seconds (to 0.1 s; the cost of a defence).
pub(crate) fn training_record(
    config: &impl serde::Serialize,
    report: &impl serde::Serialize,
    started: std::time::Instant,
) -> serde_json::Value {
    let seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    serde_json::json!({ "config": config, "report": report, "seconds": seconds })
}
