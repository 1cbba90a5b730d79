//! When a connection's time is up. Its clock runs on requests, not on bytes: from the
//! accept until the first request head arrives (`header_read_timeout`, TLS handshake
//! included), while no request is open (`idle_timeout`), and while the oldest open request
//! has not finished sending its response (`response_timeout`). The connection is closed
//! when the deadline that applies passes.
//!
//! Counting requests rather than I/O is the point: a client that drips a header byte at a
//! time, or sends HTTP/2 PINGs (which the server must answer), moves bytes forever without
//! ever making a request, and an I/O-activity timer would keep such a connection open
//! indefinitely. hyper's own `header_read_timeout` exists only for HTTP/1 and starts after
//! the TLS handshake, so it cannot give these guarantees; this clock covers both protocols
//! from the accept.
//!
//! A request counts as open from the moment hyper hands it to the service until its
//! response body has been sent or dropped: [`InFlight`] travels inside the body
//! ([`Held`]), together with the request's `--web.max-requests` permit, so that a client
//! that never reads keeps holding both, and the response deadline bounds how long.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

/// The three deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// From the accept to the first request head.
    pub(crate) header: Duration,
    /// With no request open.
    pub(crate) idle: Duration,
    /// For the oldest open request's response.
    pub(crate) response: Duration,
}

/// Why a connection was closed by its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No request head within the header deadline of the accept.
    NoRequest,
    /// No request open for the idle deadline.
    Idle,
    /// A response not sent within the response deadline.
    SlowResponse,
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expiry::NoRequest => "no request head within the header read timeout",
            Expiry::Idle => "no request within the idle timeout",
            Expiry::SlowResponse => "a response not sent within the response timeout",
        })
    }
}

/// One connection's clock; shared by its service (which opens requests) and its task
/// (which waits for [`ConnectionClock::expired`]).
#[derive(Debug)]
pub(crate) struct ConnectionClock {
    accepted: Instant,
    state: Mutex<State>,
    /// Woken when a request ends: the deadline may then be earlier than the one being
    /// waited for (a response deadline far ahead gives way to the idle deadline).
    ended: Notify,
}

#[derive(Debug)]
struct State {
    /// Open requests by sequence number, with their start; the first is the oldest.
    open: BTreeMap<u64, Instant>,
    next: u64,
    /// When the last open request ended (the accept, before any request).
    idle_since: Instant,
}

impl ConnectionClock {
    /// A clock started now (at the accept).
    pub(crate) fn new() -> Arc<ConnectionClock> {
        let now = Instant::now();
        Arc::new(ConnectionClock {
            accepted: now,
            state: Mutex::new(State {
                open: BTreeMap::new(),
                next: 0,
                idle_since: now,
            }),
            ended: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent whatever a panicking holder did (each change is one
        // map operation), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request open until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.lock();
        let id = s.next;
        s.next += 1;
        s.open.insert(id, Instant::now());
        InFlight {
            clock: self.clone(),
            id,
        }
    }

    /// The deadline that applies now, and what passing it means.
    fn deadline(&self, d: Deadlines) -> (Instant, Expiry) {
        let s = self.lock();
        match s.open.first_key_value() {
            Some((_, started)) => (*started + d.response, Expiry::SlowResponse),
            None if s.next == 0 => (self.accepted + d.header, Expiry::NoRequest),
            None => (s.idle_since + d.idle, Expiry::Idle),
        }
    }

    /// Completes once the deadline that applies has passed.
    pub(crate) async fn expired(&self, d: Deadlines) -> Expiry {
        loop {
            let (deadline, why) = self.deadline(d);
            if Instant::now() >= deadline {
                return why;
            }
            // A request that starts only moves the deadline later: waking at the old one
            // and looking again is enough. One that ends may move it earlier: `ended`.
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.ended.notified() => {}
            }
        }
    }
}

/// An open request; dropping it ends the request on its connection's clock.
#[derive(Debug)]
pub(crate) struct InFlight {
    clock: Arc<ConnectionClock>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.clock.lock();
        s.open.remove(&self.id);
        if s.open.is_empty() {
            s.idle_since = Instant::now();
        }
        drop(s);
        // notify_one keeps a wake-up for a waiter that is not waiting yet.
        self.clock.ended.notify_one();
    }
}

/// A response body that holds what its request was given until the body has been sent or
/// dropped: its mark on the connection's clock and its `--web.max-requests` permit.
pub(crate) struct Held<B> {
    inner: B,
    _in_flight: InFlight,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<B> Held<B> {
    pub(crate) fn new(inner: B, in_flight: InFlight, permit: Option<OwnedSemaphorePermit>) -> Self {
        Held {
            inner,
            _in_flight: in_flight,
            _permit: permit,
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for Held<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Deadlines = Deadlines {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        response: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn no_request_expires_at_the_header_deadline() {
        let clock = ConnectionClock::new();
        let started = Instant::now();
        assert_eq!(clock.expired(D).await, Expiry::NoRequest);
        assert_eq!(started.elapsed(), D.header);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_request_has_the_response_deadline_then_idle_counts_from_its_end() {
        let clock = ConnectionClock::new();
        let started = Instant::now();
        let request = clock.begin();
        let waiter = tokio::spawn({
            let clock = clock.clone();
            async move { (clock.expired(D).await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(request);
        let (why, at) = waiter.await.unwrap();
        assert_eq!(why, Expiry::Idle);
        assert_eq!(at - started, Duration::from_secs(5) + D.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_never_sent_expires_at_the_response_deadline() {
        let clock = ConnectionClock::new();
        let started = Instant::now();
        let _stuck = clock.begin();
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Later requests that come and go do not reset the oldest one's deadline.
        for _ in 0..3 {
            drop(clock.begin());
        }
        assert_eq!(clock.expired(D).await, Expiry::SlowResponse);
        assert_eq!(started.elapsed(), D.response);
    }
}
