//! One connection: the TLS handshake (with its timeout) when TLS is on, then HTTP/1.1 or
//! HTTP/2 (by ALPN) until the connection ends, goes idle for `idle_timeout`, or the server
//! stops (then gracefully: in-flight requests finish, no new ones start).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
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
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TrackedIo::new(stream, activity.clone());
    let Some(tls) = handler.active().tls.clone() else {
        return drive(io, false, handler, &options, &activity, stop).await;
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
    drive(stream, h2, handler, &options, &activity, stop).await
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends, goes idle or the server stops
/// (then gracefully: in-flight requests finish).
async fn drive<I>(
    io: I,
    h2: bool,
    handler: Arc<Handler>,
    options: &ServeOptions,
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    macro_rules! run {
        ($conn:expr) => {{
            let conn = $conn;
            tokio::pin!(conn);
            let idle = activity.idle_for(options.idle_timeout);
            tokio::pin!(idle);
            let mut stopping = false;
            if *stop.borrow() {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            debug!(error = %e, "HTTP connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    _ = &mut idle => {
                        debug!("closing a connection idle for {:?}", options.idle_timeout);
                        break;
                    }
                }
            }
        }};
    }
    if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        run!(builder.serve_connection(io, service))
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout);
        run!(builder.serve_connection(io, service))
    }
}
