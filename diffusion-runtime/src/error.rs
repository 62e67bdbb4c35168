//! Error types of the runtime. Every error renders as one line that names what failed and, where
//! there is one, how to fix it: the elements post these verbatim.

use std::path::PathBuf;

/// A problem with a model package, located by package, file and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model package {}: {file}: {field}: {problem}", package.display())]
pub struct PackageError {
    /// The package directory as the user gave it.
    pub package: PathBuf,
    /// The file inside the package (`model.toml`, a graph, an asset).
    pub file: String,
    /// The manifest field (`graph[2].inputs[0].name`), or `-` when the whole file is at fault.
    pub field: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl PackageError {
    pub fn new(
        package: &std::path::Path,
        file: &str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            package: package.to_path_buf(),
            file: file.to_string(),
            field: field.into(),
            problem: one_line(&problem.into()),
        }
    }
}

/// `text` on one line: line breaks (ONNX Runtime's load errors carry some, depending on the
/// release) and the whitespace around them become one space, so every error stays one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Anything the runtime can fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Package(#[from] PackageError),
    /// ONNX Runtime could not be loaded; the message lists every path tried.
    #[error("{0}")]
    OrtLoad(String),
    /// An explicitly requested execution provider could not be registered.
    #[error("{0}")]
    Provider(String),
    /// A graph failed to run or returned something unexpected.
    #[error("graph {graph}: {message}")]
    Inference { graph: String, message: String },
    /// A caller passed tensors or settings that do not fit.
    #[error("{0}")]
    Invalid(String),
    /// The inference server could not be reached or did not answer in time, retries included:
    /// an outage a live element can ride through (it may come back), unlike a refusal.
    #[error("{0}")]
    ServerOutage(String),
}

impl Error {
    /// True for [`Error::ServerOutage`].
    pub fn is_server_outage(&self) -> bool {
        matches!(self, Error::ServerOutage(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[test]
    fn package_errors_are_one_line() {
        let e = super::PackageError::new(
            std::path::Path::new("p"),
            "g.onnx",
            "-",
            "Load failed:model.cc:165\n  ModelProto does not have a graph.\n",
        );
        assert_eq!(
            e.to_string(),
            "model package p: g.onnx: -: Load failed:model.cc:165 ModelProto does not have a graph."
        );
    }
}
