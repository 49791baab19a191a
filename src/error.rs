//! The one error type of the library. Every variant names what the user needs to fix it:
//! the operation and both shapes for a shape mismatch, the file, line and field for bad input.

use std::path::PathBuf;

/// Result alias used across pupil.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pupil that is not a bug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that an operation needs to agree do not.
    #[error("{op}: shape mismatch: {lhs:?} vs {rhs:?}{}", if .detail.is_empty() { String::new() } else { format!(" ({})", .detail) })]
    Shape { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize>, detail: String },
    /// An argument that cannot be used (zero stride, kernel larger than the input, ...).
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is wrong. `line` is 1-based; 0 means "the whole file".
    #[error("{}{}: {field}: {msg}", .path.display(), if *.line > 0 { format!(":{}", .line) } else { String::new() })]
    Parse { path: PathBuf, line: usize, field: String, msg: String },
    /// The backward pass of a recorded op failed; `op` is the name the op gave the tape.
    #[error("backward of {op}: {source}")]
    Backward { op: &'static str, source: Box<Error> },
    /// Training diverged or another run-time condition stopped the work.
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// Shorthand for [`Error::Shape`] without detail.
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Self {
        Error::Shape { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), detail: String::new() }
    }
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid { op, msg: msg.into() }
    }
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// Shorthand for [`Error::Parse`].
    pub fn parse(path: impl Into<PathBuf>, line: usize, field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Parse { path: path.into(), line, field: field.into(), msg: msg.into() }
    }
}
