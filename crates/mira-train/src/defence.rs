//! Training-time defences, as written in experiment files: what a training batch contains.
//!
//! - `none`: clean images, one-hot labels.
//! - `distillation` (Papernot et al. 2016, "Distillation as a defense to adversarial
//!   perturbations against deep neural networks", adapted per pixel): a teacher is trained at
//!   softmax temperature `T` on the labels, then a student of the same architecture on the
//!   teacher's per-pixel soft labels `softmax(z_teacher / T)`, also at `T`; the student is
//!   deployed at `T = 1`. Both are trained in the parameterisation `g = z / T` and deployed
//!   with the head scaled by `T` (same objective, stable optimisation). Caveat: its logits are about `T` times larger than a normal model's,
//!   so a loss on the raw logits saturates and gradient attacks can stall (gradient masking,
//!   Carlini & Wagner 2016). Evaluate it also with the attack loss on logits divided by `T`
//!   (`temperature = T` on the attack).
//! - `adversarial` (Goodfellow et al. 2015 mixing; Madry et al. 2018 with `ratio = 1`): each
//!   batch replaces a fraction `ratio` of its images by adversarial versions made on the fly by
//!   FGSM or PGD against the current weights, with ε ramped linearly from 0 over
//!   `warmup_epochs`.
//!
//! Two cheaper variants of adversarial training, opt-in (`adversarial_fast.rs` holds their
//! machinery):
//! - `attack = "free"` (Shafahi et al. 2019, "Adversarial training for free!"): each batch is
//!   replayed `replays` times; every replay's one backward pass gives the weight gradient (one
//!   optimiser step) *and* the input gradient, which moves the perturbation δ by
//!   `rel_step · ε` (steepest ascent, projected on the ball). δ carries over from batch to batch
//!   as in the paper's Algorithm 1. The number of optimiser steps is that of plain training, so
//!   the network sees each slice `epochs / replays` times, at the cost of plain training.
//! - `stop_dice` with PGD (early-stopped inner attacks, as friendly adversarial training,
//!   Zhang et al. 2020, with τ = 0): a case leaves the inner attack as soon as the mean
//!   foreground Dice of the current weights' prediction on it falls below `stop_dice`, so cases
//!   broken early cost fewer gradient passes and train on the least adversarial example that
//!   breaks them.

use mira_attack::{Norm, PgdConfig};
use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// The attack that makes adversarial-training examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvAttack {
    /// One signed-gradient step of size ε.
    Fgsm,
    /// PGD with random start (`steps`, `rel_step`).
    Pgd,
    /// Free adversarial training: `replays` replays of each batch, δ moved by every replay's
    /// input gradient (`rel_step · ε`; the paper's step is ε, `rel_step = 1`).
    Free,
}

/// The work of an adversarial example's input-gradient pass relative to a training step, for
/// the training-cost estimates that order trainings ([`Defence::relative_cost`], shape
/// regression's adversarial training): S1's UNets trained 1.26x as long with FGSM and 1.79x
/// with 3-step PGD (half of each batch adversarial) as plain.
pub const INPUT_GRADIENT_COST: f64 = 0.6;

/// A training-time defence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Defence {
    /// Plain training.
    #[default]
    None,
    /// Defensive distillation at softmax temperature `temperature`.
    Distillation {
        /// Softmax temperature of teacher and student training (typical 20–100).
        temperature: f32,
    },
    /// Adversarial training by data augmentation.
    Adversarial {
        /// FGSM or PGD.
        attack: AdvAttack,
        /// Budget in input units (after warm-up).
        epsilon: f32,
        /// Threat-model norm.
        #[serde(default = "default_norm")]
        norm: Norm,
        /// Fraction of each batch replaced by adversarial examples (1 = Madry-style).
        #[serde(default = "default_ratio")]
        ratio: f32,
        /// Epochs over which ε ramps linearly from ε/warmup to ε (0 = full ε from the start).
        #[serde(default)]
        warmup_epochs: usize,
        /// PGD steps.
        #[serde(default = "default_steps")]
        steps: usize,
        /// PGD step size relative to ε.
        #[serde(default = "default_rel_step")]
        rel_step: f32,
        /// Free adversarial training: replays of each batch.
        #[serde(
            default = "default_replays",
            skip_serializing_if = "is_default_replays"
        )]
        replays: usize,
        /// PGD: a case's inner attack stops once its mean foreground Dice is below this
        /// (`None`: every case runs every step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_dice: Option<f32>,
    },
}

fn default_norm() -> Norm {
    Norm::Linf
}
fn default_ratio() -> f32 {
    0.5
}
fn default_steps() -> usize {
    5
}
fn default_rel_step() -> f32 {
    0.4
}
fn default_replays() -> usize {
    4
}
fn is_default_replays(r: &usize) -> bool {
    *r == default_replays()
}

