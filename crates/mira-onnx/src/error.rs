//! What can go wrong reading or running an ONNX model.

/// An error of `mira-onnx`: every malformed file, unsupported operator and shape mismatch is
/// one of these, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The bytes are not a well-formed ONNX protobuf message.
    #[error("malformed ONNX file: {0}")]
    Malformed(String),
    /// The graph uses an operator (or an operator form) Mira does not run.
    #[error("unsupported operator {op} (node `{node}`, opset {opset}): {reason}")]
    Unsupported {
        /// The operator type.
        op: String,
        /// The node's name (or its first output where it has none).
        node: String,
        /// The default-domain opset the model imports.
        opset: i64,
        /// What is missing.
        reason: String,
    },
    /// A node's inputs or attributes do not fit it.
    #[error("node `{node}` ({op}): {reason}")]
    Node {
        /// The node's name.
        node: String,
        /// The operator type.
        op: String,
        /// What does not fit.
        reason: String,
    },
    /// The input given does not fit the model's declared input.
    #[error("input: {0}")]
    Input(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, OnnxError>;

pub(crate) fn malformed(reason: impl Into<String>) -> OnnxError {
    OnnxError::Malformed(reason.into())
}
