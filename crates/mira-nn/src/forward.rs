//! The one thing an attack needs from a network.

use burn::prelude::Tensor;

/// A differentiable function of one input tensor of rank `DI` to an output of rank `DO`.
///
/// Implemented by every Mira network. Inputs are batched along the first dimension and the
/// network must not mix samples (eval-mode normalisation only), so that a per-sample loss has a
/// per-sample input gradient.
pub trait Forward<const DI: usize, const DO: usize> {
    /// Runs the network.
    fn forward(&self, x: Tensor<DI>) -> Tensor<DO>;
}
