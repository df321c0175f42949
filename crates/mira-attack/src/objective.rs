//! The seam between models and attacks.

use burn::prelude::*;
use mira_nn::Forward;

/// A per-sample scalar function of the input, to be maximised by the adversary.
pub trait Objective<const D: usize> {
    /// Values `[B]` and the gradient of their sum with respect to `x` (shaped like `x`; sample
    /// `i`'s gradient is the gradient of value `i`, since models do not mix samples).
    /// `x` lives on the plain device; the returned tensors too.
    fn value_and_grad(&self, x: Tensor<D>) -> (Tensor<1>, Tensor<D>);
    /// Values only, without building a graph.
    fn value(&self, x: Tensor<D>) -> Tensor<1>;

    /// The attack's progress hook: called by iterative attacks before the gradient of step
    /// `step` of `steps` (0-based; a restart starts again at 0). Objectives whose loss changes
    /// over the iterations (SegPGD's shift from correct to wrong pixels) read it; the default
    /// ignores it, so an objective that is not scheduled is the same function at every step.
    fn schedule(&self, _step: usize, _steps: usize) {}

    /// Whether [`Objective::schedule`] changes the function (default: it does not). An
    /// objective whose loss moves with the steps says so: runs of different lengths then
    /// differ from their first step on, so a longer run cannot continue a shorter one
    /// ([`ProjectedGradient::perturb_continued`](crate::ProjectedGradient::perturb_continued)).
    fn scheduled(&self) -> bool {
        false
    }
}

/// An objective made of a model and a per-sample loss of its output, times the goal's sign.
///
/// Holds an evaluation copy of the model (`Module::valid`: plain device, BatchNorm running
/// statistics, no dropout). For gradients the input alone is tracked on the autodiff device;
/// the plain weights act as constants, so no parameter gradient is ever computed.
pub struct ModelObjective<M, L, const DI: usize, const DO: usize> {
    eval: M,
    loss: L,
    sign: f32,
}

impl<M, L, const DI: usize, const DO: usize> ModelObjective<M, L, DI, DO>
where
    M: Forward<DI, DO> + Module,
    L: Fn(Tensor<DO>) -> Tensor<1>,
{
    /// Binds `model` (any device; copies are made) to `loss`, maximised when `sign = 1`
    /// and minimised when `sign = -1`.
    ///
    pub fn new(model: &M, loss: L, sign: f32) -> Self {
        Self {
            eval: model.valid(),
            loss,
            sign,
        }
    }
}

impl<M, L, const DI: usize, const DO: usize> Objective<DI> for ModelObjective<M, L, DI, DO>
where
    M: Forward<DI, DO> + Module,
    L: Fn(Tensor<DO>) -> Tensor<1>,
{
    fn value_and_grad(&self, x: Tensor<DI>) -> (Tensor<1>, Tensor<DI>) {
        let sign = self.sign;
        let loss = |y: Tensor<DO>| (self.loss)(y) * sign;
        if let Some(vg) = self.eval.attack_value_and_grad(x.clone(), &loss) {
            return vg;
        }
        let x = Tensor::<DI>::from_data(x.into_data(), &mira_nn::autodiff_device()).require_grad();
        let v = (self.loss)(self.eval.forward(x.clone())) * self.sign;
        let grads = v.clone().sum().backward();
        let g = x.grad(&grads).expect("the input requires a gradient");
        (v.inner(), g)
    }

    fn value(&self, x: Tensor<DI>) -> Tensor<1> {
        let x = x.inner();
        let y = match self.eval.attack_forward(x.clone()) {
            Some(y) => y,
            None => self.eval.forward(x),
        };
        (self.loss)(y) * self.sign
    }
}
