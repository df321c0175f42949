//! The operators: what each node computes from its inputs. One file per family; every float
//! computation is a burn op, so gradients flow through it on the autodiff device.

mod conv;
mod einsum;
mod elementwise;
mod index;
mod linear;
mod logic;
mod norm;
mod pad;
mod pool;
mod resize;
mod shape;

use crate::error::{OnnxError, Result};
use crate::model::{Attr, Node};
use crate::value::{FTensor, HostInts, Value};

/// The operators Mira runs (default domain), in the order `mira info` lists them.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Div",
    "Dropout",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "GreaterOrEqual",
    "GroupNormalization",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL2",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Upsample",
    "Where",
    "Xor",
];

/// The entries `idx` of `t` along `axis`, in that order (repeats allowed): burn's `select`,
/// whose backward adds each output's gradient back to its source.
pub(crate) fn select_axis<const D: usize>(
    t: burn::prelude::Tensor<D>,
    axis: usize,
    idx: &[usize],
) -> burn::prelude::Tensor<D> {
    use burn::prelude::{Int, Tensor};
    let ids: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    let dev = t.device();
    t.select(axis, Tensor::<1, Int>::from_ints(ids.as_slice(), &dev))
}

/// Whether `op` (default domain) is one of [`SUPPORTED`].
pub fn is_supported(op: &str) -> bool {
    SUPPORTED.contains(&op)
}

/// A node being run: its attributes and inputs, and errors that name it.
pub(crate) struct Ctx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    /// Where float values made from host data go.
    pub device: &'a burn::prelude::Device,
    pub inputs: Vec<Option<Value>>,
}

impl Ctx<'_> {
    pub(crate) fn err(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: self.node.name.clone(),
            op: self.node.op_type.clone(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Unsupported {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            opset: self.opset,
            reason: reason.into(),
        }
    }

    pub(crate) fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.node.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(_) => Err(self.err(format!("attribute {name} is not an integer"))),
        }
    }

    pub(crate) fn float(&self, name: &str, default: f32) -> Result<f32> {
        match self.node.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(_) => Err(self.err(format!("attribute {name} is not a float"))),
        }
    }

    pub(crate) fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.node.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.err(format!("attribute {name} is not a list of integers"))),
        }
    }

    pub(crate) fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.node.attrs.get(name) {
            None => Ok(default.to_string()),
            Some(Attr::String(v)) => Ok(v.clone()),
            Some(_) => Err(self.err(format!("attribute {name} is not a string"))),
        }
    }

    /// Input `i`, which must be present.
    pub(crate) fn input(&self, i: usize) -> Result<&Value> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Input `i` as floats.
    pub(crate) fn floats(&self, i: usize) -> Result<FTensor> {
        match self.input(i)? {
            Value::Float(t) => Ok(t.clone()),
            Value::Int(_) => Err(self.err(format!("input {i} must be a float tensor"))),
        }
    }

    /// Optional input `i` as floats.
    pub(crate) fn opt_floats(&self, i: usize) -> Result<Option<FTensor>> {
        match self.inputs.get(i).and_then(Option::as_ref) {
            None => Ok(None),
            Some(Value::Float(t)) => Ok(Some(t.clone())),
            Some(Value::Int(_)) => Err(self.err(format!("input {i} must be a float tensor"))),
        }
    }

    /// Input `i` as host integers (shapes, axes, indices).
    pub(crate) fn host_ints(&self, i: usize) -> Result<HostInts> {
        match self.input(i)? {
            Value::Int(v) => Ok(v.clone()),
            Value::Float(t) => {
                // Some exporters carry shapes as floats; exact small integers only.
                let v = t.to_vec();
                if v.iter().all(|x| x.fract() == 0.0 && x.abs() < 1e9) {
                    Ok(HostInts {
                        dims: t.dims(),
                        data: v.iter().map(|&x| x as i64).collect(),
                    })
                } else {
                    Err(self.err(format!("input {i} must hold integers")))
                }
            }
        }
    }

    /// Optional input `i` as host integers.
    pub(crate) fn opt_host_ints(&self, i: usize) -> Result<Option<HostInts>> {
        match self.inputs.get(i).and_then(Option::as_ref) {
            None => Ok(None),
            Some(_) => self.host_ints(i).map(Some),
        }
    }

    /// An axis that may count from the end, for a tensor of rank `rank`.
    pub(crate) fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| self.err(format!("axis {axis} out of range for rank {rank}")))
    }
}

/// Runs one node.
pub(crate) fn run(ctx: &Ctx<'_>) -> Result<Vec<Value>> {
    let n = ctx.node;
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Err(ctx.unsupported(format!("domain `{}`", n.domain)));
    }
    let one = |v: FTensor| Ok(vec![Value::Float(v)]);
    match n.op_type.as_str() {
        "Conv" => one(conv::conv(ctx)?),
        "ConvTranspose" => one(conv::conv_transpose(ctx)?),
        "MaxPool" => one(conv::max_pool(ctx)?),
        "AveragePool" => one(conv::avg_pool(ctx)?),
        "GlobalAveragePool" => one(conv::global_avg_pool(ctx)?),
        "BatchNormalization" => one(conv::batch_norm(ctx)?),
        "InstanceNormalization" => one(norm::instance_norm(ctx)?),
        "LayerNormalization" => one(norm::layer_norm(ctx)?),
        "Pad" => one(pad::pad(ctx)?),
        "PRelu" => one(norm::prelu(ctx)?),
        "Resize" | "Upsample" => one(resize::resize(ctx)?),
        "MatMul" => one(linear::matmul(ctx)?),
        "Gemm" => one(linear::gemm(ctx)?),
        "Softmax" | "LogSoftmax" => one(linear::softmax(ctx)?),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceSumSquare" | "ReduceL2" => {
            one(linear::reduce(ctx)?)
        }
        "GroupNormalization" => one(norm::group_norm(ctx)?),
        "Einsum" => one(einsum::einsum(ctx)?),
        "Max" | "Min" | "Sum" | "Mean" => one(elementwise::variadic(ctx)?),
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor"
        | "Not" => Ok(vec![logic::compare(ctx)?]),
        "Where" => Ok(vec![logic::where_op(ctx)?]),
        "Expand" => Ok(vec![logic::expand(ctx)?]),
        "Split" => index::split(ctx),
        "ScatterND" => Ok(vec![index::scatter_nd(ctx)?]),
        "Range" => Ok(vec![index::range(ctx)?]),
        "Tile" => Ok(vec![index::tile(ctx)?]),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Mod" => elementwise::binary(ctx),
        "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs" | "Erf"
        | "LeakyRelu" | "Elu" | "Clip" | "Gelu" | "Reciprocal" | "Softplus" | "HardSigmoid"
        | "HardSwish" | "Selu" | "Sin" | "Cos" | "Floor" | "Ceil" | "Sign" => {
            one(elementwise::unary(ctx)?)
        }
        "Identity" | "Dropout" => Ok(vec![ctx.input(0)?.clone()]),
        "Reshape" | "Flatten" | "Transpose" | "Concat" | "Unsqueeze" | "Squeeze" | "Shape"
        | "Gather" | "Constant" | "ConstantOfShape" | "Cast" | "Slice" => shape::run(ctx),
        _ => Err(ctx.unsupported("not implemented")),
    }
}
