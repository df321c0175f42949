//! ONNX graphs in the regression tasks (registration, brain age, shape): a graph with the
//! task's contract, `[B, ...]` in and `[B, K]` out (shape: also the mask and reconstruction
//! heads), standing where the task's own network stands.
//!
//! [`onnx_or!`] declares a task's model type, its own network or a graph, with burn's
//! `Module` and Mira's `Forward`; the task's cells, judges and probes take that type. A graph
//! is checked when it is loaded: its declared input against the task's, and one forward pass
//! on zeros of the task's shape, so a shape its operators refuse is an error naming the model
//! entry before any cell runs. Later forward passes on that shape cannot fail (the interpreter
//! is deterministic in shapes); should one fail anyway it gives NaN outputs, which the attack
//! engine refuses as a non-finite objective, never a panic.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

use crate::{EvalError, Result};

/// An ONNX graph mapping `[B, ...]` to outputs `[B, ...]` of known shapes; the first is the
/// task's prediction `[B, K]`.
#[derive(burn::module::Module, Debug)]
pub struct OnnxGraph {
    #[module(skip)]
    net: Arc<OnnxNet>,
    /// Each output's shape without the batch.
    #[module(skip)]
    outputs: Vec<Vec<usize>>,
}

impl OnnxGraph {
    /// Loads `path` for inputs of shape `input` (batch first) and one output of `outputs`
    /// values per sample, and runs it once on zeros of that shape. `field` names the entry in
    /// errors.
    ///
    /// # Errors
    /// An unreadable file, unsupported operators, or a contract that does not fit.
    pub fn load(path: &Path, input: &[usize], outputs: usize, field: &str) -> Result<Self> {
        Self::load_heads(path, input, &[vec![outputs]], field)
    }

    /// As [`OnnxGraph::load`], for a graph whose first outputs have the shapes `outputs`
    /// (without the batch), in order.
    ///
    /// # Errors
    /// As [`OnnxGraph::load`].
    pub fn load_heads(
        path: &Path,
        input: &[usize],
        outputs: &[Vec<usize>],
        field: &str,
    ) -> Result<Self> {
        let invalid = |reason: String| {
            EvalError::invalid(field.to_string(), format!("{}: {reason}", path.display()))
        };
        let model = OnnxModel::from_file(path).map_err(|e| invalid(e.to_string()))?;
        let net =
            OnnxNet::new(model, &mira_nn::default_device()).map_err(|e| invalid(e.to_string()))?;
        net.check_input(input)
            .map_err(|e| invalid(format!("{e} (this task gives {input:?})")))?;
        let n: usize = input.iter().product();
        let x = FTensor::from_host(&vec![0.0; n], input, &mira_nn::default_device())?;
        let ys = net.run_all(x).map_err(|e| invalid(e.to_string()))?;
        let want: Vec<Vec<usize>> = outputs
            .iter()
            .map(|o| std::iter::once(input[0]).chain(o.iter().copied()).collect())
            .collect();
        let got: Vec<Vec<usize>> = ys.iter().take(want.len()).map(FTensor::dims).collect();
        if got != want {
            return Err(invalid(format!(
                "the model gives {got:?}; this task needs {want:?} (B = {})",
                input[0]
            )));
        }
        Ok(Self {
            net: Arc::new(net),
            outputs: outputs.to_vec(),
        })
    }

    /// Every output of the contract on `x`, NaN where the graph refuses it.
    pub fn heads_any<const D: usize>(&self, x: Tensor<D>) -> Vec<FTensor> {
        let b = x.dims()[0];
        let dev = x.device();
        let nan = || -> Vec<FTensor> {
            self.outputs
                .iter()
                .filter_map(|o| {
                    let dims: Vec<usize> = std::iter::once(b).chain(o.iter().copied()).collect();
                    let n: usize = dims.iter().product();
                    FTensor::from_host(&vec![f32::NAN; n], &dims, &dev).ok()
                })
                .collect()
        };
        match FTensor::of(x).and_then(|x| self.net.run_all(x)) {
            Ok(mut ys) if ys.len() >= self.outputs.len() => {
                ys.truncate(self.outputs.len());
                ys
            }
            _ => nan(),
        }
    }

    /// The graph's output on `x`, NaN where the graph refuses it (see the module docs).
    pub fn forward_any<const D: usize>(&self, x: Tensor<D>) -> Tensor<2> {
        let b = x.dims()[0];
        let dev = x.device();
        let k = self.outputs.first().map_or(1, |o| o.iter().product());
        self.net
            .forward_as::<D, 2>(x)
            .unwrap_or_else(|_| Tensor::full([b, k], f32::NAN, &dev))
    }
}

/// Declares `$name`, a task model that is its own network `$own` (`Forward<$di, 2>`) or an
/// [`OnnxGraph`], with `Module` and `Forward<$di, 2>`.
#[macro_export]
#[doc(hidden)]
macro_rules! onnx_or {
    ($(#[$doc:meta])* $name:ident, $own:ty, $di:literal) => {
        $(#[$doc])*
        #[derive(burn::module::Module, Debug)]
        #[allow(clippy::large_enum_variant)] // a handful per run; boxing buys nothing
        pub enum $name {
            /// Mira's own network.
            Own($own),
            /// An ONNX graph with the same contract.
            Onnx($crate::onnx_graph::OnnxGraph),
        }

        impl mira_nn::Forward<$di, 2> for $name {
            fn forward(&self, x: burn::prelude::Tensor<$di>) -> burn::prelude::Tensor<2> {
                match self {
                    $name::Own(n) => n.forward(x),
                    $name::Onnx(g) => g.forward_any(x),
                }
            }
        }
    };
}
