//! Everything that speaks the CAMS wire protocol: the RPC v1 and V3 signers, the response DTOs, the
//! HTTP client and its error type. Nothing here knows about Prometheus.

pub mod client;
pub mod error;
pub mod model;
pub mod signature;
pub mod signing;
pub mod signing_v3;

pub use client::{ApiClient, ClientOptions, Target};
pub use error::{ApiError, ErrorKind};
pub use signature::SignatureVersion;
