//! The request signers, as pure functions: RPC signature v1 ([`v1`], `HMAC-SHA1`) and
//! signature V3 ([`v3`], `ACS3-HMAC-SHA256`), cams-api.md §3 and §11.
//!
//! They sit below everything that sends a request: the CAMS client ([`crate::api`]) and the
//! STS client of the credential chain ([`crate::credentials`]) both sign with them, so
//! neither depends on the other for it. They take key material as plain strings and know
//! nothing of where it came from.

pub mod v1;
pub mod v3;
