//! Why a run failed, and how it reads for a person: the kinds of refresh error
//! (credentials, API, render), the operator hint for each (cams-api.md §6), and the one
//! rendering ([`Failure`]) that the landing page, `--once` and the logs share: the code
//! once, the message, the HTTP status and the RequestId.

use std::fmt;

use serde::Serialize;
use tracing::{debug, warn};

use crate::api::{ApiError, ErrorKind};
use crate::collect::CollectError;
use crate::credentials::CredentialError;

/// Why a collector run (or the refresh around it) failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No usable credentials (or ISV code): nothing was sent.
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
    /// A CAMS call failed.
    #[error(transparent)]
    Api(ApiError),
    /// The families could not be rendered: a bug, not bad input.
    #[error("cannot render metrics: {0}")]
    Render(prometheus::Error),
    /// The collector broke (it panicked): a bug, not bad input.
    #[error("internal error: {0}")]
    Bug(&'static str),
}

impl From<CollectError> for RefreshError {
    fn from(e: CollectError) -> Self {
        match e {
            CollectError::Api(e) => RefreshError::Api(e),
            CollectError::Render(e) => RefreshError::Render(e),
            CollectError::Bug(what) => RefreshError::Bug(what),
        }
    }
}

impl RefreshError {
    /// What the failure means for the schedule: back off, or wait for the operator.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // An STS or metadata outage is not the operator's fault: back off like any other.
            RefreshError::Credentials(e) if e.is_transient() => ErrorKind::Transient,
            RefreshError::Credentials(_) => ErrorKind::Auth,
            RefreshError::Api(e) => e.kind(),
            RefreshError::Render(_) => ErrorKind::Decode,
            // Backs off like an outage: a collector that panics every run must not spin.
            RefreshError::Bug(_) => ErrorKind::Transient,
        }
    }

    /// The bounded code: an Alibaba `Code`, or one of the exporter's own
    /// (`credentials`, `render`, `timeout`, ...).
    pub fn code_label(&self) -> String {
        match self {
            RefreshError::Credentials(_) => "credentials".into(),
            RefreshError::Api(e) => e.code_label(),
            RefreshError::Render(_) => "render".into(),
            RefreshError::Bug(_) => "internal".into(),
        }
    }

    /// The API's `RequestId`, if the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            RefreshError::Api(e) => e.request_id(),
            _ => None,
        }
    }
}

/// A failed run as a person reads it. `Display` gives the code once, the message, then the
/// HTTP status and RequestId when there are any:
/// `Throttling.User: Request was denied due to user flow control. (HTTP 400, RequestId 5F…)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The bounded code ([`RefreshError::code_label`]).
    pub code: String,
    /// The message, without the code.
    pub message: String,
    /// The HTTP status of the answer, when there was one.
    pub http_status: Option<u16>,
    /// Alibaba's `RequestId`, for a support ticket.
    pub request_id: Option<String>,
    /// What to check or do.
    pub hint: String,
}

