//! Bounds on what clients can make the server hold: concurrent requests
//! (`--web.max-requests`, then 503), the toolkit's `rate_limit` token bucket (then 429), and
//! open connections per client address (beyond it a new connection is closed at once).
//! How long a connection may stay open is `clock`'s business.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as GovernorLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `--web.max-requests`: requests served at once, each until its response body has been
/// sent; beyond it the server answers 503 at once instead of queueing. 0 means no limit (as
/// in node_exporter).
#[derive(Debug, Clone)]
pub struct RequestLimiter(Option<Arc<Semaphore>>);

impl RequestLimiter {
    /// A limiter for `max` concurrent requests (0: unlimited; an absurdly large `max` is
    /// the most a semaphore can count, rather than a panic at start).
    pub fn new(max: usize) -> Self {
        let max = max.min(Semaphore::MAX_PERMITS);
        RequestLimiter((max > 0).then(|| Arc::new(Semaphore::new(max))))
    }

    /// `Some(permit)` while below the limit (`Some(None)` when unlimited); `None` when full.
    pub fn try_acquire(&self) -> Option<Option<OwnedSemaphorePermit>> {
        match &self.0 {
            None => Some(None),
            Some(s) => s.clone().try_acquire_owned().ok().map(Some),
        }
    }
}

/// The toolkit's `rate_limit`: a bucket of `burst` tokens refilled by one every `interval`
/// (Go's `rate.NewLimiter(rate.Every(interval), burst)` with `Allow`).
///
/// governor's GCRA is that same bucket with continuous refill, kept as one atomic
/// timestamp: no lock in the request path. A zero `interval` allows everything and a zero
/// `burst` refuses everything, as `rate.Every(0)` and a zero burst do in Go (the web config
/// never builds either: it refuses burst 0 and treats interval 0 as "off").
pub struct RateLimiter(Bucket);

enum Bucket {
    Unlimited,
    Closed,
    Gcra(DefaultDirectRateLimiter),
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Bucket::Unlimited => "unlimited",
            Bucket::Closed => "closed",
            Bucket::Gcra(_) => "gcra",
        };
        f.debug_tuple("RateLimiter").field(&kind).finish()
    }
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(interval: Duration, burst: u32) -> Self {
        let Some(burst) = NonZeroU32::new(burst) else {
            return RateLimiter(Bucket::Closed);
        };
        match Quota::with_period(interval) {
            None => RateLimiter(Bucket::Unlimited),
            Some(q) => RateLimiter(Bucket::Gcra(GovernorLimiter::direct(q.allow_burst(burst)))),
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&self) -> bool {
        match &self.0 {
            Bucket::Unlimited => true,
            Bucket::Closed => false,
            Bucket::Gcra(l) => l.check().is_ok(),
        }
    }
}

/// The per-address connection limit: at most `max` open connections from one client
/// address, so that one client cannot take every slot of `max_connections`. IPv4 addresses
/// count one by one; IPv6 ones by /64, since one host usually holds a whole /64; IPv4
/// clients of a dual-stack listener (`::ffff:a.b.c.d`) count as their IPv4 address.
#[derive(Debug)]
pub(crate) struct AddressLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressLimit {
    /// A limit of `max` connections per address; 0: no limit.
    pub(crate) fn new(max: usize) -> Arc<AddressLimit> {
        Arc::new(AddressLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it already has `max`.
    pub(crate) fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        if self.max > 0 {
            // A poisoned lock still holds consistent counts (each change is one entry
            // update), so it is used as it is.
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let n = open.entry(key).or_insert(0);
            if *n >= self.max {
                return None;
            }
            *n += 1;
        }
        Some(AddressSlot {
            limit: self.clone(),
            key,
        })
    }
}

/// The address an [`AddressLimit`] counts `ip` under.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// One connection's place under its address's limit, given back on drop.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    limit: Arc<AddressLimit>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.limit.max == 0 {
            return;
        }
        let mut open = self
            .limit
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limiter_refuses_past_max() {
        let l = RequestLimiter::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        drop(a);
        assert!(l.try_acquire().is_some());
        let unlimited = RequestLimiter::new(0);
        assert!(unlimited.try_acquire().is_some());
    }

    #[test]
    fn address_limit_counts_per_address_and_gives_slots_back() {
        let limit = AddressLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let a1 = limit.try_admit(a).unwrap();
        let _a2 = limit.try_admit(a).unwrap();
        assert!(limit.try_admit(a).is_none(), "third from one address");
        assert!(limit.try_admit("192.0.2.2".parse().unwrap()).is_some());
        // The same IPv4 client through a dual-stack listener.
        assert!(
            limit
                .try_admit("::ffff:192.0.2.1".parse().unwrap())
                .is_none()
        );
        drop(a1);
        assert!(
            limit.try_admit(a).is_some(),
            "a closed connection frees its slot"
        );

        // IPv6 counts per /64.
        let _b1 = limit.try_admit("2001:db8::1".parse().unwrap()).unwrap();
        let _b2 = limit.try_admit("2001:db8::2".parse().unwrap()).unwrap();
        assert!(limit.try_admit("2001:db8::ffff".parse().unwrap()).is_none());
        assert!(
            limit
                .try_admit("2001:db8:0:1::1".parse().unwrap())
                .is_some()
        );

        let unlimited = AddressLimit::new(0);
        let all: Vec<_> = (0..10).map(|_| unlimited.try_admit(a).unwrap()).collect();
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn rate_limiter_allows_burst_then_refuses() {
        let r = RateLimiter::new(Duration::from_secs(3600), 2);
        assert!(r.allow());
        assert!(r.allow());
        assert!(!r.allow());
    }
}
