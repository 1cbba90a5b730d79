//! [`Credentials`], a resolved key, and [`CredentialSource`], where an account's key comes
//! from: built from the config or the environment, described without secrets, and resolved
//! at refresh time.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use super::{Context, CredentialError, Env, chain, ecs, mask_id, profile, static_key, sts, uri};

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

/// Where an account's credentials come from. Cheap to clone: clones share caches.
#[derive(Clone)]
pub enum CredentialSource {
    /// Fixed values, read once (the environment at start, or the demo's built-in key).
    Static(Credentials),
    /// An AccessKey ID from the config with the secret (and optional STS token) in files,
    /// checked at every refresh and read again when they changed.
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

    /// Everything that identifies the source, a static key's secret included, for the
    /// one-way digest with which a reload tells whether an account's key changed (a new
    /// AccessKey ID can have the same masked form as the old one). Never shown or logged.
    pub(crate) fn identity(&self) -> String {
        match self {
            CredentialSource::Static(c) => format!(
                "static:{}:{}:{}",
                c.access_key_id,
                super::expose(&c.access_key_secret),
                c.security_token.as_ref().map(super::expose).unwrap_or("")
            ),
            CredentialSource::RamRoleArn(p) => p.identity(),
            other => other.cache_key(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};
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
