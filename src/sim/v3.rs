//! The simulator's verification of Signature V3 (`ACS3-HMAC-SHA256`), written apart from the
//! client's signer (`crate::api::signing_v3`) so that each checks the other: nothing here is
//! shared with `crate::api`, and both are checked against the official SDK's vectors
//! (`tests/fixtures/vectors/acs3-hmac-sha256.json`).
//!
//! The algorithm (cams-api.md §11, Alibaba's "V3 request structure and signature"):
//! - `CanonicalRequest = METHOD \n PATH \n canonical query \n canonical headers \n
//!   signed headers \n hex(SHA-256(body))`;
//! - canonical query: the decoded query parameters sorted by name (bytes), `name=value` with the
//!   name as it is and the value percent-encoded per RFC 3986 (unreserved `A-Z a-z 0-9 - _ . ~`
//!   kept, every other UTF-8 byte `%XY` in uppercase hex, so space is `%20`), joined by `&`;
//! - canonical headers: for each name in `SignedHeaders` (lowercase, sorted), `name:value\n`
//!   with the value trimmed;
//! - `StringToSign = "ACS3-HMAC-SHA256\n" + hex(SHA-256(CanonicalRequest))`;
//! - `Signature = hex(HMAC-SHA256(secret, StringToSign))`, the secret's UTF-8 bytes as the key
//!   (no `&` appended, unlike v1);
//! - `Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;...>,
//!   Signature=<hex>`.
//!
//! `verify` applies the gateway's checks to one HTTP request; the pure functions before it
//! are what the tests check against the vectors, and [`sign`] is the verifier's own
//! computation run forwards, for tests that need a request the simulator accepts.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::{
    SimRequest, SimResponse, SimState, fresh_timestamp, known_key, known_operation_with_parameters,
    matching_security_token, missing_parameter, remember_nonce, signature_mismatch,
};

/// The only V3 algorithm the simulator accepts (the SDKs also know `ACS3-HMAC-SM3` and
/// `ACS3-RSA-SHA256`; CAMS clients here use HMAC-SHA256 only).
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The API version every CAMS call must name in `x-acs-version`.
const CAMS_VERSION: &str = "2020-06-06";

/// Headers a V3 request must carry (besides `Authorization`).
const REQUIRED_HEADERS: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// RFC 3986: everything but `A-Z a-z 0-9 - _ . ~` is encoded; `percent-encoding` writes
/// uppercase hex digits.
const RFC3986_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lowercase hex SHA-256 of `bytes` (the hashed payload, `x-acs-content-sha256`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex HMAC-SHA256 of `data` keyed with the secret's UTF-8 bytes.
pub fn hmac_sha256_hex(secret: &str, data: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(data.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Decodes a query string as it arrives on the wire (`a=1&b=x+y%2Bz`): pairs split on `&`,
/// name and value split on the first `=`, `+` and `%20` both decoded to a space, other
/// `%XY` escapes decoded, invalid UTF-8 replaced. Empty pairs are skipped; `Key` and `Key=`
/// are both the empty value. The Tea SDK puts `+` for a space on the wire (and `%2B` for a
/// `+`), other clients `%20`; both canonicalise to `%20`.
pub fn decode_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let plus_as_space: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3986 percent-encoding of a query value (uppercase hex, space `%20`).
pub fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, RFC3986_UNRESERVED).to_string()
}

/// The canonical query string of decoded `params`: sorted by name in byte order (a repeated
/// name by its encoded value), `name=encode(value)` joined by `&`. Names are used as they
/// are, as the SDK does (`keys are not percent-encoded by the SDK`, vector 16).
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), encode_value(v)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&value);
    }
    out
}

/// `SignedHeaders` as the verifier uses it: names lowercased, sorted, without repeats or
/// empty entries.
pub fn normalise_signed_headers<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|n| n.as_ref().trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The value of header `name` (any case) in `headers`: every occurrence trimmed, joined by
/// `,` if the header is repeated; `None` if absent.
fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The canonical headers block: `name:value\n` for each of `signed` (already normalised),
/// in that order. Errs with the first signed name that is not among `headers`.
pub fn canonical_headers(
    headers: &[(String, String)],
    signed: &[String],
) -> Result<String, String> {
    let mut out = String::new();
    for name in signed {
        let value = header_value(headers, name).ok_or_else(|| name.clone())?;
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    Ok(out)
}

/// One request as the verifier sees it: decoded query, headers as (name, value) pairs in any
/// case, raw body.
#[derive(Debug, Clone, Copy)]
pub struct V3Request<'a> {
    /// HTTP method, as sent (`POST`).
    pub method: &'a str,
    /// Request path (`/`); an empty path counts as `/`.
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a [(String, String)],
    /// Request body.
    pub body: &'a [u8],
}

