//! The configuration file as written: its YAML schema (unknown keys are errors that name
//! the key and its line), parsing, and secret-file paths made relative to the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::api::SignatureVersion;

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `refresh:` block.
    #[serde(default)]
    pub refresh: RefreshFile,
    /// An alias of `collectors.phone_numbers.tier_limits`, kept because older files have it:
    /// overrides of the tier → recipients table (YAML `.inf` for unlimited).
    #[serde(default)]
    pub tier_limits: BTreeMap<String, f64>,
    /// `collectors:`: switches, intervals and settings by collector name, for every account.
    #[serde(default)]
    pub collectors: BTreeMap<String, CollectorFile>,
    /// `rate_limits:`: requests per second per AccessKey, by API action.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, u32>,
    /// The accounts to poll.
    #[serde(default)]
    pub accounts: Vec<AccountFile>,
}

/// One entry of `collectors:` (top level or per account).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CollectorFile {
    /// On or off.
    pub enabled: Option<bool>,
    /// Interval between rounds (collectors with a loop of their own only).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// The collector's own keys, which its settings type reads and checks (unknown keys
    /// are errors there): [`crate::collect::SettingsBlock`].
    #[serde(flatten)]
    pub settings: serde_yaml_ng::Mapping,
}

/// `refresh:` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshFile {
    /// Interval between refreshes.
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// How long last good data is served after refreshes fail.
    #[serde(default, with = "humantime_serde")]
    pub max_staleness: Option<Duration>,
}

/// One entry of `accounts:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    /// The `account` label.
    pub name: String,
    /// API endpoint; `--api.endpoint` when absent.
    pub endpoint: Option<String>,
    /// ISV sub-customer space, sent as `CustSpaceId`.
    pub cust_space_id: Option<String>,
    /// File holding the ISV verification code (`IsvCode`), a secret.
    pub isv_code_file: Option<PathBuf>,
    /// Explicit credentials; the default credential chain when absent.
    pub credentials: Option<CredentialsFile>,
    /// `v1` or `v3`; `--api.signature-version` when absent.
    pub signature_version: Option<SignatureVersion>,
    /// Per-account `collectors:`, over the top-level block (a RAM policy without
    /// a collector's RAM action switches that collector off here).
    #[serde(default)]
    pub collectors: BTreeMap<String, CollectorFile>,
    /// `discover:`: the account is an ISV parent whose sub-customers (`ListInstance`) each
    /// become an account with its credentials, endpoint, IsvCode and `collectors:`.
    pub discover: Option<CollectorFile>,
}

/// `credentials:` of an account: every provider `type` (see [`crate::credentials::config`]).
pub use crate::credentials::CredentialsConfig as CredentialsFile;

/// Reads and parses the file at `path`, with relative secret-file paths resolved against
/// its directory; no file (`None`) is the empty configuration.
pub fn read_file(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut file = parse_file(path, &text)?;
    if let Some(dir) = path.parent() {
        file.make_paths_relative_to(dir);
    }
    Ok(file)
}

/// Parses a config file's text; `path` is only used in messages.
pub fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: crate::wire::without_values(&e.to_string()),
    })
}

impl FileConfig {
    /// Resolves relative secret-file paths against the config file's directory, as
    /// Prometheus does for the files its configuration names.
    pub fn make_paths_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for a in &mut self.accounts {
            if let Some(p) = &mut a.isv_code_file {
                fix(p);
            }
            if let Some(c) = &mut a.credentials {
                c.make_paths_relative_to(dir);
            }
        }
    }
}
