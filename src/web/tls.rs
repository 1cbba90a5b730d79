//! `tls_server_config` on rustls (ring provider): checks, certificate and key loading, client
//! certificate policies and `client_allowed_sans`.
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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use super::config::{TlsServerConfig, WebConfigError};
use super::san::subject_alt_names;

/// Where a PEM document comes from.
#[derive(Debug, Clone)]
pub(crate) enum PemSource {
    File(PathBuf),
    Inline(String),
}

/// Where the private key comes from; inline keys are secrets.
#[derive(Clone)]
pub(crate) enum KeySource {
    File(PathBuf),
    Inline(SecretString),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => f.debug_tuple("File").field(p).finish(),
            KeySource::Inline(_) => f.write_str("Inline([REDACTED])"),
        }
    }
}

/// `client_auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified against a CA.
    RequireAnyClientCert,
    /// Verified against the client CA when sent.
    VerifyClientCertIfGiven,
    /// Required and verified against the client CA.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // "RequireClientCert" is the toolkit's backwards-compatible alias.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// Checked `tls_server_config`.
#[derive(Debug)]
pub(crate) struct TlsSpec {
    pub(crate) cert: PemSource,
    pub(crate) key: KeySource,
    pub(crate) client_ca: Option<PemSource>,
    pub(crate) client_auth: ClientAuth,
    pub(crate) allowed_sans: Option<Vec<String>>,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) ignore_client_order: bool,
}

impl TlsSpec {
    /// The files this configuration reads.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let PemSource::File(p) = &self.cert {
            out.push(p.clone());
        }
        if let KeySource::File(p) = &self.key {
            out.push(p.clone());
        }
        if let Some(PemSource::File(p)) = &self.client_ca {
            out.push(p.clone());
        }
        out
    }
}

const KEY: &str = "tls_server_config";

fn key(name: &str) -> String {
    format!("{KEY}.{name}")
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn non_empty_path(p: Option<PathBuf>, base: &Path) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty())
        .map(|p| base.join(p))
}

/// Go cipher suite names that rustls (ring) implements, TLS 1.2 first.
const TLS12_SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    // Go's older alias of the above.
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suite names Go accepts in `cipher_suites` (and then ignores for TLS 1.3).
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go knows that rustls deliberately does not implement.
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    match name {
        "X25519" => Ok(ring::kx_group::X25519),
        "CurveP256" => Ok(ring::kx_group::SECP256R1),
        "CurveP384" => Ok(ring::kx_group::SECP384R1),
        "CurveP521" => Err(
            "CurveP521 is not supported: rustls' ring provider has no P-521 key exchange \
             (use X25519, CurveP256 or CurveP384)"
                .into(),
        ),
        other => Err(format!(
            "unknown curve {other:?} (known: X25519, CurveP256, CurveP384)"
        )),
    }
}

fn version(field: &str, name: &str) -> Result<u8, WebConfigError> {
    match name {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(WebConfigError::new(
            key(field),
            format!("{name} is not supported: rustls implements only TLS12 and TLS13"),
        )),
        other => Err(WebConfigError::new(
            key(field),
            format!("unknown TLS version {other:?} (expected TLS12 or TLS13)"),
        )),
    }
}

