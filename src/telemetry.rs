//! Logging: `tracing` with a level filter and logfmt or JSON lines on stderr, the formats
//! Prometheus components use. The writer is injectable so tests can capture every line and
//! check that no secret ever appears, at any level.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::cli::{LogFormat, LogLevel};

/// Third-party crates stay at `warn` even under `--log.level=debug`: HTTP client internals
/// would otherwise log connection details that help nobody running the exporter.
const QUIET_DEPENDENCIES: &str =
    "hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn,tower=warn,axum=warn";

/// Builds the subscriber for `level` and `format`, writing to `writer`.
pub fn subscriber<W>(
    level: LogLevel,
    format: LogFormat,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let filter = EnvFilter::new(format!("{level},{QUIET_DEPENDENCIES}"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => Box::new(
            registry.with(
                tracing_logfmt::builder()
                    .with_span_path(false)
                    .layer()
                    .with_writer(writer),
            ),
        ),
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            ),
        ),
    }
}

/// Installs the process-wide subscriber writing to stderr.
pub fn init(level: LogLevel, format: LogFormat) {
    // Fails only if a subscriber is already set (tests): keep that one.
    let _ = tracing::subscriber::set_global_default(subscriber(level, format, std::io::stderr));
}
