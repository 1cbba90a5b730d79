//! What /metrics serves: the object families rendered once per refresh ([`render`], the one
//! table-driven renderer every collector uses, into [`exposition`]) and the exporter's own
//! metrics in a stable registry ([`self_metrics`]), in the text format each scrape
//! negotiates ([`format`]: Prometheus 0.0.4 or OpenMetrics 1.0.0).

mod account_series;
pub mod exposition;
pub mod family;
pub mod filter;
pub mod format;
pub mod render;
pub mod self_metrics;

pub use exposition::{AccountExposition, Exposition, ExpositionStore};
pub use family::{EnumMode, UnknownValue};
pub use filter::FamilyFilter;
pub use format::{Format, Negotiated, negotiate};
pub use self_metrics::SelfMetrics;

/// The Prometheus text exposition format content type (version 0.0.4).
pub const CONTENT_TYPE: &str = format::TEXT_CONTENT_TYPE;
