//! The `--web.config.file` format of Prometheus' exporter-toolkit
//! (`docs/web-configuration.md`): `tls_server_config`, `http_server_config`,
//! `basic_auth_users` and `rate_limit`.
//!
//! [`parse`] turns the YAML text into a checked [`WebConfigSpec`] without touching the file
//! system (so it can be fuzzed); `web::WebConfig::load` (`loaded.rs`) then reads the
//! certificates and keys and builds the rustls configuration. The `tls_server_config`
//! section belongs to `web::tls` (its keys, checks and spec live there); this module only
//! calls its check. Every error names the key at fault. Unknown keys are errors, as in the
//! toolkit's strict YAML decoding; settings that rustls cannot honour (TLS 1.0/1.1, CBC or
//! RSA-key-exchange cipher suites, P-521) are errors too, never silently ignored.
//!
//! Secrets (the inline `key`, the bcrypt hashes of `basic_auth_users`) are deserialised
//! straight into [`SecretString`] (secrecy's `serde` feature), so they are zeroed on drop and
//! print as `[REDACTED]` in any `Debug` output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::web::error::WebConfigError;
pub use crate::web::tls::TlsServerConfig;
use crate::web::tls::{self, TlsSpec};

/// The file as written (after YAML decoding, before checks).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// `tls_server_config`.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// `http_server_config`.
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// `basic_auth_users`: user name → bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, SecretString>>,
    /// `rate_limit`.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Offer HTTP/2 over TLS (default true; read at start only).
    #[serde(default)]
    pub http2: Option<bool>,
    /// Extra response headers, from the toolkit's allowed set.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// `rate_limit`: a token bucket over all requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Time between two requests (Go duration such as `100ms`; 0 disables).
    #[serde(default, deserialize_with = "interval")]
    pub interval: Option<GoDuration>,
    /// Bucket size.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A Go `time.Duration` in YAML: a string like `1m30s` or an integer of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Nanos(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Nanos(n) => Ok(GoDuration(Duration::from_nanos(n))),
            Raw::Text(s) => parse_go_duration(&s).map(GoDuration).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?} (Go syntax, e.g. 100ms or 1m30s)"
                ))
            }),
        }
    }
}

/// `rate_limit.interval`, with the key in the error (the YAML path stops at `rate_limit`).
fn interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<GoDuration>, D::Error> {
    Option::<GoDuration>::deserialize(d)
        .map_err(|e| serde::de::Error::custom(format!("interval: {e}")))
}

/// Parses Go's duration syntax (`300ms`, `1.5h`, `2h45m`); negative durations are refused.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The checked form of a web config file; nothing read from disk yet.
#[derive(Debug)]
pub struct WebConfigSpec {
    /// TLS settings; `None` serves plain HTTP.
    pub(crate) tls: Option<TlsSpec>,
    /// Offer `h2` in ALPN.
    pub(crate) http2: bool,
    /// Headers added to every response.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// User → bcrypt hash; empty means no authentication.
    pub(crate) users: BTreeMap<String, SecretString>,
    /// Token bucket `(interval, burst)`.
    pub(crate) rate_limit: Option<(Duration, u32)>,
}

impl WebConfigSpec {
    /// Whether the server speaks TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether HTTP/2 is offered (TLS only).
    pub fn http2(&self) -> bool {
        self.http2 && self.tls.is_some()
    }

    /// Names of the users allowed in (never their hashes).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// The protection in force under `self` that `new` would remove: basic auth, and the
    /// client-certificate checks that authenticate (see `TlsSpec::client_checks_removed_by`).
    /// Empty when `new` keeps all of it. (Switching TLS off is refused on its own: it needs
    /// a restart.)
    pub(crate) fn protection_removed_by(&self, new: &WebConfigSpec) -> Vec<&'static str> {
        let mut removed = Vec::new();
        if !self.users.is_empty() && new.users.is_empty() {
            removed.push("basic_auth_users (authentication)");
        }
        if let (Some(old), Some(new)) = (&self.tls, &new.tls) {
            removed.extend(old.client_checks_removed_by(new));
        }
        removed
    }

    /// Files whose change triggers a reload (besides the web config file itself).
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        self.tls.as_ref().map(TlsSpec::files).unwrap_or_default()
    }
}

