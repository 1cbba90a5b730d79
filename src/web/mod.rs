//! The HTTP(S) server: exporter-toolkit web config (`--web.config.file`: TLS, mutual TLS,
//! basic auth, security headers, rate limit) and the limits that keep hostile or slow
//! clients from exhausting the process.
//!
//! [`serve`] runs any [`axum::Router`] on a listener until a shutdown future completes. Per
//! request, in this order: `rate_limit` (429), `--web.max-requests` (503, never queued),
//! basic auth (401 with `WWW-Authenticate: Basic`), then the router. Every response gets the
//! configured `http_server_config.headers`. Authentication covers every path, `/-/healthy`
//! and `/-/ready` included, as with the toolkit.
//!
//! The web config file and the certificate, key and CA files it names are checked for
//! changes (size, mtime, ctime, inode) on each connection and request: new certificates apply
//! to the next handshake, new users and headers to the next request. A change that does not
//! load is logged and the previous settings stay. TLS on/off and `http2` need a restart.
//!
//! Per connection: the TLS handshake must finish within [`TLS_HANDSHAKE_TIMEOUT`], an HTTP/1
//! request head (or the next one on a kept-alive connection) within
//! [`HEADER_READ_TIMEOUT`], and a connection on which no byte moves for [`IDLE_TIMEOUT`] is
//! closed. At most [`MAX_CONNECTIONS`] are open at once; beyond that new ones wait in the
//! kernel's accept backlog.

pub mod auth;
pub mod config;
pub mod limits;
pub mod san;
mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use tracing::{debug, error, info, warn};

pub use auth::BasicAuth;
pub use config::{WebConfig, WebConfigError, WebConfigSpec, parse};
use limits::{Activity, RateLimiter, RequestLimiter, TrackedIo};

/// Default of `--web.max-requests`.
pub const DEFAULT_MAX_REQUESTS: usize = 40;
/// Most open connections.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for an HTTP/1 request head, counted from when the connection starts waiting
/// for it (so it also bounds how long a kept-alive connection may sit idle).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection on which no byte moves for this long is closed (HTTP/2 included).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Time allowed for the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Server limits; the defaults are the constants above.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests served at once; 0 means no limit.
    pub max_requests: usize,
    /// Open connections at once (at least 1).
    pub max_connections: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`TLS_HANDSHAKE_TIMEOUT`].
    pub tls_handshake_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_requests: DEFAULT_MAX_REQUESTS,
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Everything [`serve`] needs besides the listener and the router.
#[derive(Debug, Default)]
pub struct WebSettings {
    /// The loaded `--web.config.file`, if any.
    pub config: Option<WebConfig>,
    /// Limits.
    pub options: ServeOptions,
}

impl WebSettings {
    /// Loads `--web.config.file` (failing with the key at fault) and takes
    /// `--web.max-requests`.
    pub fn load(
        web_config_file: Option<&Path>,
        max_requests: usize,
    ) -> Result<WebSettings, WebConfigError> {
        Ok(WebSettings {
            config: web_config_file.map(WebConfig::load).transpose()?,
            options: ServeOptions {
                max_requests,
                ..ServeOptions::default()
            },
        })
    }

    /// Lines for `--config.check`: TLS, client auth, users (names only), limits.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        match &self.config {
            None => out.push_str("web: plain HTTP, no authentication (no --web.config.file)\n"),
            Some(c) => {
                let spec = c.spec();
                out.push_str(&format!("web config: {}\n", c.path().display()));
                match &spec.tls {
                    None => out.push_str("  TLS: off\n"),
                    Some(t) => out.push_str(&format!(
                        "  TLS: on (client auth {:?}, http2 {})\n",
                        t.client_auth,
                        spec.http2()
                    )),
                }
                let users: Vec<&str> = spec.users().collect();
                if users.is_empty() {
                    out.push_str("  basic auth: off\n");
                } else {
                    out.push_str(&format!("  basic auth users: {}\n", users.join(", ")));
                }
            }
        }
        let max = match self.options.max_requests {
            0 => "unlimited".to_owned(),
            n => n.to_string(),
        };
        out.push_str(&format!("  max concurrent requests: {max}\n"));
        out
    }
}

