//! Bounds on what clients can make the server hold: concurrent requests
//! (`--web.max-requests`, then 503), the toolkit's `rate_limit` token bucket (then 429), and
//! per-connection I/O inactivity (slow or stuck clients are dropped).

use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as GovernorLimiter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `--web.max-requests`: requests served at once; beyond it the server answers 503 at once
/// instead of queueing. 0 means no limit (as in node_exporter).
#[derive(Debug, Clone)]
pub struct RequestLimiter(Option<Arc<Semaphore>>);

impl RequestLimiter {
    /// A limiter for `max` concurrent requests (0: unlimited).
    pub fn new(max: usize) -> Self {
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

/// When a connection last moved a byte, in milliseconds since it was accepted.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once no byte has moved for `idle`.
    pub(crate) async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// An I/O stream that records activity on every successful read or write.
pub(crate) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        TrackedIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
    fn rate_limiter_allows_burst_then_refuses() {
        let r = RateLimiter::new(Duration::from_secs(3600), 2);
        assert!(r.allow());
        assert!(r.allow());
        assert!(!r.allow());
    }
}
