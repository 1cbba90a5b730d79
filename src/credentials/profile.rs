//! Profiles in the aliyun CLI config (`~/.aliyun/config.json`) and in the INI credentials file
//! (`~/.alibabacloud/credentials`), for `type: profile` and steps 3 and 4 of the default chain.
//!
//! CLI config (`credentials-go` `credentials/providers/cli_profile.go`; field names from
//! `aliyun-cli` `config/profile.go`): `{"current": "<name>", "profiles": [{"name", "mode", ...}]}`
//! with modes `AK` (`access_key_id`, `access_key_secret`), `StsToken` (plus `sts_token`),
//! `RamRoleArn` (plus `ram_role_arn`, `ram_session_name`, `expired_seconds`, `sts_region`,
//! `enable_vpc`, `policy`, `external_id`), `EcsRamRole` (`ram_role_name`), `OIDC`
//! (`ram_role_arn`, `oidc_provider_arn`, `oidc_token_file`) and `ChainableRamRoleArn`
//! (`source_profile` plus the role fields). The profile is the configured name, else
//! `current`.
//!
//! INI file (`credentials-go` `profile.go`, `credentials-python`
//! `alibabacloud_credentials/provider/profile.py`): one `[section]` per profile (default
//! `default`) with `type = access_key | ecs_ram_role | ram_role_arn | oidc_role_arn` and the
//! keys `access_key_id`, `access_key_secret`, `role_name`, `role_arn`, `role_session_name`,
//! `policy`, `oidc_provider_arn`, `oidc_token_file_path`. `#` and `;` start comments, also
//! after a value when preceded by a blank (as `gopkg.in/ini.v1` and Python's reader strip them).
//!
//! The file is read at the first refresh and again whenever its modification time or size
//! changes, so an edited profile is picked up; a provider built from an unchanged profile keeps
//! its cache. If an edited file cannot be used, the previous profile stays in use (with a
//! warning) until the file is fixed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde::Deserialize;
use tracing::warn;

use super::context::Context;
use super::ecs::EcsRamRole;
use super::sts::{self, OidcRoleArn, RamRoleArn, Role};
use super::{CredentialError, CredentialSource, Credentials};

/// Which kind of profile file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The aliyun CLI `config.json`.
    Cli,
    /// The INI credentials file.
    Ini,
    /// Decided from the content: JSON when it starts with `{`.
    Auto,
}

