//! Caching of expiring (STS) credentials: renewed before they expire, one renewal at a time.
//!
//! Rules:
//! - credentials are renewed once fewer than `margin` (180 s by default, the threshold of
//!   `credentials-go` `credentials/providers/oidc.go` `needUpdateCredential`) remain before
//!   their `Expiration`, so a CAMS refresh never signs with a key about to lapse. When the
//!   server hands out credentials that live less than twice the margin, they are renewed at
//!   half their lifetime instead, so that short-lived credentials are not fetched at every
//!   refresh;
//! - single flight: accounts that share a provider share its cache (see
//!   [`super::Context`]), and while one renewal runs the others wait for its result instead of
//!   calling STS or the metadata service themselves. Waiters on a renewal that failed get that
//!   failure rather than trying again at once;
//! - when a renewal fails but the cached credentials are still valid for at least
//!   [`MIN_USABLE`], they are used (with a warning) and renewal is retried at the next
//!   refresh: a passing STS error costs no failed CAMS refresh.
//!
//! Time comes from a [`Clock`] so that tests drive expiry with a [`ManualClock`].

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

use super::{CredentialError, Credentials};

/// Default renewal margin before `Expiration` (`credentials-go` `oidc.go`: 180 s).
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(180);
/// Cached credentials are still handed out after a failed renewal while at least this much of
/// their lifetime remains (enough for one CAMS refresh to complete).
pub const MIN_USABLE: Duration = Duration::from_secs(30);

/// Where providers read the time. [`SystemClock`] in production.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to, for tests of expiry and renewal.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Credentials with the time they stop working.
#[derive(Clone, Debug)]
pub struct Expiring {
    /// The credentials.
    pub credentials: Credentials,
    /// When the server says they expire.
    pub expiration: SystemTime,
}

#[derive(Debug)]
struct Cached {
    value: Expiring,
    /// When to renew: `expiration - margin`, or half-life for short-lived credentials.
    renew_at: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    current: Option<Cached>,
    /// Renewals attempted so far.
    attempts: u64,
    /// The error of attempt number `.0`, when that attempt failed.
    last_error: Option<(u64, CredentialError)>,
}

/// The cache of one provider configuration, shared by every account that uses it.
#[derive(Debug)]
pub struct Cache {
    label: String,
    margin: Duration,
    state: Mutex<State>,
    renewal: tokio::sync::Mutex<()>,
}

