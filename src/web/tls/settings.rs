//! `tls_server_config` as written and as checked: the serde struct with the toolkit's key
//! names, the checks that turn it into a [`TlsSpec`] (every error names its key), and the
//! spec itself. Reads no files, so it runs in `web::parse` and under the fuzzer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, SupportedKxGroup, ring};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::names::{GO_ONLY_SUITES, TLS12_SUITES, TLS13_SUITES, curve, supported_suite_names};
use crate::web::error::WebConfigError;

/// `tls_server_config`, with the toolkit's key names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Inline PEM certificate chain.
    #[serde(default)]
    pub cert: Option<String>,
    /// Inline PEM private key.
    #[serde(default)]
    pub key: Option<SecretString>,
    /// Inline PEM client CA certificates.
    #[serde(default)]
    pub client_ca: Option<String>,
    /// Certificate chain file (relative paths are relative to the web config file).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Private key file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// `NoClientCert` (default), `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// Client CA file.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Go cipher suite names (TLS 1.2 suites; TLS 1.3 suites are always on, as in Go).
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    /// Go curve names in preference order.
    #[serde(default)]
    pub curve_preferences: Option<Vec<String>>,
    /// `TLS12` (default) or `TLS13`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13` (default).
    #[serde(default)]
    pub max_version: Option<String>,
    /// Server picks the cipher suite in its own order (default true).
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// A client certificate must carry one of these SANs (DNS, IP, e-mail or URI).
    #[serde(default)]
    pub client_allowed_sans: Option<Vec<String>>,
}

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
    /// The client-certificate checks of `self` that `new` drops: a required certificate
    /// verified against the client CA (the only policy that authenticates every client), and
    /// `client_allowed_sans`.
    pub(crate) fn client_checks_removed_by(&self, new: &TlsSpec) -> Vec<&'static str> {
        let mut removed = Vec::new();
        if self.client_auth == ClientAuth::RequireAndVerifyClientCert
            && new.client_auth != ClientAuth::RequireAndVerifyClientCert
        {
            removed.push("client_auth_type: RequireAndVerifyClientCert (client certificates)");
        }
        if self.allowed_sans.is_some() && new.allowed_sans.is_none() {
            removed.push("client_allowed_sans");
        }
        removed
    }

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

/// Top-level key of these settings, for error messages.
const KEY: &str = "tls_server_config";

