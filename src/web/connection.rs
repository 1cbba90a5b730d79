//! One connection: the TLS handshake (with its timeout) when TLS is on, then HTTP/1.1 or
//! HTTP/2 (by ALPN) until the connection ends, goes idle for `idle_timeout`, or the server
//! stops (then gracefully: in-flight requests finish, no new ones start).
//!
//! hyper-util does the HTTP part: `auto::Builder`, pinned to one protocol per connection,
//! serves both versions through one connection type, and the server's `GracefulShutdown`
//! watcher handles the stop signal. What stays here is what hyper does not offer: the
//! handshake timeout and the idle cut-off on I/O activity.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::web::limits::{Activity, TrackedIo};
use crate::web::pipeline::Handler;
use crate::web::settings::ServeOptions;

/// Serves one accepted connection; `_permit` holds its place under `max_connections` until
/// it is closed.
pub(crate) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    options: ServeOptions,
    shutdown: Watcher,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TrackedIo::new(stream, activity.clone());
    let Some(tls) = handler.active().tls.clone() else {
        return drive(io, false, handler, &options, &activity, shutdown).await;
    };
    let accept = tokio_rustls::TlsAcceptor::from(tls).accept(io);
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
    drive(stream, h2, handler, &options, &activity, shutdown).await
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends, goes idle or the server stops
/// (then gracefully: in-flight requests finish).
async fn drive<I>(
    io: I,
    h2: bool,
    handler: Arc<Handler>,
    options: &ServeOptions,
    activity: &Activity,
    shutdown: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    // The protocol is fixed before the first byte: HTTP/2 only when ALPN chose it, so plain
    // HTTP stays HTTP/1.1 only (no h2c by prior knowledge) and an HTTP/1 request head is
    // timed from the start, not after auto's version sniffing.
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    // A shutdown signalled before this point (during the TLS handshake) is seen at once.
    let conn = shutdown.watch(builder.serve_connection(TokioIo::new(io), service));
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        // hyper's timers cover only the HTTP/1 request head; this covers everything else
        // (a stalled body, an HTTP/2 client that opens no stream, a stuck reader).
        _ = activity.idle_for(options.idle_timeout) => {
            debug!("closing a connection idle for {:?}", options.idle_timeout);
        }
    }
}
