//! What every credential provider shares: the clock, the STS and metadata endpoints, the HTTP
//! clients (timeouts, no redirects, body cap) and the registry of caches.
//!
//! Production code uses [`Context::global`]. Tests build their own [`Context`] with a
//! [`super::ManualClock`] and endpoints on loopback, so no test ever talks to
//! `100.100.100.200` or a real STS.
//!
//! The registry hands out one [`Cache`] per provider configuration: every account configured
//! with the same role (or the same default chain) shares one set of temporary credentials and
//! one renewal, and a configuration reload that keeps a provider keeps its cache (the registry
//! holds weak references, so a provider no account uses any more is dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use super::CredentialError;
use super::cache::{Cache, Clock, DEFAULT_MARGIN, SystemClock};

/// The ECS metadata service (`credentials-go` `ecs_ram_role.go`).
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";
/// The global STS endpoint (`credentials-go` `ram_role_arn.go`: `sts.aliyuncs.com`).
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";

/// Settings shared by all providers of a [`Context`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Renew temporary credentials this long before they expire.
    pub refresh_margin: Duration,
    /// Overrides every derived STS endpoint (tests). An account's own `sts_endpoint` still wins.
    pub sts_endpoint: Option<String>,
    /// The metadata service used where no `metadata_endpoint` is configured (the default chain,
    /// CLI and INI profiles).
    pub metadata_endpoint: String,
    /// Bound on one STS or credentials URI request (`credentials-go`: 5 s connect, 10 s read).
    pub timeout: Duration,
    /// Bound on one metadata request (`credentials-go` `ecs_ram_role.go`: 1 s connect and read).
    pub metadata_timeout: Duration,
    /// Bound on a response body.
    pub max_body_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            refresh_margin: DEFAULT_MARGIN,
            sts_endpoint: None,
            metadata_endpoint: DEFAULT_METADATA_ENDPOINT.into(),
            timeout: Duration::from_secs(10),
            metadata_timeout: Duration::from_secs(3),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Options plus the lazily built HTTP clients and the cache registry.
pub struct Context {
    options: Options,
    http: OnceLock<Result<reqwest::Client, String>>,
    metadata_http: OnceLock<Result<reqwest::Client, String>>,
    caches: Mutex<HashMap<String, Weak<Cache>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with its own caches.
    pub fn new(options: Options) -> Arc<Self> {
        Arc::new(Context {
            options,
            http: OnceLock::new(),
            metadata_http: OnceLock::new(),
            caches: Mutex::new(HashMap::new()),
        })
    }

    /// The process-wide context with default options, used by the configuration.
    pub fn global() -> Arc<Self> {
        static GLOBAL: OnceLock<Arc<Context>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Context::new(Options::default()))
            .clone()
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.options.clock
    }

    /// The shared cache for the provider configuration `key` (which holds no secret).
    pub(crate) fn cache(&self, key: &str, label: &str) -> Arc<Cache> {
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = caches.get(key).and_then(Weak::upgrade) {
            return c;
        }
        caches.retain(|_, w| w.strong_count() > 0);
        let cache = Arc::new(Cache::new(label, self.options.refresh_margin));
        caches.insert(key.to_owned(), Arc::downgrade(&cache));
        cache
    }

    /// The client for STS and credentials URIs: system proxy settings apply, as for CAMS.
    pub(crate) fn http(&self, provider: &'static str) -> Result<&reqwest::Client, CredentialError> {
        client(&self.http, self.options.timeout, true, provider)
    }

    /// The client for the metadata service: never through a proxy (the address is link-local
    /// to the instance), short timeouts.
    pub(crate) fn metadata_http(&self) -> Result<&reqwest::Client, CredentialError> {
        client(
            &self.metadata_http,
            self.options.metadata_timeout,
            false,
            "ecs metadata",
        )
    }
}

fn client<'a>(
    cell: &'a OnceLock<Result<reqwest::Client, String>>,
    timeout: Duration,
    proxy: bool,
    provider: &'static str,
) -> Result<&'a reqwest::Client, CredentialError> {
    let built = cell.get_or_init(|| {
        let mut b = crate::wire::client_builder(timeout);
        if !proxy {
            b = b.no_proxy();
        }
        b.build().map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|e| CredentialError::Remote {
        provider,
        endpoint: String::new(),
        message: format!("cannot build the HTTP client: {e}"),
        transient: false,
    })
}
