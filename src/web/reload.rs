//! Hot reload of the web config: [`Reloader`] notices a change of the web config file or of
//! the certificate, key and CA files it names (size, mtime, ctime, inode) and swaps in the
//! new [`Active`] settings; the request and connection paths only ever read a snapshot.
//!
//! The check runs on each connection and request rather than on a timer or inotify: it costs
//! a few `stat` calls, needs no background task, and a change applies exactly at the next
//! handshake or request. A change that does not load is logged and the previous settings
//! stay. TLS on/off and `http2` need a restart (a listener cannot switch protocols under
//! its open connections).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use secrecy::ExposeSecret;
use tracing::{error, info, warn};

use crate::web::config::WebConfigSpec;
use crate::web::loaded::{Active, WebConfig};

/// Identity of a file's current contents, cheap to compute. Not just the mtime: a file
/// replaced by an atomic rename (how certificate tools and Kubernetes secrets update) may
/// keep its size and mtime, but never its inode and ctime.
type Stamp = Option<(SystemTime, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (ino, ctime, ctime_ns) = {
        use std::os::unix::fs::MetadataExt as _;
        (m.ino(), m.ctime(), m.ctime_nsec())
    };
    #[cfg(not(unix))]
    let (ino, ctime, ctime_ns) = (0, 0, 0);
    Some((m.modified().ok()?, m.len(), ino, ctime, ctime_ns))
}

/// What the last (successful or refused) load saw.
struct Watch {
    files: Vec<PathBuf>,
    seen: Vec<Stamp>,
    spec: WebConfigSpec,
}

/// Re-reads the web config and its files when they change.
pub(crate) struct Reloader {
    path: PathBuf,
    /// Lock-free snapshot for the request and handshake paths.
    current: ArcSwap<Active>,
    /// Taken with `try_lock`: one task checks the files while the others use the snapshot.
    watch: Mutex<Watch>,
}

impl Reloader {
    pub(crate) fn new(config: WebConfig) -> Reloader {
        let mut files = vec![config.path.clone()];
        files.extend(config.spec.watched_files());
        let seen = files.iter().map(|f| stamp(f)).collect();
        Reloader {
            path: config.path,
            current: ArcSwap::from_pointee(config.active),
            watch: Mutex::new(Watch {
                files,
                seen,
                spec: config.spec,
            }),
        }
    }

    /// The current settings, reloaded first if a watched file changed.
    pub(crate) fn current(&self) -> Arc<Active> {
        // Another task is already checking: use what is there.
        let Ok(mut w) = self.watch.try_lock() else {
            return self.current.load_full();
        };
        let now: Vec<Stamp> = w.files.iter().map(|f| stamp(f)).collect();
        if now == w.seen {
            return self.current.load_full();
        }
        w.seen = now;
        match WebConfig::load(&self.path) {
            Ok(new) if new.spec.tls_enabled() != w.spec.tls_enabled() => {
                error!(
                    path = %self.path.display(),
                    "web config reload: TLS cannot be switched on or off while running; \
                     keeping the previous settings (restart to apply)"
                );
            }
            Ok(new) => {
                if new.spec.http2 != w.spec.http2 {
                    warn!("web config reload: http_server_config.http2 applies only at start");
                }
                let WebConfig {
                    spec, mut active, ..
                } = new;
                keep_auth_cache(&mut active, &self.current.load(), &w.spec, &spec);
                let mut files = vec![self.path.clone()];
                files.extend(spec.watched_files());
                w.seen = files.iter().map(|f| stamp(f)).collect();
                w.files = files;
                w.spec = spec;
                self.current.store(Arc::new(active));
                info!(path = %self.path.display(), "web config reloaded");
            }
            Err(e) => {
                error!(error = %e, "web config reload failed; keeping the previous settings");
            }
        }
        self.current.load_full()
    }
}

/// Keeps the previous verification cache when the users did not change: a reload that only
/// rotated a certificate must not make every client pay bcrypt again.
fn keep_auth_cache(
    active: &mut Active,
    previous: &Active,
    old: &WebConfigSpec,
    new: &WebConfigSpec,
) {
    let same = old.users.len() == new.users.len()
        && old
            .users
            .iter()
            .zip(&new.users)
            .all(|((u1, h1), (u2, h2))| u1 == u2 && h1.expose_secret() == h2.expose_secret());
    if same {
        active.auth = previous.auth.clone();
    }
}
