//! Settings: the YAML configuration file, merged with flags and the environment, validated,
//! and summarised for `--config.check`.
//!
//! Precedence: an explicit flag beats the file, the file beats the built-in default. Unknown
//! YAML keys are errors that name the key and its line. Secrets are never inline: an
//! account's AccessKey secret and ISV code come from files (re-read at every refresh) or from
//! the environment, and no summary or error prints them.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::api::SignatureVersion;
use crate::cli::Cli;
use crate::collect::{self, REGISTRY, Schedule, TierLimits};
use crate::credentials::{CredentialError, CredentialSource};
use crate::metrics::{EnumMode, FamilyFilter};
use crate::ratelimit::Rates;

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

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `refresh:` block.
    #[serde(default)]
    pub refresh: RefreshFile,
    /// Overrides of the tier → recipients table (YAML `.inf` for unlimited).
    #[serde(default)]
    pub tier_limits: BTreeMap<String, f64>,
    /// `collectors:`: switches and intervals by collector name, for every account.
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
#[serde(deny_unknown_fields)]
pub struct CollectorFile {
    /// On or off.
    pub enabled: Option<bool>,
    /// Interval between rounds (collectors with a loop of their own only).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
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
    /// `cams:GetWhatsappHealthStatus` turns `health` off here).
    #[serde(default)]
    pub collectors: BTreeMap<String, CollectorFile>,
}

/// `credentials:` of an account: every provider `type` (see [`crate::credentials::config`]).
pub use crate::credentials::CredentialsConfig as CredentialsFile;

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
    /// Tier → recipients table.
    pub tier_limits: TierLimits,
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
}

/// One enabled collector of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// The collector's name ([`crate::collect::CollectorSpec::name`]).
    pub name: &'static str,
    /// Its interval: `--refresh.interval` for the refresh collectors.
    pub interval: Duration,
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

/// Parses a config file's text; `path` is only used in messages.
pub fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Builds [`Settings`] from the flags, the optional file and the environment (`env`).
/// Referenced secret files must exist and be readable, but are not read here.
pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let file = match &cli.config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let mut file = parse_file(path, &text)?;
            if let Some(dir) = path.parent() {
                file.make_paths_relative_to(dir);
            }
            file
        }
        None => FileConfig::default(),
    };
    resolve(cli, file, env)
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

