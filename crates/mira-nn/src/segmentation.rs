//! Semantic segmentation: per-sample losses on logits and Dice scores on label maps.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use mira_stats::{DiceOptions, dice_per_label};

use crate::{NnError, Result};

/// Per-sample pixel-wise cross-entropy between logits and (one-hot or soft) targets.
///
/// `temperature` divides the logits first (1 for ordinary training and attacks; `T` for
/// defensive distillation).
///
/// # Shapes
/// `logits, target: [B, K, H, W] -> [B]` (mean over pixels).
pub fn cross_entropy(logits: Tensor<4>, target: Tensor<4>, temperature: f32) -> Tensor<1> {
    let [b, k, h, w] = logits.dims();
    let logp = log_softmax(logits / temperature, 1);
    (logp * target)
        .reshape([b, k * h * w])
        .sum_dim(1)
        .reshape([b])
        .neg()
        / (h * w) as f32
}

/// Per-sample soft Dice loss `1 - mean_k (2 Σ p t + s) / (Σ p + Σ t + s)` over the foreground
/// classes `1..K`, with smoothing `s = 1`.
///
/// # Shapes
/// `logits, target: [B, K, H, W] -> [B]`.
pub fn soft_dice_loss(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let [b, k, h, w] = logits.dims();
    let p = softmax(logits, 1)
        .slice(s![.., 1..k])
        .reshape([b, k - 1, h * w]);
    let t = target.slice(s![.., 1..k]).reshape([b, k - 1, h * w]);
    let inter = (p.clone() * t.clone()).sum_dim(2);
    let denom = p.sum_dim(2) + t.sum_dim(2);
    let dice = (inter * 2.0 + 1.0) / (denom + 1.0);
    dice.reshape([b, k - 1]).mean_dim(1).reshape([b]).neg() + 1.0
}

/// Dice per foreground label for each sample of a batch.
///
/// # Errors
/// Mismatched sizes or labels outside `0..n_labels`.
pub fn dice_scores(
    pred: &[Vec<u8>],
    truth: &[&[u8]],
    n_labels: usize,
) -> Result<Vec<Vec<Option<f64>>>> {
    if pred.len() != truth.len() {
        return Err(NnError::Shape(format!(
            "{} predictions for {} truths",
            pred.len(),
            truth.len()
        )));
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| {
            dice_per_label(p, t, DiceOptions::new(n_labels))
                .map_err(|e| NnError::Shape(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_device, one_hot};

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let dev = default_device();
        // One pixel, two classes, logits (0, ln 3): softmax = (1/4, 3/4). Target class 1:
        // CE = -ln(3/4); target class 0: -ln(1/4).
        let logits = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 3f32.ln()], [2, 2, 1, 1]),
            &dev,
        );
        let target = one_hot(&[&[1u8][..], &[0u8][..]], 2, 1, 1, &dev).unwrap();
        let ce = crate::tensor_to_vec(cross_entropy(logits, target, 1.0));
        assert!((ce[0] - 0.75f32.ln().abs()).abs() < 1e-6);
        assert!((ce[1] - 0.25f32.ln().abs()).abs() < 1e-6);
    }

    #[test]
    fn soft_dice_is_zero_for_confident_correct_logits() {
        let dev = default_device();
        let labels = [0u8, 1, 1, 2];
        let target = one_hot(&[&labels[..]], 3, 2, 2, &dev).unwrap();
        let loss = crate::tensor_to_vec(soft_dice_loss(target.clone() * 50.0, target));
        assert!(loss[0].abs() < 1e-4, "{loss:?}");
    }
}
