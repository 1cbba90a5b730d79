//! `chatapp_exporter`: a Prometheus exporter for Alibaba Cloud Chat App Message Service
//! (CAMS), the API behind WhatsApp sending numbers.
//!
//! It polls `QueryChatappPhoneNumbers` and `QueryChatappBindWaba` in the background for each
//! configured account and serves each number's status, quality rating and messaging limit as
//! labelled gauges on `/metrics`.
//!
//! Module map:
//! - [`cli`]: flags; [`config`]: the YAML file, merged and validated settings;
//! - [`credentials`]: where AccessKeys come from (environment, files), secrets redacted;
//! - [`api`]: the RPC v1 signer, response DTOs, HTTP client and its errors;
//! - [`collect`]: pure conversion of DTOs into metric families, one file per operation;
//! - [`metrics`]: the cached exposition of object families and the self-metrics registry;
//! - [`scheduler`]: per-account background refresh, back-off and staleness;
//! - [`supervisor`]: the running account tasks, and applying a reloaded configuration;
//! - [`ratelimit`]: the per-AccessKey token bucket that keeps us under the API quota;
//! - [`server`]: the HTTP routes; [`app`]: wiring and graceful shutdown;
//! - [`web`]: the HTTP(S) server: web config (TLS, mTLS, basic auth), limits;
//! - [`sim`]: a signature-checking CAMS simulator for `--demo` and the tests;
//! - [`telemetry`] sets up logging.
//!
//! Errors: each module boundary has its own `thiserror` enum ([`config::ConfigError`],
//! [`credentials::CredentialError`], [`api::ApiError`]); `anyhow` is used only in [`app`] and
//! `main`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod credentials;
pub mod metrics;
pub mod ratelimit;
pub mod scheduler;
pub mod server;
pub mod sim;
pub mod supervisor;
pub mod telemetry;
pub mod web;

/// `--version` output: version, git revision and compiler, as Prometheus exporters print.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision: ",
    env!("CHATAPP_REVISION"),
    ", rustc: ",
    env!("CHATAPP_RUSTC_VERSION"),
    ")"
);
