//! What a task's `prepare` sees: the run folder, whether it may write into it, progress, and the
//! manifest it pins its data and weights in.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mira_train::TrainEvent;

use crate::run::lanes::side_by_side_reporting;
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
    pub fn model<'t, M: SavedModel + Send>(
        &mut self,
        (index, name): (usize, &'t str),
        checkpoint: Option<&'t Path>,
        training: String,
        train: impl FnOnce(&Path, &mut dyn FnMut(TrainEvent)) -> Result<M> + Send + 't,
    ) -> Result<M> {
        let job = ModelJob {
            index,
            name,
            checkpoint,
            training,
            cost: 1.0,
            train: Box::new(train),
        };
        let mut models = self.models(vec![job])?;
        models
            .pop()
            .ok_or_else(|| EvalError::invalid("models", "no model came back"))
    }

    /// Every model of `jobs`, as [`Setup::model`] makes one, in the order of `jobs`: those
    /// whose folders hold `model.json` are loaded, the others trained side by side on the
    /// lanes (`run/lanes.rs`), costliest first ([`ModelJob::cost`]). Training progress is
    /// reported model by model in that order: the first unfinished model's events as they come,
    /// the later models' once it is done.
    ///
    /// Only for trainings that draw all their randomness from their own seed, so that each
    /// trains the same weights as alone: not for networks with burn's `Dropout`, whose masks
    /// come from the backend's one global generator (registration's `PairNet` and brain age's
    /// `AgeNet` train one at a time through [`Setup::model`]; side by side their draws
    /// interleaved and the weights changed from run to run).
    ///
    /// # Errors
    /// As [`Setup::model`], the first failure in job order (models trained before it are
    /// saved and load on the next run).
    pub fn models<M: SavedModel + Send>(&mut self, jobs: Vec<ModelJob<'_, M>>) -> Result<Vec<M>> {
        let mut models: Vec<Option<M>> = Vec::with_capacity(jobs.len());
        let mut pins = Vec::with_capacity(jobs.len());
        let mut todo = Vec::new();
        for (k, job) in jobs.into_iter().enumerate() {
            let dir = self.model_dir(job.name, job.checkpoint);
            if dir.join("model.json").exists() {
                self.phase(format!("loading model {}", job.name));
                models.push(Some(M::load(&dir)?));
            } else {
                self.may_train(job.index, job.name)?;
                models.push(None);
                todo.push(Pending {
                    slot: k,
                    dir: dir.clone(),
                    name: job.name,
                    training: job.training,
                    cost: job.cost,
                    train: Mutex::new(Some(job.train)),
                });
            }
            pins.push((job.index, job.name, dir));
        }
        // Longest first (a stable sort: equal costs keep job order), so that the lanes end
        // together: in job order the S1 defences file's eight UNets left one lane idle for the
        // last ~7 s of 72.
        todo.sort_by(|a, b| b.cost.total_cmp(&a.cost));
        if let Some(first) = todo.first() {
            self.phase(first.training.clone());
        }
        let order = RefCell::new(InOrder {
            progress: &mut *self.progress,
            head: 0,
            waiting: vec![Vec::new(); todo.len()],
        });
        side_by_side_reporting(
            todo.len(),
            |t, send: &dyn Fn(TrainEvent)| {
                let job = &todo[t];
                let train = job.train.lock().ok().and_then(|mut f| f.take());
                let train = train.ok_or_else(|| EvalError::invalid("models", "trained twice"))?;
                train(&job.dir, &mut |event| send(event))
            },
            |t, event| order.borrow_mut().event(t, todo[t].name, event),
            |t, model| {
                models[todo[t].slot] = Some(model);
                let next = todo.get(t + 1).map(|p| (p.name, &p.training));
                order.borrow_mut().next(next);
                Ok(())
            },
        )?;
        for (index, name, dir) in &pins {
            self.pin(*index, name, &dir.join(mira_nn::checkpoint::WEIGHTS_FILE))?;
        }
        models
            .into_iter()
            .map(|m| m.ok_or_else(|| EvalError::invalid("models", "a model was not trained")))
            .collect()
    }

    /// The manifest, once the data is pinned.
    pub(crate) fn into_manifest(self) -> Result<Manifest<S>> {
        self.manifest
            .ok_or_else(|| EvalError::invalid("data", "the task did not pin its data"))
    }
}

