//! `basic_auth_users`: HTTP Basic authentication against bcrypt hashes.
//!
//! bcrypt at cost 10 takes ~70 ms (far more in a debug build), so verified results are
//! cached, as the toolkit does: the cache key is an HMAC-SHA256, under a random per-process
//! key, of user, hash and password, so the cache holds no password or anything that could
//! be tested against guesses offline. The cache is bounded ([`CACHE_CAPACITY`]; it is
//! cleared when full). At most one bcrypt runs at a time, on the blocking pool, so a flood
//! of wrong passwords costs one core at most (and is bounded by `--web.max-requests`).
//!
//! An unknown user is checked against a configured user's hash all the same (and then
//! refused), so response timing does not tell which user names exist. bcrypt's own
//! comparison is constant-time.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderValue;
use base64::Engine as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::web::error::WebConfigError;

/// Most cached verification results.
pub const CACHE_CAPACITY: usize = 1024;

/// The users of `basic_auth_users` and the verification cache.
pub struct BasicAuth {
    users: BTreeMap<String, SecretString>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    cache_key: ring::hmac::Key,
    bcrypt_lock: tokio::sync::Mutex<()>,
    bcrypt_runs: AtomicU64,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// `None` when there are no users (no authentication). Fails only when the system's
    /// random generator does (the cache key must be unpredictable): a reload then keeps the
    /// running configuration, as for any other bad web config, instead of panicking in the
    /// request path that noticed the change.
    pub fn new(users: BTreeMap<String, SecretString>) -> Result<Option<BasicAuth>, WebConfigError> {
        if users.is_empty() {
            return Ok(None);
        }
        let rng = ring::rand::SystemRandom::new();
        let cache_key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).map_err(|_| {
            WebConfigError::new(
                "basic_auth_users",
                "the system random generator failed; cannot key the verification cache",
            )
        })?;
        Ok(Some(BasicAuth {
            users,
            cache: Mutex::new(HashMap::new()),
            cache_key,
            bcrypt_lock: tokio::sync::Mutex::new(()),
            bcrypt_runs: AtomicU64::new(0),
        }))
    }

    /// How many bcrypt verifications ran (cache misses); for tests and debugging.
    pub fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// Whether an `Authorization` header value carries valid credentials.
    pub async fn verify(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        // Unknown users pay the same bcrypt cost, against a real hash, and are refused.
        let Some(hash) = known.or_else(|| self.users.values().next()) else {
            return false;
        };
        let is_known = known.is_some();
        let key = self.cache_key(&user, hash.expose_secret().as_bytes(), &password);
        if let Some(ok) = self.cached(&key) {
            return ok && is_known;
        }
        let _one_at_a_time = self.bcrypt_lock.lock().await;
        // Another request may have verified the same credentials while we waited.
        if let Some(ok) = self.cached(&key) {
            return ok && is_known;
        }
        let hash = Zeroizing::new(hash.expose_secret().to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_slice(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let ok = ok && is_known;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    fn cache_key(&self, user: &[u8], hash: &[u8], password: &[u8]) -> [u8; 32] {
        let mut ctx = ring::hmac::Context::with_key(&self.cache_key);
        for part in [user, hash, password] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// Splits `Basic base64(user:password)` as Go's `Request.BasicAuth` does (scheme
/// case-insensitive, standard padded base64, split at the first colon).
pub fn parse_basic(value: &HeaderValue) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let bytes = value.as_bytes();
    const PREFIX: &[u8] = b"basic ";
    if bytes.len() < PREFIX.len() || !bytes[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(&bytes[PREFIX.len()..])
            .ok()?,
    );
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((
        decoded[..colon].to_vec(),
        Zeroizing::new(decoded[colon + 1..].to_vec()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let v = HeaderValue::from_static("basic dXNlcjpwYTpzcw==");
        let (u, p) = parse_basic(&v).unwrap();
        assert_eq!(u, b"user");
        assert_eq!(p.as_slice(), b"pa:ss");
        assert!(parse_basic(&HeaderValue::from_static("Bearer abc")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic dXNlcg==")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic")).is_none());
    }
}
