//! One connection: the TLS handshake when TLS is on, then HTTP/1.1 or HTTP/2 (by ALPN) until
//! the connection ends, its clock runs out (`clock`: no request head in time, idle, or a
//! response not sent in time), or the server stops (then gracefully: in-flight requests
//! finish, no new ones start).
//!
//! hyper-util does the HTTP part: `auto::Builder`, pinned to one protocol per connection,
//! serves both versions through one connection type, and the server's `GracefulShutdown`
//! watcher handles the stop signal. hyper's own limits bound what one connection buffers
//! (below); what stays here is what hyper does not offer: deadlines counted on requests,
//! from the accept, for both protocols.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::web::clock::{ConnectionClock, Deadlines};
use crate::web::limits::AddressSlot;
use crate::web::pipeline::Handler;
use crate::web::settings::ServeOptions;

/// Most bytes an HTTP/1 connection buffers each way: a request head larger than this is
/// refused (431), and hyper stops taking a response body's next chunk while this much is
/// waiting for the socket. A scrape request is well under 1 KiB.
pub const HTTP1_MAX_BUFFER: usize = 64 * 1024;
/// Most streams (requests) open at once on one HTTP/2 connection (RFC 9113 advises at
/// least 100); a client asking for more waits for one to end.
pub const HTTP2_MAX_STREAMS: u32 = 100;
/// Most bytes one HTTP/2 stream buffers for sending, beyond what the client's flow-control
/// window lets through (hyper's default is 400 KiB).
pub const HTTP2_MAX_SEND_BUFFER: usize = 64 * 1024;
/// An HTTP/2 client that has sent nothing for this long is pinged, and its connection closed
/// when the answer does not come within [`HTTP2_PING_TIMEOUT`]: a vanished client's
/// connection goes without waiting for its deadline. The pings do not extend a connection's
/// life: its clock counts requests only.
pub const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// See [`HTTP2_PING_INTERVAL`].
pub const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one accepted connection; `_slots` hold its place under `max_connections` and its
/// address's limit until it is closed.
pub(crate) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    options: ServeOptions,
    shutdown: Watcher,
    _slots: (OwnedSemaphorePermit, AddressSlot),
) {
    let clock = ConnectionClock::new();
    let deadlines = Deadlines {
        header: options.header_read_timeout,
        idle: options.idle_timeout,
        response: options.response_timeout,
    };
    let serve = async {
        let Some(tls) = handler.active().tls.clone() else {
            return drive(stream, false, handler, &clock, shutdown).await;
        };
        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
        let stream = match tokio::time::timeout(options.tls_handshake_timeout, accept).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        drive(stream, h2, handler, &clock, shutdown).await
    };
    tokio::select! {
        () = serve => {}
        why = clock.expired(deadlines) => debug!(%peer, "closing the connection: {why}"),
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends or the server stops (then
/// gracefully: in-flight requests finish).
async fn drive<I>(
    io: I,
    h2: bool,
    handler: Arc<Handler>,
    clock: &Arc<ConnectionClock>,
    shutdown: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = clock.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        // Opened when hyper hands over the request head, closed when the response body has
        // been sent or dropped (it travels inside the body).
        let in_flight = clock.begin();
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req, in_flight).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's HTTP/1 header timer is off: it starts only after the TLS handshake and would
    // cut kept-alive connections at its own time; the connection's clock covers both.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(HTTP1_MAX_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .max_send_buf_size(HTTP2_MAX_SEND_BUFFER)
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    // The protocol is fixed before the first byte: HTTP/2 only when ALPN chose it, so plain
    // HTTP stays HTTP/1.1 only (no h2c by prior knowledge).
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    // A shutdown signalled before this point (during the TLS handshake) is seen at once.
    let conn = shutdown.watch(builder.serve_connection(TokioIo::new(io), service));
    if let Err(e) = conn.await {
        debug!(error = %e, "HTTP connection ended with an error");
    }
}