/// A model [`Setup::models`] loads from its folder or trains.
pub struct ModelJob<'a, M> {
    /// Its index in the experiment's models (for messages).
    pub index: usize,
    /// Its name.
    pub name: &'a str,
    /// Its checkpoint folder (`None`: `out/models/NAME`).
    pub checkpoint: Option<&'a Path>,
    /// The phase reported when it is trained (`training model NAME`).
    pub training: String,
    /// An estimate of its training's work, in any unit shared by the jobs of one call (only
    /// their order matters): lanes take the costliest first, so that they finish together.
    pub cost: f64,
    /// Trains it into the folder it is given, reporting events, and saves it there.
    pub train: TrainFn<'a, M>,
}

/// How a [`ModelJob`] trains its model.
pub type TrainFn<'a, M> =
    Box<dyn FnOnce(&Path, &mut dyn FnMut(TrainEvent)) -> Result<M> + Send + 'a>;

/// A model [`Setup::models`] trains: its slot among the jobs, folder, name, phase, cost and
/// training (taken once, by the lane that runs it).
struct Pending<'a, M> {
    slot: usize,
    dir: PathBuf,
    name: &'a str,
    training: String,
    cost: f64,
    train: Mutex<Option<TrainFn<'a, M>>>,
}

/// Training progress handed on model by model: the head model's events as they come, later
/// models' kept until the head is done.
struct InOrder<'p> {
    progress: &'p mut dyn FnMut(RunEvent),
    head: usize,
    waiting: Vec<Vec<TrainEvent>>,
}

impl InOrder<'_> {
    fn event(&mut self, t: usize, model: &str, event: TrainEvent) {
        if t == self.head {
            (self.progress)(RunEvent::Train {
                model: model.to_string(),
                event,
            });
        } else if let Some(w) = self.waiting.get_mut(t) {
            w.push(event);
        }
    }

    /// The head model is done; `next` (name, training phase) becomes the head.
    fn next(&mut self, next: Option<(&str, &String)>) {
        self.head += 1;
        let Some((model, training)) = next else {
            return;
        };
        (self.progress)(RunEvent::Phase(training.clone()));
        let waiting = self.waiting.get_mut(self.head).map(std::mem::take);
        for event in waiting.into_iter().flatten() {
            (self.progress)(RunEvent::Train {
                model: model.to_string(),
                event,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a progress callback saw, in words.
    fn show(e: &RunEvent) -> String {
        match e {
            RunEvent::Phase(p) => p.clone(),
            RunEvent::Train {
                model,
                event: TrainEvent::Stage(s),
            } => format!("{model}:{s}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn training_progress_is_handed_on_model_by_model() {
        let mut seen = Vec::new();
        let mut progress = |e: RunEvent| seen.push(show(&e));
        let (b, c) = ("training b".to_string(), "training c".to_string());
        let mut order = InOrder {
            progress: &mut progress,
            head: 0,
            waiting: vec![Vec::new(); 3],
        };
        let stage = |s: &str| TrainEvent::Stage(s.into());
        // Model b (and c) report while a still trains; c finishes before b.
        order.event(1, "b", stage("1"));
        order.event(0, "a", stage("1"));
        order.event(2, "c", stage("1"));
        order.event(1, "b", stage("2"));
        order.event(0, "a", stage("2"));
        order.next(Some(("b", &b)));
        order.event(1, "b", stage("3"));
        order.next(Some(("c", &c)));
        order.next(None);
        drop(order);
        assert_eq!(
            seen,
            [
                "a:1",
                "a:2",
                "training b",
                "b:1",
                "b:2",
                "b:3",
                "training c",
                "c:1"
            ]
        );
    }
}
