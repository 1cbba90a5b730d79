//! [`WebControl`]: the application's handle on a running server's web config. The web
//! layer knows nothing of the exporter's metrics or signals, so the application tells it
//! through this handle when the operator asked for a reload (SIGHUP, `POST /-/reload`), and
//! learns through it how each reload of the web config went (for a self metric).

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::web::error::WebConfigError;
use crate::web::reload::{Observer, Reloader};

/// A handle on the web config of the server started with these
/// [`WebSettings`](crate::web::WebSettings). Cheap to clone; take a clone before handing the
/// settings to [`serve`](crate::web::serve).
#[derive(Clone, Default)]
pub struct WebControl {
    /// Set by `serve` when it starts with a web config file.
    reloader: Arc<OnceLock<Arc<Reloader>>>,
    observer: Observer,
}

impl fmt::Debug for WebControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebControl")
            .field("serving", &self.reloader.get().is_some())
            .field("observed", &self.observer.get().is_some())
            .finish()
    }
}

impl WebControl {
    /// Calls `observer` after every attempt to reload the web config, hot or explicit, with
    /// whether it was applied. Only the first observer set is kept.
    pub fn on_reload(&self, observer: impl Fn(bool) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(observer));
    }

    /// Re-reads the web config file and the files it names now and applies them as a
    /// restart would, even when that removes basic auth or client-certificate checks: the
    /// operator asked for it. Still refused: a file that does not load, an empty file (what
    /// a file being written looks like) and switching TLS on or off (that needs a restart).
    /// `Ok` without a web config file. Reads files: call it off the async runtime.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        match self.reloader.get() {
            Some(r) => r.reload_now(),
            None => Ok(()),
        }
    }

    /// Called by `serve`: from now on [`WebControl::reload`] reloads `reloader`.
    pub(crate) fn install(&self, reloader: Arc<Reloader>) {
        let _ = self.reloader.set(reloader);
    }

    /// Where a `Reloader` reports its outcomes.
    pub(crate) fn observer(&self) -> Observer {
        self.observer.clone()
    }
}