/// The environment settings a profile's providers use, captured when the source is built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileEnv {
    /// `ALIBABA_CLOUD_STS_REGION`.
    pub sts_region: Option<String>,
    /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`.
    pub vpc: bool,
    /// `ALIBABA_CLOUD_IMDSV1_DISABLED`.
    pub imdsv1_disabled: bool,
}

impl ProfileEnv {
    /// Reads the settings through `env`.
    pub fn from_env(env: super::Env<'_>) -> Self {
        ProfileEnv {
            sts_region: super::env_var(env, super::ENV_STS_REGION),
            vpc: super::env_flag(env, super::ENV_VPC_ENDPOINT_ENABLED),
            imdsv1_disabled: super::env_flag(env, super::ENV_IMDSV1_DISABLED),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        match key {
            super::ENV_STS_REGION => self.sts_region.clone(),
            super::ENV_VPC_ENDPOINT_ENABLED => self.vpc.then(|| "true".into()),
            super::ENV_IMDSV1_DISABLED => self.imdsv1_disabled.then(|| "true".into()),
            _ => None,
        }
    }
}

type Stamp = (Option<SystemTime>, u64);

struct Loaded {
    stamp: Stamp,
    source: CredentialSource,
}

/// One profile of a CLI config or INI file.
pub struct ProfileSource {
    path: PathBuf,
    format: Format,
    name: Option<String>,
    env: ProfileEnv,
    ctx: Arc<Context>,
    state: Mutex<(Option<Loaded>, Option<Stamp>)>,
}

impl ProfileSource {
    /// The profile `name` (the file's `current` profile, or `default` for INI, when `None`)
    /// of the file at `path`.
    pub fn new(
        path: PathBuf,
        format: Format,
        name: Option<String>,
        env: ProfileEnv,
        ctx: &Arc<Context>,
    ) -> Self {
        ProfileSource {
            path,
            format,
            name,
            env,
            ctx: ctx.clone(),
            state: Mutex::new((None, None)),
        }
    }

    /// No secrets: the file, its kind and the profile name.
    pub fn describe(&self) -> String {
        let kind = match self.format {
            Format::Cli => "aliyun CLI config",
            Format::Ini => "INI credentials file",
            Format::Auto => "profile file",
        };
        let name = match (&self.name, self.format) {
            (Some(n), _) => n.clone(),
            (None, Format::Ini) => "default".into(),
            (None, Format::Cli) => "(current)".into(),
            (None, Format::Auto) => "(current, or default for INI)".into(),
        };
        format!("profile {name} from {kind} {}", self.path.display())
    }

    fn error(&self, message: impl Into<String>) -> CredentialError {
        CredentialError::Profile {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Credentials from the profile, re-reading the file when it changed.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        let source = self.current_source().await?;
        source.resolve_boxed().await
    }

    async fn current_source(&self) -> Result<CredentialSource, CredentialError> {
        let meta = tokio::fs::metadata(&self.path)
            .await
            .map_err(|e| self.error(format!("cannot read: {e}")))?;
        let stamp: Stamp = (meta.modified().ok(), meta.len());
        {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(l) = &state.0
                && (l.stamp == stamp || state.1 == Some(stamp))
            {
                return Ok(l.source.clone());
            }
        }
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| self.error(format!("cannot read: {e}")))?;
        let built = self.build(&text);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match built {
            Ok(source) => {
                state.0 = Some(Loaded {
                    stamp,
                    source: source.clone(),
                });
                state.1 = None;
                Ok(source)
            }
            Err(e) => match &state.0 {
                Some(old) => {
                    if state.1 != Some(stamp) {
                        warn!(error = %e, "the changed profile file cannot be used; keeping the previous profile");
                    }
                    let source = old.source.clone();
                    state.1 = Some(stamp);
                    Ok(source)
                }
                None => Err(e),
            },
        }
    }

    fn build(&self, text: &str) -> Result<CredentialSource, CredentialError> {
        let format = match self.format {
            Format::Auto if text.trim_start().starts_with('{') => Format::Cli,
            Format::Auto => Format::Ini,
            f => f,
        };
        match format {
            Format::Cli => {
                let conf: CliConfig = serde_json::from_str(text)
                    .map_err(|e| self.error(format!("not an aliyun CLI config: {e}")))?;
                let name = self
                    .name
                    .clone()
                    .or(conf.current.clone())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| self.error("no profile name and no \"current\" profile"))?;
                self.cli_source(&conf, &name, 0)
                    .map_err(|m| self.error(format!("profile {name:?}: {m}")))
            }
            _ => {
                let ini = parse_ini(text).map_err(|m| self.error(m))?;
                let name = self.name.clone().unwrap_or_else(|| "default".into());
                let section = ini
                    .get(&name)
                    .ok_or_else(|| self.error(format!("no section [{name}]")))?;
                self.ini_source(section)
                    .map_err(|m| self.error(format!("section [{name}]: {m}")))
            }
        }
    }

    fn role(&self, f: RoleFields<'_>) -> Result<Role, String> {
        let role_arn = nonempty(f.role_arn).ok_or("the role ARN is missing")?;
        let session_name = nonempty(f.session)
            .unwrap_or(sts::DEFAULT_SESSION_NAME)
            .to_owned();
        sts::check_session_name(&session_name)?;
        let duration = match f.duration.filter(|d| *d > 0) {
            Some(s) => Duration::from_secs(s),
            None => sts::DEFAULT_DURATION,
        };
        sts::check_duration(duration)?;
        let env = |k: &str| self.env.get(k);
        Ok(Role {
            role_arn: role_arn.to_owned(),
            session_name,
            duration,
            external_id: nonempty(f.external_id).map(str::to_owned),
            policy: nonempty(f.policy).map(str::to_owned),
            endpoint: sts::endpoint(None, f.region, f.vpc, &env, &self.ctx),
        })
    }

    fn static_key(
        id: Option<&str>,
        secret: Option<&str>,
        token: Option<&str>,
    ) -> Result<CredentialSource, String> {
        let (Some(id), Some(secret)) = (nonempty(id), nonempty(secret)) else {
            return Err("access_key_id and access_key_secret are required".into());
        };
        Ok(CredentialSource::Static(Credentials {
            access_key_id: id.trim().to_owned(),
            access_key_secret: SecretString::from(secret.trim()),
            security_token: nonempty(token).map(|t| SecretString::from(t.trim())),
        }))
    }

    fn ecs(&self, role_name: Option<&str>) -> CredentialSource {
        CredentialSource::EcsRamRole(Arc::new(EcsRamRole::new(
            nonempty(role_name).map(str::to_owned),
            self.ctx.options().metadata_endpoint.clone(),
            self.env.imdsv1_disabled,
            &self.ctx,
        )))
    }

    fn cli_source(
        &self,
        conf: &CliConfig,
        name: &str,
        depth: u8,
    ) -> Result<CredentialSource, String> {
        if depth > 4 {
            return Err("source_profile chain is longer than 4 (a loop?)".into());
        }
        let p = conf
            .profiles
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .ok_or_else(|| format!("no profile named {name:?}"))?;
        let role = |p: &CliProfile| {
            self.role(RoleFields {
                role_arn: p.ram_role_arn.as_deref(),
                session: p
                    .ram_session_name
                    .as_deref()
                    .or(p.role_session_name.as_deref()),
                duration: p.expired_seconds,
                region: p.sts_region.as_deref(),
                vpc: p.enable_vpc.unwrap_or(false),
                policy: p.policy.as_deref(),
                external_id: p.external_id.as_deref(),
            })
        };
        let ak = |p: &CliProfile, token: Option<&str>| {
            Self::static_key(
                p.access_key_id.as_deref(),
                p.access_key_secret.as_deref(),
                token,
            )
        };
        match p.mode.as_deref().unwrap_or_default() {
            "AK" => ak(p, None),
            "StsToken" => {
                if nonempty(p.sts_token.as_deref()).is_none() {
                    return Err("mode StsToken needs sts_token".into());
                }
                ak(p, p.sts_token.as_deref())
            }
            "RamRoleArn" => Ok(CredentialSource::RamRoleArn(Arc::new(RamRoleArn::new(
                ak(p, None)?,
                role(p)?,
                &self.ctx,
            )))),
            "ChainableRamRoleArn" => {
                let source = nonempty(p.source_profile.as_deref())
                    .ok_or("mode ChainableRamRoleArn needs source_profile")?;
                let base = self
                    .cli_source(conf, source, depth + 1)
                    .map_err(|e| format!("source profile {source:?}: {e}"))?;
                Ok(CredentialSource::RamRoleArn(Arc::new(RamRoleArn::new(
                    base,
                    role(p)?,
                    &self.ctx,
                ))))
            }
            "EcsRamRole" => Ok(self.ecs(p.ram_role_name.as_deref())),
            "OIDC" => {
                let provider = nonempty(p.oidc_provider_arn.as_deref())
                    .ok_or("mode OIDC needs oidc_provider_arn")?;
                let file = nonempty(p.oidc_token_file.as_deref())
                    .ok_or("mode OIDC needs oidc_token_file")?;
                Ok(CredentialSource::OidcRoleArn(Arc::new(OidcRoleArn::new(
                    role(p)?,
                    provider.to_owned(),
                    PathBuf::from(file),
                    &self.ctx,
                ))))
            }
            other => Err(format!(
                "unsupported mode {other:?} (supported: AK, StsToken, RamRoleArn, ChainableRamRoleArn, EcsRamRole, OIDC)"
            )),
        }
    }

    fn ini_source(&self, s: &BTreeMap<String, String>) -> Result<CredentialSource, String> {
        let get = |k: &str| s.get(k).map(String::as_str);
        let role = || {
            self.role(RoleFields {
                role_arn: get("role_arn"),
                session: get("role_session_name"),
                policy: get("policy"),
                ..RoleFields::default()
            })
        };
        match get("type").unwrap_or_default() {
            "access_key" => Self::static_key(get("access_key_id"), get("access_key_secret"), None),
            "ecs_ram_role" => Ok(self.ecs(get("role_name"))),
            "ram_role_arn" => Ok(CredentialSource::RamRoleArn(Arc::new(RamRoleArn::new(
                Self::static_key(get("access_key_id"), get("access_key_secret"), None)?,
                role()?,
                &self.ctx,
            )))),
            "oidc_role_arn" => {
                let provider =
                    nonempty(get("oidc_provider_arn")).ok_or("oidc_provider_arn is missing")?;
                let file = nonempty(get("oidc_token_file_path"))
                    .ok_or("oidc_token_file_path is missing")?;
                Ok(CredentialSource::OidcRoleArn(Arc::new(OidcRoleArn::new(
                    role()?,
                    provider.to_owned(),
                    PathBuf::from(file),
                    &self.ctx,
                ))))
            }
            other => Err(format!(
                "unsupported type {other:?} (supported: access_key, ecs_ram_role, ram_role_arn, oidc_role_arn)"
            )),
        }
    }
}

/// The role settings of a CLI or INI profile, as written.
#[derive(Default)]
struct RoleFields<'a> {
    role_arn: Option<&'a str>,
    session: Option<&'a str>,
    duration: Option<u64>,
    region: Option<&'a str>,
    vpc: bool,
    policy: Option<&'a str>,
    external_id: Option<&'a str>,
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// The aliyun CLI config; unknown fields (region, language, ...) are ignored.
#[derive(Deserialize)]
struct CliConfig {
    current: Option<String>,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: Option<String>,
    mode: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
    sts_token: Option<String>,
    ram_role_arn: Option<String>,
    ram_session_name: Option<String>,
    role_session_name: Option<String>,
    expired_seconds: Option<u64>,
    sts_region: Option<String>,
    enable_vpc: Option<bool>,
    source_profile: Option<String>,
    ram_role_name: Option<String>,
    oidc_token_file: Option<String>,
    oidc_provider_arn: Option<String>,
    policy: Option<String>,
    external_id: Option<String>,
}

/// Parses INI text into sections of keys (lower-cased names; the last value of a repeated key
/// wins) with the `rust-ini` crate. Values may be quoted; comments start with `#` or `;`,
/// also after a value when preceded by white space (as the SDKs' INI readers accept).
pub fn parse_ini(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let options = ini::ParseOption {
        enabled_quote: true,
        enabled_escape: false,
        ..ini::ParseOption::default()
    };
    let parsed = ini::Ini::load_from_str_opt(text, options).map_err(|e| e.to_string())?;
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, props) in parsed.iter() {
        let Some(name) = name else {
            if props.iter().next().is_some() {
                return Err("keys outside a [section]".into());
            }
            continue;
        };
        let section = sections.entry(name.trim().to_owned()).or_default();
        for (key, value) in props.iter() {
            section.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_comments_and_quotes() {
        let ini = parse_ini(
            "# top comment\n[default]\ntype = access_key   # inline\naccess_key_id=LTAI5tX\naccess_key_secret = \"a;b #c\"\n\n[other]\n; c\nType = ecs_ram_role\nrole_name: r1\n",
        )
        .unwrap();
        assert_eq!(ini["default"]["type"], "access_key");
        assert_eq!(ini["default"]["access_key_secret"], "a;b #c");
        assert_eq!(ini["other"]["type"], "ecs_ram_role");
        assert_eq!(ini["other"]["role_name"], "r1");
        assert!(parse_ini("key = outside").is_err());
        assert!(parse_ini("[broken\n").is_err());
    }

    #[test]
    fn secrets_with_hash_are_kept_when_not_after_a_blank() {
        let ini = parse_ini("[p]\na = abc#def\nb = abc #def\n").unwrap();
        assert_eq!(ini["p"]["a"], "abc#def");
        assert_eq!(ini["p"]["b"], "abc");
    }
}
