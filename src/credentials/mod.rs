//! Where an account's AccessKey comes from, and producing it at refresh time.
//!
//! This module owns every credential provider the exporter supports and the Alibaba Cloud
//! default credential chain (cams-api.md §8, issue #3 "Credentials"):
//!
//! - [`static_key`]: fixed keys (the environment, the demo) and keys whose secret and STS token
//!   live in files, re-read at every refresh so a rotated Kubernetes Secret is picked up;
//! - [`sts`]: STS `AssumeRole` (signed with [`crate::signing::v1`]) and
//!   `AssumeRoleWithOIDC` (ACK RRSA);
//! - [`ecs`]: the ECS instance RAM role from the metadata service, hardened mode first;
//! - [`uri`]: a credentials URI (`ALIBABA_CLOUD_CREDENTIALS_URI`);
//! - [`profile`]: the aliyun CLI `config.json` and the INI `~/.alibabacloud/credentials`;
//! - [`chain`]: the default chain, in the SDKs' order;
//! - [`cache`]: caching of expiring credentials, refreshed before they expire, one refresh at a
//!   time however many accounts share them;
//! - [`context`]: the clock, endpoints, HTTP clients and shared caches every provider uses;
//! - [`config`]: the `credentials:` block of an account in the YAML file.
//!
//! Secrets are never taken from flags (they would show in `ps` and shell history). Secret
//! values live in [`SecretString`], which prints as `[REDACTED]` and is zeroed on drop; no
//! `Debug`, [`CredentialSource::describe`] or error message contains one. The environment is
//! passed in as a function (`&dyn Fn(&str) -> Option<String>`) so that tests never read the
//! real process environment or home directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub mod cache;
pub mod chain;
pub mod config;
pub mod context;
pub mod ecs;
mod http;
pub mod profile;
pub mod static_key;
pub mod sts;
pub mod uri;

pub use cache::{Clock, ManualClock, SystemClock};
pub use config::CredentialsConfig;
pub use context::{Context, Options};

/// Environment variable for the AccessKey ID (the Alibaba Cloud SDKs' name).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable for the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable for an STS security token (temporary credentials).
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// The RAM role to assume (OIDC step of the chain; `credentials-go` `oidc.go`).
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
/// The OIDC identity provider ARN (ACK RRSA).
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
/// The file holding the OIDC token (mounted and rotated by ACK).
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
/// The STS session name for role providers.
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
/// The STS region: `sts.<region>.aliyuncs.com` instead of `sts.aliyuncs.com`.
pub const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
/// `true` selects the VPC STS endpoint `sts-vpc.<region>.aliyuncs.com`.
pub const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
/// Path of the aliyun CLI config (default `~/.aliyun/config.json`; `credentials-go`).
pub const ENV_CONFIG_FILE: &str = "ALIBABA_CLOUD_CONFIG_FILE";
/// `true` skips the CLI profile step of the chain.
pub const ENV_CLI_PROFILE_DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";
/// The profile to use in the CLI config and in the INI file.
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
/// Path of the INI credentials file (default `~/.alibabacloud/credentials`).
pub const ENV_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
/// The ECS RAM role name; the chain's metadata step runs only when it is set.
pub const ENV_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
/// `true` skips the ECS metadata step even when the role is named.
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
/// `true` forbids falling back to the metadata service's token-less (IMDSv1) mode.
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
/// A URL that returns temporary credentials as JSON.
pub const ENV_CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";

/// How providers read the environment: the process environment in production, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads a variable, treating an empty or blank value as unset (as the SDKs do).
pub(crate) fn env_var(env: Env<'_>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.trim().is_empty())
}

