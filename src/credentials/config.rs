//! The `credentials:` block of an account in the YAML file, and building its
//! [`CredentialSource`].
//!
//! Forms (issue #3; a block without `type` is the `access_key` form of issue #2):
//!
//! | `type` | keys (* required) |
//! |---|---|
//! | `access_key` (or no `type`) | `access_key_id`*, `access_key_secret_file`*, `security_token_file` |
//! | `sts` | `access_key_id`*, `access_key_secret_file`*, `security_token_file`* |
//! | `ram_role_arn` | `access_key_id`*, `access_key_secret_file`*, `role_arn`*, `role_session_name`, `external_id`, `duration`, `sts_endpoint` |
//! | `oidc_role_arn` | `role_arn`*, `oidc_provider_arn`*, `oidc_token_file`*, `role_session_name`, `sts_endpoint` |
//! | `ecs_ram_role` | `role_name` (discovered when absent), `metadata_endpoint` (default `http://100.100.100.200`) |
//! | `profile` | `name`, `file` (CLI `config.json` or INI; default `~/.aliyun/config.json`, else `~/.alibabacloud/credentials`) |
//! | `uri` | `uri`* |
//! | `default` | none: the default chain |
//!
//! Unknown keys, and keys of another type, are errors naming the key. `duration` is seconds
//! or a duration such as `1h` (15m to 12h, STS's range).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::context::Context;
use super::ecs::EcsRamRole;
use super::http::check_url;
use super::profile::{Format, ProfileEnv, ProfileSource};
use super::sts::{self, OidcRoleArn, RamRoleArn, Role};
use super::uri::CredentialsUri;
use super::{CredentialError, CredentialSource, ENV_IMDSV1_DISABLED, Env, env_flag, home_dir};

/// An account's `credentials:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsConfig {
    /// `type: access_key`, or no `type`: a long-lived key with its secret in a file.
    AccessKey {
        /// The AccessKey ID (not a secret).
        access_key_id: String,
        /// File holding the AccessKey secret.
        access_key_secret_file: PathBuf,
        /// File holding an STS token (kept from issue #2's form; prefer `type: sts`).
        security_token_file: Option<PathBuf>,
    },
    /// `type: sts`: temporary credentials maintained in files by something else.
    Sts {
        /// The `STS.` AccessKey ID.
        access_key_id: String,
        /// File holding the AccessKey secret.
        access_key_secret_file: PathBuf,
        /// File holding the security token.
        security_token_file: PathBuf,
    },
    /// `type: ram_role_arn`: STS `AssumeRole` with a key whose secret is in a file.
    RamRoleArn {
        /// The AccessKey ID that assumes the role.
        access_key_id: String,
        /// File holding its secret.
        access_key_secret_file: PathBuf,
        /// The role, `acs:ram::<uid>:role/<name>`.
        role_arn: String,
        /// `RoleSessionName`; `chatapp-exporter` when absent.
        role_session_name: Option<String>,
        /// `ExternalId`.
        external_id: Option<String>,
        /// `DurationSeconds`; 1 hour when absent.
        duration: Option<Duration>,
        /// STS endpoint (host or URL); `sts.aliyuncs.com` when absent.
        sts_endpoint: Option<String>,
    },
    /// `type: oidc_role_arn`: STS `AssumeRoleWithOIDC` (ACK RRSA).
    OidcRoleArn {
        /// The role.
        role_arn: String,
        /// The OIDC identity provider, `acs:ram::<uid>:oidc-provider/<name>`.
        oidc_provider_arn: String,
        /// File holding the OIDC token, re-read at every renewal.
        oidc_token_file: PathBuf,
        /// `RoleSessionName`.
        role_session_name: Option<String>,
        /// STS endpoint.
        sts_endpoint: Option<String>,
    },
    /// `type: ecs_ram_role`: the instance's RAM role from the metadata service.
    EcsRamRole {
        /// The role; discovered from the metadata service when absent.
        role_name: Option<String>,
        /// The metadata service; `http://100.100.100.200` when absent.
        metadata_endpoint: Option<String>,
    },
    /// `type: profile`: a profile of the aliyun CLI config or of the INI credentials file.
    Profile {
        /// The profile; the CLI's `current` or the INI `default` when absent.
        name: Option<String>,
        /// The file; the CLI config, else the INI file, in the home directory when absent.
        file: Option<PathBuf>,
    },
    /// `type: uri`: a credentials URI.
    Uri {
        /// The URL.
        uri: String,
    },
    /// `type: default`: the default chain.
    Default,
}