impl Cache {
    /// An empty cache; `label` names the provider in log lines (no secrets).
    pub fn new(label: impl Into<String>, margin: Duration) -> Self {
        Cache {
            label: label.into(),
            margin,
            state: Mutex::new(State::default()),
            renewal: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached credentials if they need no renewal at `now`, and the attempt counter.
    fn fresh(&self, now: SystemTime) -> (Option<Credentials>, u64) {
        let s = self.lock();
        let fresh = s
            .current
            .as_ref()
            .filter(|c| now < c.renew_at)
            .map(|c| c.value.credentials.clone());
        (fresh, s.attempts)
    }

    /// The cached credentials if still usable (not fresh, but not about to lapse).
    fn usable(s: &State, now: SystemTime) -> Option<Credentials> {
        s.current
            .as_ref()
            .filter(|c| now + MIN_USABLE < c.value.expiration)
            .map(|c| c.value.credentials.clone())
    }

    /// Returns fresh cached credentials, or renews them with `fetch` (at most one `fetch` runs
    /// at a time; concurrent callers wait for it).
    pub async fn get<F, Fut>(
        &self,
        clock: &dyn Clock,
        fetch: F,
    ) -> Result<Credentials, CredentialError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Expiring, CredentialError>>,
    {
        let (fresh, seen) = self.fresh(clock.now());
        if let Some(c) = fresh {
            return Ok(c);
        }
        let _renewal = self.renewal.lock().await;
        {
            let now = clock.now();
            let (fresh, attempts) = self.fresh(now);
            if let Some(c) = fresh {
                return Ok(c);
            }
            if attempts != seen {
                // Someone renewed while we waited and it did not give fresh credentials: it
                // failed. Share its outcome rather than calling the server again right away.
                let s = self.lock();
                if let Some((n, e)) = &s.last_error
                    && *n == s.attempts
                {
                    return Self::usable(&s, now).ok_or_else(|| e.clone());
                }
            }
        }

        let result = fetch().await;
        let now = clock.now();
        let mut s = self.lock();
        s.attempts += 1;
        match result {
            Ok(value) => {
                let lifetime = value.expiration.duration_since(now).unwrap_or_default();
                let lead = self.margin.min(lifetime / 2);
                let renew_at = value.expiration - lead;
                debug!(
                    provider = %self.label,
                    expires_in = %humantime::format_duration(Duration::from_secs(lifetime.as_secs())),
                    "temporary credentials renewed"
                );
                let credentials = value.credentials.clone();
                s.current = Some(Cached { value, renew_at });
                s.last_error = None;
                Ok(credentials)
            }
            Err(e) => {
                let attempt = s.attempts;
                s.last_error = Some((attempt, e.clone()));
                match Self::usable(&s, now) {
                    Some(c) => {
                        warn!(
                            provider = %self.label,
                            error = %e,
                            "cannot renew temporary credentials; using the cached ones until they expire"
                        );
                        Ok(c)
                    }
                    None => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn creds(id: &str) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: SecretString::from("s"),
            security_token: Some(SecretString::from("t")),
        }
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[tokio::test]
    async fn renews_within_the_margin_and_not_before() {
        let clock = ManualClock::new(t0());
        let cache = Cache::new("test", DEFAULT_MARGIN);
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(Expiring {
                credentials: creds(&format!("STS.{n}")),
                expiration: clock.now() + Duration::from_secs(3600),
            })
        };
        assert_eq!(
            cache.get(&clock, fetch).await.unwrap().access_key_id,
            "STS.0"
        );
        clock.advance(Duration::from_secs(3600 - 181));
        assert_eq!(
            cache.get(&clock, fetch).await.unwrap().access_key_id,
            "STS.0"
        );
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            cache.get(&clock, fetch).await.unwrap().access_key_id,
            "STS.1"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_credentials_renew_at_half_life() {
        let clock = ManualClock::new(t0());
        let cache = Cache::new("test", DEFAULT_MARGIN);
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Expiring {
                credentials: creds("STS.x"),
                expiration: clock.now() + Duration::from_secs(120),
            })
        };
        cache.get(&clock, fetch).await.unwrap();
        clock.advance(Duration::from_secs(59));
        cache.get(&clock, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        cache.get(&clock, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_renewal_keeps_valid_credentials_then_fails_after_expiry() {
        let clock = ManualClock::new(t0());
        let cache = Cache::new("test", DEFAULT_MARGIN);
        cache
            .get(&clock, || async {
                Ok(Expiring {
                    credentials: creds("STS.old"),
                    expiration: t0() + Duration::from_secs(3600),
                })
            })
            .await
            .unwrap();
        let failing = || async { Err(CredentialError::config("x", "down")) };
        clock.advance(Duration::from_secs(3500));
        assert_eq!(
            cache.get(&clock, failing).await.unwrap().access_key_id,
            "STS.old"
        );
        clock.advance(Duration::from_secs(80));
        assert!(cache.get(&clock, failing).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_renewal() {
        let clock = Arc::new(ManualClock::new(t0()));
        let cache = Arc::new(Cache::new("test", DEFAULT_MARGIN));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (clock, cache, calls) = (clock.clone(), cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(&*clock, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Expiring {
                            credentials: creds("STS.shared"),
                            expiration: clock.now() + Duration::from_secs(3600),
                        })
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().access_key_id, "STS.shared");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_on_a_failed_renewal_share_its_error() {
        let clock = Arc::new(ManualClock::new(t0()));
        let cache = Arc::new(Cache::new("test", DEFAULT_MARGIN));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (clock, cache, calls) = (clock.clone(), cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(&*clock, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<Expiring, _>(CredentialError::config("sts", "throttled"))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
