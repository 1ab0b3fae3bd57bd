//! Errors of the alert crate.

use std::path::PathBuf;

/// Why alerts could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A configuration value is wrong; names the item (`webhook 'ntfy'`), the field and the problem.
    #[error("{item}: {field}: {problem}")]
    Config {
        /// The configuration item (`mqtt`, `webhook 'ntfy'`, `output 'Siren'`).
        item: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A file named in the configuration could not be read.
    #[error("{item}: reading {}: {source}", path.display())]
    File {
        /// The configuration item that names the file.
        item: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// [`crate::Alerts::start`] was called outside a tokio runtime.
    #[error("alerts need a tokio runtime: call Alerts::start from inside one")]
    NoRuntime,
    /// A delivery worker thread could not be started.
    #[error("could not start the delivery thread for {what}: {source}")]
    Thread {
        /// What the thread was for.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl AlertError {
    pub(crate) fn config(item: &str, field: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            item: item.to_string(),
            field,
            problem: problem.into(),
        }
    }
}