/// Every key of the block, as written; which ones a type accepts is checked afterwards so the
/// error can say which type the key belongs to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    access_key_id: Option<String>,
    access_key_secret_file: Option<PathBuf>,
    security_token_file: Option<PathBuf>,
    role_arn: Option<String>,
    role_session_name: Option<String>,
    external_id: Option<String>,
    duration: Option<DurationValue>,
    sts_endpoint: Option<String>,
    oidc_provider_arn: Option<String>,
    oidc_token_file: Option<PathBuf>,
    role_name: Option<String>,
    metadata_endpoint: Option<String>,
    name: Option<String>,
    file: Option<PathBuf>,
    uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

const TYPES: &[(&str, &[&str], &[&str])] = &[
    // (type, required keys, optional keys)
    (
        "access_key",
        &["access_key_id", "access_key_secret_file"],
        &["security_token_file"],
    ),
    (
        "sts",
        &[
            "access_key_id",
            "access_key_secret_file",
            "security_token_file",
        ],
        &[],
    ),
    (
        "ram_role_arn",
        &["access_key_id", "access_key_secret_file", "role_arn"],
        &[
            "role_session_name",
            "external_id",
            "duration",
            "sts_endpoint",
        ],
    ),
    (
        "oidc_role_arn",
        &["role_arn", "oidc_provider_arn", "oidc_token_file"],
        &["role_session_name", "sts_endpoint"],
    ),
    ("ecs_ram_role", &[], &["role_name", "metadata_endpoint"]),
    ("profile", &[], &["name", "file"]),
    ("uri", &["uri"], &[]),
    ("default", &[], &[]),
];

impl Raw {
    fn present(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |set: bool, k| {
            if set {
                keys.push(k)
            }
        };
        add(self.access_key_id.is_some(), "access_key_id");
        add(
            self.access_key_secret_file.is_some(),
            "access_key_secret_file",
        );
        add(self.security_token_file.is_some(), "security_token_file");
        add(self.role_arn.is_some(), "role_arn");
        add(self.role_session_name.is_some(), "role_session_name");
        add(self.external_id.is_some(), "external_id");
        add(self.duration.is_some(), "duration");
        add(self.sts_endpoint.is_some(), "sts_endpoint");
        add(self.oidc_provider_arn.is_some(), "oidc_provider_arn");
        add(self.oidc_token_file.is_some(), "oidc_token_file");
        add(self.role_name.is_some(), "role_name");
        add(self.metadata_endpoint.is_some(), "metadata_endpoint");
        add(self.name.is_some(), "name");
        add(self.file.is_some(), "file");
        add(self.uri.is_some(), "uri");
        keys
    }