impl Failure {
    /// Describes `e`; `actions` are the CAMS operations the run calls (for the RAM hint).
    pub fn new(e: &RefreshError, actions: &[&str]) -> Self {
        let code = e.code_label();
        let (message, http_status) = match e {
            RefreshError::Api(ApiError::Service {
                status, message, ..
            }) => (message.clone(), Some(*status)),
            RefreshError::Api(ApiError::HttpStatus { status }) => (
                "the answer has no Alibaba error body".to_owned(),
                Some(*status),
            ),
            RefreshError::Api(ApiError::WrongSecret { access_key_id, .. }) => (
                format!(
                    "the AccessKey secret for AccessKey ID {access_key_id} is wrong (the server computed the same string-to-sign but a different signature)"
                ),
                None,
            ),
            other => {
                let text = other.to_string();
                let text = match text.strip_prefix(&format!("{code}: ")) {
                    Some(rest) => rest.to_owned(),
                    None => text,
                };
                (text, None)
            }
        };
        Failure {
            message,
            http_status,
            request_id: e.request_id().map(str::to_owned),
            hint: hint(e, actions),
            code,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match (self.http_status, &self.request_id) {
            (Some(s), Some(id)) => write!(f, " (HTTP {s}, RequestId {id})"),
            (Some(s), None) => write!(f, " (HTTP {s})"),
            (None, Some(id)) => write!(f, " (RequestId {id})"),
            (None, None) => Ok(()),
        }
    }
}

/// Logs a failure: at warn when the code changed since the last attempt, else at debug.
/// `run` is `refresh` or the collector; `keeps` says what stays served meanwhile.
pub(super) fn log_failure(
    run: &'static str,
    failure: &Failure,
    changed: bool,
    failures: u32,
    keeps: &str,
) {
    let request_id = failure.request_id.as_deref().unwrap_or("");
    let code = failure.code.as_str();
    if changed {
        warn!(run, code, request_id, hint = %failure.hint, failures, error = %failure, keeps, "run failed");
    } else {
        debug!(run, code, request_id, failures, error = %failure, "run failed again");
    }
}

/// What the operator should do, per cams-api.md §6; `actions` are the operations that
/// were called, for the RAM hint.
pub(super) fn hint(e: &RefreshError, actions: &[&str]) -> String {
    let code = e.code_label();
    if let RefreshError::Render(_) = e {
        return "the exporter could not render its metrics: a bug, please report it".into();
    }
    if matches!(
        e,
        RefreshError::Bug(_) | RefreshError::Api(ApiError::Internal(_))
    ) {
        return "a bug in the exporter (the log has the panic's message): please report it; the collector is retried with back-off".into();
    }
    if let RefreshError::Credentials(c) = e {
        return if c.is_transient() {
            "the credential provider (STS or instance metadata) is unreachable from here".into()
        } else {
            "check the account's credentials configuration".into()
        };
    }
    match e.kind() {
        ErrorKind::Throttled => {
            "the account's API quota (10/s per API, shared with other callers) is exhausted; lower rate_limits: or stagger other callers".into()
        }
        ErrorKind::Auth if code == "InvalidAccessKeySecret" => {
            "the AccessKey secret is wrong; check the secret file or ALIBABA_CLOUD_ACCESS_KEY_SECRET".into()
        }
        ErrorKind::Auth if code.starts_with("InvalidAccessKeyId") => {
            "the AccessKey ID does not exist or is disabled".into()
        }
        ErrorKind::Auth if code.starts_with("Forbidden") || code == "Ram.PermissionDeny" => {
            let granted: Vec<String> = actions.iter().map(|a| format!("cams:{a}")).collect();
            format!("grant the RAM actions {} (or switch the collector off for this account)", granted.join(" and "))
        }
        ErrorKind::Auth => "check the account's credentials".into(),
        ErrorKind::Client if code.starts_with("InvalidTimeStamp") => {
            "the system clock is off by more than 15 minutes; check NTP".into()
        }
        ErrorKind::Client if code == "Product.Unsubscript" => {
            "CAMS is not activated for this Alibaba Cloud account".into()
        }
        ErrorKind::Client if code == "SignatureDoesNotMatch" => {
            "the server signed a different request than ours (not a wrong secret): a proxy rewriting the query or headers, or a bug; try the other --api.signature-version and please report it".into()
        }
        ErrorKind::Client
            if code == "IncompleteSignature"
                || code.starts_with("InvalidAuthorization")
                || code.starts_with("InvalidSignature") =>
        {
            "the gateway rejected the signature's form; check --api.signature-version (or the account's signature_version) and that nothing between the exporter and the endpoint strips the Authorization or x-acs-* headers".into()
        }
        ErrorKind::Client => {
            "the request was rejected; check the account configuration (endpoint, cust_space_id)".into()
        }
        ErrorKind::Transient => "network or server trouble; check that the endpoint is reachable from here (DNS, proxy, firewall)".into(),
        ErrorKind::Decode => "the response was not the expected JSON (or too large)".into(),
    }
}
