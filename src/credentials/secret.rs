//! Secret hygiene: reading a secret from a file (trimmed, re-read at every refresh, with a
//! warning when other users can read it), the one place a secret is exposed for signing,
//! and the masked form of an AccessKey ID for logs.

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::CredentialError;

/// Reads a secret from a file, trimming the trailing newline that editors and
/// `kubectl create secret --from-file` leave behind.
pub async fn read_secret_file(
    path: &Path,
    what: &'static str,
) -> Result<SecretString, CredentialError> {
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
    warn_if_readable_by_others(path, what);
    Ok(secret)
}

/// True when the file's mode lets users other than its owner and group read it.
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Warns, once per file and process, that a secret file is world-readable (a Kubernetes
/// Secret volume's default mode 0644 is; `defaultMode: 0400` fixes it).
fn warn_if_readable_by_others(path: &Path, what: &str) {
    static WARNED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
    > = std::sync::OnceLock::new();
    if !readable_by_others(path) {
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

    #[cfg(unix)]
    #[test]
    fn world_readable_secret_files_are_detected() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(f.path()));
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(!readable_by_others(f.path()));
    }
}
