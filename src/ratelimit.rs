//! Client-side rate limiting of CAMS calls: one token bucket per AccessKey and API, shared by
//! every account that signs with that key.
//!
//! CAMS allows 10 requests/s per API per Alibaba Cloud *parent account*, counted across all of
//! its RAM users, keys and applications (cams-api.md §7), and the customer's production
//! sending shares that quota. The exporter therefore stays at half of it by default
//! (`--api.rate-limit=5` per API): fifty ISV sub-customers under one key refresh one after
//! another instead of bursting. Buckets are keyed by the credential *source* (its redacted
//! description) and the API action, not by the AccessKey ID in use, so rotating STS keys
//! keep one bucket.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Default requests per second per AccessKey: half the documented quota.
pub const DEFAULT_PER_SECOND: u32 = 5;
/// [`DEFAULT_PER_SECOND`] as a rate.
pub const DEFAULT_RATE: NonZeroU32 = NonZeroU32::new(DEFAULT_PER_SECOND).unwrap();

/// Requests per second per AccessKey for each operation: `rate_limits:` in the configuration
/// file, else the operation's own default (2/s for a per-item operation whose quota is 5/s
/// and shared with production traffic), else `--api.rate-limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    /// `--api.rate-limit`.
    pub default: NonZeroU32,
    /// `rate_limits:` by action name.
    pub overrides: BTreeMap<String, NonZeroU32>,
}

impl Rates {
    /// The rate for `action`, whose own default is `op_default`.
    pub fn get(&self, action: &str, op_default: Option<NonZeroU32>) -> NonZeroU32 {
        self.overrides
            .get(action)
            .copied()
            .or(op_default)
            .unwrap_or(self.default)
    }
}

/// Token buckets by credential source and API action.
#[derive(Debug)]
pub struct KeyedLimits {
    quota: Quota,
    buckets: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl KeyedLimits {
    /// Buckets of `per_second` requests per second, with a burst of the same size.
    pub fn new(per_second: NonZeroU32) -> Self {
        KeyedLimits {
            quota: Quota::per_second(per_second),
            buckets: Mutex::default(),
        }
    }

    /// Waits until the bucket for `key` allows one more request.
    pub async fn acquire(&self, key: &str) {
        self.acquire_with(key, self.quota).await;
    }

    /// [`KeyedLimits::acquire`] for an operation with its own rate (`rate_limits:` in the
    /// configuration, or the operation's own default). The bucket's quota is set
    /// when it is first used.
    pub async fn acquire_at(&self, key: &str, per_second: NonZeroU32) {
        self.acquire_with(key, Quota::per_second(per_second)).await;
    }

    async fn acquire_with(&self, key: &str, quota: Quota) {
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            buckets
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(RateLimiter::direct(quota)))
                .clone()
        };
        bucket.until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn one_bucket_per_key_and_separate_keys_do_not_wait() {
        let limits = KeyedLimits::new(NonZeroU32::new(2).unwrap());
        let start = Instant::now();
        // The burst of 2 for key a, then 2 for key b: none of these waits.
        for key in ["a", "a", "b", "b"] {
            limits.acquire(key).await;
        }
        assert!(start.elapsed() < Duration::from_millis(200));
        // The third request on key a waits for a token (~500 ms at 2/s).
        limits.acquire("a").await;
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "{:?}",
            start.elapsed()
        );
    }
}
