//! Reloading the web config while the server runs: [`Reloader`] notices a change of the web
//! config file or of the certificate, key and CA files it names (size, mtime, ctime, inode)
//! and swaps in the new [`Active`] settings; the request and connection paths only ever
//! read a snapshot.
//!
//! The check runs on each connection and request rather than on a timer or inotify: it costs
//! a few `stat` calls, needs no background task, and a change applies at the first handshake
//! or request after it has settled.
//!
//! A reload must never weaken the server because a file was caught half-written (`cat >
//! web.yml` truncates first; editors and scripts write in steps) or because of an edit the
//! operator has not confirmed. So a change found this way (a *hot* reload):
//! - waits until it has settled: no further change for the settle time, judged by the files'
//!   change times, or by two looks at least that far apart when those cannot be trusted;
//! - is refused, with an error log and a failed-reload report, when the file does not load,
//!   is empty, switches TLS on or off, or would remove authentication in force (basic auth
//!   users, required verified client certificates, `client_allowed_sans`).
//!
//! An explicit reload ([`Reloader::reload_now`], reached through `WebControl` from SIGHUP
//! and `POST /-/reload`) reads the files at once and may remove authentication, as a
//! restart would; it still refuses a file that does not load, an empty file and switching
//! TLS on or off (a listener cannot change protocols under its open connections).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use secrecy::ExposeSecret;
use tracing::{error, info, warn};

use crate::web::config::WebConfigSpec;
use crate::web::error::WebConfigError;
use crate::web::loaded::{Active, WebConfig};

/// Called with the outcome of every attempt to reload the web config (`true`: applied);
/// the application sets it through [`crate::web::WebControl::on_reload`].
pub(crate) type Observer = Arc<OnceLock<Box<dyn Fn(bool) + Send + Sync>>>;

/// Identity of a file's current contents, cheap to compute. Not just the mtime: a file
/// replaced by an atomic rename (how certificate tools and Kubernetes secrets update) may
/// keep its size and mtime, but never its inode and ctime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
    /// The status change time (ctime): set by the kernel on every write, rename or
    /// permission change, and not settable by `touch` or `cp -p` as the mtime is.
    changed: SystemTime,
}

/// The stamp of `path`; `None` when it cannot be read (a missing file is a state too).
fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let modified = m.modified().ok()?;
    #[cfg(unix)]
    let (inode, changed) = {
        use std::os::unix::fs::MetadataExt as _;
        let secs = u64::try_from(m.ctime()).unwrap_or(0);
        let nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
        (m.ino(), SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
    };
    #[cfg(not(unix))]
    let (inode, changed) = (0, modified);
    Some(Stamp {
        modified,
        len: m.len(),
        inode,
        changed,
    })
}

fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files.iter().map(|f| stamp(f)).collect()
}

/// The web config file and the files it names.
fn watched(path: &Path, spec: &WebConfigSpec) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    files.extend(spec.watched_files());
    files
}

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A change noticed on a connection or request.
    Hot,
    /// The operator: SIGHUP or `POST /-/reload`.
    Explicit,
}

/// What the files looked like when last dealt with, and the settings in force.
struct Watch {
    files: Vec<PathBuf>,
    seen: Vec<Option<Stamp>>,
    spec: WebConfigSpec,
    /// A change not yet settled: the stamps and when they were first seen.
    pending: Option<(Vec<Option<Stamp>>, Instant)>,
}

/// Re-reads the web config and its files when they change, or when asked to.
pub(crate) struct Reloader {
    path: PathBuf,
    settle: Duration,
    /// Lock-free snapshot for the request and handshake paths.
    current: ArcSwap<Active>,
    /// Taken with `try_lock` on the hot path: one task checks the files while the others
    /// use the snapshot.
    watch: Mutex<Watch>,
    observer: Observer,
}

impl Reloader {
    pub(crate) fn new(config: WebConfig, settle: Duration, observer: Observer) -> Reloader {
        let files = watched(&config.path, &config.spec);
        let seen = stamps(&files);
        Reloader {
            path: config.path,
            settle,
            current: ArcSwap::from_pointee(config.active),
            watch: Mutex::new(Watch {
                files,
                seen,
                spec: config.spec,
                pending: None,
            }),
            observer,
        }
    }

    /// The current settings, after applying a settled change of the files if there is one.
    pub(crate) fn current(&self) -> Arc<Active> {
        // Another task is already checking: use what is there.
        let Ok(mut w) = self.watch.try_lock() else {
            return self.current.load_full();
        };
        let now = stamps(&w.files);
        if now == w.seen {
            w.pending = None;
        } else if self.settled(&mut w, now) {
            w.pending = None;
            let result = self.apply(&mut w, Trigger::Hot);
            self.report(&result, Trigger::Hot);
        }
        self.current.load_full()
    }

    /// Reads and applies the files now (see the module doc for what is still refused).
    pub(crate) fn reload_now(&self) -> Result<(), WebConfigError> {
        let mut w = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        w.pending = None;
        let result = self.apply(&mut w, Trigger::Explicit);
        self.report(&result, Trigger::Explicit);
        result
    }

    /// Whether the files, now at `now`, have stopped changing for the settle time.
    fn settled(&self, w: &mut Watch, now: Vec<Option<Stamp>>) -> bool {
        // The newest change time says how long ago the files were last written, so the first
        // request after a quiet change need not wait; a change time in the future (a clock
        // set back) says nothing, and then two looks the settle time apart decide.
        let newest = now.iter().flatten().map(|s| s.changed).max();
        if let Some(age) = newest.and_then(|t| SystemTime::now().duration_since(t).ok())
            && age >= self.settle
        {
            return true;
        }
        match &w.pending {
            Some((stamps, first_seen)) if *stamps == now => first_seen.elapsed() >= self.settle,
            _ => {
                w.pending = Some((now, Instant::now()));
                self.settle.is_zero()
            }
        }
    }

