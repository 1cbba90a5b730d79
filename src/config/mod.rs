//! Settings: the YAML configuration file, merged with flags and the environment, validated,
//! and summarised for `--config.check`.
//!
//! Precedence: an explicit flag beats the file, the file beats the built-in default. Unknown
//! YAML keys are errors that name the key and its line. Secrets are never inline: an
//! account's AccessKey secret and ISV code come from files (read again at the next refresh when they
//! change) or from
//! the environment, and no summary or error prints them.
//!
//! | file | owns |
//! | --- | --- |
//! | `file.rs` | the YAML file as written: its schema, parsing, relative paths |
//! | `resolve.rs` | merging flags, file and environment into [`Settings`], and the checks |
//! | `summary.rs` | the `--config.check` summary |
//! | `mod.rs` | the resolved [`Settings`] every other module reads, and [`ConfigError`] |

mod file;
mod resolve;
mod summary;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::SignatureVersion;
use crate::collect::AnySettings;
use crate::credentials::{CredentialError, CredentialSource};
use crate::metrics::{EnumMode, FamilyFilter};
use crate::ratelimit::Rates;

pub use file::{
    AccountFile, CollectorFile, CredentialsFile, FileConfig, RefreshFile, parse_file, read_file,
};
pub use resolve::{load, resolve, shard_of};
pub use summary::describe_collectors;

/// Default `--refresh.interval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Default refresh interval under `--demo`, so the simulated fleet visibly moves.
pub const DEMO_REFRESH_INTERVAL: Duration = Duration::from_secs(15);
/// Default `--refresh.max-staleness`.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(600);
/// The name of the single account configured from the environment.
pub const DEFAULT_ACCOUNT: &str = "default";

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown/mistyped keys (the message names key and line).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, e.g. `accounts[0]: unknown field "foo" ... at line 4 column 5`.
        message: String,
    },
    /// A value is out of range or inconsistent; `key` is its path in the file or flag name.
    #[error("{key}: {message}")]
    Invalid {
        /// Where, e.g. `accounts[1].name` or `--refresh.interval`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No credentials for the implicit `default` account.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--web.listen-address`.
    pub listen_address: String,
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// Interval between refreshes.
    pub refresh_interval: Duration,
    /// How long last good data is served after refreshes fail.
    pub max_staleness: Duration,
    /// `--api.timeout`.
    pub api_timeout: Duration,
    /// `--api.max-body-bytes`.
    pub api_max_body_bytes: usize,
    /// `--api.rate-limit`: requests per second per AccessKey and API.
    pub api_rate_limit: NonZeroU32,
    /// Per-operation rates (`rate_limits:`, operation defaults, `--api.rate-limit`).
    pub rates: Rates,
    /// The enabled collectors from flags and the top-level `collectors:` block: those of
    /// an account without a block of its own (and of the environment's account).
    pub collectors: Vec<CollectorSettings>,
    /// `--api.signature-version`: how accounts without their own choice sign requests.
    pub signature_version: SignatureVersion,
    /// `--metrics.enum`.
    pub enum_mode: EnumMode,
    /// `--metrics.allowlist` and `--metrics.denylist`.
    pub metrics_filter: FamilyFilter,
    /// `--shard`.
    pub shard: u32,
    /// `--total-shards`.
    pub total_shards: u32,
    /// The accounts this shard polls.
    pub accounts: Vec<AccountSettings>,
    /// Accounts configured but owned by other shards (for `--config.check`).
    pub other_shards_accounts: usize,
    /// The file the settings came from, for reloads.
    pub config_file: Option<PathBuf>,
    /// `--storage.path`: the directory of the since-when history.
    pub storage_path: PathBuf,
}

/// One account to poll.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// The `account` label.
    pub name: String,
    /// API base URL.
    pub endpoint: String,
    /// `CustSpaceId`.
    pub cust_space_id: Option<String>,
    /// File holding `IsvCode`.
    pub isv_code_file: Option<PathBuf>,
    /// Where the AccessKey comes from.
    pub credentials: CredentialSource,
    /// The enabled collectors, in registry order.
    pub collectors: Vec<CollectorSettings>,
    /// How its requests are signed.
    pub signature_version: SignatureVersion,
    /// A parent (`discover:`): the collectors of the accounts it discovers. Its own
    /// `collectors` are the discovery collector alone.
    pub children: Option<Vec<CollectorSettings>>,
    /// A discovered account: its parent and instance.
    pub origin: Option<Origin>,
}

/// Where a discovered account came from (`chatapp_account_info`'s `parent`,
/// `instance_name` and `instance_id` labels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The parent account's name.
    pub parent: String,
    /// `InstanceId`.
    pub instance_id: String,
    /// `InstanceName`.
    pub instance_name: String,
}

/// One enabled collector of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// The collector's name ([`crate::collect::CollectorSpec::name`]).
    pub name: &'static str,
    /// Its interval: `--refresh.interval` for the refresh collectors.
    pub interval: Duration,
    /// Its own settings block ([`crate::collect::SettingsBlock`]), with the account's
    /// `collectors.<name>` keys over the top-level ones.
    pub settings: AnySettings,
}

impl AccountSettings {
    /// The region, read from the endpoint host (`cams.<region>.aliyuncs.com`), for
    /// `chatapp_account_info{region_id}`; empty for other hosts (mocks, proxies).
    pub fn region_id(&self) -> String {
        let host = reqwest::Url::parse(&self.endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let parts: Vec<&str> = host.split('.').collect();
        match parts.as_slice() {
            [_, region, "aliyuncs", "com"] => (*region).to_owned(),
            _ => String::new(),
        }
    }
}
