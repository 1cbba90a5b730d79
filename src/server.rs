//! The HTTP surface: `/metrics` (or `--web.telemetry-path`), the landing page `/` (rendered
//! by [`crate::landing`]),
//! `/-/healthy`, `/-/ready` and `POST /-/reload`.
//!
//! `/metrics` never calls the API: it serves the self metrics (encoded when one changed,
//! see [`crate::metrics::SelfMetrics::encoded`]) followed by the object families rendered
//! at the last refresh, as shared bytes (no copy). When the scraper accepts gzip
//! (Prometheus does), the object part is the DEFLATE data compressed once per refresh, and
//! the self metrics, compressed once per encoding, go in front of it in the same gzip
//! member.
//!
//! The text format is negotiated per request from `Accept` ([`crate::metrics::format`]):
//! Prometheus asks for OpenMetrics first and gets it; no header, `*/*` or anything else gets
//! the 0.0.4 text. Both formats are cached per snapshot, so either is the same pointer load
//! and the same shared chunks; nothing of one request's choice outlives it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::landing::{self, FleetCache};
use crate::metrics::exposition::{gzip_parts, plain_parts};
use crate::metrics::{ExpositionStore, SelfMetrics, negotiate};
use crate::scheduler::StatusBoard;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Object families.
    pub store: Arc<ExpositionStore>,
    /// Self metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Per-account status.
    pub status: Arc<StatusBoard>,
    /// `--web.telemetry-path`, for the landing page link.
    pub telemetry_path: String,
    /// Where `POST /-/reload` sends its request; `None` when reload is unsupported.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
    /// The landing page's fleet table, rendered once per snapshot.
    pub landing: Arc<FleetCache>,
}

/// A reload request: the channel on which the outcome is reported back.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Builds the router; tests drive it with `tower::ServiceExt::oneshot` or serve it on port 0.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/", get(landing_page))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let negotiated = negotiate(
        headers
            .get_all(header::ACCEPT)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let format = negotiated.format();
    let objects = state.store.current_in(format);
    let wants_gzip = accepts_gzip(&headers);
    // The body is a stream over the shared chunks of the current exposition and the self
    // metrics (re-encoded, and compressed for gzip, when they changed): per scrape only the
    // gzip framing is allocated, whatever the fleet size.
    let (len, body) = if wants_gzip {
        let (len, parts) = gzip_parts(&state.metrics.compressed_in(format), &objects);
        (len, Body::from_stream(stream(parts)))
    } else {
        let (len, parts) = plain_parts(state.metrics.encoded_in(format), &objects);
        (len, Body::from_stream(stream(parts)))
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(negotiated.content_type()),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if wants_gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Caches between scraper and exporter must key on both negotiated headers.
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    response
}

fn stream(
    parts: impl Iterator<Item = Bytes> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    futures_util::stream::iter(parts.map(Ok))
}

/// True when `Accept-Encoding` lists gzip with a non-zero q-value.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.status.ready() {
        (StatusCode::OK, "Ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first refresh still running\n",
        )
    }
}

/// `POST /-/reload`: 200 when the new configuration is running, 500 with the reason when it
/// was rejected (the old one keeps running), as Prometheus and blackbox_exporter answer.
async fn reload(State(state): State<AppState>) -> (StatusCode, String) {
    let Some(tx) = state.reload else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reload is not enabled\n".into(),
        );
    };
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx.send(reply_tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match reply_rx.await {
        Ok(Ok(())) => (StatusCode::OK, "configuration reloaded\n".into()),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into()),
    }
}

/// `?account=` and `?number=` of the landing page.
#[derive(Debug, Deserialize)]
struct LandingQuery {
    account: Option<String>,
    number: Option<String>,
}

/// The landing page: never calls the API; the fleet table comes from the store's snapshot.
async fn landing_page(
    State(state): State<AppState>,
    Query(query): Query<LandingQuery>,
) -> Response {
    let status = state.status.snapshot();
    let fleet = state.store.fleet();
    // `?account=` (empty, as the form's "all accounts" sends it) is the whole fleet.
    let filter = landing::Filter {
        account: query.account.as_deref().filter(|a| !a.is_empty()),
        number: query.number.as_deref().filter(|n| !n.is_empty()),
    };
    let section = state.landing.section(&fleet, &status, filter);
    let notes = state.status.notes();
    let page = landing::render(
        &state.telemetry_path,
        &status,
        &notes,
        filter.account,
        &section,
    );
    let mut response = Html(page).into_response();
    if let Ok(csp) = HeaderValue::from_str(landing::content_security_policy()) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, GZIP;q=0.5"),
        );
        assert!(accepts_gzip(&h));
    }
}
