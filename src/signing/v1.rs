//! Alibaba Cloud RPC signature v1 (`HMAC-SHA1`, `SignatureVersion=1.0`).
//!
//! A pure function of its inputs: no clock, no randomness, no I/O. The caller passes the
//! timestamp and nonce in (see [`CommonParams`]) so the signer can be checked byte for byte
//! against the vectors made with Alibaba Cloud's official SDK
//! (`tests/fixtures/vectors/rpc-signature-v1.json`).
//!
//! The algorithm, from the "Signature mechanism" page (help.aliyun.com document 130769) and
//! `aliyunsdkcore/auth/composer/rpc_signature_composer.py`:
//! 1. take every parameter except `Signature`, keeping empty values as `Key=`;
//! 2. sort by raw name in byte order (case-sensitive);
//! 3. percent-encode names and values per RFC 3986 (unreserved `A-Z a-z 0-9 - _ . ~` kept,
//!    every other UTF-8 byte as uppercase `%XY`; space is `%20`, never `+`) and join them;
//! 4. `StringToSign = METHOD & enc("/") & enc(canonicalized query)`;
//! 5. `Signature = base64(HMAC-SHA1(secret + "&", StringToSign))`.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;

/// Every byte except the RFC 3986 unreserved set is encoded. `percent-encoding` emits
/// uppercase hex digits, as the signature requires.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` per RFC 3986 over UTF-8, the one encoding used for both passes of the
/// string-to-sign and for the final query string.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Joins already sorted parameters into the canonicalized query string
/// (`enc(name)=enc(value)&...`). The same string is the query we send, minus `Signature`.
pub fn canonicalized_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encode(name));
        out.push('=');
        out.push_str(&percent_encode(value));
    }
    out
}

/// Builds the string-to-sign for `method` over `params` (which must not contain `Signature`).
/// `BTreeMap<String, _>` orders keys by their bytes, which is exactly the order the SDK uses.
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let query = canonicalized_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&query)
    )
}

/// Computes the Base64 HMAC-SHA1 signature of `string_to_sign` with key `secret + "&"`.
pub fn sign_string(secret: &str, string_to_sign: &str) -> String {
    let mut key = Vec::with_capacity(secret.len() + 1);
    key.extend_from_slice(secret.as_bytes());
    key.push(b'&');
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The result of signing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The string-to-sign; compared with the server's echo on `SignatureDoesNotMatch`.
    pub string_to_sign: String,
    /// The Base64 signature. Never logged.
    pub signature: String,
    /// The full query string to send: canonicalized parameters plus `&Signature=...`.
    pub query: String,
}

/// Signs `params` for `method` and returns the string-to-sign, the signature and the query
/// string to put after `?`.
pub fn sign(method: &str, params: &BTreeMap<String, String>, secret: &str) -> Signed {
    let query = canonicalized_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let string_to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&query)
    );
    let signature = sign_string(secret, &string_to_sign);
    let query = format!("{query}&Signature={}", percent_encode(&signature));
    Signed {
        string_to_sign,
        signature,
        query,
    }
}

/// The per-request common parameters that are not constant: who signs, when, and with which
/// nonce. Passing them in keeps [`CommonParams::into_params`] pure and testable.
#[derive(Debug, Clone)]
pub struct CommonParams<'a> {
    /// The API action, e.g. `QueryChatappPhoneNumbers`.
    pub action: &'a str,
    /// The API version, `2020-06-06` for CAMS.
    pub version: &'a str,
    /// The AccessKey ID (an `STS.` ID for temporary credentials).
    pub access_key_id: &'a str,
    /// UTC timestamp `yyyy-MM-ddTHH:mm:ssZ`; the gateway rejects skew over ~15 minutes.
    pub timestamp: &'a str,
    /// Unique per request; a reused nonce is rejected with `SignatureNonceUsed`.
    pub nonce: &'a str,
    /// The STS security token, signed like any other parameter.
    pub security_token: Option<&'a str>,
}

impl CommonParams<'_> {
    /// Returns the common parameters as the map that [`sign`] takes, ready for the
    /// operation's own parameters to be added. `RegionId`, `SignatureType` and the
    /// SDK-internal `OwnerId`/`ResourceOwner*` are deliberately not sent (cams-api.md §1).
    pub fn into_params(self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("AccessKeyId".into(), self.access_key_id.into());
        p.insert("Action".into(), self.action.into());
        p.insert("Format".into(), "JSON".into());
        p.insert("SignatureMethod".into(), "HMAC-SHA1".into());
        p.insert("SignatureNonce".into(), self.nonce.into());
        p.insert("SignatureVersion".into(), "1.0".into());
        p.insert("Timestamp".into(), self.timestamp.into());
        p.insert("Version".into(), self.version.into());
        if let Some(token) = self.security_token {
            p.insert("SecurityToken".into(), token.into());
        }
        p
    }
}

/// Parses a raw query string (`a=b&c=d`, percent-encoded) into its decoded pairs, as a
/// server sees it. Used by the simulator to verify signatures; `+` is kept as `+` since
/// RFC 3986 encoders never emit it for a space.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters_like_the_sdk() {
        assert_eq!(
            percent_encode("a b*c~d+e/f=g&h"),
            "a%20b%2Ac~d%2Be%2Ff%3Dg%26h"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn signed_query_round_trips_through_parse_query() {
        let mut params = BTreeMap::new();
        params.insert("Action".to_string(), "Test".to_string());
        params.insert("Name".to_string(), "a b+c".to_string());
        let signed = sign("POST", &params, "secret");
        let parsed = parse_query(&signed.query);
        assert_eq!(parsed[1], ("Name".to_string(), "a b+c".to_string()));
        assert_eq!(parsed[2], ("Signature".to_string(), signed.signature));
    }
}