/// Merges flags and a parsed file (pure apart from checking that secret files are readable).
pub fn resolve(
    cli: &Cli,
    file: FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let default_interval = if cli.demo {
        DEMO_REFRESH_INTERVAL
    } else {
        DEFAULT_REFRESH_INTERVAL
    };
    let (interval, interval_key) = match (cli.refresh_interval, file.refresh.interval) {
        (Some(d), _) => (d.into(), "--refresh.interval"),
        (None, Some(d)) => (d, "refresh.interval"),
        (None, None) => (default_interval, "--refresh.interval"),
    };
    let (max_staleness, staleness_key) = match (cli.max_staleness, file.refresh.max_staleness) {
        (Some(d), _) => (d.into(), "--refresh.max-staleness"),
        (None, Some(d)) => (d, "refresh.max_staleness"),
        (None, None) => (
            DEFAULT_MAX_STALENESS.max(interval),
            "--refresh.max-staleness",
        ),
    };
    if interval < Duration::from_secs(1) {
        return Err(invalid(interval_key, "must be at least 1s"));
    }
    if max_staleness < interval {
        return Err(invalid(
            staleness_key,
            format!(
                "must be at least the refresh interval ({})",
                humantime::format_duration(interval)
            ),
        ));
    }
    let api_timeout: Duration = cli.api_timeout.into();
    if api_timeout.is_zero() {
        return Err(invalid("--api.timeout", "must be greater than 0"));
    }
    if cli.api_max_body_bytes < 1024 {
        return Err(invalid("--api.max-body-bytes", "must be at least 1024"));
    }
    if !cli.telemetry_path.starts_with('/') || cli.telemetry_path.len() < 2 {
        return Err(invalid(
            "--web.telemetry-path",
            "must start with / and not be / itself",
        ));
    }
    check_endpoint("--api.endpoint", &cli.api_endpoint)?;
    for (tier, limit) in &file.tier_limits {
        if limit.is_nan() || *limit < 0.0 {
            return Err(invalid(
                format!("tier_limits.{tier}"),
                "must be a non-negative number (.inf for unlimited)",
            ));
        }
    }

    let no_block = BTreeMap::new();
    let collectors = resolve_collectors(cli, &file.collectors, &no_block, "collectors", interval)?;
    let api_rate_limit = NonZeroU32::new(cli.api_rate_limit)
        .ok_or_else(|| invalid("--api.rate-limit", "must be at least 1"))?;
    let mut rates = Rates {
        default: api_rate_limit,
        overrides: BTreeMap::new(),
    };
    for (action, per_second) in &file.rate_limits {
        let key = format!("rate_limits.{action}");
        if collect::operation(action).is_none() {
            let known: Vec<&str> = REGISTRY
                .iter()
                .flat_map(|c| c.spec().operations.iter().map(|o| o.action))
                .collect();
            return Err(invalid(
                key,
                format!("unknown API operation; known: {}", known.join(", ")),
            ));
        }
        let per_second =
            NonZeroU32::new(*per_second).ok_or_else(|| invalid(&key, "must be at least 1"))?;
        rates.overrides.insert(action.clone(), per_second);
    }

    let mut accounts = Vec::new();
    if file.accounts.is_empty() {
        accounts.push(AccountSettings {
            name: DEFAULT_ACCOUNT.into(),
            endpoint: cli.api_endpoint.clone(),
            cust_space_id: None,
            isv_code_file: None,
            credentials: CredentialSource::default_chain(env)?,
            collectors: collectors.clone(),
            signature_version: cli.api_signature_version,
        });
    }
    let mut names = HashSet::new();
    for (i, a) in file.accounts.into_iter().enumerate() {
        let key = |field: &str| format!("accounts[{i}].{field}");
        let name = a.name.trim().to_owned();
        if name.is_empty() {
            return Err(invalid(key("name"), "must not be empty"));
        }
        if !names.insert(name.clone()) {
            return Err(invalid(
                key("name"),
                format!("duplicate account name {name:?}"),
            ));
        }
        let account_collectors = resolve_collectors(
            cli,
            &file.collectors,
            &a.collectors,
            &key("collectors"),
            interval,
        )?;
        let endpoint = a.endpoint.unwrap_or_else(|| cli.api_endpoint.clone());
        check_endpoint(&key("endpoint"), &endpoint)?;
        if let Some(p) = &a.isv_code_file {
            check_readable(&key("isv_code_file"), p)?;
        }
        let credentials = match a.credentials {
            Some(c) => c.build(env).map_err(|e| match e {
                CredentialError::Config { field, message } => {
                    invalid(key(&format!("credentials.{field}")), message)
                }
                e => invalid(key("credentials"), e.to_string()),
            })?,
            None => CredentialSource::default_chain(env).map_err(|e| {
                invalid(key("credentials"), format!("no credentials block and {e}"))
            })?,
        };
        accounts.push(AccountSettings {
            name,
            endpoint,
            cust_space_id: a
                .cust_space_id
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            isv_code_file: a.isv_code_file,
            credentials,
            collectors: account_collectors,
            signature_version: a.signature_version.unwrap_or(cli.api_signature_version),
        });
    }

    if cli.total_shards == 0 {
        return Err(invalid("--total-shards", "must be at least 1"));
    }
    if cli.shard >= cli.total_shards {
        return Err(invalid(
            "--shard",
            format!("must be below --total-shards ({})", cli.total_shards),
        ));
    }
    let configured = accounts.len();
    accounts.retain(|a| shard_of(&a.name, cli.total_shards) == cli.shard);

    Ok(Settings {
        listen_address: cli.listen_address.clone(),
        telemetry_path: cli.telemetry_path.clone(),
        refresh_interval: interval,
        max_staleness,
        api_timeout,
        api_max_body_bytes: cli.api_max_body_bytes,
        api_rate_limit,
        rates,
        collectors,
        signature_version: cli.api_signature_version,
        tier_limits: TierLimits::with_overrides(&file.tier_limits),
        enum_mode: cli.metrics_enum,
        metrics_filter: metrics_filter(cli)?,
        shard: cli.shard,
        total_shards: cli.total_shards,
        other_shards_accounts: configured - accounts.len(),
        accounts,
        config_file: cli.config_file.clone(),
    })
}

