//! What [`serve`](crate::web::serve) is configured with: [`WebSettings`] (the loaded
//! `--web.config.file`, if any, plus limits), [`ServeOptions`] and their default values,
//! and the `--config.check` summary.

use std::path::Path;
use std::time::Duration;

use crate::web::error::WebConfigError;
use crate::web::loaded::WebConfig;

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

/// Everything [`serve`](super::serve) needs besides the listener and the router.
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
