//! The API client's error type and its bounded Prometheus label.
//!
//! Callers branch on [`ApiError::kind`] (back off, re-read credentials, ...) and label the
//! `chatapp_api_request_errors_total{code}` counter with [`ApiError::code_label`], which is
//! either an Alibaba error code or one of a small fixed set; never free text (cams-api.md §6).

use std::time::Duration;

/// What a failed call means for the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Flow control (`Throttling*`, `System.LimitControl`): back off, never retry at once.
    Throttled,
    /// Server-side or transport trouble (5xx, timeouts, connection errors): back off.
    Transient,
    /// Wrong, inactive or insufficiently permitted credentials: operator action needed.
    Auth,
    /// The request was rejected for another reason (bad parameter, clock skew, ...).
    Client,
    /// The response could not be understood.
    Decode,
}

impl ErrorKind {
    /// True for failures that every further call of the same round would meet too
    /// (throttling, credentials, an outage): a paced round stops at the first of them. A
    /// rejected or garbled answer about one node costs only that node.
    pub fn stops_round(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Auth | ErrorKind::Transient
        )
    }
}

/// A failed CAMS call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The whole request (connect, send, read) took longer than `--api.timeout`.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// No connection could be made (DNS, refused, TLS handshake).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Another transport failure (connection reset mid-body, protocol error).
    #[error("transport error: {0}")]
    Transport(String),
    /// The response body was larger than the configured cap; it was not read further.
    #[error("response body exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// A non-2xx answer whose body is not an Alibaba error document.
    #[error("HTTP {status} without an Alibaba error body")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// A 2xx answer that is not the expected JSON.
    #[error("cannot decode the response: {0}")]
    Decode(String),
    /// Alibaba answered with an error `Code` (with any HTTP status, including 200).
    #[error("{code}: {message} (HTTP {status}, RequestId {request_id})")]
    Service {
        /// HTTP status of the answer.
        status: u16,
        /// The Alibaba `Code`, e.g. `Throttling.User`.
        code: String,
        /// The `Message`, shortened and with any echoed string-to-sign removed.
        message: String,
        /// The `RequestId`, for support tickets.
        request_id: String,
    },
    /// The exporter broke a promise of its own (a collector called the API from a context
    /// without API access): a bug, nothing was sent.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// `SignatureDoesNotMatch` while the server's string-to-sign equals ours: the request
    /// was built right, so the AccessKey secret must be wrong (the SDKs' own diagnosis).
    #[error(
        "the AccessKey secret for AccessKey ID {access_key_id} is wrong (the server computed the same string-to-sign but a different signature; RequestId {request_id})"
    )]
    WrongSecret {
        /// The masked AccessKey ID.
        access_key_id: String,
        /// The `RequestId`.
        request_id: String,
    },
}

/// The longest string accepted as an Alibaba code label; longer ones fold into `other`.
pub const MAX_CODE_LEN: usize = 64;

impl ApiError {
    /// Classifies the error for scheduling decisions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Timeout(_) | ApiError::Connect(_) | ApiError::Transport(_) => {
                ErrorKind::Transient
            }
            ApiError::HttpStatus { status } if *status >= 500 => ErrorKind::Transient,
            ApiError::HttpStatus { status: 429 } => ErrorKind::Throttled,
            ApiError::HttpStatus { .. } => ErrorKind::Client,
            ApiError::BodyTooLarge { .. } | ApiError::Decode(_) | ApiError::Internal(_) => {
                ErrorKind::Decode
            }
            ApiError::WrongSecret { .. } => ErrorKind::Auth,
            ApiError::Service { code, status, .. } => classify_code(code, *status),
        }
    }

    /// The bounded `code` label for `chatapp_api_request_errors_total`.
    pub fn code_label(&self) -> String {
        match self {
            ApiError::Timeout(_) => "timeout".into(),
            ApiError::Connect(_) => "connect".into(),
            ApiError::Transport(_) => "transport".into(),
            ApiError::BodyTooLarge { .. } => "body_too_large".into(),
            ApiError::HttpStatus { status } => http_status_label(*status).into(),
            ApiError::Decode(_) => "decode".into(),
            ApiError::Internal(_) => "internal".into(),
            ApiError::WrongSecret { .. } => "InvalidAccessKeySecret".into(),
            ApiError::Service { code, .. } if looks_like_code(code) => code.clone(),
            ApiError::Service { .. } => "other".into(),
        }
    }

    /// The Alibaba `RequestId`, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Service { request_id, .. } | ApiError::WrongSecret { request_id, .. } => {
                Some(request_id)
            }
            _ => None,
        }
    }
}

/// `http_4xx` / `http_5xx` / `http_other`: the status class, so the label stays bounded.
fn http_status_label(status: u16) -> &'static str {
    match status {
        400..=499 => "http_4xx",
        500..=599 => "http_5xx",
        _ => "http_other",
    }
}

/// An Alibaba code is a short dotted identifier such as `InvalidAccessKeyId.NotFound`.
pub fn looks_like_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.starts_with(|c: char| c.is_ascii_alphabetic())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Maps an Alibaba error code to what the exporter should do (cams-api.md §6 table).
fn classify_code(code: &str, status: u16) -> ErrorKind {
    if code.starts_with("Throttling") || code == "System.LimitControl" {
        ErrorKind::Throttled
    } else if code.starts_with("InvalidAccessKeyId")
        || code == "InvalidAccessKeySecret"
        || code.starts_with("InvalidSecurityToken")
        || code.starts_with("Forbidden")
        || code == "Ram.PermissionDeny"
        || code == "NoPermission"
    {
        ErrorKind::Auth
    } else if status >= 500 || code == "InternalError" || code == "ServiceUnavailable" {
        ErrorKind::Transient
    } else {
        ErrorKind::Client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, status: u16) -> ApiError {
        ApiError::Service {
            status,
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
        }
    }

    #[test]
    fn codes_are_classified_per_the_api_reference() {
        assert_eq!(service("Throttling.User", 400).kind(), ErrorKind::Throttled);
        assert_eq!(
            service("System.LimitControl", 400).kind(),
            ErrorKind::Throttled
        );
        assert_eq!(service("Forbidden.RAM", 403).kind(), ErrorKind::Auth);
        assert_eq!(
            service("InvalidAccessKeyId.NotFound", 404).kind(),
            ErrorKind::Auth
        );
        assert_eq!(
            service("ServiceUnavailable", 503).kind(),
            ErrorKind::Transient
        );
        assert_eq!(
            service("InvalidTimeStamp.Expired", 400).kind(),
            ErrorKind::Client
        );
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            service("Throttling.User", 400).code_label(),
            "Throttling.User"
        );
        assert_eq!(service("<script>", 400).code_label(), "other");
        assert_eq!(service(&"A".repeat(200), 400).code_label(), "other");
        assert_eq!(
            ApiError::HttpStatus { status: 502 }.code_label(),
            "http_5xx"
        );
        assert_eq!(
            ApiError::Timeout(Duration::from_secs(1)).code_label(),
            "timeout"
        );
    }
}
