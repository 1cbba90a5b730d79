//! Reading what `tls_server_config` points at: the certificate chain, the private key and the
//! client CA, from a file or inline PEM. Errors name the key (`cert_file` or `cert`, ...)
//! that the source came from and never include key material.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;

use super::settings::{KeySource, PemSource, key};
use crate::web::error::WebConfigError;

/// Reads a PEM source; the error names `field`.
fn read_pem(source: &PemSource, field: &str) -> Result<(Vec<u8>, String), WebConfigError> {
    match source {
        PemSource::Inline(s) => Ok((s.as_bytes().to_vec(), "inline PEM".into())),
        PemSource::File(p) => std::fs::read(p)
            .map(|b| (b, p.display().to_string()))
            .map_err(|e| {
                WebConfigError::new(
                    key(&format!("{field}_file")),
                    format!("cannot read {}: {e}", p.display()),
                )
            }),
    }
}

pub(super) fn field_key(source: &PemSource, field: &str) -> String {
    match source {
        PemSource::File(_) => key(&format!("{field}_file")),
        PemSource::Inline(_) => key(field),
    }
}

pub(super) fn certificates(
    source: &PemSource,
    field: &str,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let (bytes, what) = read_pem(source, field)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(WebConfigError::new(
            field_key(source, field),
            format!("no PEM certificate found in {what}"),
        )),
        Err(e) => Err(WebConfigError::new(
            field_key(source, field),
            format!("cannot parse PEM certificates in {what}: {e}"),
        )),
    }
}

/// Loads the private key. Errors never include the file's contents.
pub(super) fn private_key(source: &KeySource) -> Result<PrivateKeyDer<'static>, WebConfigError> {
    let (bytes, what, field) = match source {
        KeySource::Inline(s) => (
            Zeroizing::new(s.expose_secret().as_bytes().to_vec()),
            "the inline key".to_owned(),
            key("key"),
        ),
        KeySource::File(p) => (
            Zeroizing::new(std::fs::read(p).map_err(|e| {
                WebConfigError::new(key("key_file"), format!("cannot read {}: {e}", p.display()))
            })?),
            p.display().to_string(),
            key("key_file"),
        ),
    };
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        WebConfigError::new(
            field,
            format!("no readable PEM private key (PKCS#8, PKCS#1 or SEC1) in {what}"),
        )
    })
}