    fn into_config(self) -> Result<CredentialsConfig, String> {
        let kind = self.kind.clone().unwrap_or_else(|| "access_key".into());
        let Some((_, required, optional)) = TYPES.iter().find(|(t, _, _)| *t == kind) else {
            let names: Vec<&str> = TYPES.iter().map(|(t, _, _)| *t).collect();
            return Err(format!(
                "unknown credentials type `{kind}`, expected one of {}",
                names.join(", ")
            ));
        };
        let present = self.present();
        for key in &present {
            if !required.contains(key) && !optional.contains(key) {
                let mut keys: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
                if keys.is_empty() {
                    keys.push("none");
                }
                return Err(format!(
                    "`{key}` is not a setting of credentials type `{kind}` (its settings: {})",
                    keys.join(", ")
                ));
            }
        }
        if let Some(key) = required.iter().find(|k| !present.contains(k)) {
            return Err(format!(
                "missing `{key}`, required for credentials type `{kind}`"
            ));
        }
        let duration = match self.duration {
            None => None,
            Some(DurationValue::Seconds(s)) => Some(Duration::from_secs(s)),
            Some(DurationValue::Text(t)) => Some(
                humantime::parse_duration(t.trim())
                    .map_err(|e| format!("duration: {t:?} is not a duration: {e}"))?,
            ),
        };
        // The key checks above make every `unwrap_or_default` below unreachable for its type.
        Ok(match kind.as_str() {
            "access_key" => CredentialsConfig::AccessKey {
                access_key_id: self.access_key_id.unwrap_or_default(),
                access_key_secret_file: self.access_key_secret_file.unwrap_or_default(),
                security_token_file: self.security_token_file,
            },
            "sts" => CredentialsConfig::Sts {
                access_key_id: self.access_key_id.unwrap_or_default(),
                access_key_secret_file: self.access_key_secret_file.unwrap_or_default(),
                security_token_file: self.security_token_file.unwrap_or_default(),
            },
            "ram_role_arn" => CredentialsConfig::RamRoleArn {
                access_key_id: self.access_key_id.unwrap_or_default(),
                access_key_secret_file: self.access_key_secret_file.unwrap_or_default(),
                role_arn: self.role_arn.unwrap_or_default(),
                role_session_name: self.role_session_name,
                external_id: self.external_id,
                duration,
                sts_endpoint: self.sts_endpoint,
            },
            "oidc_role_arn" => CredentialsConfig::OidcRoleArn {
                role_arn: self.role_arn.unwrap_or_default(),
                oidc_provider_arn: self.oidc_provider_arn.unwrap_or_default(),
                oidc_token_file: self.oidc_token_file.unwrap_or_default(),
                role_session_name: self.role_session_name,
                sts_endpoint: self.sts_endpoint,
            },
            "ecs_ram_role" => CredentialsConfig::EcsRamRole {
                role_name: self.role_name,
                metadata_endpoint: self.metadata_endpoint,
            },
            "profile" => CredentialsConfig::Profile {
                name: self.name,
                file: self.file,
            },
            "uri" => CredentialsConfig::Uri {
                uri: self.uri.unwrap_or_default(),
            },
            _ => CredentialsConfig::Default,
        })
    }
}

impl<'de> Deserialize<'de> for CredentialsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Raw::deserialize(d)?
            .into_config()
            .map_err(serde::de::Error::custom)
    }
}

fn nonempty(field: &str, value: &str) -> Result<String, CredentialError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CredentialError::config(field, "must not be empty"));
    }
    Ok(v.to_owned())
}

fn readable(field: &str, path: &Path) -> Result<(), CredentialError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| CredentialError::config(field, format!("cannot read {}: {e}", path.display())))
}

fn arn(field: &str, value: &str) -> Result<String, CredentialError> {
    let v = nonempty(field, value)?;
    if !v.starts_with("acs:ram::") {
        return Err(CredentialError::config(
            field,
            format!("{v:?} is not a RAM ARN (acs:ram::<account id>:...)"),
        ));
    }
    Ok(v)
}

fn session_name(value: &Option<String>) -> Result<String, CredentialError> {
    let name = value
        .as_deref()
        .map(str::trim)
        .unwrap_or(sts::DEFAULT_SESSION_NAME)
        .to_owned();
    sts::check_session_name(&name).map_err(|e| CredentialError::config("role_session_name", e))?;
    Ok(name)
}

fn sts_endpoint(
    value: &Option<String>,
    env: Env<'_>,
    ctx: &Context,
) -> Result<String, CredentialError> {
    let endpoint = sts::endpoint(value.as_deref(), None, false, env, ctx);
    check_url(&endpoint).map_err(|e| CredentialError::config("sts_endpoint", e))?;
    Ok(endpoint)
}