/// Checks `tls_server_config`; `Ok(None)` when it configures no TLS at all.
pub(crate) fn check(c: TlsServerConfig, base: &Path) -> Result<Option<TlsSpec>, WebConfigError> {
    let cert_inline = non_empty(c.cert);
    let key_inline = c.key.filter(|k| !k.expose_secret().is_empty());
    let ca_inline = non_empty(c.client_ca);
    let cert_file = non_empty_path(c.cert_file, base);
    let key_file = non_empty_path(c.key_file, base);
    let ca_file = non_empty_path(c.client_ca_file, base);
    let auth_name = non_empty(c.client_auth_type);

    let enabled = cert_inline.is_some()
        || key_inline.is_some()
        || ca_inline.is_some()
        || cert_file.is_some()
        || key_file.is_some()
        || ca_file.is_some()
        || auth_name.is_some();
    if !enabled {
        // The toolkit would quietly serve plain HTTP and ignore these; say so instead.
        let stray = [
            ("min_version", c.min_version.is_some()),
            ("max_version", c.max_version.is_some()),
            ("cipher_suites", c.cipher_suites.is_some()),
            ("curve_preferences", c.curve_preferences.is_some()),
            ("client_allowed_sans", c.client_allowed_sans.is_some()),
        ];
        if let Some((name, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(WebConfigError::new(
                key(name),
                "set, but tls_server_config has no certificate (cert_file/key_file or cert/key), \
                 so the server would speak plain HTTP",
            ));
        }
        return Ok(None);
    }

    let cert = match (cert_file, cert_inline) {
        (Some(_), Some(_)) => {
            return Err(WebConfigError::new(
                key("cert"),
                "set only one of cert and cert_file",
            ));
        }
        (Some(p), None) => PemSource::File(p),
        (None, Some(s)) => PemSource::Inline(s),
        (None, None) => {
            return Err(WebConfigError::new(
                key("cert_file"),
                "missing one of cert or cert_file",
            ));
        }
    };
    let key_source = match (key_file, key_inline) {
        (Some(_), Some(_)) => {
            return Err(WebConfigError::new(
                key("key"),
                "set only one of key and key_file",
            ));
        }
        (Some(p), None) => KeySource::File(p),
        (None, Some(s)) => KeySource::Inline(s),
        (None, None) => {
            return Err(WebConfigError::new(
                key("key_file"),
                "missing one of key or key_file",
            ));
        }
    };
    let client_ca = match (ca_file, ca_inline) {
        (Some(_), Some(_)) => {
            return Err(WebConfigError::new(
                key("client_ca"),
                "set only one of client_ca and client_ca_file",
            ));
        }
        (Some(p), None) => Some(PemSource::File(p)),
        (None, Some(s)) => Some(PemSource::Inline(s)),
        (None, None) => None,
    };

    let auth_name = auth_name.unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_name).ok_or_else(|| {
        WebConfigError::new(
            key("client_auth_type"),
            format!(
                "invalid ClientAuth {auth_name:?} (expected NoClientCert, RequestClientCert, \
                 RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ),
        )
    })?;
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(WebConfigError::new(
            key("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy \
             (set client_auth_type, normally RequireAndVerifyClientCert)",
        ));
    }
    if client_auth.verifies() && client_ca.is_none() {
        return Err(WebConfigError::new(
            key("client_ca_file"),
            format!("client_auth_type {auth_name} needs client_ca_file or client_ca"),
        ));
    }
    let allowed_sans = c.client_allowed_sans;
    if allowed_sans.is_some()
        && !matches!(
            client_auth,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    {
        return Err(WebConfigError::new(
            key("client_allowed_sans"),
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert \
             or RequireAndVerifyClientCert",
        ));
    }

    let min = version("min_version", c.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version("max_version", c.max_version.as_deref().unwrap_or("TLS13"))?;
    if min > max {
        return Err(WebConfigError::new(
            key("min_version"),
            "min_version is higher than max_version",
        ));
    }
    let mut versions = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }

    let base = ring::default_provider();
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
    match c.cipher_suites.as_deref() {
        None | Some([]) => suites = base.cipher_suites.clone(),
        Some(names) => {
            for name in names {
                if let Some((_, s)) = TLS12_SUITES.iter().find(|(n, _)| n == name) {
                    if !suites.iter().any(|x| x.suite() == s.suite()) {
                        suites.push(*s);
                    }
                } else if TLS13_SUITES.contains(&name.as_str()) {
                    // Always enabled below, as in Go.
                } else if GO_ONLY_SUITES.contains(&name.as_str()) {
                    return Err(WebConfigError::new(
                        key("cipher_suites"),
                        format!(
                            "cipher suite {name} is not implemented by rustls (no CBC, RSA key \
                             exchange, 3DES or RC4 suites); supported: {}",
                            supported_suite_names()
                        ),
                    ));
                } else {
                    return Err(WebConfigError::new(
                        key("cipher_suites"),
                        format!(
                            "unknown cipher: {name} (supported: {})",
                            supported_suite_names()
                        ),
                    ));
                }
            }
            if min <= 12 && suites.is_empty() {
                return Err(WebConfigError::new(
                    key("cipher_suites"),
                    "lists no TLS 1.2 suite, so TLS 1.2 clients could not connect; \
                     add one or set min_version: TLS13",
                ));
            }
            suites.extend(
                base.cipher_suites
                    .iter()
                    .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))),
            );
        }
    }

    let kx_groups = match c.curve_preferences.as_deref() {
        None | Some([]) => base.kx_groups.clone(),
        Some(names) => {
            let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
            for name in names {
                let g =
                    curve(name).map_err(|m| WebConfigError::new(key("curve_preferences"), m))?;
                if !groups.iter().any(|x| x.name() == g.name()) {
                    groups.push(g);
                }
            }
            groups
        }
    };

    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        kx_groups,
        ..base
    });

    Ok(Some(TlsSpec {
        cert,
        key: key_source,
        client_ca,
        client_auth,
        allowed_sans,
        versions,
        provider,
        ignore_client_order: c.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

fn supported_suite_names() -> String {
    let mut names: Vec<&str> = TLS12_SUITES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.ends_with("SHA256") || n.ends_with("SHA384"))
        .collect();
    names.extend(TLS13_SUITES);
    names.join(", ")
}

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

fn field_key(source: &PemSource, field: &str) -> String {
    match source {
        PemSource::File(_) => key(&format!("{field}_file")),
        PemSource::Inline(_) => key(field),
    }
}

fn certificates(
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
fn private_key(source: &KeySource) -> Result<PrivateKeyDer<'static>, WebConfigError> {
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

/// `RequestClientCert` / `RequireAnyClientCert`: any well-formed certificate whose key the
/// client proves it holds; no chain verification.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        ParsedCertificate::try_from(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after the policy's own checks, the client certificate must carry
/// one of the allowed SANs, else the handshake fails with `access_denied`.
#[derive(Debug)]
struct SanCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for SanCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = subject_alt_names(end_entity.as_ref()).unwrap_or_default();
        if sans
            .iter()
            .any(|san| self.allowed.iter().any(|a| san.matches(a)))
        {
            return Ok(verified);
        }
        let found: Vec<String> = sans.iter().map(ToString::to_string).collect();
        tracing::debug!(found = ?found, "client certificate has none of client_allowed_sans");
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
