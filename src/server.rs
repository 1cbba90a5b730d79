//! The HTTP surface: `/metrics` (or `--web.telemetry-path`), the landing page `/`,
//! `/-/healthy`, `/-/ready` and `POST /-/reload`.
//!
//! `/metrics` never calls the API: it serves the small self-metrics block (encoded per
//! scrape) followed by the object families rendered at the last refresh, as shared
//! bytes (no copy). When the scraper accepts gzip (Prometheus does), the object part is
//! the DEFLATE data compressed once per refresh, and the self-metrics block goes in front
//! of it as stored blocks in the same gzip member.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::exposition::{gzip_parts, plain_parts};
use crate::metrics::{CONTENT_TYPE, ExpositionStore, SelfMetrics};
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
    let own = state.metrics.encoded();
    let objects = state.store.current();
    let wants_gzip = accepts_gzip(&headers);
    // The body is a stream over the shared chunks of the current exposition and the self
    // metrics (re-encoded when they changed): per scrape only the gzip framing is
    // allocated, whatever the fleet size.
    let (len, body) = if wants_gzip {
        let (len, parts) = gzip_parts(&own, &objects);
        (len, Body::from_stream(stream(parts)))
    } else {
        let (len, parts) = plain_parts(own, &objects);
        (len, Body::from_stream(stream(parts)))
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if wants_gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
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

/// `pending`, `ok (summary)` or `error: code: message`.
fn result_text(result: &Option<Result<String, crate::scheduler::Failure>>) -> String {
    match result {
        None => "pending".to_owned(),
        Some(Ok(s)) if s.is_empty() => "ok".to_owned(),
        Some(Ok(s)) => format!("ok ({s})"),
        Some(Err(e)) => format!("error: {e}"),
    }
}

async fn landing_page(State(state): State<AppState>) -> Html<String> {
    let mut rows = String::new();
    let mut collector_rows = String::new();
    let mut details = String::new();
    let snapshot = state.status.snapshot();
    for (name, s) in &snapshot {
        for (collector, c) in &s.collectors {
            collector_rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(name),
                escape(collector),
                humantime::format_duration(c.interval),
                fmt_time(c.last_attempt),
                fmt_time(c.last_success),
                escape(&result_text(&c.last_result)),
                escape(c.note.as_deref().unwrap_or("")),
            ));
            for d in &c.details {
                details.push_str(&format!(
                    "<li>{} ({}): {}</li>\n",
                    escape(name),
                    escape(collector),
                    escape(d)
                ));
            }
        }
    }
    if !details.is_empty() {
        details = format!("<h2>Needs attention</h2>\n<ul>\n{details}</ul>\n");
    }
    for (name, s) in snapshot {
        let result = result_text(&s.last_result);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&name),
            escape(&s.endpoint),
            escape(s.cust_space_id.as_deref().unwrap_or("")),
            fmt_time(s.last_attempt),
            fmt_time(s.last_success),
            escape(&result),
            if s.serving_data { "yes" } else { "no" },
        ));
    }
    let path = escape(&state.telemetry_path);
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>ChatApp Exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style>
</head>
<body>
<h1>ChatApp Exporter</h1>
<p>Prometheus exporter for Alibaba Cloud Chat App Message Service (WhatsApp sending numbers).
Version {version} (revision {revision}).</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></li>
</ul>
<h2>Accounts</h2>
<table>
<tr><th>Account</th><th>Endpoint</th><th>CustSpaceId</th><th>Last attempt (UTC)</th><th>Last success (UTC)</th><th>Last result</th><th>Serving data</th></tr>
{rows}</table>
<h2>Collectors</h2>
<table>
<tr><th>Account</th><th>Collector</th><th>Interval</th><th>Last run (UTC)</th><th>Last success (UTC)</th><th>Last result</th><th>Note</th></tr>
{collector_rows}</table>
{details}</body>
</html>
"#,
        version = crate::metrics::self_metrics::build::VERSION,
        revision = crate::metrics::self_metrics::build::REVISION,
    ))
}

fn fmt_time(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "never".into())
}

/// Minimal HTML escaping for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
