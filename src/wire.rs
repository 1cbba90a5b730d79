//! What every HTTP caller of Alibaba Cloud shares, the CAMS client and the credential
//! chain alike: the TLS crypto provider, and error messages made safe to log.
//!
//! It depends on nothing else in the crate, so [`crate::api`] and [`crate::credentials`]
//! can both use it without depending on each other.

use std::sync::Once;

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
