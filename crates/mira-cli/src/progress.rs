//! Progress bars for training and attacks (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use mira_eval::RunEvent;
use mira_train::TrainEvent;

/// Turns run events into progress bars and one line per finished phase.
#[derive(Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    b.set_message(what.to_string());
    b
}

impl Progress {
    /// A line above the bar, or on stderr when there is no visible bar (logs of background
    /// runs keep their validation lines).
    fn line(&self, text: String) {
        match &self.bar {
            Some(b) if !b.is_hidden() => b.println(text),
            _ => eprintln!("{text}"),
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Shows one training event.
    pub fn train(&mut self, model: &str, event: TrainEvent) {
        match event {
            TrainEvent::Stage(stage) => {
                self.finish();
                eprintln!("  {model}: {stage}");
            }
            TrainEvent::Start { steps } => {
                self.finish();
                self.bar = Some(bar(steps, &format!("training {model}")))
            }
            TrainEvent::Step { loss, .. } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training {model} (loss {loss:.3})"));
                }
            }
            TrainEvent::Epoch(s) => {
                let dice = s.val_dice_mean.map_or("-".into(), |d| format!("{d:.3}"));
                self.line(format!(
                    "  {model} epoch {}: loss {:.3}, validation Dice {dice}",
                    s.epoch, s.train_loss
                ));
            }
        }
    }

    /// Shows one shape training event.
    pub fn shape_train(&mut self, model: &str, event: mira_train::ShapeTrainEvent) {
        use mira_train::ShapeTrainEvent;
        match event {
            ShapeTrainEvent::Start { steps } => {
                self.finish();
                self.bar = Some(bar(steps, &format!("training {model}")))
            }
            ShapeTrainEvent::Step { loss } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training {model} (loss {loss:.4})"));
                }
            }
            ShapeTrainEvent::Validation(v) => {
                self.line(format!(
                    "  {model} step {}: loss {:.4}, validation MRSE {:.2} px",
                    v.step, v.train_loss, v.val_mrse
                ));
            }
        }
    }

    /// Shows one brain-age training event.
    pub fn age_train(&mut self, model: &str, event: mira_train::AgeTrainEvent) {
        use mira_train::AgeTrainEvent;
        match event {
            AgeTrainEvent::Start { steps } => {
                self.finish();
                self.bar = Some(bar(steps, &format!("training {model}")))
            }
            AgeTrainEvent::Step { loss } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training {model} (loss {loss:.4})"));
                }
            }
            AgeTrainEvent::Validation(v) => {
                let line = format!(
                    "  {model} step {}: loss {:.4}, validation MAE {:.2} y",
                    v.step, v.train_loss, v.val_mae
                );
                self.line(line)
            }
        }
    }

    /// Shows one registration training event.
    pub fn reg_train(&mut self, model: &str, event: mira_train::RegTrainEvent) {
        use mira_train::RegTrainEvent;
        match event {
            RegTrainEvent::Start { steps } => {
                self.finish();
                self.bar = Some(bar(steps, &format!("training {model}")))
            }
            RegTrainEvent::Step { loss } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training {model} (loss {loss:.4})"));
                }
            }
            RegTrainEvent::Validation(v) => {
                let line = format!(
                    "  {model} step {}: loss {:.4}, validation TRE {:.2} px, passing {:.1}%",
                    v.step,
                    v.train_loss,
                    v.val_tre_px,
                    100.0 * v.val_pass
                );
                self.line(line)
            }
        }
    }

    /// Shows one run event.
    pub fn event(&mut self, event: RunEvent) {
        match event {
            RunEvent::Phase(p) => {
                self.finish();
                eprintln!("{p}");
            }
            RunEvent::Train { model, event } => self.train(&model, event),
            RunEvent::RegTrain { model, event } => self.reg_train(&model, event),
            RunEvent::AgeTrain { model, event } => self.age_train(&model, event),
            RunEvent::ShapeTrain { model, event } => self.shape_train(&model, event),
            RunEvent::GeneratorTrain {
                model,
                step,
                steps,
                loss,
            } => {
                if step == 1 {
                    self.finish();
                    self.bar = Some(bar(steps, &format!("training the attacker of {model}")));
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training the attacker of {model} (loss {loss:.4})"));
                }
            }
            RunEvent::CellStart { cell, cases } => {
                self.finish();
                self.bar = Some(bar(cases, &cell));
            }
            RunEvent::CasesDone(n) => {
                if let Some(b) = &self.bar {
                    b.inc(n as u64);
                }
            }
            RunEvent::CellDone { cell } => {
                if self.bar.as_ref().is_some_and(|b| b.is_hidden()) {
                    eprintln!("{cell}: done");
                }
                self.finish()
            }
            RunEvent::CellSkipped { cell } => eprintln!("{cell}: already complete, kept"),
        }
    }
}