impl CredentialsConfig {
    /// Resolves relative file paths against `dir` (the config file's directory).
    pub fn make_paths_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        match self {
            CredentialsConfig::AccessKey {
                access_key_secret_file,
                security_token_file,
                ..
            } => {
                fix(access_key_secret_file);
                if let Some(p) = security_token_file {
                    fix(p);
                }
            }
            CredentialsConfig::Sts {
                access_key_secret_file,
                security_token_file,
                ..
            } => {
                fix(access_key_secret_file);
                fix(security_token_file);
            }
            CredentialsConfig::RamRoleArn {
                access_key_secret_file,
                ..
            } => fix(access_key_secret_file),
            CredentialsConfig::OidcRoleArn {
                oidc_token_file, ..
            } => fix(oidc_token_file),
            CredentialsConfig::Profile { file: Some(f), .. } => fix(f),
            CredentialsConfig::Profile { file: None, .. }
            | CredentialsConfig::EcsRamRole { .. }
            | CredentialsConfig::Uri { .. }
            | CredentialsConfig::Default => {}
        }
    }

    /// Checks the settings and builds the source with the process-wide [`Context`]. Files
    /// must exist and be readable but are not read; nothing is sent over the network.
    /// [`CredentialError::Config`] names the offending key.
    pub fn build(&self, env: Env<'_>) -> Result<CredentialSource, CredentialError> {
        self.build_with(env, &Context::global())
    }

    /// [`CredentialsConfig::build`] with an explicit context.
    pub fn build_with(
        &self,
        env: Env<'_>,
        ctx: &Arc<Context>,
    ) -> Result<CredentialSource, CredentialError> {
        Ok(match self {
            CredentialsConfig::AccessKey {
                access_key_id,
                access_key_secret_file,
                security_token_file,
            } => key_in_files(
                access_key_id,
                access_key_secret_file,
                security_token_file.as_ref(),
            )?,
            CredentialsConfig::Sts {
                access_key_id,
                access_key_secret_file,
                security_token_file,
            } => key_in_files(
                access_key_id,
                access_key_secret_file,
                Some(security_token_file),
            )?,
            CredentialsConfig::RamRoleArn {
                access_key_id,
                access_key_secret_file,
                role_arn,
                role_session_name,
                external_id,
                duration,
                sts_endpoint: endpoint,
            } => {
                let base = key_in_files(access_key_id, access_key_secret_file, None)?;
                let duration = duration.unwrap_or(sts::DEFAULT_DURATION);
                sts::check_duration(duration)
                    .map_err(|e| CredentialError::config("duration", e))?;
                let role = sts_role(
                    role_arn,
                    role_session_name,
                    duration,
                    external_id,
                    endpoint,
                    env,
                    ctx,
                )?;
                CredentialSource::RamRoleArn(Arc::new(RamRoleArn::new(base, role, ctx)))
            }
            CredentialsConfig::OidcRoleArn {
                role_arn,
                oidc_provider_arn,
                oidc_token_file,
                role_session_name,
                sts_endpoint: endpoint,
            } => {
                let role = sts_role(
                    role_arn,
                    role_session_name,
                    sts::DEFAULT_DURATION,
                    &None,
                    endpoint,
                    env,
                    ctx,
                )?;
                let provider = arn("oidc_provider_arn", oidc_provider_arn)?;
                readable("oidc_token_file", oidc_token_file)?;
                CredentialSource::OidcRoleArn(Arc::new(OidcRoleArn::new(
                    role,
                    provider,
                    oidc_token_file.clone(),
                    ctx,
                )))
            }
            CredentialsConfig::EcsRamRole {
                role_name,
                metadata_endpoint,
            } => ecs_ram_role(role_name, metadata_endpoint, env, ctx)?,
            CredentialsConfig::Profile { name, file } => profile(name, file, env, ctx)?,
            CredentialsConfig::Uri { uri } => {
                let uri = nonempty("uri", uri)?;
                check_url(&uri).map_err(|e| CredentialError::config("uri", e))?;
                CredentialSource::Uri(Arc::new(CredentialsUri::new(uri, ctx)))
            }
            CredentialsConfig::Default => CredentialSource::default_chain_with(env, ctx)?,
        })
    }
}

/// An AccessKey whose secret (and STS token, if any) are in files: the ID is not empty and
/// the files are readable.
fn key_in_files(
    access_key_id: &str,
    access_key_secret_file: &Path,
    security_token_file: Option<&PathBuf>,
) -> Result<CredentialSource, CredentialError> {
    let access_key_id = nonempty("access_key_id", access_key_id)?;
    readable("access_key_secret_file", access_key_secret_file)?;
    if let Some(p) = security_token_file {
        readable("security_token_file", p)?;
    }
    Ok(CredentialSource::Files {
        access_key_id,
        access_key_secret_file: access_key_secret_file.to_path_buf(),
        security_token_file: security_token_file.cloned(),
    })
}

/// The role to assume with STS (`ram_role_arn` and `oidc_role_arn`): its ARN, session name,
/// external ID and STS endpoint checked, in that order.
fn sts_role(
    role_arn: &str,
    role_session_name: &Option<String>,
    duration: Duration,
    external_id: &Option<String>,
    endpoint: &Option<String>,
    env: Env<'_>,
    ctx: &Context,
) -> Result<Role, CredentialError> {
    Ok(Role {
        role_arn: arn("role_arn", role_arn)?,
        session_name: session_name(role_session_name)?,
        duration,
        external_id: optional_nonempty("external_id", external_id)?,
        policy: None,
        endpoint: sts_endpoint(endpoint, env, ctx)?,
    })
}

