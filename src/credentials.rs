//! Where an account's AccessKey comes from, and reading it at refresh time.
//!
//! Secrets are never taken from flags (they would show in `ps` and shell history): they come
//! from the environment or from files. File-based secrets are re-read on every refresh, so a
//! rotated secret (a re-mounted Kubernetes Secret, say) is picked up without a restart.
//! Secret values live in [`SecretString`], which prints as `[REDACTED]` and is zeroed on drop.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Environment variable for the AccessKey ID (the Alibaba Cloud SDKs' name).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable for the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable for an STS security token (temporary credentials).
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// A resolved AccessKey, ready to sign one refresh's requests.
#[derive(Clone)]
pub struct Credentials {
    /// The AccessKey ID (not secret, but shown masked anyway).
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: SecretString,
    /// The STS token for temporary credentials, sent as the signed `SecurityToken`.
    pub security_token: Option<SecretString>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &mask_id(&self.access_key_id))
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token)
            .finish()
    }
}

/// Why no credentials could be produced.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Neither a config file account nor the environment supplied an AccessKey.
    #[error(
        "no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (optionally {ENV_SECURITY_TOKEN}), or configure accounts in --config.file"
    )]
    Missing,
    /// A secret file could not be read.
    #[error("cannot read {what} from {path}: {source}")]
    ReadFile {
        /// Which secret (for the message).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A secret file or variable was empty.
    #[error("{what} in {origin} is empty")]
    Empty {
        /// Which secret.
        what: &'static str,
        /// The file or variable it came from.
        origin: String,
    },
}

/// Where an account's credentials come from.
#[derive(Clone)]
pub enum CredentialSource {
    /// Fixed values, read once (the environment at start, or the demo's built-in key).
    Static(Credentials),
    /// An AccessKey ID from the config with the secret (and optional STS token) in files,
    /// re-read on every refresh.
    Files {
        /// The AccessKey ID.
        access_key_id: String,
        /// File holding the AccessKey secret.
        access_key_secret_file: PathBuf,
        /// File holding an STS security token.
        security_token_file: Option<PathBuf>,
    },
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl CredentialSource {
    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`/`_SECRET`/`_SECURITY_TOKEN` through `get` (the
    /// process environment in production, a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialError> {
        let id = get(ENV_ACCESS_KEY_ID).filter(|v| !v.trim().is_empty());
        let secret = get(ENV_ACCESS_KEY_SECRET).filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret)) = (id, secret) else {
            return Err(CredentialError::Missing);
        };
        let security_token = get(ENV_SECURITY_TOKEN)
            .filter(|v| !v.is_empty())
            .map(SecretString::from);
        Ok(CredentialSource::Static(Credentials {
            access_key_id: access_key_id.trim().to_owned(),
            access_key_secret: SecretString::from(secret),
            security_token,
        }))
    }

    /// Produces the credentials to sign the next refresh with.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        match self {
            CredentialSource::Static(c) => Ok(c.clone()),
            CredentialSource::Files {
                access_key_id,
                access_key_secret_file,
                security_token_file,
            } => {
                let access_key_secret =
                    read_secret_file(access_key_secret_file, "access_key_secret").await?;
                let security_token = match security_token_file {
                    Some(p) => Some(read_secret_file(p, "security_token").await?),
                    None => None,
                };
                Ok(Credentials {
                    access_key_id: access_key_id.clone(),
                    access_key_secret,
                    security_token,
                })
            }
        }
    }

    /// A one-line description without secrets, for the landing page and `--config.check`.
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::Static(c) => format!(
                "access key {}{}",
                mask_id(&c.access_key_id),
                if c.security_token.is_some() {
                    " (STS token)"
                } else {
                    ""
                }
            ),
            CredentialSource::Files {
                access_key_id,
                access_key_secret_file,
                security_token_file,
            } => format!(
                "access key {} (secret from {}{})",
                mask_id(access_key_id),
                access_key_secret_file.display(),
                security_token_file
                    .as_ref()
                    .map(|p| format!(", STS token from {}", p.display()))
                    .unwrap_or_default()
            ),
        }
    }
}

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
                source,
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
    Ok(secret)
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
    use std::collections::HashMap;

    #[test]
    fn env_needs_id_and_secret() {
        let env: HashMap<&str, &str> = [(ENV_ACCESS_KEY_ID, "LTAI5tExample")].into();
        let err = CredentialSource::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(err.to_string().contains(ENV_ACCESS_KEY_ID));
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let env: HashMap<&str, &str> = [
            (ENV_ACCESS_KEY_ID, "LTAI5tExampleKeyId"),
            (ENV_ACCESS_KEY_SECRET, "s3cr3t-value"),
            (ENV_SECURITY_TOKEN, "sts-token-value"),
        ]
        .into();
        let src = CredentialSource::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let CredentialSource::Static(c) = &src else {
            panic!()
        };
        let printed = format!("{c:?} {src:?} {}", src.describe());
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert!(!printed.contains("sts-token-value"), "{printed}");
        assert!(!printed.contains("LTAI5tExampleKeyId"), "{printed}");
    }
}
