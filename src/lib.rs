//! `chatapp_exporter`: a Prometheus exporter for Alibaba Cloud Chat App Message Service
//! (CAMS), the API behind WhatsApp sending numbers.
//!
//! It runs a set of collectors in the background for each configured account, each one file
//! under [`collect`] that owns its CAMS operations (the registry, `collect::REGISTRY`, lists
//! them), and serves what they learn (each number's status, quality rating, messaging limit
//! and sending health, each template's state...) as labelled gauges on `/metrics`, and to
//! people on the landing page and in `--once`.
//!
//! Layers, bottom up. A module uses only modules of lower layers; `tests/layers.rs` checks
//! this table against every `crate::` path in `src/`, so it cannot drift from the tree:
//!
//! ```text
//! 10  app
//!  9  server
//!  8  landing  once  supervisor
//!  7  discovery  scheduler
//!  6  config  telemetry
//!  5  cli  history  sim
//!  4  collect
//!  3  metrics
//!  2  api
//!  1  credentials  view  web
//!  0  signing  wire  ratelimit
//! ```
//!
//! - [`signing`]: the RPC v1 and V3 signers, pure functions below everything that signs;
//!   [`wire`]: outbound HTTP plumbing the CAMS client and the credential providers share (TLS
//!   provider, client builder, capped body reader, text made safe to log and show);
//!   [`ratelimit`]: the per-AccessKey limiter that keeps us under the API quota.
//! - [`credentials`]: where AccessKeys come from (the default chain), secrets redacted;
//!   [`view`]: what people see of the fleet, defined once as columns (worst first), and its
//!   HTML, terminal and JSON renderers; [`web`]: the HTTP(S) server (web config, TLS, mTLS,
//!   basic auth, limits), knowing nothing of CAMS.
//! - [`api`]: the response envelope and lenient field readers, the HTTP client and its
//!   errors.
//! - [`metrics`]: family vocabulary, the cached exposition per (account, collector), the
//!   text format, the self-metrics registry.
//! - [`collect`]: the collectors, one file (or directory) each, owning their operations,
//!   response DTOs, settings, families, demo answers and columns for people; their registry,
//!   the context a run is given and the paced round.
//! - [`cli`]: flags; [`sim`]: a signature-checking CAMS simulator for `--demo` and tests,
//!   which answers with the collectors' demo answers; [`history`]: since when each number
//!   has its status, quality, tier and can-send, kept across restarts in `--storage.path`.
//! - [`config`]: the YAML file, merged and validated settings; [`telemetry`]: logging.
//! - [`discovery`]: the customers a parent's discovery found, made into accounts (names,
//!   inheritance, shards).
//! - [`scheduler`]: the account status board, the refresh and round bodies, the loops with
//!   back-off, the failure rendering every surface shares, the single pass of `--once`.
//! - [`landing`]: the landing page; [`once`]: `--once`'s output; [`supervisor`]: the running
//!   account tasks and applying a reloaded configuration.
//! - [`server`]: the HTTP routes. [`app`]: wiring and graceful shutdown.
//!
//! Where a metric comes from: `chatapp_<family>` is declared, with its HELP text, in the
//! file of the collector that reads it from the API, under [`collect`]; the exporter's own
//! `chatapp_*` series (`chatapp_up`, refresh, API-request, collector and reload series) are
//! in [`metrics::self_metrics`]. Where a request is made: every CAMS call goes through
//! `collect::Ctx::call` into [`api::client`], signed by [`signing`]; the credential
//! providers' own requests (STS, ECS metadata, credentials URI) are in [`credentials`]'s
//! `sts`, `ecs` and `uri`, through its `http`. Nothing else opens an outbound connection.
//!
//! Errors: each module boundary has its own `thiserror` enum ([`config::ConfigError`],
//! [`credentials::CredentialError`], [`api::ApiError`], [`collect::CollectError`],
//! [`scheduler::RefreshError`]); `anyhow` is used only at the top: `main`, [`app`] and
//! [`once`] (the `--once` command).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod credentials;
pub mod discovery;
pub mod history;
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
pub mod view;
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