    /// Loads the files and applies them unless refused; either way this state of the files
    /// counts as dealt with (a refused file is not retried until it changes again).
    fn apply(&self, w: &mut Watch, trigger: Trigger) -> Result<(), WebConfigError> {
        let before = stamps(&w.files);
        let checked = WebConfig::load_for_reload(&self.path).and_then(|new| {
            let refuse = |key: &str, message: String| {
                Err(WebConfigError::new(key, message).in_file(&self.path))
            };
            if new.spec.tls_enabled() != w.spec.tls_enabled() {
                return refuse(
                    "tls_server_config",
                    "TLS cannot be switched on or off while running; restart to apply".into(),
                );
            }
            let removed = w.spec.protection_removed_by(&new.spec);
            if !removed.is_empty() {
                if trigger == Trigger::Hot {
                    return refuse(
                        "",
                        format!(
                            "the change would remove {}; send SIGHUP or POST /-/reload to apply \
                             it, or restart",
                            removed.join(", ")
                        ),
                    );
                }
                warn!(
                    path = %self.path.display(),
                    removed = %removed.join(", "),
                    "web config reload removes protection, as the explicit reload asked"
                );
            }
            Ok(new)
        });
        let new = match checked {
            Ok(new) => new,
            Err(e) => {
                w.seen = before;
                return Err(e);
            }
        };
        if new.spec.http2 != w.spec.http2 {
            warn!("web config reload: http_server_config.http2 applies only at start");
        }
        let WebConfig {
            spec, mut active, ..
        } = new;
        keep_auth_cache(&mut active, &self.current.load(), &w.spec, &spec);
        w.files = watched(&self.path, &spec);
        w.seen = stamps(&w.files);
        w.spec = spec;
        self.current.store(Arc::new(active));
        Ok(())
    }

    /// Logs the outcome and tells the observer.
    fn report(&self, result: &Result<(), WebConfigError>, trigger: Trigger) {
        let how = match trigger {
            Trigger::Hot => "file change",
            Trigger::Explicit => "explicit reload",
        };
        match result {
            Ok(()) => info!(path = %self.path.display(), trigger = how, "web config reloaded"),
            Err(e) => error!(
                error = %e,
                trigger = how,
                "web config reload refused; keeping the running settings"
            ),
        }
        if let Some(observe) = self.observer.get() {
            observe(result.is_ok());
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn users() -> String {
        let hash = bcrypt::hash("right", 4).unwrap();
        format!("basic_auth_users:\n  alice: '{hash}'\n")
    }

    struct Fixture {
        dir: tempfile::TempDir,
        reloader: Reloader,
        applied: Arc<AtomicUsize>,
        refused: Arc<AtomicUsize>,
    }

    impl Fixture {
        fn new(text: &str, settle: Duration) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("web.yml");
            std::fs::write(&path, text).unwrap();
            let observer = Observer::default();
            let (applied, refused) = (Arc::default(), Arc::default());
            let (a, r): (Arc<AtomicUsize>, Arc<AtomicUsize>) =
                (Arc::clone(&applied), Arc::clone(&refused));
            let _ = observer.set(Box::new(move |ok| {
                let n = if ok { &a } else { &r };
                n.fetch_add(1, Ordering::SeqCst);
            }));
            let reloader = Reloader::new(WebConfig::load(&path).unwrap(), settle, observer);
            Fixture {
                dir,
                reloader,
                applied,
                refused,
            }
        }

        fn write(&self, text: &str) {
            std::fs::write(self.dir.path().join("web.yml"), text).unwrap();
        }

        fn has_auth(&self) -> bool {
            self.reloader.current().auth.is_some()
        }

        fn counts(&self) -> (usize, usize) {
            (
                self.applied.load(Ordering::SeqCst),
                self.refused.load(Ordering::SeqCst),
            )
        }
    }

    #[test]
    fn an_empty_or_broken_file_is_refused_and_reported() {
        let f = Fixture::new(&users(), Duration::ZERO);
        for text in ["", "  \n", "basic_auth_users:\n  alice: '$2y$04$rd4W"] {
            f.write(text);
            assert!(f.has_auth(), "{text:?} keeps the users");
        }
        assert_eq!(f.counts(), (0, 3));
        assert!(
            f.reloader.reload_now().is_err(),
            "explicit: empty still refused"
        );
    }

    #[test]
    fn removing_users_needs_an_explicit_reload() {
        let f = Fixture::new(&users(), Duration::ZERO);
        f.write("# no users any more\n");
        assert!(f.has_auth(), "hot reload refused");
        assert!(f.has_auth(), "and not retried until the file changes again");
        assert_eq!(f.counts(), (0, 1));
        f.reloader.reload_now().unwrap();
        assert!(!f.has_auth(), "explicit reload applies it");
        assert_eq!(f.counts(), (1, 1));
        // Adding authentication is never refused.
        f.write(&users());
        assert!(f.has_auth());
        assert_eq!(f.counts(), (2, 1));
    }

    #[test]
    fn a_change_waits_until_it_has_settled() {
        let f = Fixture::new(&users(), Duration::from_secs(3600));
        f.write(&format!(
            "{}http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            users()
        ));
        assert!(
            f.reloader.current().headers.is_empty(),
            "just written: not yet"
        );
        assert_eq!(f.counts(), (0, 0));
        f.reloader.reload_now().unwrap();
        assert_eq!(f.reloader.current().headers.len(), 1, "explicit: at once");
    }
}