impl Defence {
    /// Checks ranges.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(TrainError::InvalidConfig { field, reason });
        match *self {
            Defence::None => Ok(()),
            Defence::Distillation { temperature } => {
                if !(temperature.is_finite() && temperature > 0.0 && temperature <= 1000.0) {
                    return bad(
                        "defence.temperature",
                        format!("{temperature} must be in (0, 1000] (typical 20-100)"),
                    );
                }
                Ok(())
            }
            Defence::Adversarial {
                attack,
                epsilon,
                ratio,
                steps,
                rel_step,
                replays,
                stop_dice,
                ..
            } => {
                if !(epsilon.is_finite() && epsilon > 0.0 && epsilon <= 1.0) {
                    return bad("defence.epsilon", format!("{epsilon} must be in (0, 1]"));
                }
                if !(0.0..=1.0).contains(&ratio) {
                    return bad("defence.ratio", format!("{ratio} must be in [0, 1]"));
                }
                if !(1..=1000).contains(&steps) {
                    return bad("defence.steps", format!("{steps} must be in 1..=1000"));
                }
                if !(rel_step.is_finite() && rel_step > 0.0 && rel_step <= 2.0) {
                    return bad("defence.rel_step", format!("{rel_step} must be in (0, 2]"));
                }
                if !(1..=64).contains(&replays) {
                    return bad("defence.replays", format!("{replays} must be in 1..=64"));
                }
                if let Some(d) = stop_dice {
                    if attack != AdvAttack::Pgd {
                        return bad(
                            "defence.stop_dice",
                            "early stopping applies to the PGD inner attack only".into(),
                        );
                    }
                    if !(d.is_finite() && d > 0.0 && d <= 1.0) {
                        return bad("defence.stop_dice", format!("{d} must be in (0, 1]"));
                    }
                }
                Ok(())
            }
        }
    }

    /// Short name for tables: `none`, `distillation(T=50)`, `adversarial(pgd, ε=0.02, 50%)`,
    /// `adversarial(free×4, ε=0.04, 50%)`, `adversarial(pgd stop@0.5, ε=0.04, 50%)`.
    pub fn describe(&self) -> String {
        match self {
            Defence::None => "none".into(),
            Defence::Distillation { temperature } => format!("distillation(T={temperature})"),
            Defence::Adversarial {
                attack,
                epsilon,
                ratio,
                replays,
                stop_dice,
                ..
            } => {
                let mut a = format!("{attack:?}").to_lowercase();
                if *attack == AdvAttack::Free {
                    a += &format!("×{replays}");
                }
                if let Some(d) = stop_dice {
                    a += &format!(" stop@{d}");
                }
                format!("adversarial({a}, ε={epsilon}, {:.0}%)", ratio * 100.0)
            }
        }
    }

    /// Replays of each training batch: `replays` for free adversarial training, else 1.
    pub fn replays(&self) -> usize {
        match *self {
            Defence::Adversarial {
                attack: AdvAttack::Free,
                replays,
                ..
            } => replays,
            _ => 1,
        }
    }

    /// An estimate of a training's work under this defence relative to plain training, for
    /// scheduling only: distillation trains twice (teacher, student); adversarial training adds
    /// per step `ratio · steps` input-gradient passes of [`INPUT_GRADIENT_COST`] each; free
    /// training costs what plain training does.
    pub fn relative_cost(&self) -> f64 {
        match *self {
            Defence::None => 1.0,
            Defence::Distillation { .. } => 2.0,
            Defence::Adversarial {
                attack: AdvAttack::Free,
                ..
            } => 1.0,
            Defence::Adversarial {
                attack,
                ratio,
                steps,
                ..
            } => {
                let steps = if attack == AdvAttack::Fgsm { 1 } else { steps };
                1.0 + INPUT_GRADIENT_COST * f64::from(ratio) * steps as f64
            }
        }
    }

    /// ε used in `epoch` (1-based) under the warm-up ramp.
    pub fn epsilon_at(&self, epoch: usize) -> f32 {
        match *self {
            Defence::Adversarial {
                epsilon,
                warmup_epochs,
                ..
            } if warmup_epochs > 0 && epoch < warmup_epochs => {
                epsilon * epoch as f32 / warmup_epochs as f32
            }
            Defence::Adversarial { epsilon, .. } => epsilon,
            _ => 0.0,
        }
    }

    /// The engine settings of the adversarial-training attack.
    pub(crate) fn engine(&self) -> Option<mira_attack::ProjectedGradient> {
        match *self {
            Defence::Adversarial {
                attack: AdvAttack::Fgsm,
                ..
            } => Some(mira_attack::fgsm()),
            Defence::Adversarial {
                attack: AdvAttack::Free,
                ..
            } => None,
            Defence::Adversarial {
                attack: AdvAttack::Pgd,
                steps,
                rel_step,
                ..
            } => Some(
                PgdConfig {
                    steps,
                    rel_step,
                    restarts: 1,
                }
                .engine(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_field_and_warmup_ramps() {
        let d = Defence::Distillation { temperature: 0.0 };
        assert!(
            d.validate()
                .unwrap_err()
                .to_string()
                .contains("temperature")
        );
        let adv = |ratio: f32| Defence::Adversarial {
            attack: AdvAttack::Pgd,
            epsilon: 0.04,
            norm: Norm::Linf,
            ratio,
            warmup_epochs: 4,
            steps: 5,
            rel_step: 0.4,
            replays: 4,
            stop_dice: None,
        };
        assert!(
            adv(1.5)
                .validate()
                .unwrap_err()
                .to_string()
                .contains("ratio")
        );
        let a = adv(0.5);
        a.validate().unwrap();
        let eps: Vec<f32> = (1..=6).map(|e| a.epsilon_at(e)).collect();
        assert_eq!(eps, vec![0.01, 0.02, 0.03, 0.04, 0.04, 0.04]);
        assert_eq!(a.describe(), "adversarial(pgd, ε=0.04, 50%)");
    }

    #[test]
    fn parses_from_toml() {
        let d: Defence =
            toml::from_str("kind = \"adversarial\"\nattack = \"fgsm\"\nepsilon = 0.02").unwrap();
        assert_eq!(d.epsilon_at(1), 0.02);
        let e = toml::from_str::<Defence>("kind = \"distillation\"\ntemperature = 50\nx = 1");
        assert!(e.is_err(), "unknown keys are refused");
    }
}
