//! The one training loop of every trainer: step, validate every N steps (and after the last),
//! keep the weights of the best validation, report progress as [`TrainEvent`]s.
//!
//! A trainer brings what differs: how a step makes its batch and loss and updates the model,
//! and how a validation scores the model. The best weights are kept as an evaluation copy
//! taken at validation time (`Module::valid`): a clone of the training model would share
//! BatchNorm's running statistics, which later steps update.

use burn::module::Module;

use crate::{Result, TrainError};

/// Progress of any training run, for whoever displays it.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// A training stage starts (`teacher`, `student`), for multi-stage defences.
    Stage(String),
    /// Training starts: total optimisation steps.
    Start {
        /// Steps to come.
        steps: usize,
    },
    /// One optimisation step done.
    Step {
        /// Its loss.
        loss: f32,
    },
    /// A validation.
    Validation {
        /// `step`, or `epoch` for trainers that validate per epoch.
        unit: &'static str,
        /// Steps (epochs) done.
        step: usize,
        /// Mean training loss since the previous validation.
        train_loss: f64,
        /// The validation metrics in words (`validation MAE 4.21 y`).
        summary: String,
    },
}

/// What a validation found: its score (lower is better), its record, and a summary in words.
pub struct Validated<V> {
    /// Lower is better (a Dice-scored trainer gives `-Dice`).
    pub score: f64,
    /// The record kept in the training report.
    pub record: V,
    /// For the progress line.
    pub summary: String,
}

/// When to validate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Optimisation steps.
    pub steps: usize,
    /// Validate every this many steps and after the last (`None`: never; the last weights
    /// are returned as they are).
    pub validate_every: Option<usize>,
    /// How validations are counted in events and reports: steps per unit (a segmentation
    /// trainer validates per epoch and counts epochs).
    pub steps_per_unit: usize,
}

impl Schedule {
    /// `steps` steps, validating every `every` (and after the last).
    pub fn every(steps: usize, every: usize) -> Self {
        Self {
            steps,
            validate_every: Some(every),
            steps_per_unit: 1,
        }
    }
}

/// What a training run produced.
pub struct Trained<M, V> {
    /// The best weights (an evaluation copy), or the last ones without validation.
    pub model: M,
    /// Every validation, in order.
    pub validations: Vec<V>,
    /// The step (unit) whose weights were kept.
    pub best: usize,
}

/// A trainer's step: step number (from 1) and model in, updated model and the step's loss out.
pub type StepFn<'a, M> = dyn FnMut(usize, M) -> Result<(M, f32)> + 'a;

/// A trainer's validation: step, mean training loss since the previous validation, model.
pub type ValidateFn<'a, M, V> = dyn FnMut(usize, f64, &M) -> Result<Validated<V>> + 'a;

/// The cosine learning-rate schedule of the step-based trainers: `base` at step 1, decaying
/// to a tenth of it at the end.
pub fn cosine_lr(base: f64, step: usize, steps: usize) -> f64 {
    let frac = (step - 1) as f64 / steps as f64;
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()))
}

/// Runs `schedule.steps` steps of `step` (step number from 1, the model; returns the updated
/// model and the step's loss), validating with `validate` (step, mean training loss since the
/// previous validation, model).
///
/// # Errors
/// A non-finite loss ([`TrainError::Diverged`]), or an error of `step` or `validate`.
pub fn train_loop<M: Module, V>(
    mut model: M,
    schedule: Schedule,
    step: &mut StepFn<'_, M>,
    validate: &mut ValidateFn<'_, M, V>,
    progress: &mut dyn FnMut(TrainEvent),
) -> Result<Trained<M, V>> {
    let unit = schedule.steps_per_unit.max(1);
    progress(TrainEvent::Start {
        steps: schedule.steps,
    });
    let (mut running, mut validations) = (0.0f64, Vec::new());
    let mut best: Option<(f64, M, usize)> = None;
    for s in 1..=schedule.steps {
        let (next, loss) = step(s, model)?;
        model = next;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { step: s, loss });
        }
        running += loss as f64;
        progress(TrainEvent::Step { loss });
        let Some(every) = schedule.validate_every else {
            continue;
        };
        if s % every == 0 || s == schedule.steps {
            let since = (s - 1) % every + 1;
            let v = validate(s, running / since as f64, &model)?;
            progress(TrainEvent::Validation {
                unit: if unit == 1 { "step" } else { "epoch" },
                step: s / unit,
                train_loss: running / since as f64,
                summary: v.summary,
            });
            running = 0.0;
            validations.push(v.record);
            if best.as_ref().is_none_or(|(b, _, _)| v.score < *b) {
                best = Some((v.score, model.valid(), s / unit));
            }
        }
    }
    Ok(match best {
        Some((_, model, best)) => Trained {
            model,
            validations,
            best,
        },
        None => Trained {
            model,
            validations,
            best: schedule.steps / unit,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    fn model() -> Linear {
        LinearConfig::new(1, 1).init(&mira_nn::default_device())
    }

    /// Validations at 3, 6, 7 (the last step); the best score is kept with its step.
    #[test]
    fn validates_on_schedule_and_keeps_the_best() {
        let scores = [5.0, 2.0, 4.0];
        let (mut n, mut events) = (0, Vec::new());
        let trained = train_loop(
            model(),
            Schedule {
                steps: 7,
                validate_every: Some(3),
                steps_per_unit: 1,
            },
            &mut |s, m| Ok((m, s as f32)),
            &mut |s, loss, _| {
                n += 1;
                Ok(Validated {
                    score: scores[n - 1],
                    record: (s, loss),
                    summary: format!("v{n}"),
                })
            },
            &mut |e| events.push(e),
        )
        .unwrap();
        assert_eq!(trained.best, 6);
        // Mean losses since the previous validation: (1+2+3)/3, (4+5+6)/3, 7/1.
        assert_eq!(trained.validations, vec![(3, 2.0), (6, 5.0), (7, 7.0)]);
        assert_eq!(events[0], TrainEvent::Start { steps: 7 });
        assert_eq!(events.len(), 1 + 7 + 3);
    }

    #[test]
    fn a_non_finite_loss_stops_the_run_and_no_validation_keeps_the_last_weights() {
        let err = train_loop::<Linear, ()>(
            model(),
            Schedule {
                steps: 3,
                validate_every: None,
                steps_per_unit: 1,
            },
            &mut |s, m| Ok((m, if s == 2 { f32::NAN } else { 1.0 })),
            &mut |_, _, _| unreachable!("never validates"),
            &mut |_| {},
        );
        assert!(matches!(err, Err(TrainError::Diverged { step: 2, .. })));
        let t = train_loop::<Linear, ()>(
            model(),
            Schedule {
                steps: 2,
                validate_every: None,
                steps_per_unit: 1,
            },
            &mut |_, m| Ok((m, 1.0)),
            &mut |_, _, _| unreachable!("never validates"),
            &mut |_| {},
        )
        .unwrap();
        assert!(t.validations.is_empty() && t.best == 2);
        let _ = t.model.weight.val().dims();
    }
}