/// The dotted key of `name` under `tls_server_config`.
pub(super) fn key(name: &str) -> String {
    format!("{KEY}.{name}")
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn non_empty_path(p: Option<PathBuf>, base: &Path) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty())
        .map(|p| base.join(p))
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
pub(crate) fn check(
    mut c: TlsServerConfig,
    base: &Path,
) -> Result<Option<TlsSpec>, WebConfigError> {
    let cert_inline = non_empty(c.cert.take());
    let key_inline = c.key.take().filter(|k| !k.expose_secret().is_empty());
    let ca_inline = non_empty(c.client_ca.take());
    let cert_file = non_empty_path(c.cert_file.take(), base);
    let key_file = non_empty_path(c.key_file.take(), base);
    let ca_file = non_empty_path(c.client_ca_file.take(), base);
    let auth_name = non_empty(c.client_auth_type.take());

    let enabled = cert_inline.is_some()
        || key_inline.is_some()
        || ca_inline.is_some()
        || cert_file.is_some()
        || key_file.is_some()
        || ca_file.is_some()
        || auth_name.is_some();
    if !enabled {
        return no_settings_without_certificate(&c).map(|()| None);
    }

    let cert = file_or_inline(
        "cert",
        cert_file,
        cert_inline,
        PemSource::File,
        PemSource::Inline,
    )?;
    let cert = required("cert", cert)?;
    let key_source = file_or_inline(
        "key",
        key_file,
        key_inline,
        KeySource::File,
        KeySource::Inline,
    )?;
    let key_source = required("key", key_source)?;
    let client_ca = file_or_inline(
        "client_ca",
        ca_file,
        ca_inline,
        PemSource::File,
        PemSource::Inline,
    )?;

    let client_auth = client_auth_policy(auth_name.unwrap_or_default(), client_ca.is_some())?;
    let allowed_sans = c.client_allowed_sans;
    allowed_sans_need_a_certificate(allowed_sans.is_some(), client_auth)?;

    let (min, max) = version_range(c.min_version.as_deref(), c.max_version.as_deref())?;
    let defaults = ring::default_provider();
    let suites = cipher_suites(c.cipher_suites.as_deref(), &defaults, min <= 12)?;
    let kx_groups = key_exchange_groups(c.curve_preferences.as_deref(), &defaults)?;
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        kx_groups,
        ..defaults
    });

    Ok(Some(TlsSpec {
        cert,
        key: key_source,
        client_ca,
        client_auth,
        allowed_sans,
        versions: protocol_versions(min, max),
        provider,
        ignore_client_order: c.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

/// Settings that mean something only over TLS, set where no certificate is: an error, where
/// the toolkit would quietly serve plain HTTP and ignore them.
fn no_settings_without_certificate(c: &TlsServerConfig) -> Result<(), WebConfigError> {
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
    Ok(())
}

/// A PEM document given as `<name>_file` or inline as `<name>`, not both; `Ok(None)` when
/// neither is set.
fn file_or_inline<T, S>(
    name: &str,
    file: Option<PathBuf>,
    inline: Option<T>,
    from_file: fn(PathBuf) -> S,
    from_inline: fn(T) -> S,
) -> Result<Option<S>, WebConfigError> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(WebConfigError::new(
            key(name),
            format!("set only one of {name} and {name}_file"),
        )),
        (Some(p), None) => Ok(Some(from_file(p))),
        (None, Some(s)) => Ok(Some(from_inline(s))),
        (None, None) => Ok(None),
    }
}

/// A PEM document the server cannot do without (its certificate, its key).
fn required<S>(name: &str, source: Option<S>) -> Result<S, WebConfigError> {
    source.ok_or_else(|| {
        WebConfigError::new(
            key(&format!("{name}_file")),
            format!("missing one of {name} or {name}_file"),
        )
    })
}

/// `client_auth_type` (`""` when not set), and the client CA it needs: a CA without a
/// policy is an error, as is a verifying policy without a CA.
fn client_auth_policy(
    auth_name: String,
    has_client_ca: bool,
) -> Result<ClientAuth, WebConfigError> {
    let client_auth = ClientAuth::parse(&auth_name).ok_or_else(|| {
        WebConfigError::new(
            key("client_auth_type"),
            format!(
                "invalid ClientAuth {auth_name:?} (expected NoClientCert, RequestClientCert, \
                 RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ),
        )
    })?;
    if has_client_ca && client_auth == ClientAuth::NoClientCert {
        return Err(WebConfigError::new(
            key("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy \
             (set client_auth_type, normally RequireAndVerifyClientCert)",
        ));
    }
    if client_auth.verifies() && !has_client_ca {
        return Err(WebConfigError::new(
            key("client_ca_file"),
            format!("client_auth_type {auth_name} needs client_ca_file or client_ca"),
        ));
    }
    Ok(client_auth)
}

/// `client_allowed_sans`, when set, needs a policy under which every client sends a
/// certificate.
fn allowed_sans_need_a_certificate(
    sans_set: bool,
    client_auth: ClientAuth,
) -> Result<(), WebConfigError> {
    if sans_set
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
    Ok(())
}

/// `min_version` and `max_version` (TLS12 and TLS13 when not set), the minimum not above
/// the maximum.
fn version_range(min: Option<&str>, max: Option<&str>) -> Result<(u8, u8), WebConfigError> {
    let min = version("min_version", min.unwrap_or("TLS12"))?;
    let max = version("max_version", max.unwrap_or("TLS13"))?;
    if min > max {
        return Err(WebConfigError::new(
            key("min_version"),
            "min_version is higher than max_version",
        ));
    }
    Ok((min, max))
}

/// The protocol versions from `min` to `max`.
fn protocol_versions(min: u8, max: u8) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    versions
}

/// `cipher_suites`: the Go names, as rustls suites, with every TLS 1.3 suite added; the
/// provider's own suites when not set. `tls12`: TLS 1.2 is enabled, so the list must name
/// a TLS 1.2 suite.
fn cipher_suites(
    names: Option<&[String]>,
    defaults: &CryptoProvider,
    tls12: bool,
) -> Result<Vec<SupportedCipherSuite>, WebConfigError> {
    let names = match names {
        None | Some([]) => return Ok(defaults.cipher_suites.clone()),
        Some(names) => names,
    };
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
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
    if tls12 && suites.is_empty() {
        return Err(WebConfigError::new(
            key("cipher_suites"),
            "lists no TLS 1.2 suite, so TLS 1.2 clients could not connect; \
             add one or set min_version: TLS13",
        ));
    }
    suites.extend(
        defaults
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))),
    );
    Ok(suites)
}

/// `curve_preferences`: the Go curve names, as rustls key-exchange groups in that order
/// without repeats; the provider's own groups when not set.
fn key_exchange_groups(
    names: Option<&[String]>,
    defaults: &CryptoProvider,
) -> Result<Vec<&'static dyn SupportedKxGroup>, WebConfigError> {
    let names = match names {
        None | Some([]) => return Ok(defaults.kx_groups.clone()),
        Some(names) => names,
    };
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in names {
        let g = curve(name).map_err(|m| WebConfigError::new(key("curve_preferences"), m))?;
        if !groups.iter().any(|x| x.name() == g.name()) {
            groups.push(g);
        }
    }
    Ok(groups)
}
