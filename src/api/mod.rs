//! Everything that speaks the CAMS wire protocol: which signer a request uses, the response
//! DTOs, the HTTP client and its error type (the signers themselves are [`crate::signing`]).
//! Nothing here knows about Prometheus.

pub mod client;
pub mod error;
pub mod model;
pub mod signature;

// The signers live in `crate::signing`, below both this module and the credential chain;
// these paths are kept for the tests, benches and fuzz targets that use them.
pub use crate::signing::{v1 as signing, v3 as signing_v3};
pub use client::{ApiClient, ClientOptions, Target};
pub use error::{ApiError, ErrorKind};
pub use signature::SignatureVersion;