/// The canonical request of `request` over `signed` (normalised header names). Errs with a
/// signed header name the request does not carry.
pub fn canonical_request(request: &V3Request<'_>, signed: &[String]) -> Result<String, String> {
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        path,
        canonical_query(request.query),
        canonical_headers(request.headers, signed)?,
        signed.join(";"),
        sha256_hex(request.body),
    ))
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The hex HMAC-SHA256 signature of `string_to_sign` with `secret`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    hmac_sha256_hex(secret, string_to_sign)
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `Credential`: the AccessKey ID.
    pub credential: String,
    /// `SignedHeaders`, split on `;`, as sent.
    pub signed_headers: Vec<String>,
    /// `Signature`, as sent.
    pub signature: String,
}

impl Authorization {
    /// The header value: `ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...`.
    pub fn header_value(&self) -> String {
        format!(
            "{ALGORITHM} Credential={},SignedHeaders={},Signature={}",
            self.credential,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

/// Why an `Authorization` header does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationError {
    /// The scheme is not `ACS3-HMAC-SHA256`.
    Algorithm,
    /// A field is missing, empty, repeated or unknown.
    Malformed,
}

/// Parses `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>`. The three
/// fields may come in any order and may have spaces around the commas; each must appear
/// exactly once and be non-empty; no other field is allowed.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthorizationError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(AuthorizationError::Algorithm)?;
    if scheme != ALGORITHM {
        return Err(AuthorizationError::Algorithm);
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in rest.split(',') {
        let (name, v) = field
            .trim()
            .split_once('=')
            .ok_or(AuthorizationError::Malformed)?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(AuthorizationError::Malformed),
        };
        let v = v.trim();
        if v.is_empty() || slot.is_some() {
            return Err(AuthorizationError::Malformed);
        }
        *slot = Some(v.to_owned());
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthorizationError::Malformed);
    };
    Ok(Authorization {
        credential,
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature,
    })
}

/// What the verifier computed for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign (echoed on `SignatureDoesNotMatch`; it holds only a hash).
    pub string_to_sign: String,
    /// The expected hex signature.
    pub signature: String,
}

