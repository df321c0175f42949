//! Per-volume metrics of 3D segmentation: HD95 in mm per label and label volumes in ml.

/// Per foreground class, the label volumes (ml) of a volume's label map.
pub(crate) fn volumes_ml(labels: &[u8], spacing: [f64; 3], classes: usize) -> Vec<f64> {
    let voxel_ml = spacing.iter().product::<f64>() / 1000.0;
    (1..classes)
        .map(|c| labels.iter().filter(|&&v| usize::from(v) == c).count() as f64 * voxel_ml)
        .collect()
}

/// HD95 (mm, MONAI's semantics) of every foreground class of a volume's prediction against its
/// reference, `None` where either mask is empty.
pub(crate) fn hd95_per_label(
    pred: &[u8],
    truth: &[u8],
    dims: [usize; 3],
    spacing: [f64; 3],
    classes: usize,
) -> Vec<Option<f64>> {
    (1..classes)
        .map(|c| {
            let m = |l: &[u8]| {
                l.iter()
                    .map(|&v| usize::from(v) == c)
                    .collect::<Vec<bool>>()
            };
            let d = mira_stats::hausdorff_distance(&m(pred), &m(truth), dims, spacing, Some(95.0));
            d.is_finite().then_some(d)
        })
        .collect()
}
