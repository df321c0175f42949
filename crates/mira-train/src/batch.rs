//! What one training step sees: images (clean or adversarial), targets (hard or soft) and the
//! softmax temperature. The defences differ only here; the loop in `segmentation.rs` is shared.

use burn::prelude::*;
use mira_attack::{Attack, Bounds, Judge, LpBall};
use mira_data::SegSlice;
use mira_nn::{UNet, default_device, images_to_tensor, tensor_to_vec};
use rand::rngs::StdRng;

use crate::adversarial_fast::DiceStop;
use crate::soft_labels::SoftLabels;
use crate::{AdvAttack, Defence, Result, TrainError};

/// One training batch on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBatch {
    /// Images `[B, C, H, W]`, row-major.
    pub images: Vec<f32>,
    /// `[B, C, H, W]`.
    pub shape: [usize; 4],
    /// Soft targets `[B, K, H, W]` (distillation), or `None` for the one-hot labels.
    pub soft_targets: Option<Vec<f32>>,
    /// Softmax temperature of the loss on the training logits (1 in every defence Mira
    /// trains: distillation trains `g = z / T`).
    pub temperature: f32,
    /// Which samples were replaced by adversarial examples.
    pub adversarial: Vec<bool>,
    /// The ε those examples were made with (0 when none).
    pub epsilon: f32,
    /// Gradient passes the inner attack spent, summed over its cases (PGD: steps × cases
    /// without early stopping).
    pub attack_gradients: usize,
}

/// Makes training batches for a defence. For distillation students it holds the teacher (in
/// evaluation mode); a distillation *teacher* is trained with plain batches.
pub struct BatchMaker<'a> {
    defence: &'a Defence,
    /// A distillation student's teacher, with the soft labels it gave.
    teacher: Option<SoftLabels>,
}

impl<'a> BatchMaker<'a> {
    /// Plain batches (clean images, one-hot labels, T = 1) or adversarial ones.
    ///
    /// # Errors
    /// Distillation needs a teacher: use [`BatchMaker::student`].
    pub fn new(defence: &'a Defence) -> Result<Self> {
        if let Defence::Distillation { .. } = defence {
            return Err(TrainError::InvalidConfig {
                field: "defence",
                reason: "distillation batches need the trained teacher".into(),
            });
        }
        Ok(Self {
            defence,
            teacher: None,
        })
    }

    /// Batches of a distillation student: soft labels `softmax(z_teacher / T)` from the
    /// deployed teacher's logits `z_teacher`. The student is trained in the parameterisation
    /// `g = z / T` (see `train_defended`), so the loss on its training logits is at
    /// temperature 1: `CE(softmax(g), soft) = CE(softmax(z / T), soft)`.
    pub fn student(defence: &'a Defence, teacher: &UNet, temperature: f32) -> Self {
        Self {
            defence,
            teacher: Some(SoftLabels::new(teacher, temperature)),
        }
    }

    /// The defence these batches implement.
    pub fn defence(&self) -> &Defence {
        self.defence
    }

    /// Free adversarial training: the ball of `epoch`'s ε and the number of leading rows of
    /// `b` the training step perturbs (marked adversarial in `b`); `None` for the other
    /// defences, a zero ratio or a zero ε.
    ///
    /// # Errors
    /// An invalid ball.
    pub(crate) fn free_rows(
        &self,
        b: &mut TrainBatch,
        epoch: usize,
    ) -> Result<Option<(LpBall<4>, usize)>> {
        let Defence::Adversarial {
            attack: AdvAttack::Free,
            norm,
            ratio,
            ..
        } = *self.defence
        else {
            return Ok(None);
        };
        let rows = b.adversarial.len();
        let n = ((ratio * rows as f32).round() as usize).min(rows);
        let epsilon = self.defence.epsilon_at(epoch);
        if n == 0 || epsilon <= 0.0 {
            return Ok(None);
        }
        let ball = LpBall::new(norm, epsilon, Bounds::default())
            .map_err(|e| TrainError::Data(e.to_string()))?;
        b.adversarial[..n].fill(true);
        b.epsilon = epsilon;
        Ok(Some((ball, n)))
    }

    /// Free adversarial training's step on δ at budget `epsilon`: `rel_step · ε`.
    pub(crate) fn free_step(&self, epsilon: f32) -> f32 {
        match *self.defence {
            Defence::Adversarial { rel_step, .. } => rel_step * epsilon,
            _ => 0.0,
        }
    }

    /// The batch of `items` (labels in `0..classes`) for `model` (current weights, autodiff
    /// device) in `epoch` (1-based).
    ///
    /// # Errors
    /// Items that do not form a batch; attack failures.
    pub fn make(
        &self,
        model: &UNet,
        items: &[&SegSlice],
        classes: usize,
        epoch: usize,
        rng: &mut StdRng,
    ) -> Result<TrainBatch> {
        let dev = default_device();
        let first = items
            .first()
            .ok_or_else(|| TrainError::Data("empty batch".into()))?;
        let shape = [items.len(), first.channels, first.height, first.width];
        let x = images_to_tensor(items, &dev)?;
        let mut images = tensor_to_vec(x.clone());
        let mut adversarial = vec![false; items.len()];
        let mut epsilon = 0.0;
        let mut attack_gradients = 0;
        if let (
            Some(engine),
            Defence::Adversarial {
                norm,
                ratio,
                stop_dice,
                ..
            },
        ) = (self.defence.engine(), self.defence)
        {
            let n_adv = ((*ratio * items.len() as f32).round() as usize).min(items.len());
            epsilon = self.defence.epsilon_at(epoch);
            if n_adv > 0 && epsilon > 0.0 {
                let eval = model.valid();
                let maps: Vec<&[u8]> = items[..n_adv].iter().map(|s| s.labels.as_slice()).collect();
                // The judge's objective is the plain PGD's too (cross-entropy against the
                // labels); without `stop_dice` nothing is judged.
                let judge = DiceStop {
                    model: &eval,
                    truths: maps,
                    classes,
                    size: [shape[2], shape[3]],
                    stop_dice: stop_dice.map_or(0.0, f64::from),
                    last: Default::default(),
                };
                let ball = LpBall::new(*norm, epsilon, Bounds::default())
                    .map_err(|e| TrainError::Data(e.to_string()))?;
                let x0 = images_to_tensor(&items[..n_adv], &dev)?;
                let fail = |e: mira_attack::AttackError| {
                    TrainError::Data(format!("adversarial training: {e}"))
                };
                let adv = if stop_dice.is_some() {
                    let s = engine
                        .perturb_until_broken(&judge, x0, &ball, rng, 1)
                        .map_err(fail)?;
                    attack_gradients += s.gradients;
                    s.adv
                } else {
                    attack_gradients += engine.gradient_evaluations() * n_adv;
                    let rows: Vec<usize> = (0..n_adv).collect();
                    let f = judge.objective(&rows).map_err(fail)?;
                    engine.perturb(f.as_ref(), x0, &ball, rng).map_err(fail)?
                };
                let adv = tensor_to_vec(adv);
                images[..adv.len()].copy_from_slice(&adv);
                adversarial[..n_adv].fill(true);
            }
        }
        let soft_targets = self.teacher.as_ref().map(|t| t.of(items, &images, shape));
        Ok(TrainBatch {
            images,
            shape,
            soft_targets,
            temperature: 1.0,
            adversarial,
            epsilon,
            attack_gradients,
        })
    }
}
