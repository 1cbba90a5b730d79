//! [`CredentialError`]: why no credentials could be produced, with the operator's hint.

use std::path::PathBuf;
use std::sync::Arc;

use super::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};

/// Why no credentials could be produced. Cloneable, so that accounts waiting on one shared
/// refresh all get its error. No variant carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// No step of the default chain is configured (checked without any network call).
    #[error(
        "no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (optionally {ENV_SECURITY_TOKEN}), configure another source of the default credential chain, or configure accounts in --config.file; tried: {}",
        .tried.join("; ")
    )]
    NotFound {
        /// Every step of the chain and why it did not apply.
        tried: Vec<String>,
    },
    /// Every configured step of the default chain failed.
    #[error(
        "no credentials from the default chain (set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or fix one of these); tried: {}",
        .tried.join("; ")
    )]
    ChainFailed {
        /// Every step of the chain and its error, in order.
        tried: Vec<String>,
        /// Whether a step failed for a reason that may pass (see
        /// [`CredentialError::is_transient`]).
        transient: bool,
    },
    /// A secret file could not be read.
    #[error("cannot read {what} from {path}: {source}")]
    ReadFile {
        /// Which secret (for the message).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A secret file or variable was empty.
    #[error("{what} in {origin} is empty")]
    Empty {
        /// Which secret.
        what: &'static str,
        /// The file or variable it came from.
        origin: String,
    },
    /// A `credentials:` setting is invalid; `field` is its key inside the block.
    #[error("{field}: {message}")]
    Config {
        /// The key, e.g. `role_arn`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A CLI or INI profile file is missing, malformed or lacks the profile.
    #[error("profile file {path}: {message}")]
    Profile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// STS, the metadata service or the credentials URI could not be reached, or answered
    /// with something that is not credentials.
    #[error("{provider} at {endpoint}: {message}")]
    Remote {
        /// `sts`, `ecs metadata` or `credentials uri`.
        provider: &'static str,
        /// Where (never with a query string: signed queries carry tokens).
        endpoint: String,
        /// What happened: a transport error, an HTTP status or an API error code and message.
        message: String,
        /// A timeout, connection failure, 5xx or throttling: worth retrying later, with back-off.
        transient: bool,
    },
}

impl CredentialError {
    /// True when the failure may pass by itself (STS or the metadata service unreachable,
    /// overloaded or throttling): the caller should back off and retry rather than report a
    /// configuration or permission problem.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::Remote { transient, .. }
            | CredentialError::ChainFailed { transient, .. } => *transient,
            _ => false,
        }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        CredentialError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}
