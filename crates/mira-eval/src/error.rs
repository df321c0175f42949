//! The error type of experiments and runs.

/// Errors from experiment files and runs. Messages name the offending field.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The experiment file could not be parsed.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A field has an invalid value.
    #[error("`{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// Reading or writing run files failed.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// An adversarial example left its threat model: an attack bug, never silently accepted.
    #[error("budget violation in {cell}, case {case}: {reason}")]
    BudgetViolation {
        cell: String,
        case: usize,
        reason: String,
    },
    /// An image file could not be read or written.
    #[error(transparent)]
    Image(#[from] mira_io::IoError),
    /// Data generation failed.
    #[error(transparent)]
    Data(#[from] mira_data::DataError),
    /// A model or checkpoint failed.
    #[error(transparent)]
    Nn(#[from] mira_nn::NnError),
    /// An attack failed.
    #[error(transparent)]
    Attack(#[from] mira_attack::AttackError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] mira_train::TrainError),
    /// Reading records failed.
    #[error(transparent)]
    Report(#[from] mira_report::ReportError),
    /// An ONNX model could not be read or run.
    #[error(transparent)]
    Onnx(#[from] mira_onnx::OnnxError),
}

impl EvalError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: impl ToString) -> Self {
        Self::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
