//! ONNX models on burn, with input gradients.
//!
//! [`OnnxModel`] reads an `.onnx` file with a protobuf reader of its own that trusts no
//! declared size (every length is checked against the bytes present before anything is
//! sliced or allocated), so a corrupted file is an [`OnnxError`], never a panic.
//! [`OnnxNet`] runs its graph node by node on burn tensors: every float computation is a burn
//! op (2D/3D convolutions, transposed convolutions and 2D max pooling on Mira's CPU kernels
//! where they apply), so on the autodiff device `backward()` gives the gradient with respect
//! to the input; initialisers are constants. Integer values (shapes, axes, indices) are
//! computed on the host, so exported shape arithmetic never reaches the device.
//!
//! Values have rank 1 to 8; an ONNX scalar is kept as a one-element rank-1 tensor.
//! [`ops::SUPPORTED`] lists the operators; anything else is refused when the model is
//! prepared, naming the operator, the node and the opset.

mod error;
mod exec;
mod info;
mod model;
pub mod ops;
mod proto;
mod value;

pub use error::{OnnxError, Result};
pub use exec::{INTERNAL, OnnxNet};
pub use info::{ModelInfo, model_info};
pub use model::{Attr, HostData, HostTensor, Node, OnnxModel, ValueInfo};
pub use value::{FTensor, HostInts, Value};

/// Whether `path` names an ONNX file (extension `.onnx`, any case).
pub fn is_onnx_path(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}
