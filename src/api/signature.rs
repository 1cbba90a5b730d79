//! The signature version of an account, and the one place where the request shape depends
//! on it: [`SignatureVersion::prepare`] turns an operation's parameters into the URL and
//! headers to send, signed with RPC v1 or V3.
//!
//! - **v1** (HMAC-SHA1, cams-api.md §2): every parameter, the common ones included
//!   (`Action`, `Version`, `Timestamp`, `SignatureNonce`, ...), goes in the signed query.
//! - **V3** (ACS3-HMAC-SHA256, §11): only the operation's own and tenant parameters go in
//!   the query; the action, version, date, nonce, body hash and STS token travel as
//!   `x-acs-*` headers, signed with `host` into `Authorization`.
//!
//! The credential providers' own STS calls always use v1, as Alibaba's credentials library
//! signs them (`credentials/sts.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::client::{API_VERSION, Target, request_params};
use super::{signing, signing_v3};
use crate::credentials::{Credentials, expose};

/// `--api.signature-version` / `signature_version:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    /// RPC signature v1 (HMAC-SHA1), what the exporter has always sent.
    #[default]
    V1,
    /// Signature V3 (ACS3-HMAC-SHA256), Alibaba's recommended scheme.
    V3,
}

impl fmt::Display for SignatureVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureVersion::V1 => "v1",
            SignatureVersion::V3 => "v3",
        })
    }
}

impl FromStr for SignatureVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v1" => Ok(SignatureVersion::V1),
            "v3" => Ok(SignatureVersion::V3),
            _ => Err(format!("{s:?} is not a signature version (v1 or v3)")),
        }
    }
}

/// A signed request, ready to send with an empty body.
#[derive(Clone)]
pub struct Prepared {
    /// The full URL with the query.
    pub url: String,
    /// Headers to send (V3's `x-acs-*` and `Authorization`; none for v1).
    pub headers: Vec<(&'static str, String)>,
    /// Our string to sign, compared with the server's echo on `SignatureDoesNotMatch`.
    pub string_to_sign: String,
}

impl fmt::Debug for Prepared {
    // The URL (v1) and the headers (V3) carry the signature and any STS token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl SignatureVersion {
    /// Builds and signs a POST of `action` for `target` with the operation's `params`.
    /// `timestamp` (UTC `%Y-%m-%dT%H:%M:%SZ`) and `nonce` are passed in, so the result is a
    /// pure function of the inputs.
    pub fn prepare(
        self,
        action: &str,
        target: &Target,
        creds: &Credentials,
        params: &[(&str, &str)],
        timestamp: &str,
        nonce: &str,
    ) -> Prepared {
        let endpoint = target.endpoint.trim_end_matches('/');
        match self {
            SignatureVersion::V1 => {
                let mut all = request_params(action, target, creds, timestamp, nonce);
                all.extend(
                    params
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                let signed = signing::sign("POST", &all, expose(&creds.access_key_secret));
                Prepared {
                    url: format!("{endpoint}/?{}", signed.query),
                    headers: Vec::new(),
                    string_to_sign: signed.string_to_sign,
                }
            }
            SignatureVersion::V3 => {
                let mut query: BTreeMap<String, String> = BTreeMap::new();
                if let Some(space) = &target.cust_space_id {
                    query.insert("CustSpaceId".into(), space.clone());
                }
                if let Some(code) = &target.isv_code {
                    query.insert("IsvCode".into(), expose(code).to_owned());
                }
                query.extend(
                    params
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                let mut headers: Vec<(&'static str, String)> = vec![
                    ("host", host_of(endpoint)),
                    ("x-acs-action", action.to_owned()),
                    ("x-acs-version", API_VERSION.to_owned()),
                    ("x-acs-date", timestamp.to_owned()),
                    ("x-acs-signature-nonce", nonce.to_owned()),
                    ("x-acs-content-sha256", signing_v3::hex_sha256(b"")),
                ];
                if let Some(token) = &creds.security_token {
                    headers.push(("x-acs-security-token", expose(token).to_owned()));
                }
                let pairs: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let signed = signing_v3::sign(
                    &signing_v3::Request {
                        method: "POST",
                        pathname: "/",
                        query: &query,
                        headers: &pairs,
                        body: b"",
                    },
                    &creds.access_key_id,
                    expose(&creds.access_key_secret),
                );
                let query = signing_v3::canonical_query(&query);
                // reqwest sets Host from the URL itself; the value signed is the same.
                headers.retain(|(k, _)| *k != "host");
                headers.push(("authorization", signed.authorization));
                Prepared {
                    url: if query.is_empty() {
                        format!("{endpoint}/")
                    } else {
                        format!("{endpoint}/?{query}")
                    },
                    headers,
                    string_to_sign: signed.string_to_sign,
                }
            }
        }
    }
}

/// The `Host` header an HTTP client sends for `endpoint`: the host, and the port when it is
/// not the scheme's default.
fn host_of(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_http_clients_send_them() {
        assert_eq!(
            host_of("https://cams.ap-southeast-1.aliyuncs.com"),
            "cams.ap-southeast-1.aliyuncs.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(host_of("https://example.com:443"), "example.com");
        assert_eq!(host_of("http://[::1]:9"), "[::1]:9");
    }

    #[test]
    fn versions_parse_and_print() {
        assert_eq!("V3".parse::<SignatureVersion>(), Ok(SignatureVersion::V3));
        assert_eq!(SignatureVersion::default().to_string(), "v1");
        assert!("v2".parse::<SignatureVersion>().is_err());
    }
}
