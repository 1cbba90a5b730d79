//! The HTTP(S) server: exporter-toolkit web config (`--web.config.file`: TLS, mutual TLS,
//! basic auth, security headers, rate limit) and the limits that keep hostile or slow
//! clients from exhausting the process.
//!
//! [`serve`] runs any [`axum::Router`] on a listener until a shutdown future completes. Per
//! request, in this order: `rate_limit` (429), basic auth (401 with `WWW-Authenticate:
//! Basic`; at most [`auth::BCRYPT_CONCURRENCY`] bcrypt runs at once, more are refused at
//! once), `--web.max-requests` (503, never queued; held until the response body has been
//! sent), then the router. Every response gets the configured `http_server_config.headers`.
//! Authentication covers every path, `/-/healthy` and `/-/ready` included, as with the
//! toolkit.
//!
//! The web config file and the certificate, key and CA files it names are checked for
//! changes (size, mtime, ctime, inode) on each connection and request; a change applies once
//! it has settled ([`RELOAD_SETTLE_TIME`]). A change that does not load, an empty file, and
//! one that would remove authentication in force are refused (logged, and reported through
//! [`WebControl`]); an explicit reload ([`WebControl::reload`]) may remove authentication.
//! TLS on/off and `http2` need a restart.
//!
//! Per connection: the first request head must arrive within [`HEADER_READ_TIMEOUT`] of the
//! accept (TLS handshake, itself bounded by [`TLS_HANDSHAKE_TIMEOUT`], included), a
//! connection with no request open for [`IDLE_TIMEOUT`] is closed, and so is one whose
//! oldest response is not sent within [`RESPONSE_TIMEOUT`]; bytes that move without a
//! request (dripped headers, HTTP/2 PINGs) extend none of these. At most
//! [`MAX_CONNECTIONS`] are open at once (beyond that new ones wait in the kernel's accept
//! backlog), and at most [`MAX_CONNECTIONS_PER_ADDRESS`] from one client address (beyond
//! that a new one is closed at once).
//!
//! Where things live (each file owns one of them; dependencies point down this list):
//! - `settings`: [`WebSettings`], [`ServeOptions`] and the limits' defaults; `control`:
//!   [`WebControl`], the application's handle on a running server's web config;
//! - `serve`: the accept loop behind [`serve`]; `connection`: one connection's TLS
//!   handshake, HTTP/1 or HTTP/2 and hyper's buffer limits; `clock`: a connection's
//!   deadlines, and the response body that holds its request's place until sent;
//! - `pipeline`: the per-request order above; [`limits`]: the concurrency limit, the rate
//!   limit and the per-address connection limit; [`auth`]: basic auth and its caches;
//! - `reload`: hot and explicit reload; `loaded`: [`WebConfig`], a config file loaded for
//!   use;
//! - [`config`]: parsing and checking the file ([`parse`]); `tls`: `tls_server_config`
//!   (checks, PEM loading, the rustls server config, client-certificate verifiers);
//!   [`san`]: reading a client certificate's SANs;
//! - `error`: [`WebConfigError`], shared by all of the above.

pub mod auth;
mod clock;
pub mod config;
mod connection;
mod control;
mod error;
pub mod limits;
mod loaded;
mod pipeline;
mod reload;
pub mod san;
mod serve;
mod settings;
mod tls;

pub use auth::BasicAuth;
pub use config::{WebConfigSpec, parse};
pub use connection::{
    HTTP1_MAX_BUFFER, HTTP2_MAX_SEND_BUFFER, HTTP2_MAX_STREAMS, HTTP2_PING_INTERVAL,
    HTTP2_PING_TIMEOUT,
};
pub use control::WebControl;
pub use error::WebConfigError;
pub use loaded::WebConfig;
pub use serve::serve;
pub use settings::{
    DEFAULT_MAX_REQUESTS, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_ADDRESS, RELOAD_SETTLE_TIME, RESPONSE_TIMEOUT, ServeOptions,
    TLS_HANDSHAKE_TIMEOUT, WebSettings,
};
