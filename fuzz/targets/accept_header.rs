//! `/metrics` content negotiation: any `Accept` header values (split at NUL bytes into
//! several header lines) choose 0.0.4 or OpenMetrics, never a panic, and the answer's
//! Content-Type is one of the offered ones.

/// One input.
pub fn run(data: &[u8]) {
    let values: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let chosen = chatapp_exporter::metrics::format::negotiate(values.iter().copied());
    let content_type = chosen.content_type();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4")
            || content_type.starts_with("application/openmetrics-text; version="),
        "{content_type}"
    );
}