/// Computes the canonical request, string to sign and signature of `request` over `signed`
/// (normalised with [`normalise_signed_headers`] first). Errs with a signed header name the
/// request does not carry.
pub fn compute<S: AsRef<str>>(
    request: &V3Request<'_>,
    signed: &[S],
    secret: &str,
) -> Result<Computed, String> {
    let signed = normalise_signed_headers(signed);
    let canonical_request = canonical_request(request, &signed)?;
    let string_to_sign = string_to_sign(&canonical_request);
    let signature = signature(secret, &string_to_sign);
    Ok(Computed {
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// Signs `request` over every header it carries, as the SDK does: the verifier's own
/// computation run forwards, for tests that need a request the simulator accepts. Returns
/// what was computed and the `Authorization` header.
pub fn sign(
    request: &V3Request<'_>,
    access_key_id: &str,
    secret: &str,
) -> (Computed, Authorization) {
    let names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed = normalise_signed_headers(&names);
    let computed = compute(request, &signed, secret).expect("every header signed is present");
    let authorization = Authorization {
        credential: access_key_id.to_owned(),
        signed_headers: signed,
        signature: computed.signature.clone(),
    };
    (computed, authorization)
}

/// Checks `authorization`'s signature over `request` with `secret`: `Err(string to sign)`
/// on a mismatch. A signed header the request lacks is a mismatch over what is there (the
/// string to sign then omits it).
pub fn check_signature(
    request: &V3Request<'_>,
    authorization: &Authorization,
    secret: &str,
) -> Result<Computed, String> {
    let signed = normalise_signed_headers(&authorization.signed_headers);
    let present: Vec<String> = signed
        .iter()
        .filter(|n| header_value(request.headers, n).is_some())
        .cloned()
        .collect();
    let computed = compute(request, &present, secret).expect("only present headers");
    if present.len() == signed.len() && computed.signature == authorization.signature {
        Ok(computed)
    } else {
        Err(computed.string_to_sign)
    }
}

/// Parses `x-acs-date`: exactly `%Y-%m-%dT%H:%M:%SZ` (UTC, no fraction, no offset).
pub fn parse_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    humantime::parse_rfc3339(value).ok()
}

fn incomplete_signature(detail: &str) -> SimResponse {
    SimResponse::error(
        400,
        "IncompleteSignature",
        &format!("The request signature does not conform to Aliyun standards. {detail}"),
    )
}

/// Headers as (lowercase name, value) pairs; a value that is not UTF-8 is taken lossily.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Whether a request is to be verified as V3: it has an `Authorization` or an
/// `x-acs-action` header (a v1 request has neither).
pub fn is_v3(headers: &HeaderMap) -> bool {
    headers.contains_key(axum::http::header::AUTHORIZATION) || headers.contains_key("x-acs-action")
}

/// The gateway's checks on a V3 request, in order, with its error codes (cams-api.md §6,
/// §11), then the same registry checks as v1. `method` has been checked already. `now` is
/// the simulator's clock (passed in for the tests).
pub(super) fn verify(
    state: &SimState,
    now: SystemTime,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<SimRequest, SimResponse> {
    let pairs = header_pairs(headers);
    let h = |name: &str| header_value(&pairs, name).unwrap_or_default();

    let authorization = authorization(&pairs)?;
    required_headers(&pairs)?;
    let query = query_without_v1_signature(raw_query)?;
    cams_version(&h("x-acs-version"))?;
    signed_headers_cover(&pairs, &authorization)?;
    let key = known_key(state, &authorization.credential)?;
    fresh_timestamp(parse_date(&h("x-acs-date")), now)?;
    content_hash_matches(&h("x-acs-content-sha256"), body)?;
    let request = V3Request {
        method,
        path,
        query: &query,
        headers: &pairs,
        body,
    };
    check_signature(&request, &authorization, &key.secret)
        .map_err(|string_to_sign| signature_mismatch(&string_to_sign))?;

    let action = h("x-acs-action");
    let params = parameters(query, &pairs, body);
    known_operation_with_parameters(&action, &params)?;
    matching_security_token(key, header_value(&pairs, "x-acs-security-token").as_deref())?;
    remember_nonce(state, &h("x-acs-signature-nonce"))?;
    Ok(SimRequest {
        method: method.to_owned(),
        action,
        params,
        signature: "v3",
    })
}

/// The `Authorization` header, parsed. It is checked first: it is what makes this a V3
/// request.
fn authorization(pairs: &[(String, String)]) -> Result<Authorization, SimResponse> {
    let Some(auth_value) = header_value(pairs, "authorization") else {
        return Err(incomplete_signature("The Authorization header is missing."));
    };
    parse_authorization(&auth_value).map_err(|e| match e {
        AuthorizationError::Algorithm => {
            incomplete_signature("The signature algorithm must be ACS3-HMAC-SHA256.")
        }
        AuthorizationError::Malformed => incomplete_signature(
            "The Authorization header must be Credential=...,SignedHeaders=...,Signature=....",
        ),
    })
}

/// The required common headers ([`REQUIRED_HEADERS`]), each present and non-empty.
fn required_headers(pairs: &[(String, String)]) -> Result<(), SimResponse> {
    for name in REQUIRED_HEADERS {
        if header_value(pairs, name).is_none_or(|v| v.is_empty()) {
            return Err(missing_parameter(name));
        }
    }
    Ok(())
}

/// The decoded query, which must not carry v1's `Signature` or `SignatureMethod`.
fn query_without_v1_signature(raw_query: &str) -> Result<Vec<(String, String)>, SimResponse> {
    let query = decode_query(raw_query);
    if query
        .iter()
        .any(|(k, _)| k == "Signature" || k == "SignatureMethod")
    {
        return Err(SimResponse::error(
            400,
            "InvalidParameter",
            "A request signed with ACS3-HMAC-SHA256 must not carry Signature or SignatureMethod in the query.",
        ));
    }
    Ok(query)
}

/// The API version in `x-acs-version`, which must be CAMS's.
fn cams_version(version: &str) -> Result<(), SimResponse> {
    if version != CAMS_VERSION {
        return Err(SimResponse::error(
            404,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    Ok(())
}

/// `SignedHeaders` against the headers sent: every common header present is signed, and
/// every signed header is present.
fn signed_headers_cover(
    pairs: &[(String, String)],
    authorization: &Authorization,
) -> Result<(), SimResponse> {
    // Every common header present must be signed (host and all x-acs-*).
    let signed = normalise_signed_headers(&authorization.signed_headers);
    if let Some(unsigned) = pairs
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .find(|n| (n == "host" || n.starts_with("x-acs-")) && !signed.contains(n))
    {
        return Err(incomplete_signature(&format!(
            "The header \"{unsigned}\" must be in SignedHeaders."
        )));
    }
    if let Some(absent) = signed.iter().find(|n| header_value(pairs, n).is_none()) {
        return Err(incomplete_signature(&format!(
            "SignedHeaders names \"{absent}\", which the request does not carry."
        )));
    }
    Ok(())
}

/// The hashed payload: `x-acs-content-sha256` is the SHA-256 of the body received.
fn content_hash_matches(content_sha256: &str, body: &[u8]) -> Result<(), SimResponse> {
    if content_sha256 != sha256_hex(body) {
        return Err(SimResponse::error(
            400,
            "InvalidParameter",
            "Specified header x-acs-content-sha256 does not match the SHA-256 of the request body.",
        ));
    }
    Ok(())
}

/// The request's parameters: the query's, and a form body's when there is one.
fn parameters(
    mut query: Vec<(String, String)>,
    pairs: &[(String, String)],
    body: &[u8],
) -> BTreeMap<String, String> {
    // A form body (the SDK's formData) carries parameters too; CAMS clients send none.
    let form_body = header_value(pairs, "content-type").is_some_and(|ct| {
        ct.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if form_body && !body.is_empty() {
        query.extend(decode_query(&String::from_utf8_lossy(body)));
    }
    query.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::http::{HeaderName, HeaderValue};
    use serde::Deserialize;

    use super::*;
    use crate::sim::{Backend, SimKey};

    #[derive(Debug, Deserialize)]
    struct Vector {
        name: String,
        method: String,
        pathname: String,
        query: serde_json::Map<String, serde_json::Value>,
        headers: serde_json::Map<String, serde_json::Value>,
        body: String,
        access_key_id: String,
        access_key_secret: String,
        canonical_request: String,
        string_to_sign: String,
        signature: String,
        authorization: String,
        url: Option<String>,
    }

    impl Vector {
        fn query(&self) -> Vec<(String, String)> {
            pairs(&self.query)
        }
        fn headers(&self) -> Vec<(String, String)> {
            pairs(&self.headers)
        }
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.as_str())
        }
        /// The wire query: the SDK's URL where the vector has one, else our own encoding.
        fn raw_query(&self) -> String {
            match &self.url {
                Some(url) => url
                    .split_once('?')
                    .map(|(_, q)| q.to_owned())
                    .unwrap_or_default(),
                None => self
                    .query()
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode_value(k), encode_value(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            }
        }
    }

    fn pairs(map: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_owned()))
            .collect()
    }

    fn vectors() -> Vec<Vector> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vectors/acs3-hmac-sha256.json"
        );
        let text = std::fs::read_to_string(path).expect("vector file");
        let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vector JSON");
        assert_eq!(vectors.len(), 21, "the official SDK produced 21 vectors");
        vectors
    }

    fn with_request<T>(v: &Vector, f: impl FnOnce(&V3Request<'_>) -> T) -> T {
        let query = v.query();
        let headers = v.headers();
        f(&V3Request {
            method: &v.method,
            path: &v.pathname,
            query: &query,
            headers: &headers,
            body: v.body.as_bytes(),
        })
    }

    #[test]
    fn every_vector_canonicalises_and_signs_like_the_sdk() {
        for v in vectors() {
            let (computed, auth) =
                with_request(&v, |r| sign(r, &v.access_key_id, &v.access_key_secret));
            assert_eq!(
                computed.canonical_request, v.canonical_request,
                "{}",
                v.name
            );
            assert_eq!(computed.string_to_sign, v.string_to_sign, "{}", v.name);
            assert_eq!(computed.signature, v.signature, "{}", v.name);
            assert_eq!(auth.header_value(), v.authorization, "{}", v.name);
            assert_eq!(
                v.header("x-acs-content-sha256"),
                Some(sha256_hex(v.body.as_bytes()).as_str()),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn every_vector_authorization_parses_and_verifies() {
        for v in vectors() {
            let auth = parse_authorization(&v.authorization).expect(&v.name);
            assert_eq!(auth.credential, v.access_key_id, "{}", v.name);
            assert_eq!(auth.signature, v.signature, "{}", v.name);
            assert_eq!(auth.header_value(), v.authorization, "{}", v.name);
            let computed = with_request(&v, |r| check_signature(r, &auth, &v.access_key_secret))
                .unwrap_or_else(|s| panic!("{}: rejected, server string to sign {s:?}", v.name));
            assert_eq!(computed.string_to_sign, v.string_to_sign, "{}", v.name);
        }
    }

    #[test]
    fn the_wire_query_decodes_to_the_vector_inputs() {
        // The SDK's URLs use `+` for a space and `%2B` for a `+` (vectors 9, 11, 13).
        for v in vectors() {
            let Some(_) = v.url else { continue };
            let mut decoded = decode_query(&v.raw_query());
            let mut expected = v.query();
            decoded.sort();
            expected.sort();
            assert_eq!(decoded, expected, "{}", v.name);
            assert_eq!(
                canonical_query(&decoded),
                v.canonical_request.split('\n').nth(2).unwrap_or_default(),
                "{}",
                v.name
            );
        }
        assert_eq!(
            decode_query("a=x%20y+z&b&=c&&d=%2B"),
            vec![
                ("a".into(), "x y z".into()),
                ("b".into(), String::new()),
                (String::new(), "c".into()),
                ("d".into(), "+".into()),
            ]
        );
    }

    #[test]
    fn canonical_query_rules() {
        let q = |pairs: &[(&str, &str)]| {
            canonical_query(
                &pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(q(&[]), "");
        assert_eq!(q(&[("b", "1"), ("a", "")]), "a=&b=1");
        assert_eq!(q(&[("a", "x y*~/é")]), "a=x%20y%2A~%2F%C3%A9");
        assert_eq!(q(&[("a", "z"), ("B", "y"), ("_", "x")]), "B=y&_=x&a=z");
    }

    #[test]
    fn tampered_vectors_are_rejected_with_the_server_string_to_sign() {
        let vectors = vectors();
        let v = vectors
            .iter()
            .find(|v| v.query.contains_key("Status") && v.method == "POST" && v.body.is_empty())
            .expect("a vector with Status");
        let auth = parse_authorization(&v.authorization).unwrap();
        let query = v.query();
        let headers = v.headers();
        let base = V3Request {
            method: &v.method,
            path: &v.pathname,
            query: &query,
            headers: &headers,
            body: b"",
        };

        // One query value changed.
        let mut q2 = query.clone();
        q2.iter_mut().find(|(k, _)| k == "Status").unwrap().1 = "DISCONNECTED".into();
        let r = V3Request { query: &q2, ..base };
        let s = check_signature(&r, &auth, &v.access_key_secret).unwrap_err();
        assert_ne!(s, v.string_to_sign);
        assert_eq!(
            s,
            compute(&r, &auth.signed_headers, "x")
                .unwrap()
                .string_to_sign
        );

        // One signed header changed.
        let mut h2 = headers.clone();
        h2.iter_mut()
            .find(|(k, _)| k == "x-acs-signature-nonce")
            .unwrap()
            .1 = "other".into();
        let r = V3Request {
            headers: &h2,
            ..base
        };
        let s = check_signature(&r, &auth, &v.access_key_secret).unwrap_err();
        assert_ne!(s, v.string_to_sign);

        // The method changed.
        let r = V3Request {
            method: "GET",
            ..base
        };
        assert!(check_signature(&r, &auth, &v.access_key_secret).is_err());

        // The wrong secret: same string to sign, different signature.
        let s = check_signature(&base, &auth, "not-the-secret").unwrap_err();
        assert_eq!(s, v.string_to_sign);

        // A tampered signature.
        let mut bad = auth.clone();
        bad.signature = bad.signature.to_uppercase();
        assert_eq!(
            check_signature(&base, &bad, &v.access_key_secret).unwrap_err(),
            v.string_to_sign
        );
    }

    #[test]
    fn authorization_parsing() {
        let ok = parse_authorization(
            "ACS3-HMAC-SHA256 Signature=ab, Credential=id ,SignedHeaders=host;x-acs-date",
        )
        .unwrap();
        assert_eq!(ok.credential, "id");
        assert_eq!(ok.signed_headers, ["host", "x-acs-date"]);
        assert_eq!(ok.signature, "ab");
        for (bad, why) in [
            ("", AuthorizationError::Algorithm),
            ("ACS3-HMAC-SHA256", AuthorizationError::Algorithm),
            (
                "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=b",
                AuthorizationError::Algorithm,
            ),
            ("Bearer abc", AuthorizationError::Algorithm),
            (
                "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
                AuthorizationError::Malformed,
            ),
            (
                "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=b",
                AuthorizationError::Malformed,
            ),
            (
                "ACS3-HMAC-SHA256 Credential=a,Credential=a,SignedHeaders=host,Signature=b",
                AuthorizationError::Malformed,
            ),
            (
                "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=b,Extra=c",
                AuthorizationError::Malformed,
            ),
            (
                "ACS3-HMAC-SHA256 Credential=a;SignedHeaders=host;Signature=b",
                AuthorizationError::Malformed,
            ),
        ] {
            assert_eq!(parse_authorization(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        assert!(parse_date("2024-05-01T08:09:10Z").is_some());
        for bad in [
            "2024-05-01T08:09:10",
            "2024-05-01T08:09:10.000Z",
            "2024-05-01T08:09:10+00:00",
            "2024-05-01 08:09:10Z",
            "2024-13-01T08:09:10Z",
            "Wed, 01 May 2024 08:09:10 GMT",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad:?}");
        }
    }

    struct Nobody;
    impl Backend for Nobody {
        fn respond(&self, _request: &SimRequest) -> SimResponse {
            SimResponse::ok(serde_json::json!({}))
        }
    }

    /// A simulator state that knows `v`'s key (vectors share key IDs with different
    /// secrets, so one vector's key at a time).
    fn state_for(v: &Vector) -> SimState {
        let keys = HashMap::from([(
            v.access_key_id.clone(),
            SimKey {
                secret: v.access_key_secret.clone(),
                security_token: v.header("x-acs-security-token").map(str::to_owned),
            },
        )]);
        SimState {
            backend: Arc::new(Nobody),
            keys,
            nonces: Mutex::default(),
            log: Mutex::default(),
        }
    }

    fn header_map(headers: &[(String, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).unwrap(),
                // hyper trims header values on the wire; keep them as given here.
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    /// Runs the full verification on `v` at its own `x-acs-date`, with `headers` and the
    /// vector's Authorization.
    fn verify_vector(
        state: &SimState,
        v: &Vector,
        headers: &[(String, String)],
        authorization: &str,
        now: SystemTime,
    ) -> Result<SimRequest, SimResponse> {
        let mut map = header_map(headers);
        map.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        verify(
            state,
            now,
            &v.method,
            &v.pathname,
            &v.raw_query(),
            &map,
            v.body.as_bytes(),
        )
    }

    fn at(v: &Vector) -> SystemTime {
        parse_date(v.header("x-acs-date").unwrap()).unwrap()
    }

    fn code(r: &Result<SimRequest, SimResponse>) -> (u16, String, String) {
        let e = r.as_ref().expect_err("rejected");
        let body: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
        (
            e.status,
            body["Code"].as_str().unwrap().to_owned(),
            body["Message"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn every_cams_vector_passes_the_full_gateway_checks() {
        let vectors = vectors();
        for v in &vectors {
            // Fresh nonce memory per vector: several vectors share a nonce.
            let state = state_for(v);
            let r = verify_vector(&state, v, &v.headers(), &v.authorization, at(v));
            if v.header("x-acs-version") != Some(CAMS_VERSION) {
                // The documented example is an ECS call.
                assert_eq!(code(&r).1, "InvalidVersion", "{}", v.name);
                continue;
            }
            let req =
                r.unwrap_or_else(|e| panic!("{}: {}", v.name, String::from_utf8_lossy(&e.body)));
            assert_eq!(req.signature, "v3");
            assert_eq!(Some(req.action.as_str()), v.header("x-acs-action"));
            assert_eq!(req.method, v.method);
            for (k, val) in v.query() {
                assert_eq!(req.param(&k), Some(val.as_str()), "{}", v.name);
            }
            // The same request again reuses its nonce.
            let again = verify_vector(&state, v, &v.headers(), &v.authorization, at(v));
            assert_eq!(code(&again).1, "SignatureNonceUsed", "{}", v.name);
        }
    }

    #[test]
    fn the_form_body_vector_carries_its_parameters() {
        let vectors = vectors();
        let v = vectors.iter().find(|v| !v.body.is_empty()).unwrap();
        let state = state_for(v);
        let req = verify_vector(&state, v, &v.headers(), &v.authorization, at(v)).unwrap();
        assert_eq!(req.param("CustSpaceId"), Some("a b*c"));
        assert_eq!(req.param("IsvCode"), Some("阿里"));
        assert_eq!(req.param("Status"), Some("CONNECTED"));
    }

    fn cams_vector(vectors: &[Vector]) -> &Vector {
        vectors
            .iter()
            .find(|v| v.query.contains_key("Status") && v.method == "POST" && v.body.is_empty())
            .unwrap()
    }

    #[test]
    fn gateway_rejections() {
        let vectors = vectors();
        let v = cams_vector(&vectors);
        let now = at(v);
        let headers = v.headers();
        let check = |headers: &[(String, String)], auth: &str, now: SystemTime| {
            code(&verify_vector(&state_for(v), v, headers, auth, now))
        };
        let with = |name: &str, value: &str| {
            let mut h = headers.clone();
            h.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_owned();
            h
        };
        let without = |name: &str| {
            headers
                .iter()
                .filter(|(k, _)| k != name)
                .cloned()
                .collect::<Vec<_>>()
        };

        // Stale or future dates, beyond 15 minutes; within is fine.
        let (status, c, _) = check(
            &headers,
            &v.authorization,
            now + Duration::from_secs(16 * 60),
        );
        assert_eq!((status, c.as_str()), (400, "InvalidTimeStamp.Expired"));
        let (_, c, _) = check(
            &headers,
            &v.authorization,
            now - Duration::from_secs(16 * 60),
        );
        assert_eq!(c, "InvalidTimeStamp.Expired");
        assert!(
            verify_vector(
                &state_for(v),
                v,
                &headers,
                &v.authorization,
                now + Duration::from_secs(14 * 60)
            )
            .is_ok()
        );
        // A badly formatted date.
        let (_, c, _) = check(
            &with("x-acs-date", "2024-02-29 00:00:00"),
            &v.authorization,
            now,
        );
        assert_eq!(c, "InvalidTimeStamp.Format");

        // A changed header value: the signature no longer matches, and the message ends
        // with the server's string to sign.
        let (status, c, m) = check(
            &with("x-acs-signature-nonce", "fresh"),
            &v.authorization,
            now,
        );
        assert_eq!((status, c.as_str()), (400, "SignatureDoesNotMatch"));
        let echoed = m
            .strip_prefix("Specified signature is not matched with our calculation. server string to sign is:")
            .unwrap();
        assert!(echoed.starts_with("ACS3-HMAC-SHA256\n"));
        assert_ne!(echoed, v.string_to_sign);

        // The wrong secret: the echoed string equals the client's own.
        let mut wrong = state_for(v);
        wrong.keys.get_mut(&v.access_key_id).unwrap().secret = "wrong".into();
        let (_, c, m) = code(&verify_vector(&wrong, v, &headers, &v.authorization, now));
        assert_eq!(c, "SignatureDoesNotMatch");
        assert!(m.ends_with(&format!("server string to sign is:{}", v.string_to_sign)));

        // A tampered query value.
        let mut tampered = state_for(v);
        tampered.keys.get_mut(&v.access_key_id).unwrap().secret = v.access_key_secret.clone();
        let mut map = header_map(&headers);
        map.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&v.authorization).unwrap(),
        );
        let raw = v.raw_query().replace("CONNECTED", "OFFLINE");
        let r = verify(&tampered, now, &v.method, "/", &raw, &map, b"");
        let (_, c, m) = code(&r);
        assert_eq!(c, "SignatureDoesNotMatch");
        assert!(!m.ends_with(&v.string_to_sign));

        // Unknown key.
        let auth = v.authorization.replace(&v.access_key_id, "LTAInobody");
        let (status, c, _) = check(&headers, &auth, now);
        assert_eq!((status, c.as_str()), (404, "InvalidAccessKeyId.NotFound"));

        // Malformed or foreign Authorization.
        for bad in [
            "ACS3-HMAC-SHA256 Credential=x",
            "HMAC-SHA1 abc",
            "ACS3-HMAC-SHA256",
        ] {
            let (status, c, _) = check(&headers, bad, now);
            assert_eq!((status, c.as_str()), (400, "IncompleteSignature"), "{bad}");
        }

        // A header the signature does not cover: x-acs-* or host left out of SignedHeaders.
        for name in ["x-acs-date", "host", "x-acs-credentials-provider"] {
            let auth = parse_authorization(&v.authorization).unwrap();
            let mut narrower = auth.clone();
            narrower.signed_headers.retain(|n| n != name);
            let (_, c, m) = check(&headers, &narrower.header_value(), now);
            assert_eq!(c, "IncompleteSignature", "{name}");
            assert!(m.contains(name), "{m}");
        }
        // SignedHeaders names a header that was not sent.
        let mut wider = parse_authorization(&v.authorization).unwrap();
        wider.signed_headers.push("content-type".into());
        let (_, c, _) = check(&headers, &wider.header_value(), now);
        assert_eq!(c, "IncompleteSignature");
        // Accept and user-agent need not be signed (the doc's minimal set), but a signature
        // over the narrower set must then be recomputed: the vector's no longer matches.
        let mut minimal = parse_authorization(&v.authorization).unwrap();
        minimal
            .signed_headers
            .retain(|n| n != "accept" && n != "user-agent");
        let (_, c, _) = check(&headers, &minimal.header_value(), now);
        assert_eq!(c, "SignatureDoesNotMatch");

        // Missing required headers.
        for name in REQUIRED_HEADERS {
            if name == "host" {
                continue; // HTTP/1.1 always has one; covered by the SignedHeaders check
            }
            let (status, c, m) = check(&without(name), &v.authorization, now);
            assert_eq!((status, c.as_str()), (400, "MissingParameter"), "{name}");
            assert!(m.contains(name));
        }
        // A wrong version.
        let (status, c, _) = check(&with("x-acs-version", "2014-05-26"), &v.authorization, now);
        assert_eq!((status, c.as_str()), (404, "InvalidVersion"));
        // A content hash that is not the body's.
        let (_, c, m) = check(
            &with("x-acs-content-sha256", &sha256_hex(b"x")),
            &v.authorization,
            now,
        );
        assert_eq!(c, "InvalidParameter");
        assert!(m.contains("x-acs-content-sha256"));

        // No Authorization at all on a request with x-acs-* headers.
        let r = verify(
            &state_for(v),
            now,
            "POST",
            "/",
            &v.raw_query(),
            &header_map(&headers),
            b"",
        );
        assert_eq!(code(&r).1, "IncompleteSignature");
    }

    /// A CAMS request signed now by [`sign`], with `extra` headers and `query`.
    fn fresh(
        action: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        nonce: &str,
        secret: &str,
    ) -> (String, HeaderMap) {
        let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let mut headers: Vec<(String, String)> = [
            ("host", "cams.ap-southeast-1.aliyuncs.com"),
            ("x-acs-action", action),
            ("x-acs-version", CAMS_VERSION),
            ("x-acs-date", date.as_str()),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", &sha256_hex(b"")),
            ("accept", "application/json"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let raw = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_value(k), encode_value(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (_, auth) = sign(
            &V3Request {
                method: "POST",
                path: "/",
                query: &query,
                headers: &headers,
                body: b"",
            },
            "AK",
            secret,
        );
        headers.push(("authorization".into(), auth.header_value()));
        (raw, header_map(&headers))
    }

    fn sts_state(token: Option<&str>) -> SimState {
        SimState {
            backend: Arc::new(Nobody),
            keys: HashMap::from([(
                "AK".to_owned(),
                SimKey {
                    secret: "S".into(),
                    security_token: token.map(str::to_owned),
                },
            )]),
            nonces: Mutex::default(),
            log: Mutex::default(),
        }
    }

    #[test]
    fn registry_token_and_mixing_checks() {
        let now = SystemTime::now();
        let run = |state: &SimState, (raw, map): (String, HeaderMap)| {
            verify(state, now, "POST", "/", &raw, &map, b"")
        };
        let state = sts_state(None);
        let ok = run(
            &state,
            fresh(
                "QueryChatappBindWaba",
                &[("CustSpaceId", "a b")],
                &[],
                "n1",
                "S",
            ),
        )
        .unwrap();
        assert_eq!(ok.param("CustSpaceId"), Some("a b"));
        assert_eq!(ok.params.len(), 1);

        let r = run(&state, fresh("DeleteEverything", &[], &[], "n2", "S"));
        assert_eq!(
            code(&r),
            (
                404,
                "InvalidApi.NotFound".into(),
                "Specified api is not found, please check your url and method.".into()
            )
        );
        let r = run(
            &state,
            fresh("GetWhatsappHealthStatus", &[], &[], "n3", "S"),
        );
        assert_eq!(code(&r).1, "MissingParameter");
        assert!(code(&r).2.contains("NodeType"));

        for mixed in ["Signature", "SignatureMethod"] {
            let r = run(
                &state,
                fresh("QueryChatappBindWaba", &[(mixed, "x")], &[], "n4", "S"),
            );
            assert_eq!(code(&r).1, "InvalidParameter", "{mixed}");
        }

        // STS: the token header must match the key's.
        let sts = sts_state(Some("TOKEN"));
        let r = run(&sts, fresh("QueryChatappBindWaba", &[], &[], "n5", "S"));
        assert_eq!(code(&r).1, "InvalidSecurityToken.Mismatch");
        let r = run(
            &sts,
            fresh(
                "QueryChatappBindWaba",
                &[],
                &[("x-acs-security-token", "OTHER")],
                "n6",
                "S",
            ),
        );
        assert_eq!(code(&r).1, "InvalidSecurityToken.Mismatch");
        assert!(
            run(
                &sts,
                fresh(
                    "QueryChatappBindWaba",
                    &[],
                    &[("x-acs-security-token", "TOKEN")],
                    "n7",
                    "S"
                )
            )
            .is_ok()
        );
        let r = run(
            &state,
            fresh(
                "QueryChatappBindWaba",
                &[],
                &[("x-acs-security-token", "TOKEN")],
                "n8",
                "S",
            ),
        );
        assert_eq!(code(&r).1, "InvalidSecurityToken.Mismatch");

        // Wrong secret on a fresh request.
        let r = run(
            &state,
            fresh("QueryChatappBindWaba", &[], &[], "n9", "wrong"),
        );
        assert_eq!(code(&r).1, "SignatureDoesNotMatch");
        // A rejected request does not use up its nonce.
        assert!(run(&state, fresh("QueryChatappBindWaba", &[], &[], "n9", "S")).is_ok());
    }

    #[test]
    fn v1_and_v3_share_the_nonce_memory() {
        let state = sts_state(None);
        super::super::remember_nonce(&state, "shared").unwrap();
        let (raw, map) = fresh("QueryChatappBindWaba", &[], &[], "shared", "S");
        let r = verify(&state, SystemTime::now(), "POST", "/", &raw, &map, b"");
        assert_eq!(
            code(&r),
            (
                400,
                "SignatureNonceUsed".into(),
                "Specified signature nonce was used already.".into()
            )
        );
    }
}
