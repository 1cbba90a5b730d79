//! `chatapp_exporter`: a Prometheus exporter for Alibaba Cloud Chat App Message Service
//! (CAMS), the API behind WhatsApp sending numbers.
//!
//! It runs a set of collectors, one per CAMS operation, in the background for each configured
//! account (`QueryChatappPhoneNumbers`, `QueryChatappBindWaba`, `GetWhatsappHealthStatus`,
//! `ListChatappTemplate` with `GetChatappTemplateDetail`) and serves each number's status,
//! quality rating, messaging limit and sending health, and each template's state, as
//! labelled gauges on `/metrics`.
//!
//! Module map:
//! - [`cli`]: flags; [`config`]: the YAML file, merged and validated settings;
//! - [`credentials`]: where AccessKeys come from (environment, files), secrets redacted;
//! - [`signing`]: the RPC v1 and V3 signers, pure functions below everything that signs;
//! - [`wire`]: what the CAMS client and the credential chain share (TLS provider, safe
//!   error messages), so that neither depends on the other;
//! - [`api`]: the CAMS response DTOs, HTTP client and its errors;
//! - [`collect`]: the collectors, one file per operation (spec and families as data, pure
//!   conversion), their registry and the context a run is given;
//! - [`metrics`]: family vocabulary, the cached exposition per (account, collector) and the
//!   self-metrics registry;
//! - [`fleet`]: each number's state in words, merged from the collectors, worst first;
//! - [`scheduler`]: the account status board, one refresh run, the per-account and
//!   per-collector loops with back-off, the failure rendering shared by every surface, and
//!   the single pass of `--once`;
//! - [`supervisor`]: the running account tasks, and applying a reloaded configuration;
//! - [`ratelimit`]: the per-AccessKey token bucket that keeps us under the API quota;
//! - [`server`]: the HTTP routes; [`landing`]: the landing page and its fleet view;
//! - [`once`]: `--once`'s table, JSON and exposition output;
//! - [`app`]: wiring and graceful shutdown;
//! - [`web`]: the HTTP(S) server: web config (TLS, mTLS, basic auth), limits;
//! - [`sim`]: a signature-checking CAMS simulator for `--demo` and the tests;
//! - [`telemetry`] sets up logging.
//!
//! Errors: each module boundary has its own `thiserror` enum ([`config::ConfigError`],
//! [`credentials::CredentialError`], [`api::ApiError`], [`scheduler::RefreshError`]); `anyhow`
//! is used only in [`app`] and `main`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod credentials;
pub mod fleet;
pub mod landing;
pub mod metrics;
pub mod once;
pub mod ratelimit;
pub mod scheduler;
pub mod server;
pub mod signing;
pub mod sim;
pub mod supervisor;
pub mod telemetry;
pub mod web;
pub mod wire;

/// `--version` output: version, git revision and compiler, as Prometheus exporters print.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision: ",
    env!("CHATAPP_REVISION"),
    ", rustc: ",
    env!("CHATAPP_RUSTC_VERSION"),
    ")"
);
