//! A web config file loaded for use: [`WebConfig`] (the checked spec plus what was built from
//! it) and [`Active`], the part of it that a reload may swap while the server runs (the
//! rustls configuration, the basic-auth users and their cache, the response headers).
//!
//! Separate from `config` so that parsing stays free of I/O and of the TLS and auth
//! machinery, and so that `config` never needs to know what the server does with a spec.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};

use crate::web::auth::BasicAuth;
use crate::web::config::{WebConfigSpec, parse};
use crate::web::error::WebConfigError;
use crate::web::tls;

/// The settings that can change while running.
#[derive(Debug, Default)]
pub(crate) struct Active {
    /// `None`: plain HTTP.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no authentication.
    pub(crate) auth: Option<Arc<BasicAuth>>,
    /// Added to every response.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Active {
    /// Reads the certificate, key and CA files of `spec` and builds the TLS and auth state.
    pub(crate) fn build(spec: &WebConfigSpec) -> Result<Active, WebConfigError> {
        let tls = spec
            .tls
            .as_ref()
            .map(|t| tls::build(t, spec.http2))
            .transpose()?;
        Ok(Active {
            tls,
            auth: BasicAuth::new(spec.users.clone())?.map(Arc::new),
            headers: spec.headers.clone(),
        })
    }
}

fn read(path: &Path) -> Result<String, WebConfigError> {
    std::fs::read_to_string(path).map_err(|e| WebConfigError {
        path: Some(path.to_owned()),
        key: String::new(),
        message: format!("cannot read: {e}"),
    })
}

/// A loaded web config: the checked file plus what was read from the files it names.
#[derive(Debug)]
pub struct WebConfig {
    pub(crate) path: PathBuf,
    pub(crate) spec: WebConfigSpec,
    pub(crate) active: Active,
}

impl WebConfig {
    /// Reads, checks and builds `path`: the YAML, the certificate, key and CA files and the
    /// rustls configuration. Fails with the key at fault. An empty file means no TLS and no
    /// authentication, as with the toolkit.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read(path)?;
        WebConfig::from_text(path, &text)
    }

    /// [`WebConfig::load`] for a reload, which refuses an empty file: that is what a file
    /// being written looks like (`cat > web.yml` truncates it first), and applying it would
    /// drop TLS and authentication from a running server.
    pub(crate) fn load_for_reload(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read(path)?;
        if text.trim().is_empty() {
            return Err(WebConfigError::new(
                "",
                "the file is empty (being written?); to serve without TLS and authentication, \
                 write `{}` in it",
            )
            .in_file(path));
        }
        WebConfig::from_text(path, &text)
    }

    fn from_text(path: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let spec = parse(text, base).map_err(|e| e.in_file(path))?;
        let active = Active::build(&spec).map_err(|e| e.in_file(path))?;
        Ok(WebConfig {
            path: path.to_owned(),
            spec,
            active,
        })
    }

    /// The checked settings.
    pub fn spec(&self) -> &WebConfigSpec {
        &self.spec
    }

    /// The web config file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
