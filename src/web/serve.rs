//! The accept loop: takes connections up to `max_connections` and `max_connections_per_address`,
//! hands each to its own task (`connection`), and on shutdown stops accepting, tells every
//! connection to finish its in-flight requests and returns once all are closed.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::web::connection::connection;
use crate::web::limits::{AddressLimit, RateLimiter, RequestLimiter};
use crate::web::loaded::Active;
use crate::web::pipeline::Handler;
use crate::web::reload::Reloader;
use crate::web::settings::{ServeOptions, WebSettings};

/// Serves `router` on `listener` with the web config and limits of `web` until `shutdown`
/// completes; then stops accepting, lets in-flight requests finish and returns once every
/// connection is closed. Returns an error, after closing the open connections the same
/// way, when the listener fails in a way that retrying cannot fix.
///
/// The server is set up when this is called, not when the future is first polled: from
/// then on `web.control` reloads its web config, even before the future is spawned.
pub fn serve<F>(
    listener: TcpListener,
    router: Router,
    web: WebSettings,
    shutdown: F,
) -> impl Future<Output = io::Result<()>> + Send + 'static
where
    F: Future<Output = ()> + Send + 'static,
{
    let WebSettings {
        config,
        options,
        control,
    } = web;
    let (reloader, rate_limit, tls, http2) = match config {
        None => (None, None, false, false),
        Some(c) => {
            let rate_limit = c.spec.rate_limit.map(|(i, b)| {
                info!(burst = b, interval = ?i, "rate limiter is enabled");
                RateLimiter::new(i, b)
            });
            let (tls, http2) = (c.spec.tls_enabled(), c.spec.http2());
            let reloader = Arc::new(Reloader::new(
                c,
                options.reload_settle_time,
                control.observer(),
            ));
            control.install(reloader.clone());
            (Some(reloader), rate_limit, tls, http2)
        }
    };
    let handler = Arc::new(Handler {
        router,
        reloader,
        fixed: Arc::new(Active::default()),
        limiter: RequestLimiter::new(options.max_requests),
        rate_limit,
    });
    accept_loop(listener, handler, options, tls, http2, shutdown)
}

async fn accept_loop<F>(
    listener: TcpListener,
    handler: Arc<Handler>,
    options: ServeOptions,
    tls: bool,
    http2: bool,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let address = listener.local_addr()?;
    if tls {
        info!(%address, http2, "TLS is enabled");
    } else {
        info!(%address, http2 = false, "TLS is disabled");
    }
    let graceful = GracefulShutdown::new();
    // Taken before accept(): past the limit, new connections wait in the kernel's backlog
    // (and are served as soon as a slot frees) rather than being accepted and dropped.
    let connections = Arc::new(Semaphore::new(
        options.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let per_address = AddressLimit::new(options.max_connections_per_address);
    let mut tasks = JoinSet::new();
    let mut result = Ok(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) if retrying_cannot_fix(&e) => {
                    result = Err(e);
                    break;
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = per_address.try_admit(peer.ip()) else {
            // Closed at once (dropping the stream); its permit goes back with `permit`.
            debug!(%peer, "closing a connection past the per-address connection limit");
            continue;
        };
        // TCP_NODELAY: a /metrics body is many shared chunks and ends with a small one (the
        // gzip trailer); with Nagle's algorithm that last segment waits for the client's
        // delayed ACK (40 ms on Linux), which capped gzip scrapes at about 25/s per connection.
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        while tasks.try_join_next().is_some() {}
        tasks.spawn(connection(
            stream,
            peer,
            handler.clone(),
            options.clone(),
            graceful.watcher(),
            (permit, slot),
        ));
    }
    drop(listener);
    // Tells every connection to finish its in-flight requests and take no more, then waits
    // until all watchers are gone: each task holds one from accept to close, so this also
    // waits for connections still in their TLS handshake (they start shut down).
    graceful.shutdown().await;
    while tasks.join_next().await.is_some() {}
    result
}

/// Accept errors that mean the listener itself is broken, as Go's `http.Server.Serve`
/// returns on a non-temporary error: EINVAL (the socket is not listening). Everything else
/// (aborted connections, running out of file descriptors or memory) passes, so retry.
fn retrying_cannot_fix(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidInput
}
