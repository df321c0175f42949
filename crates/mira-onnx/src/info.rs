//! What `mira info FILE.onnx` shows: inputs and outputs, opset, producer, parameters, and the
//! operators with whether Mira runs each.

use std::collections::BTreeMap;

use crate::model::{OnnxModel, ValueInfo};
use crate::ops::is_supported;

/// A model's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Inputs as `name [d0, d1, ...]` (`?` for symbolic dimensions).
    pub inputs: Vec<String>,
    /// Outputs, likewise.
    pub outputs: Vec<String>,
    /// Default-domain opset.
    pub opset: i64,
    /// Producer name and version.
    pub producer: String,
    /// Values in float initialisers.
    pub parameters: usize,
    /// Operators used (`domain::op` outside the default domain), with their node counts and
    /// whether Mira runs them.
    pub operators: Vec<(String, usize, bool)>,
    /// The activation that makes the first output (Softmax or Sigmoid, with its axis), if any:
    /// the model outputs probabilities.
    pub output_activation: Option<(String, i64)>,
}

impl ModelInfo {
    /// Whether every operator is supported.
    pub fn all_supported(&self) -> bool {
        self.operators.iter().all(|(_, _, ok)| *ok)
    }
}

fn describe(v: &ValueInfo) -> String {
    let dims: Vec<String> = v
        .shape
        .iter()
        .map(|d| d.map_or("?".into(), |d| d.to_string()))
        .collect();
    format!("{} [{}]", v.name, dims.join(", "))
}

/// The summary of `model`.
pub fn model_info(model: &OnnxModel) -> ModelInfo {
    let mut ops: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    for n in &model.nodes {
        let default = n.domain.is_empty() || n.domain == "ai.onnx";
        let name = if default {
            n.op_type.clone()
        } else {
            format!("{}::{}", n.domain, n.op_type)
        };
        let e = ops
            .entry(name)
            .or_insert((0, default && is_supported(&n.op_type)));
        e.0 += 1;
    }
    ModelInfo {
        inputs: model.inputs.iter().map(describe).collect(),
        outputs: model.outputs.iter().map(describe).collect(),
        opset: model.opset,
        producer: model.producer.clone(),
        parameters: model.parameter_count(),
        operators: ops.into_iter().map(|(k, (n, ok))| (k, n, ok)).collect(),
        output_activation: model.output_activation(),
    }
}
