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
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
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
