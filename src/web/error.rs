//! [`WebConfigError`], the one error type of the web config: which file, which key, what is
//! wrong.
//!
//! A leaf module on purpose: parsing (`config`), TLS checks and loading (`tls`), basic auth
//! (`auth`) and loading a whole config (`loaded`) all produce it, and none of them should
//! have to depend on another to name it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A web config problem: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfigError {
    /// The web config file, when known.
    pub path: Option<PathBuf>,
    /// The offending key, dotted (`tls_server_config.cert_file`); empty when the YAML itself
    /// is malformed (the parser's message then names the key).
    pub key: String,
    /// What is wrong. Never contains a secret.
    pub message: String,
}

impl WebConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        WebConfigError {
            path: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Names the web config file the error came from (a path already set is kept).
    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        self.path.get_or_insert_with(|| path.to_owned());
        self
    }
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("web config")?;
        if let Some(p) = &self.path {
            write!(f, " {}", p.display())?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for WebConfigError {}
