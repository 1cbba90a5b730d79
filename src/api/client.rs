//! The HTTP client for the CAMS RPC API: builds and signs requests, bounds their time and
//! size, and turns every answer into either a typed DTO or an [`ApiError`].
//!
//! A response counts as success only when HTTP is 2xx **and** `Code == "OK"` **and**
//! `Success` is not `false`: some Alibaba APIs fail with HTTP 200 (cams-api.md §6).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::error::{ApiError, looks_like_code};
use super::model::ApiResponse;
use super::signing::CommonParams;
use crate::credentials::{Credentials, expose, mask_id};
use crate::wire::BodyError;
pub use crate::wire::{clean_message, install_crypto_provider};

/// CAMS API version (cams-api.md §1).
pub const API_VERSION: &str = "2020-06-06";
/// Default response size cap. A fleet of 10,000 numbers is about 6 MB of JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Which CAMS tenant a call is about.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL, e.g. `https://cams.ap-southeast-1.aliyuncs.com`.
    pub endpoint: String,
    /// ISV sub-customer space, sent as `CustSpaceId`.
    pub cust_space_id: Option<String>,
    /// ISV verification code, sent as `IsvCode`. A secret.
    pub isv_code: Option<SecretString>,
    /// How requests are signed.
    pub signature: super::SignatureVersion,
}

/// Options for [`ApiClient::new`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Bound on one whole request: connect, send and read the body.
    pub timeout: Duration,
    /// Bound on the response body size.
    pub max_body_bytes: usize,
}

/// A signed-request client shared by all accounts (it pools connections per host).
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    options: ClientOptions,
}

impl ApiClient {
    /// Builds the client. TLS certificates are always verified; redirects are never followed
    /// (the API does not redirect, and following one could send a signed request elsewhere).
    pub fn new(options: ClientOptions) -> Result<Self, ApiError> {
        let http = crate::wire::client_builder(options.timeout)
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(ApiClient { http, options })
    }

    /// Calls `action` for `target` with the operation's own `params` (for example
    /// `NodeType` and `PhoneNumber`), signed with `creds`. A connection that could not be
    /// established is retried once (re-signed with a fresh nonce), since nothing reached the
    /// server and the quota is untouched. Every other failure is left to the scheduler's
    /// back-off.
    pub async fn call<T: ApiResponse>(
        &self,
        action: &str,
        target: &Target,
        creds: &Credentials,
        params: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        match self.call_once(action, target, creds, params).await {
            Err(ApiError::Connect(e)) => {
                tracing::debug!(action, error = %e, "connection failed; retrying once");
                self.call_once(action, target, creds, params).await
            }
            other => other,
        }
    }

    async fn call_once<T: ApiResponse>(
        &self,
        action: &str,
        target: &Target,
        creds: &Credentials,
        extra: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let nonce = format!("{:032x}", rand::random::<u128>());
        // The only place that depends on the signature version.
        let prepared = target
            .signature
            .prepare(action, target, creds, extra, &timestamp, &nonce);
        let mut request = self.http.post(&prepared.url);
        for (name, value) in &prepared.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = self.read_body(response).await?;
        interpret(
            status,
            &body,
            &prepared.string_to_sign,
            &creds.access_key_id,
        )
    }

    /// The body, at most `max_body_bytes` of it ([`crate::wire::read_bounded`]).
    async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
        let limit = self.options.max_body_bytes;
        crate::wire::read_bounded(response, limit)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => ApiError::BodyTooLarge { limit },
                BodyError::Transport(e) => self.transport_error(e),
            })
    }

    fn transport_error(&self, e: reqwest::Error) -> ApiError {
        // reqwest's Display can include the full URL with our signed query string; the
        // source chain never does, so report only that.
        let e = e.without_url();
        if e.is_timeout() {
            ApiError::Timeout(self.options.timeout)
        } else if e.is_connect() {
            ApiError::Connect(error_chain(&e))
        } else {
            ApiError::Transport(error_chain(&e))
        }
    }
}

/// The common and tenant parameters of one call, before signing (the operation's own
/// parameters are added by [`ApiClient::call`]).
pub fn request_params(
    action: &str,
    target: &Target,
    creds: &Credentials,
    timestamp: &str,
    nonce: &str,
) -> BTreeMap<String, String> {
    let mut params = CommonParams {
        action,
        version: API_VERSION,
        access_key_id: &creds.access_key_id,
        timestamp,
        nonce,
        security_token: creds.security_token.as_ref().map(expose),
    }
    .into_params();
    if let Some(space) = &target.cust_space_id {
        params.insert("CustSpaceId".into(), space.clone());
    }
    if let Some(code) = &target.isv_code {
        params.insert("IsvCode".into(), expose(code).to_owned());
    }
    params
}

