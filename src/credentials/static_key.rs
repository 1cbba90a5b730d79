//! Long-lived keys: from the environment (the chain's first step, `credentials-go`
//! `credentials/providers/env.go`) and from files named in the config (`type: access_key` and
//! `type: sts`), whose secret and token are read again at the first refresh after they change, so
//! that a rotated file is used without a restart.

use std::path::Path;

use secrecy::SecretString;

use super::{
    CredentialError, Credentials, ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN,
    read_secret_file,
};

/// Reads the AccessKey (and optional STS token) from the environment, or says why not.
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let id = get(ENV_ACCESS_KEY_ID).filter(|v| !v.trim().is_empty());
    let secret = get(ENV_ACCESS_KEY_SECRET).filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id.trim().to_owned(),
            access_key_secret: SecretString::from(secret),
            security_token: get(ENV_SECURITY_TOKEN)
                .filter(|v| !v.is_empty())
                .map(SecretString::from),
        }),
        (Some(_), None) => Err(format!(
            "environment: {ENV_ACCESS_KEY_ID} is set but {ENV_ACCESS_KEY_SECRET} is not"
        )),
        (None, Some(_)) => Err(format!(
            "environment: {ENV_ACCESS_KEY_SECRET} is set but {ENV_ACCESS_KEY_ID} is not"
        )),
        (None, None) => Err(format!(
            "environment: {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} not set"
        )),
    }
}

/// Reads the secret (and token) files for one refresh.
pub async fn read_files(
    access_key_id: &str,
    access_key_secret_file: &Path,
    security_token_file: Option<&Path>,
) -> Result<Credentials, CredentialError> {
    let access_key_secret = read_secret_file(access_key_secret_file, "access_key_secret").await?;
    let security_token = match security_token_file {
        Some(p) => Some(read_secret_file(p, "security_token").await?),
        None => None,
    };
    Ok(Credentials {
        access_key_id: access_key_id.to_owned(),
        access_key_secret,
        security_token,
    })
}
