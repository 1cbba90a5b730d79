//! The Alibaba Cloud default credential chain (cams-api.md §8), used by accounts without a
//! `credentials:` block, by `type: default` and by the implicit `default` account.
//!
//! Order (`credentials-go` `credentials/providers/default.go`, `credentials-python`
//! `alibabacloud_credentials/provider/default.py`):
//! 1. environment `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (+ `ALIBABA_CLOUD_SECURITY_TOKEN`);
//! 2. OIDC role (ACK RRSA): `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//!    `ALIBABA_CLOUD_OIDC_TOKEN_FILE` (optional `ALIBABA_CLOUD_ROLE_SESSION_NAME`,
//!    `ALIBABA_CLOUD_STS_REGION`, `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`);
//! 3. the aliyun CLI config (`ALIBABA_CLOUD_CONFIG_FILE` or `~/.aliyun/config.json`), profile
//!    `ALIBABA_CLOUD_PROFILE` or `current`; skipped when `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`;
//! 4. the INI file (`ALIBABA_CLOUD_CREDENTIALS_FILE` or `~/.alibabacloud/credentials`), section
//!    `ALIBABA_CLOUD_PROFILE` or `default`;
//! 5. the ECS instance RAM role, **only when `ALIBABA_CLOUD_ECS_METADATA` names the role** (as
//!    the `credentials-go` README documents; its code would also try without, which we do not:
//!    a machine without credentials must never send anything to `100.100.100.200`), and never
//!    when `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`;
//! 6. `ALIBABA_CLOUD_CREDENTIALS_URI`.
//!
//! Which steps apply is decided when the chain is built, from the environment and the
//! existence of the two files, without any network call; when none applies the configuration
//! is rejected with [`CredentialError::NotFound`], which lists every step. At refresh time the
//! applicable steps are tried in order and the first that yields credentials is kept for good
//! (`credentials-python` `reuse_last_provider_enabled`): later failures of that step are
//! reported as they are rather than silently switching identity. When every step fails the
//! error lists each step and its failure.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::info;

use super::context::Context;
use super::ecs::EcsRamRole;
use super::http::check_url;
use super::profile::{Format, ProfileEnv, ProfileSource};
use super::sts::{self, OidcRoleArn, Role};
use super::uri::CredentialsUri;
use super::{
    CredentialError, CredentialSource, Credentials, ENV_CLI_PROFILE_DISABLED, ENV_CONFIG_FILE,
    ENV_CREDENTIALS_FILE, ENV_CREDENTIALS_URI, ENV_ECS_METADATA, ENV_ECS_METADATA_DISABLED,
    ENV_IMDSV1_DISABLED, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE, ENV_PROFILE, ENV_ROLE_ARN,
    ENV_ROLE_SESSION_NAME, Env, env_flag, env_var, home_dir, static_key,
};

/// One step of the chain that applies.
struct Step {
    name: &'static str,
    source: CredentialSource,
}

/// The default chain of one account.
pub struct DefaultChain {
    /// Every step in order: the source when it applies, else why not.
    steps: Vec<Result<Step, String>>,
    /// The step that first produced credentials.
    chosen: Mutex<Option<usize>>,
}

impl DefaultChain {
    /// Decides which steps apply, reading `env` (never the process environment directly).
    pub fn build(env: Env<'_>, ctx: &Arc<Context>) -> Result<Self, CredentialError> {
        let steps = vec![
            static_key::from_env(env).map(|c| Step {
                name: "environment",
                source: CredentialSource::Static(c),
            }),
            oidc_step(env, ctx),
            cli_step(env, ctx),
            ini_step(env, ctx),
            ecs_step(env, ctx),
            uri_step(env, ctx),
        ];
        if steps.iter().all(Result::is_err) {
            return Err(CredentialError::NotFound {
                tried: steps.into_iter().filter_map(Result::err).collect(),
            });
        }
        Ok(DefaultChain {
            steps,
            chosen: Mutex::new(None),
        })
    }

    /// Names of the steps that apply, in order (for tests and the landing page).
    pub fn applicable_steps(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .filter_map(|s| s.as_ref().ok().map(|s| s.name))
            .collect()
    }

    /// No secrets: the applicable steps and their settings.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|s| format!("{}: {}", s.name, s.source.describe()))
            .collect();
        format!("default chain [{}]", steps.join(" > "))
    }

    /// Credentials from the chosen step, or from the first applicable step that works.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        let chosen = *self.chosen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Ok(step)) = chosen.map(|i| &self.steps[i]) {
            return step.source.resolve_boxed().await;
        }
        let mut tried = Vec::new();
        let mut transient = false;
        for (i, step) in self.steps.iter().enumerate() {
            let step = match step {
                Ok(s) => s,
                Err(why) => {
                    tried.push(why.clone());
                    continue;
                }
            };
            match step.source.resolve_boxed().await {
                Ok(c) => {
                    *self.chosen.lock().unwrap_or_else(PoisonError::into_inner) = Some(i);
                    info!(
                        step = step.name,
                        source = %step.source.describe(),
                        "default credential chain: using this step"
                    );
                    return Ok(c);
                }
                Err(e) => {
                    transient |= e.is_transient();
                    tried.push(format!("{}: {e}", step.name));
                }
            }
        }
        Err(CredentialError::ChainFailed { tried, transient })
    }
}

