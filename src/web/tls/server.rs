//! The rustls [`ServerConfig`] for a checked [`TlsSpec`]: protocol versions and provider from
//! the spec, certificate and key from `pem`, the client-certificate verifier for
//! `client_auth_type` (wrapped for `client_allowed_sans`), ALPN for `http2`. Built on every
//! load and reload, so a rotated certificate applies to the next handshake.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::pem::{certificates, field_key, private_key};
use super::settings::{ClientAuth, KeySource, TlsSpec, key};
use super::verify::{AnyClientCert, SanCheck};
use crate::web::error::WebConfigError;

/// Builds the rustls server configuration, reading the certificate, key and CA.
pub(crate) fn build(spec: &TlsSpec, http2: bool) -> Result<Arc<ServerConfig>, WebConfigError> {
    let certs = certificates(&spec.cert, "cert")?;
    let key_der = private_key(&spec.key)?;
    let key_field = match spec.key {
        KeySource::File(_) => key("key_file"),
        KeySource::Inline(_) => key("key"),
    };

    let builder = ServerConfig::builder_with_provider(spec.provider.clone())
        .with_protocol_versions(&spec.versions)
        .map_err(|e| WebConfigError::new(key("cipher_suites"), e.to_string()))?;

    let verifier: Option<Arc<dyn ClientCertVerifier>> = match spec.client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: spec.client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: spec.provider.signature_verification_algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let source = spec
                .client_ca
                .as_ref()
                .ok_or_else(|| WebConfigError::new(key("client_ca_file"), "missing client CA"))?;
            let mut roots = RootCertStore::empty();
            for ca in certificates(source, "client_ca")? {
                roots.add(ca).map_err(|e| {
                    WebConfigError::new(
                        field_key(source, "client_ca"),
                        format!("not a usable CA certificate: {e}"),
                    )
                })?;
            }
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), spec.provider.clone());
            if spec.client_auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            Some(
                b.build().map_err(|e| {
                    WebConfigError::new(field_key(source, "client_ca"), e.to_string())
                })?,
            )
        }
    };
    let verifier = match (verifier, &spec.allowed_sans) {
        (Some(v), Some(sans)) => Some(Arc::new(SanCheck {
            inner: v,
            allowed: sans.clone(),
        }) as Arc<dyn ClientCertVerifier>),
        (v, _) => v,
    };
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let mut config = builder.with_single_cert(certs, key_der).map_err(|e| {
        let message = match e {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not match the certificate".to_owned()
            }
            other => format!("unusable certificate or key: {other}"),
        };
        WebConfigError::new(key_field, message)
    })?;
    config.ignore_client_order = spec.ignore_client_order;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}
