//! What [`serve`](crate::web::serve) is configured with: [`WebSettings`] (the loaded
//! `--web.config.file`, if any, plus limits and the [`WebControl`] handle),
//! [`ServeOptions`] and their default values, and the `--config.check` summary.

use std::path::Path;
use std::time::Duration;

use crate::web::control::WebControl;
use crate::web::error::WebConfigError;
use crate::web::loaded::WebConfig;

/// Default of `--web.max-requests`.
pub const DEFAULT_MAX_REQUESTS: usize = 40;
/// Most open connections.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most open connections from one client address (an IPv4 address, or an IPv6 /64: one
/// host usually holds a whole /64), so that one client cannot take every slot. An eighth
/// of [`MAX_CONNECTIONS`]: far above what a Prometheus server (one connection per target)
/// or a reverse proxy in front of the exporter (bounded by `--web.max-requests`) opens.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 128;
/// Time allowed from accepting a connection to receiving its first request head, TLS
/// handshake included, on HTTP/1 and HTTP/2 alike. A scraper sends its request at once;
/// only a silent or dripping client needs longer.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request open for this long is closed (between requests on a
/// kept-alive HTTP/1 connection, or an HTTP/2 connection without streams). Counted on
/// requests, not bytes: PINGs and dripped bytes do not extend it. Longer than the usual
/// scrape intervals (15 to 60 s), so that Prometheus keeps its connection.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A response must be sent within this time of its request's head arriving; a connection
/// with a request open longer is closed. Bounds how long a client that does not read holds
/// a `--web.max-requests` slot and the response's memory.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for the TLS handshake (within [`HEADER_READ_TIMEOUT`] of the accept).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A changed web config file (or a file it names) is applied only once it has not changed
/// for this long, so that a file being written is never read half-way.
pub const RELOAD_SETTLE_TIME: Duration = Duration::from_secs(1);

/// Server limits; the defaults are the constants above.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests served at once, each until its response body has been sent; 0 means no
    /// limit.
    pub max_requests: usize,
    /// Open connections at once (at least 1).
    pub max_connections: usize,
    /// Open connections per client address; 0 means only `max_connections` applies. See
    /// [`MAX_CONNECTIONS_PER_ADDRESS`].
    pub max_connections_per_address: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`RESPONSE_TIMEOUT`].
    pub response_timeout: Duration,
    /// See [`TLS_HANDSHAKE_TIMEOUT`].
    pub tls_handshake_timeout: Duration,
    /// See [`RELOAD_SETTLE_TIME`].
    pub reload_settle_time: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_requests: DEFAULT_MAX_REQUESTS,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_address: MAX_CONNECTIONS_PER_ADDRESS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            response_timeout: RESPONSE_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            reload_settle_time: RELOAD_SETTLE_TIME,
        }
    }
}

/// Everything [`serve`](super::serve) needs besides the listener and the router.
#[derive(Debug, Default)]
pub struct WebSettings {
    /// The loaded `--web.config.file`, if any.
    pub config: Option<WebConfig>,
    /// Limits.
    pub options: ServeOptions,
    /// The application's handle on the running server's web config (explicit reloads,
    /// reload outcomes); clone it before handing the settings to `serve`.
    pub control: WebControl,
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
            control: WebControl::default(),
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
