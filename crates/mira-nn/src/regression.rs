//! Regression tasks (age in years, rigid parameters, contour points): per-sample losses.

use burn::prelude::*;

/// Per-sample mean squared error.
///
/// # Shapes
/// `pred, target: [B, P] -> [B]`.
pub fn mse(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let [b, _] = pred.dims();
    (pred - target).powi_scalar(2).mean_dim(1).reshape([b])
}