/// `value` trimmed, when set: set but empty is an error naming `field`.
fn optional_nonempty(
    field: &str,
    value: &Option<String>,
) -> Result<Option<String>, CredentialError> {
    value.as_deref().map(|v| nonempty(field, v)).transpose()
}

/// `ecs_ram_role`: the role name, if given, is not empty and the metadata endpoint is a URL.
fn ecs_ram_role(
    role_name: &Option<String>,
    metadata_endpoint: &Option<String>,
    env: Env<'_>,
    ctx: &Arc<Context>,
) -> Result<CredentialSource, CredentialError> {
    let role_name = optional_nonempty("role_name", role_name)?;
    let endpoint = metadata_endpoint
        .clone()
        .unwrap_or_else(|| ctx.options().metadata_endpoint.clone());
    check_url(endpoint.trim()).map_err(|e| CredentialError::config("metadata_endpoint", e))?;
    Ok(CredentialSource::EcsRamRole(Arc::new(EcsRamRole::new(
        role_name,
        endpoint,
        env_flag(env, ENV_IMDSV1_DISABLED),
        ctx,
    ))))
}

/// `profile`: the profile name, if given, is not empty and the profile file is readable.
fn profile(
    name: &Option<String>,
    file: &Option<PathBuf>,
    env: Env<'_>,
    ctx: &Arc<Context>,
) -> Result<CredentialSource, CredentialError> {
    let name = optional_nonempty("name", name)?;
    let (path, format) = match file {
        Some(f) => (f.clone(), Format::Auto),
        None => default_profile_file(env)?,
    };
    readable("file", &path)?;
    Ok(CredentialSource::Profile(Arc::new(ProfileSource::new(
        path,
        format,
        name,
        ProfileEnv::from_env(env),
        ctx,
    ))))
}

/// The profile file when `file` is not set: the CLI's `config.json` in the home directory
/// if there is one, else the INI credentials file.
fn default_profile_file(env: Env<'_>) -> Result<(PathBuf, Format), CredentialError> {
    let home = home_dir(env)
        .ok_or_else(|| CredentialError::config("file", "not set, and HOME is not set either"))?;
    let cli = home.join(".aliyun/config.json");
    Ok(if cli.is_file() {
        (cli, Format::Cli)
    } else {
        (home.join(".alibabacloud/credentials"), Format::Ini)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<CredentialsConfig, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn a_block_without_type_is_an_access_key() {
        assert_eq!(
            parse("access_key_id: LTAI5tX\naccess_key_secret_file: s\n").unwrap(),
            CredentialsConfig::AccessKey {
                access_key_id: "LTAI5tX".into(),
                access_key_secret_file: "s".into(),
                security_token_file: None,
            }
        );
    }

    #[test]
    fn durations_are_seconds_or_text() {
        let c = parse("type: ram_role_arn\naccess_key_id: a\naccess_key_secret_file: s\nrole_arn: acs:ram::1:role/r\nduration: 1h\n").unwrap();
        let CredentialsConfig::RamRoleArn { duration, .. } = c else {
            panic!()
        };
        assert_eq!(duration, Some(Duration::from_secs(3600)));
        let c = parse("type: ram_role_arn\naccess_key_id: a\naccess_key_secret_file: s\nrole_arn: acs:ram::1:role/r\nduration: 900\n").unwrap();
        let CredentialsConfig::RamRoleArn { duration, .. } = c else {
            panic!()
        };
        assert_eq!(duration, Some(Duration::from_secs(900)));
    }

    #[test]
    fn keys_of_another_type_and_missing_keys_are_named() {
        let e = parse("type: uri\nuri: http://x\nrole_arn: y\n").unwrap_err();
        assert!(e.contains("`role_arn`") && e.contains("`uri`"), "{e}");
        let e = parse("type: oidc_role_arn\nrole_arn: acs:ram::1:role/r\n").unwrap_err();
        assert!(e.contains("missing `oidc_provider_arn`"), "{e}");
        let e = parse("type: magic\n").unwrap_err();
        assert!(e.contains("unknown credentials type `magic`"), "{e}");
    }
}