/// `true` when a variable is set to `true` (any case), the SDKs' convention for switches.
pub(crate) fn env_flag(env: Env<'_>, key: &str) -> bool {
    env(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The home directory from `HOME` (or `USERPROFILE` on Windows), read through `env`.
pub(crate) fn home_dir(env: Env<'_>) -> Option<PathBuf> {
    env_var(env, "HOME")
        .or_else(|| env_var(env, "USERPROFILE"))
        .map(PathBuf::from)
}

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

/// Why no credentials could be produced. Cloneable, so that accounts waiting on one shared
/// refresh all get its error. No variant carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// No step of the default chain is configured (checked without any network call).
    #[error(
        "no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (optionally {ENV_SECURITY_TOKEN}), configure another source of the default credential chain, or configure accounts in --config.file; tried: {}",
        .tried.join("; ")
    )]
    NotFound {
        /// Every step of the chain and why it did not apply.
        tried: Vec<String>,
    },
    /// Every configured step of the default chain failed.
    #[error(
        "no credentials from the default chain (set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or fix one of these); tried: {}",
        .tried.join("; ")
    )]
    ChainFailed {
        /// Every step of the chain and its error, in order.
        tried: Vec<String>,
        /// Whether a step failed for a reason that may pass (see
        /// [`CredentialError::is_transient`]).
        transient: bool,
    },
    /// A secret file could not be read.
    #[error("cannot read {what} from {path}: {source}")]
    ReadFile {
        /// Which secret (for the message).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A secret file or variable was empty.
    #[error("{what} in {origin} is empty")]
    Empty {
        /// Which secret.
        what: &'static str,
        /// The file or variable it came from.
        origin: String,
    },
    /// A `credentials:` setting is invalid; `field` is its key inside the block.
    #[error("{field}: {message}")]
    Config {
        /// The key, e.g. `role_arn`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A CLI or INI profile file is missing, malformed or lacks the profile.
    #[error("profile file {path}: {message}")]
    Profile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// STS, the metadata service or the credentials URI could not be reached, or answered
    /// with something that is not credentials.
    #[error("{provider} at {endpoint}: {message}")]
    Remote {
        /// `sts`, `ecs metadata` or `credentials uri`.
        provider: &'static str,
        /// Where (never with a query string: signed queries carry tokens).
        endpoint: String,
        /// What happened: a transport error, an HTTP status or an API error code and message.
        message: String,
        /// A timeout, connection failure, 5xx or throttling: worth retrying later, with back-off.
        transient: bool,
    },
}

impl CredentialError {
    /// True when the failure may pass by itself (STS or the metadata service unreachable,
    /// overloaded or throttling): the caller should back off and retry rather than report a
    /// configuration or permission problem.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::Remote { transient, .. }
            | CredentialError::ChainFailed { transient, .. } => *transient,
            _ => false,
        }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        CredentialError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where an account's credentials come from. Cheap to clone: clones share caches.
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
    /// STS `AssumeRole` with another source's key.
    RamRoleArn(Arc<sts::RamRoleArn>),
    /// STS `AssumeRoleWithOIDC` with a token file (ACK RRSA).
    OidcRoleArn(Arc<sts::OidcRoleArn>),
    /// The ECS instance RAM role from the metadata service.
    EcsRamRole(Arc<ecs::EcsRamRole>),
    /// A credentials URI.
    Uri(Arc<uri::CredentialsUri>),
    /// A profile of the aliyun CLI config or of the INI credentials file.
    Profile(Arc<profile::ProfileSource>),
    /// The default credential chain.
    Chain(Arc<chain::DefaultChain>),
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A boxed credentials future, for the providers that wrap other sources.
pub(crate) type ResolveFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Credentials, CredentialError>> + Send + 'a>,
>;

impl CredentialSource {
    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`/`_SECRET`/`_SECURITY_TOKEN` through `get` (the
    /// process environment in production, a map in tests). Only the first step of the chain:
    /// see [`CredentialSource::default_chain`] for all of it.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialError> {
        match static_key::from_env(&get) {
            Ok(c) => Ok(CredentialSource::Static(c)),
            Err(why) => Err(CredentialError::NotFound { tried: vec![why] }),
        }
    }

    /// The default credential chain (cams-api.md §8) read through `env`, with the process-wide
    /// [`Context`]. Fails, without any network call, when no step is configured.
    pub fn default_chain(env: Env<'_>) -> Result<Self, CredentialError> {
        Self::default_chain_with(env, &Context::global())
    }

    /// [`CredentialSource::default_chain`] with an explicit context (tests: mock endpoints,
    /// manual clock).
    pub fn default_chain_with(env: Env<'_>, ctx: &Arc<Context>) -> Result<Self, CredentialError> {
        chain::DefaultChain::build(env, ctx).map(|c| CredentialSource::Chain(Arc::new(c)))
    }

    /// Produces the credentials to sign the next refresh with. Temporary credentials come from
    /// a cache and are renewed before they expire.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        self.resolve_boxed().await
    }

    /// [`CredentialSource::resolve`] as a boxed future: sources nest (a role assumed with a
    /// profile's key, a chain of profiles), and recursive async calls need a box.
    pub(crate) fn resolve_boxed(&self) -> ResolveFuture<'_> {
        Box::pin(async move {
            match self {
                CredentialSource::Static(c) => Ok(c.clone()),
                CredentialSource::Files {
                    access_key_id,
                    access_key_secret_file,
                    security_token_file,
                } => {
                    static_key::read_files(
                        access_key_id,
                        access_key_secret_file,
                        security_token_file.as_deref(),
                    )
                    .await
                }
                CredentialSource::RamRoleArn(p) => p.resolve().await,
                CredentialSource::OidcRoleArn(p) => p.resolve().await,
                CredentialSource::EcsRamRole(p) => p.resolve().await,
                CredentialSource::Uri(p) => p.resolve().await,
                CredentialSource::Profile(p) => p.resolve().await,
                CredentialSource::Chain(p) => p.resolve().await,
            }
        })
    }

    /// A one-line description without secrets, for the landing page, `--config.check` and
    /// detecting a changed configuration on reload: every non-secret setting is in it.
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
            CredentialSource::RamRoleArn(p) => p.describe(),
            CredentialSource::OidcRoleArn(p) => p.describe(),
            CredentialSource::EcsRamRole(p) => p.describe(),
            CredentialSource::Uri(p) => p.describe(),
            CredentialSource::Profile(p) => p.describe(),
            CredentialSource::Chain(p) => p.describe(),
        }
    }

    /// A key that identifies the source's configuration for sharing caches: like
    /// [`CredentialSource::describe`] but with the full AccessKey ID. Never logged.
    pub(crate) fn cache_key(&self) -> String {
        match self {
            CredentialSource::Static(c) => {
                format!("static:{}:{}", c.access_key_id, c.security_token.is_some())
            }
            CredentialSource::Files {
                access_key_id,
                access_key_secret_file,
                security_token_file,
            } => format!(
                "files:{access_key_id}:{}:{:?}",
                access_key_secret_file.display(),
                security_token_file
            ),
            other => other.describe(),
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
    use std::collections::HashMap;

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

    #[test]
    fn blank_variables_count_as_unset() {
        let env = |k: &str| (k == "HOME").then(|| "  ".to_string());
        assert_eq!(home_dir(&env), None);
        let env = |k: &str| (k == ENV_ECS_METADATA_DISABLED).then(|| "TRUE".to_string());
        assert!(env_flag(&env, ENV_ECS_METADATA_DISABLED));
    }
}
