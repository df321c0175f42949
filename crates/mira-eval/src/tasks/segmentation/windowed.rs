//! Sliding-window inference of 3D segmenters (ONNX graphs and Mira's 3D UNet), and what
//! attacks differentiate.
//!
//! With a window (`roi`), a 3D network predicts a volume as MONAI's `sliding_window_inference`
//! does (`mira_nn::sliding_window`): that blended prediction is what Mira evaluates, always.
//! What the attack differentiates is the `window_attack`:
//! - `blended`: the same blended prediction, its gradient computed in two passes (all windows
//!   forward without a graph, the loss's gradient on the blended logits, then one window at a
//!   time backward), so memory holds one window's graph;
//! - `tiles`: the published protocol (ROG, VAFA): the volume cut into non-overlapping tiles of
//!   the window's size (the last tile of an axis moved back to end at the border, as the
//!   sliding window's last one), each predicted on its own, so the attack never sees the
//!   blending it is evaluated with.

use burn::prelude::*;
use mira_nn::{Blend, NnError, SlidingWindow, WindowPlan};
use serde::{Deserialize, Serialize};

use crate::tasks::segmentation::seg_net::GraphSeg;
use crate::{EvalError, Result};

/// What an attack on a windowed predictor differentiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowAttack {
    /// The blended prediction, as deployed.
    #[default]
    Blended,
    /// Each non-overlapping tile on its own (the published protocol).
    Tiles,
    /// An experiment's choice: one cell of each, to report the gap (a predictor given `Both`
    /// differentiates the blend).
    Both,
}

impl WindowAttack {
    /// The modes an experiment runs: both for `Both`.
    pub fn modes(self) -> Vec<WindowAttack> {
        match self {
            WindowAttack::Both => vec![WindowAttack::Blended, WindowAttack::Tiles],
            m => vec![m],
        }
    }
}

/// A sliding window and what attacks see through it.
#[derive(Debug, Clone, PartialEq)]
pub struct Windowing {
    /// The inferer.
    pub window: SlidingWindow,
    /// What the attack differentiates.
    pub attack: WindowAttack,
}

impl Windowing {
    fn plan(&self, dims: [usize; 3]) -> WindowPlan {
        self.window.plan(dims)
    }

    fn attack_plan(&self, dims: [usize; 3]) -> WindowPlan {
        match self.attack {
            WindowAttack::Blended | WindowAttack::Both => self.window.plan(dims),
            WindowAttack::Tiles => SlidingWindow {
                overlap: 0.0,
                blend: Blend::Constant,
                ..self.window.clone()
            }
            .plan(dims),
        }
    }
}

impl GraphSeg {
    /// The graph on windows `[n, C, roi]`.
    fn window_fn(&self) -> impl Fn(Tensor<5>) -> std::result::Result<Tensor<5>, NnError> + '_ {
        |w: Tensor<5>| {
            self.net
                .forward5(w)
                .map_err(|e| NnError::Model(e.to_string()))
        }
    }

    /// `x` `[B, C, D·H, W]` as `[B, C, D, H, W]`, with `[D, H, W]`.
    pub(crate) fn volume(&self, x: Tensor<4>) -> Result<(Tensor<5>, [usize; 3])> {
        let [b, c, dh, w] = x.dims();
        let d = self.depth;
        if d == 0 || dh % d != 0 {
            return Err(EvalError::invalid(
                "model",
                format!("a 3D model fed {dh} rows as volumes of depth {d}"),
            ));
        }
        Ok((x.reshape([b, c, d, dh / d, w]), [d, dh / d, w]))
    }

    /// The blended (or, for the attack, tiled) output of a windowed 3D graph, as tall slices.
    pub(crate) fn windowed_output(
        &self,
        win: &Windowing,
        x: Tensor<4>,
        for_attack: bool,
    ) -> Result<Tensor<4>> {
        let (x5, dims) = self.volume(x)?;
        let plan = if for_attack {
            win.attack_plan(dims)
        } else {
            win.plan(dims)
        };
        // A window the graph refuses is the user's `roi` (exit 2), named as such.
        let y = plan
            .forward(x5, &self.window_fn())
            .map_err(|e| EvalError::invalid("roi", format!("a window of the model: {e}")))?;
        let [b, k, d, h, w] = y.dims();
        Ok(y.reshape([b, k, d * h, w]))
    }

    /// The attack's per-sample loss and its input gradient through the windows, in two passes
    /// (`WindowPlan::value_and_vjp`).
    pub(crate) fn windowed_value_and_grad(
        &self,
        win: &Windowing,
        x: Tensor<4>,
        loss: &dyn Fn(Tensor<4>) -> Tensor<1>,
    ) -> Result<(Tensor<1>, Tensor<4>)> {
        let shape = x.dims();
        let (x5, dims) = self.volume(x)?;
        let plan = win.attack_plan(dims);
        let f = self.window_fn();
        let mut outer = |y: Tensor<5>| {
            let [b, k, d, h, w] = y.dims();
            let ya = Tensor::<4>::from_data(
                y.reshape([b, k, d * h, w]).into_data(),
                &mira_nn::autodiff_device(),
            )
            .require_grad();
            let v = loss(self.to_logits(ya.clone()));
            let grads = v.clone().sum().backward();
            let g = ya
                .grad(&grads)
                .ok_or_else(|| NnError::Model("the blended logits have no gradient".into()))?;
            Ok((v.inner(), g.reshape([b, k, d, h, w])))
        };
        let (v, gx) = plan.value_and_vjp(x5, &f, &mut outer)?;
        Ok((v, gx.reshape(shape)))
    }
}