/// `--metrics.allowlist`/`--metrics.denylist`, refused when it drops a self metric a shipped
/// alert rule reads (the rule would silently stop working); dropping an object family the
/// rules read is the operator's choice and only warned about.
fn metrics_filter(cli: &Cli) -> Result<FamilyFilter, ConfigError> {
    let filter = FamilyFilter::new(&cli.metrics_allowlist, &cli.metrics_denylist).map_err(|e| {
        invalid(
            format!("--metrics.{}", e.list),
            format!(
                "{:?} is not a valid regular expression: {}",
                e.pattern, e.source
            ),
        )
    })?;
    let object = |name: &str| crate::collect::all_families().any(|f| f.name == name);
    let broken = filter.breaks_shipped_rules();
    if let Some((rule, family)) = broken.iter().find(|(_, f)| !object(f)) {
        return Err(invalid(
            "--metrics.allowlist/--metrics.denylist",
            format!(
                "drops {family}, which the shipped alert rule {rule} needs (deploy/prometheus/alerts.yml); keep it exposed"
            ),
        ));
    }
    for (rule, family) in broken {
        tracing::warn!(%rule, %family, "the metrics filter drops a family this shipped alert rule reads; the rule will not fire");
    }
    Ok(filter)
}

/// The enabled collectors for one account: an explicit flag wins over the account's
/// `collectors:` block, which wins over the top-level one, which wins over the collector's
/// default. `key` names the account's block in messages.
fn resolve_collectors(
    cli: &Cli,
    top: &BTreeMap<String, CollectorFile>,
    account: &BTreeMap<String, CollectorFile>,
    key: &str,
    refresh_interval: Duration,
) -> Result<Vec<CollectorSettings>, ConfigError> {
    let known: Vec<&str> = REGISTRY.iter().map(|c| c.spec().name).collect();
    for (block_key, block) in [("collectors", top), (key, account)] {
        for (name, entry) in block {
            let Some(c) = collect::find(name) else {
                return Err(invalid(
                    format!("{block_key}.{name}"),
                    format!("unknown collector; known: {}", known.join(", ")),
                ));
            };
            if entry.interval.is_some() && c.spec().schedule == Schedule::Refresh {
                return Err(invalid(
                    format!("{block_key}.{name}.interval"),
                    "this collector runs in every refresh: set refresh.interval instead",
                ));
            }
        }
    }
    let mut out = Vec::new();
    for c in REGISTRY {
        let spec = c.spec();
        let flag = cli
            .collectors
            .given
            .get(spec.name)
            .copied()
            .unwrap_or_default();
        let (top, acct) = (top.get(spec.name), account.get(spec.name));
        let enabled = flag
            .enabled
            .or(acct.and_then(|b| b.enabled))
            .or(top.and_then(|b| b.enabled))
            .unwrap_or(if cli.demo {
                spec.enabled_in_demo
            } else {
                spec.enabled_by_default
            });
        let interval = match spec.schedule {
            Schedule::Refresh => refresh_interval,
            Schedule::Own {
                interval,
                demo_interval,
            } => {
                let (value, where_) = match (
                    flag.interval,
                    acct.and_then(|b| b.interval),
                    top.and_then(|b| b.interval),
                ) {
                    (Some(d), _, _) => (d, format!("--collector.{}.interval", spec.name)),
                    (None, Some(d), _) => (d, format!("{key}.{}.interval", spec.name)),
                    (None, None, Some(d)) => (d, format!("collectors.{}.interval", spec.name)),
                    (None, None, None) if cli.demo => (demo_interval, String::new()),
                    (None, None, None) => (interval, String::new()),
                };
                if value < Duration::from_secs(1) {
                    return Err(invalid(where_, "must be at least 1s"));
                }
                value
            }
        };
        if enabled {
            out.push(CollectorSettings {
                name: spec.name,
                interval,
            });
        }
    }
    Ok(out)
}

