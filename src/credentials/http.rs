//! Small HTTP helpers shared by the STS, metadata and credentials URI providers: sending with
//! a bounded body ([`crate::wire::read_bounded`]), error text without URLs (a signed query carries the STS token) and cleaning of
//! server messages before they reach a log line.

use super::CredentialError;
use crate::wire::{BodyError, read_bounded};

/// A response that was read in full.
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `request` and reads at most `limit` bytes of the answer.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    provider: &'static str,
    endpoint: &str,
    limit: usize,
) -> Result<Response, CredentialError> {
    let remote = |message: String, transient| CredentialError::Remote {
        provider,
        endpoint: endpoint.to_owned(),
        message,
        transient,
    };
    let too_large = |status| {
        remote(
            format!("HTTP {status}: body larger than {limit} bytes"),
            false,
        )
    };
    let response = request
        .send()
        .await
        .map_err(|e| remote(transport(e), true))?;
    let status = response.status().as_u16();
    let body = read_bounded(response, limit).await.map_err(|e| match e {
        BodyError::TooLarge => too_large(status),
        BodyError::Transport(e) => remote(transport(e), true),
    })?;
    Ok(Response { status, body })
}

/// A transport error as text, without the request URL.
fn transport(e: reqwest::Error) -> String {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Server messages are cleaned exactly as the CAMS client cleans them.
pub(crate) use crate::wire::clean_message;

/// A URL for messages and descriptions: scheme, host, port and path; user info and query
/// values (which may be tokens) are replaced by `***`.
pub(crate) fn display_url(raw: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(raw) else {
        return "<invalid URL>".into();
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("***");
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| format!("{k}=***")).collect();
        url.set_query(None);
        let mut s = url.to_string();
        s.push('?');
        s.push_str(&keys.join("&"));
        return s;
    }
    url.set_fragment(None);
    url.to_string()
}

/// Checks that `raw` is an absolute http(s) URL with a host.
pub(crate) fn check_url(raw: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(raw).map_err(|e| format!("{} is not a URL: {e}", display_url(raw)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{} must be an http(s) URL with a host",
            display_url(raw)
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_hides_user_info_and_query_values() {
        assert_eq!(
            display_url("https://user:pw@creds.local:8443/v1/creds?token=abc&x=1"),
            "https://***@creds.local:8443/v1/creds?token=***&x=***"
        );
        assert_eq!(display_url("http://127.0.0.1:9/c"), "http://127.0.0.1:9/c");
    }

    #[test]
    fn clean_message_cuts_the_echoed_string_to_sign() {
        let m = clean_message(
            "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3Dtok",
        );
        assert!(!m.contains("tok"), "{m}");
        assert!(m.ends_with("string to sign is"), "{m}");
    }
}
