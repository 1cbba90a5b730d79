//! The HTTP(S) server: exporter-toolkit web config (`--web.config.file`: TLS, mutual TLS,
//! basic auth, security headers, rate limit) and the limits that keep hostile or slow
//! clients from exhausting the process.
//!
//! [`serve`] runs any [`axum::Router`] on a listener until a shutdown future completes. Per
//! request, in this order: `rate_limit` (429), basic auth (401 with `WWW-Authenticate:
//! Basic`; at most [`auth::BCRYPT_CONCURRENCY`] bcrypt runs at once, more are refused at
//! once), `--web.max-requests` (503, never queued), then the router. Every response gets the
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
//!
//! Where things live (each file owns one of them; dependencies point down this list):
//! - `settings`: [`WebSettings`], [`ServeOptions`] and the limits' defaults;
//! - `serve`: the accept loop behind [`serve`]; `connection`: one connection's TLS
//!   handshake, HTTP/1 or HTTP/2, idle and shutdown handling;
//! - `pipeline`: the per-request order above; [`limits`]: the concurrency limit, the rate
//!   limit and I/O-activity tracking; [`auth`]: basic auth and its caches;
//! - `reload`: hot reload; `loaded`: [`WebConfig`], a config file loaded for use;
//! - [`config`]: parsing and checking the file ([`parse`]); `tls`: `tls_server_config`
//!   (checks, PEM loading, the rustls server config, client-certificate verifiers);
//!   [`san`]: reading a client certificate's SANs;
//! - `error`: [`WebConfigError`], shared by all of the above.

pub mod auth;
pub mod config;
mod connection;
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
pub use error::WebConfigError;
pub use loaded::WebConfig;
pub use serve::serve;
pub use settings::{
    DEFAULT_MAX_REQUESTS, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, ServeOptions,
    TLS_HANDSHAKE_TIMEOUT, WebSettings,
};
