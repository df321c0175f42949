//! The error type of image I/O.

/// Errors from reading or writing images. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a valid image of the expected format.
    #[error("{path}: {reason}")]
    Malformed { path: String, reason: String },
    /// The file is valid but uses a feature Mira does not read.
    #[error("{path}: unsupported: {reason}")]
    Unsupported { path: String, reason: String },
}

impl IoError {
    pub(crate) fn malformed(path: &str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, IoError>;
