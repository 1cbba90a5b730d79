//! Secret hygiene: reading a secret from a file (trimmed, read again at a refresh when it changed,
//! with a warning when other users can read it), the one place a secret is exposed for signing,
//! and the masked form of an AccessKey ID for logs.

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::CredentialError;

/// Reads a secret from a file, trimming the trailing newline that editors and
/// `kubectl create secret --from-file` leave behind.
///
/// A file is read again only when it changed since the last read: its identity, size or
/// times differ (a rotated Kubernetes Secret is a new inode behind the same path, an edit
/// moves the modification and change times). An unchanged file costs one `stat`, so a
/// thousand accounts that share one secret file and refresh every minute read it no more
/// often than it changes.
pub async fn read_secret_file(
    path: &Path,
    what: &'static str,
) -> Result<SecretString, CredentialError> {
    let stamp = Stamp::of(path);
    if let Some(stamp) = &stamp {
        warn_if_readable_by_others(path, what, stamp.readable_by_others);
        if let Some(secret) = last_read().get(path, stamp) {
            return Ok(secret);
        }
    }
    let raw =
        tokio::fs::read_to_string(path)
            .await
            .map_err(|source| CredentialError::ReadFile {
                what,
                path: path.to_owned(),
                source: Arc::new(source),
            })?;
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(CredentialError::Empty {
            what,
            origin: path.display().to_string(),
        });
    }
    let secret = SecretString::from(trimmed);
    drop(SecretString::from(raw));
    // A file changed between the stat and the read has a new stamp by the next stat. One
    // written in the last moments is not trusted: file times move in clock ticks, so a
    // second write of the same length in the same tick would keep the stamp (as git's
    // "racily clean" files).
    if let Some(stamp) = stamp.filter(Stamp::settled) {
        last_read().put(path, stamp, secret.clone());
    }
    Ok(secret)
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    readable_by_others: bool,
}

impl Stamp {
    /// The file's stamp, or `None` where there is none to trust (not Unix, or no file).
    #[cfg(unix)]
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.size(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
            readable_by_others: m.mode() & 0o004 != 0,
        })
    }

    #[cfg(not(unix))]
    fn of(_: &Path) -> Option<Stamp> {
        None
    }

    /// Whether the file was last written or changed more than two seconds ago.
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        now - self.modified.0.max(self.changed.0) > 2
    }
}

/// The secrets last read, by path, with the stamp of the file they were read from.
#[derive(Default)]
struct LastRead(
    std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, (Stamp, SecretString)>>,
);

impl LastRead {
    fn get(&self, path: &Path, stamp: &Stamp) -> Option<SecretString> {
        let read = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read.get(path)
            .filter(|(s, _)| s == stamp)
            .map(|(_, secret)| secret.clone())
    }

    fn put(&self, path: &Path, stamp: Stamp, secret: SecretString) {
        let mut read = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read.insert(path.to_owned(), (stamp, secret));
    }
}

/// The process's [`LastRead`]: secret files are named by the configuration, so it holds
/// one entry per file the configuration ever named.
fn last_read() -> &'static LastRead {
    static LAST_READ: std::sync::OnceLock<LastRead> = std::sync::OnceLock::new();
    LAST_READ.get_or_init(LastRead::default)
}

/// Warns, once per file and process, that a secret file is world-readable (a Kubernetes
/// Secret volume's default mode 0644 is; `defaultMode: 0400` fixes it).
fn warn_if_readable_by_others(path: &Path, what: &str, readable: bool) {
    static WARNED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
    > = std::sync::OnceLock::new();
    if !readable {
        return;
    }
    let mut warned = WARNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if warned.insert(path.to_owned()) {
        tracing::warn!(
            file = %path.display(),
            what,
            "secret file is readable by other users; restrict it to mode 0400 or 0600"
        );
    }
}

/// Shows the first four and last three characters of an AccessKey ID: enough to tell keys
/// apart in logs, not enough to use one.
pub fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}****{tail}")
}

/// Exposes a secret for signing. Kept in one place so every use is easy to audit.
pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_read(path: &Path) -> Result<String, CredentialError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let secret = rt.block_on(read_secret_file(path, "test"))?;
        Ok(expose(&secret).to_owned())
    }

    fn read(path: &Path) -> String {
        try_read(path).unwrap()
    }

    /// A secret rotated in place (same length, even in the same clock tick as the read
    /// before) or by replacing the file (as a Kubernetes Secret volume does, a new inode
    /// behind the same name) is used at the next read, although an unchanged file is not
    /// read again.
    #[cfg(unix)]
    #[test]
    fn a_rotated_secret_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "secret-A\n").unwrap();
        assert_eq!(read(&path), "secret-A");
        std::fs::write(&path, "secret-B\n").unwrap();
        assert_eq!(read(&path), "secret-B", "rewritten at once");

        // Settled: remembered by its stamp, and still read again when it changes.
        std::thread::sleep(std::time::Duration::from_millis(3_100));
        assert_eq!(read(&path), "secret-B");
        assert_eq!(read(&path), "secret-B");
        std::fs::write(&path, "secret-C\n").unwrap();
        assert_eq!(read(&path), "secret-C", "rewritten in place");

        let next = dir.path().join("next");
        std::fs::write(&next, "secret-D\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3_100));
        assert_eq!(read(&path), "secret-C");
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(read(&path), "secret-D", "replaced by another file");

        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            try_read(&path),
            Err(CredentialError::Empty { .. })
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            try_read(&path),
            Err(CredentialError::ReadFile { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_secret_files_are_detected() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let readable = |p: &Path| Stamp::of(p).unwrap().readable_by_others;
        assert!(readable(f.path()));
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(!readable(f.path()));
    }
}