/// The settings that can change while running.
#[derive(Debug, Default)]
pub(crate) struct Active {
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<Arc<BasicAuth>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Active {
    pub(crate) fn build(spec: &WebConfigSpec) -> Result<Active, WebConfigError> {
        let tls = spec
            .tls
            .as_ref()
            .map(|t| tls::build(t, spec.http2))
            .transpose()?;
        Ok(Active {
            tls,
            auth: BasicAuth::new(spec.users.clone())?.map(Arc::new),
            headers: spec.headers.clone(),
        })
    }

    /// Keeps the previous verification cache when the users did not change.
    fn keep_auth_cache(&mut self, previous: &Active, old: &WebConfigSpec, new: &WebConfigSpec) {
        let same = old.users.len() == new.users.len()
            && old
                .users
                .iter()
                .zip(&new.users)
                .all(|((u1, h1), (u2, h2))| u1 == u2 && h1.expose_secret() == h2.expose_secret());
        if same {
            self.auth = previous.auth.clone();
        }
    }
}

/// Identity of a file's current contents, cheap to compute.
type Stamp = Option<(SystemTime, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (ino, ctime, ctime_ns) = {
        use std::os::unix::fs::MetadataExt as _;
        (m.ino(), m.ctime(), m.ctime_nsec())
    };
    #[cfg(not(unix))]
    let (ino, ctime, ctime_ns) = (0, 0, 0);
    Some((m.modified().ok()?, m.len(), ino, ctime, ctime_ns))
}

struct Watch {
    files: Vec<PathBuf>,
    seen: Vec<Stamp>,
    spec: WebConfigSpec,
}

/// Re-reads the web config and its files when they change.
struct Reloader {
    path: PathBuf,
    current: ArcSwap<Active>,
    watch: Mutex<Watch>,
}

impl Reloader {
    fn new(config: WebConfig) -> Reloader {
        let mut files = vec![config.path.clone()];
        files.extend(config.spec.watched_files());
        let seen = files.iter().map(|f| stamp(f)).collect();
        Reloader {
            path: config.path,
            current: ArcSwap::from_pointee(config.active),
            watch: Mutex::new(Watch {
                files,
                seen,
                spec: config.spec,
            }),
        }
    }

    /// The current settings, reloaded first if a watched file changed.
    fn current(&self) -> Arc<Active> {
        // Another task is already checking: use what is there.
        let Ok(mut w) = self.watch.try_lock() else {
            return self.current.load_full();
        };
        let now: Vec<Stamp> = w.files.iter().map(|f| stamp(f)).collect();
        if now == w.seen {
            return self.current.load_full();
        }
        w.seen = now;
        match WebConfig::load(&self.path) {
            Ok(new) if new.spec.tls_enabled() != w.spec.tls_enabled() => {
                error!(
                    path = %self.path.display(),
                    "web config reload: TLS cannot be switched on or off while running; \
                     keeping the previous settings (restart to apply)"
                );
            }
            Ok(new) => {
                if new.spec.http2 != w.spec.http2 {
                    warn!("web config reload: http_server_config.http2 applies only at start");
                }
                let WebConfig {
                    spec, mut active, ..
                } = new;
                active.keep_auth_cache(&self.current.load(), &w.spec, &spec);
                let mut files = vec![self.path.clone()];
                files.extend(spec.watched_files());
                w.seen = files.iter().map(|f| stamp(f)).collect();
                w.files = files;
                w.spec = spec;
                self.current.store(Arc::new(active));
                info!(path = %self.path.display(), "web config reloaded");
            }
            Err(e) => {
                error!(error = %e, "web config reload failed; keeping the previous settings");
            }
        }
        self.current.load_full()
    }
}

struct Handler {
    router: Router,
    reloader: Option<Reloader>,
    fixed: Arc<Active>,
    limiter: RequestLimiter,
    rate_limit: Option<RateLimiter>,
}

impl Handler {
    fn active(&self) -> Arc<Active> {
        match &self.reloader {
            Some(r) => r.current(),
            None => self.fixed.clone(),
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response {
        let active = self.active();
        let mut response = self.respond(req, &active).await;
        for (name, value) in &active.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    async fn respond(&self, req: Request<Incoming>, active: &Active) -> Response {
        if let Some(rl) = &self.rate_limit
            && !rl.allow()
        {
            return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
        }
        let Some(_permit) = self.limiter.try_acquire() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "Too many concurrent requests (--web.max-requests)\n",
            )
                .into_response();
        };
        if let Some(auth) = &active.auth
            && !auth.verify(req.headers().get(header::AUTHORIZATION)).await
        {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            )
                .into_response();
        }
        match self.router.clone().oneshot(req.map(Body::new)).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// Serves `router` on `listener` with the web config and limits of `web` until `shutdown`
/// completes; then stops accepting, lets in-flight requests finish and returns once every
/// connection is closed.
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    web: WebSettings,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let WebSettings { config, options } = web;
    let address = listener.local_addr()?;
    let (reloader, rate_limit, fixed, tls, http2) = match config {
        None => (None, None, Arc::new(Active::default()), false, false),
        Some(c) => {
            let rate_limit = c.spec.rate_limit.map(|(i, b)| {
                info!(burst = b, interval = ?i, "rate limiter is enabled");
                RateLimiter::new(i, b)
            });
            let (tls, http2) = (c.spec.tls_enabled(), c.spec.http2());
            (
                Some(Reloader::new(c)),
                rate_limit,
                Arc::new(Active::default()),
                tls,
                http2,
            )
        }
    };
    if tls {
        info!(%address, http2, "TLS is enabled");
    } else {
        info!(%address, http2 = false, "TLS is disabled");
    }
    let handler = Arc::new(Handler {
        router,
        reloader,
        fixed,
        limiter: RequestLimiter::new(options.max_requests),
        rate_limit,
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // TCP_NODELAY: a /metrics body is many shared chunks and ends with a small one (the
        // gzip trailer); with Nagle's algorithm that last segment waits for the client's
        // delayed ACK (40 ms on Linux), which capped gzip scrapes at about 25/s per connection.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        while tasks.try_join_next().is_some() {}
        tasks.spawn(connection(
            stream,
            peer,
            handler.clone(),
            options.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn connection(
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
