//! What every HTTP caller of Alibaba Cloud shares, the CAMS client and the credential
//! chain alike: the TLS crypto provider, the client's settings, capped body reading, and
//! error messages made safe to log.
//!
//! It depends on nothing else in the crate, so [`crate::api`] and [`crate::credentials`]
//! can both use it without depending on each other.

use std::sync::Once;
use std::time::Duration;

/// Longest error `Message` kept (the rest of a hostile or verbose message is dropped).
const MAX_MESSAGE_CHARS: usize = 300;

/// rustls needs one process-wide crypto provider; we use *ring* (no C toolchain
/// beyond cc, smaller than aws-lc-rs).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Drops any echoed string-to-sign (it carries the AccessKey ID, STS token and IsvCode),
/// control characters and excess length from an error message before it is logged.
pub fn clean_message(message: &str) -> String {
    let message = match message.find("string to sign is") {
        Some(i) => &message[..i + "string to sign is".len()],
        None => message,
    };
    let mut out: String = message
        .chars()
        .map(|c| if is_unsafe_char(c) { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// Characters that must not reach a terminal, a log line or a page as they are: controls
/// (C0, DEL, C1: escape sequences, line breaks) and the bidirectional formatting characters
/// that reorder or hide text (U+202E makes a name read backwards). Zero-width joiners and
/// variation selectors stay: emoji need them.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}')
}

/// A parser's error message without the values it quotes: serde's "invalid type: string
/// \"...\"", "invalid value: ..." and "unknown variant `...`" repeat what was written, and
/// what was written where a path or a kind belongs may be a secret pasted in the wrong
/// place (the message reaches logs and the `/-/reload` response). Key names and positions
/// stay, so the message still says where to look.
pub fn without_values(message: &str) -> String {
    /// Where serde quotes what was written; the quote follows at once.
    const QUOTING: [&str; 4] = [
        "invalid type: string ",
        "invalid value: string ",
        "unknown variant ",
        "invalid length ",
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((i, phrase)) = QUOTING
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        let start = i + phrase.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '`') else {
            continue;
        };
        match rest[1..].find(quote) {
            Some(end) => {
                out.push_str("(value not shown)");
                rest = &rest[end + 2..];
            }
            None => {
                out.push_str("(value not shown)");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why [`read_bounded`] stopped.
#[derive(Debug)]
pub enum BodyError {
    /// The body (by `Content-Length` or as read) passed the cap.
    TooLarge,
    /// The connection failed while reading (the error is `without_url`: a signed query
    /// carries the signature and STS token).
    Transport(reqwest::Error),
}

/// Reads `response`'s body chunk by chunk and stops as soon as it passes `limit` bytes, so a
/// hostile or broken server cannot make us buffer gigabytes.
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // Sized up front when the length is known: growing by doubling would briefly hold up to
    // twice a large fleet's body.
    let mut body = Vec::with_capacity(declared.map_or(0, |len| len as usize).min(limit));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(e.without_url()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The HTTP client settings every caller uses: `timeout` for the whole exchange, at most
/// 5 s of it to connect, our User-Agent, and redirects never followed (the APIs do not
/// redirect, and following one could carry a signed request or a metadata token
/// elsewhere). TLS certificates are always verified.
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("chatapp_exporter/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_keep_keys_and_drop_values() {
        let m = "accounts[0].credentials: invalid type: string \"LTAI5t:s3cr3t\", expected struct CredentialsConfig at line 4 column 18";
        let got = without_values(m);
        assert!(!got.contains("s3cr3t"), "{got}");
        assert!(got.contains(
            "accounts[0].credentials: invalid type: string (value not shown), expected struct"
        ));
        let m = "unknown variant `hunter2`, expected one of `v1`, `v3` at line 2";
        assert_eq!(
            without_values(m),
            "unknown variant (value not shown), expected one of `v1`, `v3` at line 2"
        );
        let m =
            "accounts[0]: unknown field `access_key_secret`, expected one of `name`, `endpoint`";
        assert_eq!(without_values(m), m);
        assert_eq!(
            without_values("unterminated \"quote"),
            "unterminated \"quote"
        );
    }
}
