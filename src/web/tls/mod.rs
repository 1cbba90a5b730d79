//! `tls_server_config` on rustls (ring provider). One file per step:
//! - `settings`: the YAML keys, their checks and the checked [`TlsSpec`] (reads no files);
//! - `names`: Go's names of cipher suites and curves, mapped to rustls';
//! - `pem`: reading the certificate chain, key and client CA (file or inline PEM);
//! - `server`: the rustls `ServerConfig` built from a spec;
//! - `verify`: the client-certificate verifiers rustls does not ship (`RequestClientCert`,
//!   `RequireAnyClientCert`, `client_allowed_sans`).
//!
//! Mapping from the toolkit (Go `crypto/tls`) to rustls:
//! - `min_version`/`max_version`: `TLS12`, `TLS13`. `TLS10`/`TLS11` are errors (rustls does
//!   not implement them).
//! - `cipher_suites`: Go names of the suites rustls has (ECDHE with AES-GCM or
//!   ChaCha20-Poly1305). As in Go, the list restricts TLS 1.2 only; TLS 1.3 suites are always
//!   enabled (naming them is allowed). CBC, RSA key exchange, 3DES and RC4 suites are errors.
//! - `curve_preferences`: `X25519`, `CurveP256`, `CurveP384` in the given order; `CurveP521`
//!   is an error (the ring provider has no P-521 key exchange).
//! - `prefer_server_cipher_suites` maps to rustls' `ignore_client_order`.
//! - `client_auth_type`: `RequestClientCert` and `RequireAnyClientCert` check only that the
//!   client owns the certificate it sends (as Go does); the two `Verify` policies check it
//!   against the client CA, which they require (Go would fall back to the system roots).

mod names;
mod pem;
mod server;
mod settings;
mod verify;

pub(crate) use server::build;
pub use settings::TlsServerConfig;
pub(crate) use settings::{TlsSpec, check};
