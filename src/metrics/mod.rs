//! What /metrics serves: the object families rendered once per refresh ([`exposition`]) and
//! the exporter's own metrics in a stable registry ([`self_metrics`]).

pub mod exposition;
pub mod family;
pub mod filter;
pub mod self_metrics;

pub use exposition::{AccountExposition, Exposition, ExpositionStore};
pub use family::{EnumMode, UnknownValue};
pub use filter::FamilyFilter;
pub use self_metrics::SelfMetrics;

/// The Prometheus text exposition format content type (version 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
