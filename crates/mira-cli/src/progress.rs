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

    /// Shows one training event of any trainer.
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
            TrainEvent::Step { loss } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("training {model} (loss {loss:.4})"));
                }
            }
            TrainEvent::Validation {
                unit,
                step,
                train_loss,
                summary,
            } => self.line(format!(
                "  {model} {unit} {step}: loss {train_loss:.4}, {summary}"
            )),
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