/// The security headers the toolkit lets operators set, with their allowed values (empty:
/// any value).
pub const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Content-Security-Policy", &[]),
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
];

/// Parses and checks the YAML text of a web config file. Relative file names are resolved
/// against `base_dir` (the directory of the web config file). Reads no files.
pub fn parse(text: &str, base_dir: &Path) -> Result<WebConfigSpec, WebConfigError> {
    // An empty document is valid and means "no TLS, no auth", as with the toolkit.
    let file: Option<WebConfigFile> = serde_yaml_ng::from_str(text)
        .map_err(|e| WebConfigError::new("", crate::wire::without_values(&e.to_string())))?;
    check(file.unwrap_or_default(), base_dir)
}

/// Checks a decoded file.
pub fn check(file: WebConfigFile, base_dir: &Path) -> Result<WebConfigSpec, WebConfigError> {
    let tls = match file.tls_server_config {
        Some(t) => tls::check(t, base_dir)?,
        None => None,
    };
    let http = file.http_server_config.unwrap_or_default();
    let mut headers = Vec::new();
    for (name, value) in http.headers.unwrap_or_default() {
        let key = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(WebConfigError::new(
                key,
                format!(
                    "HTTP header {name:?} can not be configured (allowed: {})",
                    names.join(", ")
                ),
            ));
        };
        if value.is_empty() {
            continue; // "Unset if blank."
        }
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(WebConfigError::new(
                key,
                format!("invalid value {value:?}; expected one of {allowed:?}"),
            ));
        }
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| WebConfigError::new(&key, "value is not a valid HTTP header value"))?;
        let header_name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| WebConfigError::new(&key, "invalid header name"))?;
        headers.push((header_name, header_value));
    }

    let mut users = BTreeMap::new();
    for (user, hash) in file.basic_auth_users.unwrap_or_default() {
        let key = format!("basic_auth_users.{user}");
        check_bcrypt_hash(hash.expose_secret()).map_err(|m| WebConfigError::new(key, m))?;
        users.insert(user, hash);
    }

    let rate_limit = match file.rate_limit {
        None => None,
        Some(r) => match r.interval.map(|d| d.0).unwrap_or_default() {
            d if d.is_zero() => None,
            d => match r.burst.unwrap_or(0) {
                0 => {
                    return Err(WebConfigError::new(
                        "rate_limit.burst",
                        "must be at least 1 when rate_limit.interval is set (0 would refuse every request)",
                    ));
                }
                b => Some((d, b)),
            },
        },
    };

    Ok(WebConfigSpec {
        tls,
        http2: http.http2.unwrap_or(true),
        headers,
        users,
        rate_limit,
    })
}

/// Accepts `$2a$`, `$2b$` and `$2y$` bcrypt hashes with a cost of 4..=31. The message never
/// repeats the hash.
fn check_bcrypt_hash(hash: &str) -> Result<(), String> {
    let version = hash.get(..4).unwrap_or("");
    if !matches!(version, "$2a$" | "$2b$" | "$2y$") {
        return Err(
            "not a bcrypt hash (expected $2a$, $2b$ or $2y$, e.g. from `htpasswd -nBC 10`)".into(),
        );
    }
    match hash.parse::<bcrypt::HashParts>() {
        Ok(parts) if (4..=31).contains(&parts.get_cost()) => Ok(()),
        Ok(_) => Err("bcrypt cost must be between 4 and 31".into()),
        Err(_) => Err("malformed bcrypt hash".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("-1s"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn empty_file_is_plain_http() {
        let spec = parse("", Path::new(".")).unwrap();
        assert!(!spec.tls_enabled());
        assert!(spec.users.is_empty());
        let spec = parse("# only a comment\n", Path::new(".")).unwrap();
        assert!(!spec.tls_enabled());
    }
}
