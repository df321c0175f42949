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

    /// The hook of networks that an attack must differentiate another way than by autodiff
    /// through [`Forward::forward`] (a sliding-window predictor, whose graph over a whole
    /// volume would not fit in memory; a predictor attacked through another one, as tiles):
    /// the per-sample `loss` of the output an attack sees, and its input gradient, for `x` on
    /// the plain device. `None` (the default): autodiff through `forward`.
    #[allow(clippy::type_complexity)]
    fn attack_value_and_grad(
        &self,
        _x: Tensor<DI>,
        _loss: &dyn Fn(Tensor<DO>) -> Tensor<1>,
    ) -> Option<(Tensor<1>, Tensor<DI>)> {
        None
    }

    /// The output an attack sees, where it is not [`Forward::forward`]'s (see
    /// [`Forward::attack_value_and_grad`]). `None` (the default): `forward`.
    fn attack_forward(&self, _x: Tensor<DI>) -> Option<Tensor<DO>> {
        None
    }
}