/// The shard that owns `account`: FNV-1a 64 of the name modulo the shard count, a stable hash
/// as kube-state-metrics uses, so every replica agrees without coordination.
pub fn shard_of(account: &str, total_shards: u32) -> u32 {
    use std::hash::Hasher as _;
    let mut h = fnv::FnvHasher::default();
    h.write(account.as_bytes());
    (h.finish() % u64::from(total_shards.max(1))) as u32
}

fn check_endpoint(key: &str, endpoint: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| invalid(key, format!("{endpoint:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            key,
            format!("{endpoint:?} must be an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs and on the landing page.
        return Err(invalid(key, "must not contain a user name or password"));
    }
    if url.query().is_some() || url.path() != "/" {
        return Err(invalid(
            key,
            format!("{endpoint:?} must not have a path or query (requests go to /)"),
        ));
    }
    Ok(())
}

fn check_readable(key: &str, path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
}

impl Settings {
    /// The one-screen summary printed by `--config.check`: never a secret, only where
    /// secrets come from.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "configuration OK");
        if let Some(p) = &self.config_file {
            let _ = writeln!(s, "  config file:      {}", p.display());
        }
        let _ = writeln!(s, "  listen address:   {}", self.listen_address);
        let _ = writeln!(s, "  telemetry path:   {}", self.telemetry_path);
        let _ = writeln!(
            s,
            "  refresh interval: {}",
            humantime::format_duration(self.refresh_interval)
        );
        let _ = writeln!(
            s,
            "  max staleness:    {}",
            humantime::format_duration(self.max_staleness)
        );
        let _ = writeln!(
            s,
            "  api timeout:      {}",
            humantime::format_duration(self.api_timeout)
        );
        let _ = writeln!(
            s,
            "  api rate limit:   {}/s per AccessKey and API",
            self.api_rate_limit
        );
        for c in REGISTRY {
            for op in c.spec().operations {
                let rate = self.rates.get(op.action, op.default_rate_limit);
                if rate != self.api_rate_limit {
                    let _ = writeln!(s, "    {}: {rate}/s", op.action);
                }
            }
        }
        if self.enum_mode != EnumMode::All {
            let _ = writeln!(
                s,
                "  metrics enum:     current (only the current state's series)"
            );
        }
        if !self.metrics_filter.is_empty() {
            let _ = writeln!(s, "  metrics filter:   {}", self.metrics_filter.describe());
        }
        if self.total_shards > 1 {
            let _ = writeln!(
                s,
                "  shard:            {} of {} ({} accounts belong to other shards)",
                self.shard, self.total_shards, self.other_shards_accounts
            );
        }
        let _ = writeln!(s, "  accounts ({}):", self.accounts.len());
        for a in &self.accounts {
            let _ = writeln!(s, "    - {}", a.name);
            let _ = writeln!(s, "        endpoint:      {}", a.endpoint);
            if let Some(c) = &a.cust_space_id {
                let _ = writeln!(s, "        cust_space_id: {c}");
            }
            if let Some(p) = &a.isv_code_file {
                let _ = writeln!(s, "        isv code:      from {}", p.display());
            }
            let _ = writeln!(s, "        credentials:   {}", a.credentials.describe());
            let _ = writeln!(
                s,
                "        collectors:    {}",
                describe_collectors(&a.collectors)
            );
        }
        s
    }
}

/// `phone_numbers, waba (every 1m), health (every 10m)`, or `none`.
pub fn describe_collectors(collectors: &[CollectorSettings]) -> String {
    if collectors.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < collectors.len() {
        // Consecutive collectors with the same interval share one "(every ...)".
        let mut j = i;
        while j + 1 < collectors.len() && collectors[j + 1].interval == collectors[i].interval {
            j += 1;
        }
        let names: Vec<&str> = collectors[i..=j].iter().map(|c| c.name).collect();
        parts.push(format!(
            "{} (every {})",
            names.join(", "),
            humantime::format_duration(collectors[i].interval)
        ));
        i = j + 1;
    }
    parts.join(", ")
}
