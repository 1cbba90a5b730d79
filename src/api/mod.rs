//! Everything that speaks the CAMS wire protocol: the RPC v1 signer, the response DTOs, the
//! HTTP client and its error type. Nothing here knows about Prometheus.

pub mod client;
pub mod error;
pub mod model;
pub mod signing;

pub use client::{ApiClient, ClientOptions, Target};
pub use error::{ApiError, ErrorKind};
