//! The environment variables the Alibaba Cloud SDKs read (cams-api.md §8), and reading
//! them through an injected function, so that tests never touch the real process
//! environment or home directory.

use std::path::PathBuf;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_variables_count_as_unset() {
        let env = |k: &str| (k == "HOME").then(|| "  ".to_string());
        assert_eq!(home_dir(&env), None);
        let env = |k: &str| (k == ENV_ECS_METADATA_DISABLED).then(|| "TRUE".to_string());
        assert!(env_flag(&env, ENV_ECS_METADATA_DISABLED));
    }
}