/// Decides success or failure from the status and body (pure, so it is unit-tested without
/// a server).
pub fn interpret<T: ApiResponse>(
    status: u16,
    body: &[u8],
    our_string_to_sign: &str,
    access_key_id: &str,
) -> Result<T, ApiError> {
    let ok_status = (200..300).contains(&status);
    // Decode the typed body first: on success that is the only pass over a large document.
    let typed = if ok_status {
        serde_json::from_slice::<T>(body).map_err(|e| e.to_string())
    } else {
        Err(String::new())
    };
    if let Ok(t) = &typed
        && t.code() == Some("OK")
        && t.success() != Some(false)
    {
        return typed.map_err(ApiError::Decode);
    }

    let envelope = serde_json::from_slice::<super::model::Envelope>(body).ok();
    let code = envelope.as_ref().and_then(|e| e.code.clone());
    match (envelope, code) {
        (Some(env), Some(code)) if code != "OK" || !ok_status || env.success == Some(false) => {
            // The code and RequestId reach logs, the landing page and a label: a hostile
            // or broken server's text is not passed on as it is.
            let request_id = clean_request_id(env.request_id.as_deref().unwrap_or(""));
            let code = if looks_like_code(&code) {
                code
            } else {
                "other".to_owned()
            };
            let message = env.message.unwrap_or_default();
            if code == "SignatureDoesNotMatch" || code == "IncompleteSignature" {
                let server = server_string_to_sign(&message);
                if server == Some(our_string_to_sign) {
                    return Err(ApiError::WrongSecret {
                        access_key_id: mask_id(access_key_id),
                        request_id,
                    });
                }
            }
            Err(ApiError::Service {
                status,
                code,
                message: clean_message(&message),
                request_id,
            })
        }
        _ if !ok_status => Err(ApiError::HttpStatus { status }),
        _ => Err(ApiError::Decode(match typed {
            Err(e) => e,
            Ok(_) => "response has no Code".into(),
        })),
    }
}

/// Longest `RequestId` kept (Alibaba's are 36 characters).
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// A `RequestId` as logs and pages show it: Alibaba's are a UUID; anything else than
/// letters, digits and `-` (a control character, a bidi override, markup) is replaced by
/// `_`, and a longer one is cut with `…`.
pub fn clean_request_id(id: &str) -> String {
    let mut out: String = id
        .chars()
        .take(MAX_REQUEST_ID_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.chars().count() > MAX_REQUEST_ID_CHARS {
        out.push('…');
    }
    out
}

/// The server's string-to-sign, which `SignatureDoesNotMatch` messages end with
/// ("... server string to sign is:POST&%2F&...").
pub fn server_string_to_sign(message: &str) -> Option<&str> {
    message
        .rsplit_once("string to sign is:")
        .map(|(_, s)| s.trim())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{lenient_bool, lenient_string};

    const STS: &str = "POST&%2F&AccessKeyId%3Dx";

    crate::api_response! {
        /// A response with a required list, as the operations' DTOs have.
        #[allow(dead_code)]
        pub struct Numbers {
            /// The list.
            pub phone_numbers: Vec<serde_json::Value>,
        }
    }

    fn pn(status: u16, body: &str) -> Result<Numbers, ApiError> {
        interpret(status, body.as_bytes(), STS, "LTAI5tExampleKey")
    }

    #[test]
    fn code_not_ok_with_http_200_is_an_error() {
        let e = pn(
            200,
            r#"{"Code":"Forbidden.RAM","Message":"denied","RequestId":"r1"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code_label(), "Forbidden.RAM");
        assert_eq!(e.request_id(), Some("r1"));
    }

    #[test]
    fn success_false_is_an_error() {
        let e = pn(200, r#"{"Code":"OK","Success":false,"PhoneNumbers":[]}"#).unwrap_err();
        assert!(matches!(e, ApiError::Service { .. }), "{e:?}");
    }

    #[test]
    fn a_hostile_code_and_request_id_are_cleaned_and_bounded() {
        let long = "x".repeat(5000);
        let body =
            format!(r#"{{"Code":"Evil\u001b[2J<b>","Message":"m","RequestId":"r\u202e\n{long}"}}"#);
        let e = pn(400, &body).unwrap_err();
        assert_eq!(e.code_label(), "other");
        let id = e.request_id().unwrap();
        assert!(id.starts_with("r__x"), "{id}");
        assert!(id.chars().count() <= MAX_REQUEST_ID_CHARS + 1);
        let shown = e.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert!(shown.len() < 600, "{shown}");
    }

    #[test]
    fn non_json_5xx_is_http_5xx() {
        let e = pn(502, "<html>bad gateway</html>").unwrap_err();
        assert_eq!(e.code_label(), "http_5xx");
    }

    #[test]
    fn non_json_200_is_decode() {
        assert_eq!(pn(200, "not json").unwrap_err().code_label(), "decode");
        assert_eq!(
            pn(200, r#"{"PhoneNumbers":[]}"#).unwrap_err().code_label(),
            "decode"
        );
    }

    #[test]
    fn same_string_to_sign_means_wrong_secret() {
        let body = format!(
            r#"{{"Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:{STS}","RequestId":"r2"}}"#
        );
        let e = pn(400, &body).unwrap_err();
        assert_eq!(e.code_label(), "InvalidAccessKeySecret");
        assert!(!e.to_string().contains("LTAI5tExampleKey"));
    }

    #[test]
    fn different_string_to_sign_is_a_signing_bug_and_is_not_echoed() {
        let body = r#"{"Code":"SignatureDoesNotMatch","Message":"server string to sign is:GET&%2F&SecurityToken%3Dtok","RequestId":"r3"}"#;
        let e = pn(400, body).unwrap_err();
        assert_eq!(e.code_label(), "SignatureDoesNotMatch");
        assert!(!e.to_string().contains("tok"), "{e}");
    }
}