fn oidc_step(env: Env<'_>, ctx: &Arc<Context>) -> Result<Step, String> {
    let vars = [ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE];
    let (Some(role_arn), Some(provider), Some(file)) = (
        env_var(env, ENV_ROLE_ARN),
        env_var(env, ENV_OIDC_PROVIDER_ARN),
        env_var(env, ENV_OIDC_TOKEN_FILE),
    ) else {
        let missing: Vec<&str> = vars
            .into_iter()
            .filter(|k| env_var(env, k).is_none())
            .collect();
        return Err(if missing.len() == vars.len() {
            format!("oidc: {} not set", vars.join(", "))
        } else {
            format!("oidc: incomplete, {} not set", missing.join(", "))
        });
    };
    let session_name =
        env_var(env, ENV_ROLE_SESSION_NAME).unwrap_or_else(|| sts::DEFAULT_SESSION_NAME.into());
    sts::check_session_name(&session_name)
        .map_err(|e| format!("oidc: {ENV_ROLE_SESSION_NAME} {e}"))?;
    let role = Role {
        role_arn,
        session_name,
        duration: sts::DEFAULT_DURATION,
        external_id: None,
        policy: None,
        endpoint: sts::endpoint(None, None, false, env, ctx),
    };
    Ok(Step {
        name: "oidc",
        source: CredentialSource::OidcRoleArn(Arc::new(OidcRoleArn::new(
            role,
            provider,
            PathBuf::from(file),
            ctx,
        ))),
    })
}

fn profile_file(env: Env<'_>, var: &str, under_home: &str) -> Result<PathBuf, String> {
    match env_var(env, var) {
        Some(p) => Ok(PathBuf::from(p)),
        None => home_dir(env)
            .map(|h| h.join(under_home))
            .ok_or_else(|| format!("{var} and HOME not set")),
    }
}

fn cli_step(env: Env<'_>, ctx: &Arc<Context>) -> Result<Step, String> {
    if env_flag(env, ENV_CLI_PROFILE_DISABLED) {
        return Err(format!(
            "cli profile: disabled by {ENV_CLI_PROFILE_DISABLED}=true"
        ));
    }
    let path = profile_file(env, ENV_CONFIG_FILE, ".aliyun/config.json")
        .map_err(|e| format!("cli profile: {e}"))?;
    if !path.is_file() {
        return Err(format!("cli profile: {} not found", path.display()));
    }
    Ok(Step {
        name: "cli profile",
        source: CredentialSource::Profile(Arc::new(ProfileSource::new(
            path,
            Format::Cli,
            env_var(env, ENV_PROFILE),
            ProfileEnv::from_env(env),
            ctx,
        ))),
    })
}

fn ini_step(env: Env<'_>, ctx: &Arc<Context>) -> Result<Step, String> {
    let path = profile_file(env, ENV_CREDENTIALS_FILE, ".alibabacloud/credentials")
        .map_err(|e| format!("credentials file: {e}"))?;
    if !path.is_file() {
        return Err(format!("credentials file: {} not found", path.display()));
    }
    Ok(Step {
        name: "credentials file",
        source: CredentialSource::Profile(Arc::new(ProfileSource::new(
            path,
            Format::Ini,
            env_var(env, ENV_PROFILE),
            ProfileEnv::from_env(env),
            ctx,
        ))),
    })
}

fn ecs_step(env: Env<'_>, ctx: &Arc<Context>) -> Result<Step, String> {
    if env_flag(env, ENV_ECS_METADATA_DISABLED) {
        return Err(format!(
            "ecs metadata: disabled by {ENV_ECS_METADATA_DISABLED}=true"
        ));
    }
    let Some(role) = env_var(env, ENV_ECS_METADATA) else {
        return Err(format!(
            "ecs metadata: {ENV_ECS_METADATA} not set (the metadata service was not queried)"
        ));
    };
    Ok(Step {
        name: "ecs metadata",
        source: CredentialSource::EcsRamRole(Arc::new(EcsRamRole::new(
            Some(role.trim().to_owned()),
            ctx.options().metadata_endpoint.clone(),
            env_flag(env, ENV_IMDSV1_DISABLED),
            ctx,
        ))),
    })
}

fn uri_step(env: Env<'_>, ctx: &Arc<Context>) -> Result<Step, String> {
    let Some(uri) = env_var(env, ENV_CREDENTIALS_URI) else {
        return Err(format!("credentials uri: {ENV_CREDENTIALS_URI} not set"));
    };
    check_url(uri.trim()).map_err(|e| format!("credentials uri: {ENV_CREDENTIALS_URI}: {e}"))?;
    Ok(Step {
        name: "credentials uri",
        source: CredentialSource::Uri(Arc::new(CredentialsUri::new(uri.trim().to_owned(), ctx))),
    })
}
