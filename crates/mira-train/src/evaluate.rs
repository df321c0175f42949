//! Predictions and validation Dice in evaluation mode.

use burn::prelude::*;
use mira_data::SegDataset;
use mira_nn::{UNet, argmax_labels, default_device, images_to_tensor, segmentation::dice_scores};
use mira_stats::mean_defined;

use crate::Result;

/// Predicted label maps of `model` (evaluation mode) for every item, in batches.
///
/// # Errors
/// Items that do not form a batch.
pub fn predict_labels(model: &UNet, data: &SegDataset, batch_size: usize) -> Result<Vec<Vec<u8>>> {
    let eval = model.valid();
    let dev = default_device();
    let mut out = Vec::with_capacity(data.items.len());
    for chunk in data.items.chunks(batch_size.max(1)) {
        let refs: Vec<_> = chunk.iter().collect();
        out.extend(argmax_labels(eval.logits(images_to_tensor(&refs, &dev)?)));
    }
    Ok(out)
}

/// Mean Dice per foreground label over the dataset (undefined cases skipped), and the mean of
/// those means.
///
/// # Errors
/// As [`predict_labels`].
pub fn validation_dice(
    model: &UNet,
    data: &SegDataset,
    batch_size: usize,
) -> Result<(Vec<Option<f64>>, Option<f64>)> {
    let pred = predict_labels(model, data, batch_size)?;
    let truth: Vec<&[u8]> = data.items.iter().map(|s| s.labels.as_slice()).collect();
    let scores = dice_scores(&pred, &truth, data.n_labels())?;
    let per_label: Vec<Option<f64>> = (0..data.n_labels() - 1)
        .map(|l| mean_defined(&scores.iter().map(|s| s[l]).collect::<Vec<_>>()))
        .collect();
    let overall = mean_defined(&per_label);
    Ok((per_label, overall))
}
