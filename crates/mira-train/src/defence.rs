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
}

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
                epsilon,
                ratio,
                steps,
                rel_step,
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
                Ok(())
            }
        }
    }

    /// Short name for tables: `none`, `distillation(T=50)`, `adversarial(pgd, ε=0.02, 50%)`.
    pub fn describe(&self) -> String {
        match self {
            Defence::None => "none".into(),
            Defence::Distillation { temperature } => format!("distillation(T={temperature})"),
            Defence::Adversarial {
                attack,
                epsilon,
                ratio,
                ..
            } => format!(
                "adversarial({}, ε={epsilon}, {:.0}%)",
                format!("{attack:?}").to_lowercase(),
                ratio * 100.0
            ),
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
