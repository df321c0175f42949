//! The interpreter: a model's nodes run in order on burn tensors.

use std::collections::HashMap;

use burn::prelude::*;

use crate::error::{OnnxError, Result};
use crate::model::OnnxModel;
use crate::ops::{self, Ctx, is_supported};
use crate::value::{FTensor, Value};

/// How an error caught as a panic inside an operator starts.
pub const INTERNAL: &str = "internal error (inputs this operator does not check)";

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    let text = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An ONNX model ready to run: its graph checked against the supported operators and its
/// initialisers placed on a device once.
///
/// The float input may live on the autodiff device while the weights stay on the plain one:
/// they then act as constants and `backward()` gives the input gradient only.
#[derive(Debug)]
pub struct OnnxNet {
    model: OnnxModel,
    weights: HashMap<String, Value>,
}

impl OnnxNet {
    /// Prepares `model` on `device`.
    ///
    /// # Errors
    /// [`OnnxError::Unsupported`] naming the first unsupported operator, its node and the
    /// opset; a model without exactly one float input; initialisers of rank above 6.
    pub fn new(model: OnnxModel, device: &Device) -> Result<Self> {
        if let Some(n) = model
            .nodes
            .iter()
            .find(|n| !(n.domain.is_empty() || n.domain == "ai.onnx") || !is_supported(&n.op_type))
        {
            return Err(OnnxError::Unsupported {
                op: n.op_type.clone(),
                node: n.name.clone(),
                opset: model.opset,
                reason: if n.domain.is_empty() || n.domain == "ai.onnx" {
                    "not implemented in Mira (`mira info` lists the supported operators)".into()
                } else {
                    format!("domain `{}`", n.domain)
                },
            });
        }
        if model.opset != 0 && !(7..=22).contains(&model.opset) {
            return Err(OnnxError::Unsupported {
                op: "opset".into(),
                node: "model".into(),
                opset: model.opset,
                reason: "opsets 7 to 22 are read".into(),
            });
        }
        match model.inputs.as_slice() {
            [one] if one.elem_type == 1 || one.elem_type == 0 => {}
            [one] => {
                return Err(OnnxError::Input(format!(
                    "input `{}` has element type {}, not float",
                    one.name, one.elem_type
                )));
            }
            more => {
                return Err(OnnxError::Input(format!(
                    "the model has {} inputs; Mira runs models of one image input",
                    more.len()
                )));
            }
        }
        let weights = model
            .initializers
            .iter()
            .map(|(k, t)| Ok((k.clone(), Value::from_host(t, device)?)))
            .collect::<Result<_>>()?;
        Ok(Self { model, weights })
    }

    /// The model.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// Checks `dims` against the declared input shape (symbolic dimensions accept any size).
    ///
    /// # Errors
    /// A different rank or a fixed dimension of another size.
    pub fn check_input(&self, dims: &[usize]) -> Result<()> {
        let decl = &self.model.inputs[0];
        if decl.shape.is_empty() {
            return Ok(());
        }
        let fits = decl.shape.len() == dims.len()
            && decl
                .shape
                .iter()
                .zip(dims)
                .all(|(d, &x)| d.is_none_or(|d| d == x));
        if fits {
            Ok(())
        } else {
            let want: Vec<String> = decl
                .shape
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            Err(OnnxError::Input(format!(
                "`{}` expects [{}], got {dims:?}",
                decl.name,
                want.join(", ")
            )))
        }
    }

    /// Runs the graph on `x` and returns its first output.
    ///
    /// # Errors
    /// An input that does not fit the declared shape, or a node whose inputs do not fit it.
    pub fn run(&self, x: FTensor) -> Result<FTensor> {
        self.run_outputs(x, 1)?
            .pop()
            .ok_or_else(|| OnnxError::Input("the model declares no output".into()))
    }

    /// Runs the graph on `x` and returns every declared output, in order.
    ///
    /// # Errors
    /// As [`OnnxNet::run`], or an output that is not a float tensor.
    pub fn run_all(&self, x: FTensor) -> Result<Vec<FTensor>> {
        self.run_outputs(x, self.model.outputs.len())
    }

    /// The first `n` declared outputs on `x`.
    fn run_outputs(&self, x: FTensor, n: usize) -> Result<Vec<FTensor>> {
        self.check_input(&x.dims())?;
        let device = crate::value::with_rank!(&x, t => t.device());
        let mut values: HashMap<&str, Value> = HashMap::new();
        values.insert(self.model.inputs[0].name.as_str(), Value::Float(x));
        for node in &self.model.nodes {
            let inputs = node
                .inputs
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        return Ok(None);
                    }
                    values
                        .get(name.as_str())
                        .or_else(|| self.weights.get(name))
                        .cloned()
                        .map(Some)
                        .ok_or_else(|| OnnxError::Node {
                            node: node.name.clone(),
                            op: node.op_type.clone(),
                            reason: format!("input `{name}` is not computed before it"),
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let ctx = Ctx {
                node,
                opset: self.model.opset,
                device: &device,
                inputs,
            };
            // A panic inside burn on inputs an operator did not validate becomes an error
            // that names the node (the CLI keeps the panic hook quiet).
            let outs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ops::run(&ctx)))
                .map_err(|p| OnnxError::Node {
                node: node.name.clone(),
                op: node.op_type.clone(),
                reason: format!("{INTERNAL}: {}", panic_text(p.as_ref())),
            })??;
            for (name, v) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    values.insert(name.as_str(), v);
                }
            }
        }
        let mut outs = Vec::with_capacity(n);
        for decl in self.model.outputs.iter().take(n) {
            let out = &decl.name;
            match values
                .get(out.as_str())
                .or_else(|| self.weights.get(out))
                .cloned()
            {
                Some(Value::Float(t)) => outs.push(t),
                Some(Value::Int(_)) => {
                    return Err(OnnxError::Input(format!(
                        "output `{out}` is not a float tensor"
                    )));
                }
                None => {
                    return Err(OnnxError::Input(format!(
                        "output `{out}` is never computed"
                    )));
                }
            }
        }
        Ok(outs)
    }

    /// Runs the graph on a rank-`DI` input and returns a rank-`DO` output.
    ///
    /// # Errors
    /// As [`OnnxNet::run`], or an output of another rank.
    pub fn forward_as<const DI: usize, const DO: usize>(
        &self,
        x: Tensor<DI>,
    ) -> Result<Tensor<DO>> {
        self.run(FTensor::of(x)?)?.into_rank::<DO>()
    }
}
