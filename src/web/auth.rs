//! `basic_auth_users`: HTTP Basic authentication against bcrypt hashes.
//!
//! bcrypt at cost 10 takes ~70 ms (far more in a debug build), so verified results are
//! cached, as the toolkit does: the cache key is an HMAC-SHA256, under a random per-process
//! key, of user, hash and password, so the cache holds no password or anything that could
//! be tested against guesses offline.
//!
//! Authentication must not become a way to deny service to those who have a password:
//! - Right and wrong credentials are cached apart, each in a least-recently-used cache of
//!   [`CACHE_CAPACITY`] entries that evicts one entry at a time. A flood of fresh wrong
//!   passwords only churns the cache of wrong ones, so a scraper whose credentials were
//!   verified once stays verified without bcrypt.
//! - At most [`BCRYPT_CONCURRENCY`] bcrypt verifications run at once, on the blocking
//!   pool; a request that would need one while they are all busy is refused (401) at once
//!   rather than queued, so a flood costs at most that many cores and never makes requests
//!   wait (the pipeline takes the `--web.max-requests` slot only after authentication).
//!
//! An unknown user is checked against a configured user's hash all the same (and then
//! refused), so response timing does not tell which user names exist. bcrypt's own
//! comparison is constant-time.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderValue;
use base64::Engine as _;
use lru::LruCache;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::web::error::WebConfigError;

/// Most cached verification results of each kind (right, wrong).
pub const CACHE_CAPACITY: usize = 1024;
/// Most bcrypt verifications running at once.
pub const BCRYPT_CONCURRENCY: usize = 2;

/// The users of `basic_auth_users` and the verification caches.
pub struct BasicAuth {
    users: BTreeMap<String, SecretString>,
    /// Credentials bcrypt accepted (for a known user).
    right: Mutex<LruCache<[u8; 32], ()>>,
    /// Credentials bcrypt refused, or of an unknown user.
    wrong: Mutex<LruCache<[u8; 32], ()>>,
    cache_key: ring::hmac::Key,
    bcrypt_slots: Arc<Semaphore>,
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
        BasicAuth::with_capacity(users, CACHE_CAPACITY)
    }

    /// [`BasicAuth::new`] with caches of `capacity` entries each (tests use small ones).
    fn with_capacity(
        users: BTreeMap<String, SecretString>,
        capacity: usize,
    ) -> Result<Option<BasicAuth>, WebConfigError> {
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
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Ok(Some(BasicAuth {
            users,
            right: Mutex::new(LruCache::new(capacity)),
            wrong: Mutex::new(LruCache::new(capacity)),
            cache_key,
            bcrypt_slots: Arc::new(Semaphore::new(BCRYPT_CONCURRENCY)),
            bcrypt_runs: AtomicU64::new(0),
        }))
    }

    /// How many bcrypt verifications ran (cache misses); for tests and debugging.
    pub fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// Whether an `Authorization` header value carries valid credentials. Credentials not
    /// seen before need a bcrypt verification: while [`BCRYPT_CONCURRENCY`] of them are
    /// running, they are refused at once.
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
            return ok;
        }
        let Ok(_slot) = self.bcrypt_slots.clone().try_acquire_owned() else {
            return false;
        };
        let hash = Zeroizing::new(hash.expose_secret().to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_slice(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let ok = ok && is_known;
        let cache = if ok { &self.right } else { &self.wrong };
        // A full cache drops its least recently used entry, one at a time.
        lock(cache).put(key, ());
        ok
    }

    /// The cached verdict on `key`, if any (and marks it recently used).
    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        if lock(&self.right).get(key).is_some() {
            return Some(true);
        }
        lock(&self.wrong).get(key).map(|()| false)
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

/// A cache is only ever changed by one `put` or `get`, which leave it consistent even when
/// interrupted by a panic, so a poisoned lock is used as it is.
fn lock(
    cache: &Mutex<LruCache<[u8; 32], ()>>,
) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], ()>> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn header(user: &str, password: &str) -> HeaderValue {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b}")).unwrap()
    }

    fn alice(capacity: usize) -> BasicAuth {
        let hash = bcrypt::hash("right", 4).unwrap();
        let users = BTreeMap::from([("alice".to_owned(), SecretString::from(hash))]);
        BasicAuth::with_capacity(users, capacity).unwrap().unwrap()
    }

    #[tokio::test]
    async fn wrong_passwords_never_evict_a_verified_one() {
        let auth = alice(4);
        assert!(auth.verify(Some(&header("alice", "right"))).await);
        assert_eq!(auth.bcrypt_runs(), 1);
        for n in 0..10 {
            assert!(
                !auth
                    .verify(Some(&header("alice", &format!("wrong-{n}"))))
                    .await
            );
        }
        assert_eq!(auth.bcrypt_runs(), 11);
        assert!(auth.verify(Some(&header("alice", "right"))).await);
        assert_eq!(
            auth.bcrypt_runs(),
            11,
            "still cached after 10 wrong passwords"
        );
    }

    #[tokio::test]
    async fn a_full_cache_evicts_its_least_recently_used_entry_only() {
        let auth = alice(2);
        for p in ["a", "b"] {
            assert!(!auth.verify(Some(&header("alice", p))).await);
        }
        assert_eq!(auth.bcrypt_runs(), 2);
        // Use "a" again, then add "c": "b" (least recently used) goes, "a" stays.
        assert!(!auth.verify(Some(&header("alice", "a"))).await);
        assert!(!auth.verify(Some(&header("alice", "c"))).await);
        assert_eq!(auth.bcrypt_runs(), 3);
        assert!(!auth.verify(Some(&header("alice", "a"))).await);
        assert_eq!(auth.bcrypt_runs(), 3, "a kept");
        assert!(!auth.verify(Some(&header("alice", "b"))).await);
        assert_eq!(auth.bcrypt_runs(), 4, "b evicted, verified again");
    }

    #[tokio::test]
    async fn busy_bcrypt_slots_refuse_at_once_but_not_cached_credentials() {
        let auth = alice(16);
        assert!(auth.verify(Some(&header("alice", "right"))).await);
        let held: Vec<_> = (0..BCRYPT_CONCURRENCY)
            .map(|_| auth.bcrypt_slots.clone().try_acquire_owned().unwrap())
            .collect();
        assert!(
            !auth.verify(Some(&header("alice", "fresh"))).await,
            "no slot: refused without bcrypt"
        );
        assert_eq!(auth.bcrypt_runs(), 1);
        assert!(auth.verify(Some(&header("alice", "right"))).await, "cached");
        drop(held);
        assert!(!auth.verify(Some(&header("alice", "fresh"))).await);
        assert_eq!(auth.bcrypt_runs(), 2, "a free slot runs bcrypt");
    }

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
