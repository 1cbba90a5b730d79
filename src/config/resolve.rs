//! Merging flags, the parsed file and the environment into [`Settings`]: precedence (flag,
//! then file, then default), collector switches, intervals and settings blocks, the
//! collectors' declared dependencies, shards, and the checks that reject a value before the
//! exporter starts.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::file::{AccountFile, CollectorFile, FileConfig, read_file};
use super::{
    AccountSettings, CollectorSettings, ConfigError, DEFAULT_ACCOUNT, DEFAULT_MAX_STALENESS,
    DEFAULT_REFRESH_INTERVAL, DEMO_REFRESH_INTERVAL, Settings, invalid,
};
use crate::cli::{Cli, Shard};
use crate::collect::{self, DynCollector, REGISTRY, Role, Schedule, object_collectors};
use crate::credentials::{CredentialError, CredentialSource};
use crate::metrics::FamilyFilter;
use crate::ratelimit::Rates;

/// Longest refresh or collector interval: a day. Longer ones are typing mistakes, and
/// their multiples (staleness, back-off) must stay far from overflowing.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Longest `--refresh.max-staleness`: a week.
pub const MAX_STALENESS: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest `--api.timeout`, `--web.read-header-timeout` and `--web.idle-timeout`.
pub const MAX_API_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The paths the server answers itself, which `--web.telemetry-path` must not take.
pub const RESERVED_PATHS: &[&str] = &["/", "/-/healthy", "/-/ready", "/-/reload"];

/// Builds [`Settings`] from the flags, the optional file and the environment (`env`).
/// Referenced secret files must exist and be readable, but are not read here.
pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    resolve(cli, read_file(cli.config_file.as_deref())?, env)
}

/// Merges flags and a parsed file (pure apart from checking that secret files are readable).
pub fn resolve(
    cli: &Cli,
    file: FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let (refresh_interval, max_staleness) = refresh(cli, &file)?;
    check_flags(cli)?;
    let blocks = TopBlocks::new(&file)?;
    let collectors = resolve_collectors(cli, &blocks, None, refresh_interval)?;
    if file.accounts.is_empty() || cli.demo {
        // The list every account gets that has no block of its own (the environment's
        // account, the demo's accounts).
        check_needs(&collectors, "collectors")?;
    }
    let (api_rate_limit, rates) = rates(cli, &file.rate_limits)?;
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
            children: None,
            origin: None,
        });
    }
    let mut names = HashSet::new();
    for (i, a) in file.accounts.into_iter().enumerate() {
        let account = account(cli, i, a, &blocks, refresh_interval, env)?;
        if !names.insert(account.name.clone()) {
            return Err(invalid(
                format!("accounts[{i}].name"),
                format!("duplicate account name {:?}", account.name),
            ));
        }
        accounts.push(account);
    }
    let this_shard = shard(cli, env)?;
    // Every shard runs every parent's discovery and keeps the customers that hash to it
    // (`crate::discovery`), so parents are not split.
    let configured = accounts.iter().filter(|a| a.children.is_none()).count();
    accounts.retain(|a| a.children.is_some() || shard_of(&a.name, cli.total_shards) == this_shard);
    let kept = accounts.iter().filter(|a| a.children.is_none()).count();

    Ok(Settings {
        listen_address: cli.listen_address.clone(),
        telemetry_path: cli.telemetry_path.clone(),
        refresh_interval,
        max_staleness,
        api_timeout: cli.api_timeout.into(),
        api_max_body_bytes: cli.api_max_body_bytes,
        api_rate_limit,
        rates,
        collectors,
        signature_version: cli.api_signature_version,
        enum_mode: cli.metrics_enum,
        metrics_filter: metrics_filter(cli)?,
        shard: this_shard,
        total_shards: cli.total_shards,
        other_shards_accounts: configured - kept,
        accounts,
        config_file: cli.config_file.clone(),
        storage_path: cli.storage_path.clone(),
    })
}

/// The refresh interval and max staleness: flag, then file, then default.
fn refresh(cli: &Cli, file: &FileConfig) -> Result<(Duration, Duration), ConfigError> {
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
    check_interval(interval_key, interval)?;
    if max_staleness < interval {
        return Err(invalid(
            staleness_key,
            format!(
                "must be at least the refresh interval ({})",
                humantime::format_duration(interval)
            ),
        ));
    }
    check_at_most(staleness_key, max_staleness, MAX_STALENESS)?;
    Ok((interval, max_staleness))
}

/// The flags that stand alone: API limits, the telemetry path, the default endpoint.
fn check_flags(cli: &Cli) -> Result<(), ConfigError> {
    let api_timeout: Duration = cli.api_timeout.into();
    if api_timeout.is_zero() {
        return Err(invalid("--api.timeout", "must be greater than 0"));
    }
    check_at_most("--api.timeout", api_timeout, MAX_API_TIMEOUT)?;
    if cli.api_max_body_bytes < 1024 {
        return Err(invalid("--api.max-body-bytes", "must be at least 1024"));
    }
    check_telemetry_path(&cli.telemetry_path)?;
    for (key, value) in [
        ("--web.read-header-timeout", cli.web_read_header_timeout),
        ("--web.idle-timeout", cli.web_idle_timeout),
    ] {
        let value: Duration = value.into();
        if value < Duration::from_secs(1) {
            return Err(invalid(key, "must be at least 1s"));
        }
        check_at_most(key, value, MAX_API_TIMEOUT)?;
    }
    check_endpoint("--api.endpoint", &cli.api_endpoint)
}

/// `--web.telemetry-path` is a plain absolute path (letters, digits and `/_.-~`, no `//`)
/// that none of the server's own routes use: the router would reject route syntax such as
/// `{` or a path taken twice when it starts.
fn check_telemetry_path(path: &str) -> Result<(), ConfigError> {
    let key = "--web.telemetry-path";
    let plain = path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_.-~".contains(&b));
    if !plain {
        return Err(invalid(
            key,
            format!("{path:?} must be a plain path such as /metrics (letters, digits, / _ . - ~)"),
        ));
    }
    if RESERVED_PATHS.contains(&path) || path.starts_with("/-/") {
        return Err(invalid(
            key,
            format!("{path:?} is one of the exporter's own paths (/, /-/...)"),
        ));
    }
    Ok(())
}

/// `--api.rate-limit` and the `rate_limits:` overrides, by operation.
fn rates(cli: &Cli, overrides: &BTreeMap<String, u32>) -> Result<(NonZeroU32, Rates), ConfigError> {
    let api_rate_limit = NonZeroU32::new(cli.api_rate_limit)
        .ok_or_else(|| invalid("--api.rate-limit", "must be at least 1"))?;
    let mut rates = Rates {
        default: api_rate_limit,
        overrides: BTreeMap::new(),
    };
    for (action, per_second) in overrides {
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
    Ok((api_rate_limit, rates))
}

/// One entry of `accounts:`, checked.
fn account(
    cli: &Cli,
    i: usize,
    a: AccountFile,
    blocks: &TopBlocks,
    refresh_interval: Duration,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AccountSettings, ConfigError> {
    let key = |field: &str| format!("accounts[{i}].{field}");
    let name = a.name.trim().to_owned();
    if name.is_empty() {
        return Err(invalid(key("name"), "must not be empty"));
    }
    let own = AccountBlocks {
        key: key("collectors"),
        blocks: &a.collectors,
    };
    let mut collectors = resolve_collectors(cli, blocks, Some(&own), refresh_interval)?;
    check_needs(&collectors, &own.key)?;
    let children = match &a.discover {
        Some(block) => {
            if a.cust_space_id.is_some() {
                return Err(invalid(
                    key("cust_space_id"),
                    "an account with discover: is a parent: it lists its customers (each gets its CustSpaceId) and queries no numbers itself; remove cust_space_id",
                ));
            }
            let discovery = discovery(cli, &key("discover"), block)?;
            Some(std::mem::replace(&mut collectors, vec![discovery]))
        }
        None => None,
    };
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
        None => CredentialSource::default_chain(env)
            .map_err(|e| invalid(key("credentials"), format!("no credentials block and {e}")))?,
    };
    Ok(AccountSettings {
        name,
        endpoint,
        cust_space_id: a
            .cust_space_id
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        isv_code_file: a.isv_code_file,
        credentials,
        collectors,
        signature_version: a.signature_version.unwrap_or(cli.api_signature_version),
        children,
        origin: None,
    })
}

/// The discovery collector of a parent, from its `discover:` block: `interval` (the
/// collector's default, shorter with `--demo`) and the collector's own keys.
fn discovery(
    cli: &Cli,
    key: &str,
    block: &CollectorFile,
) -> Result<CollectorSettings, ConfigError> {
    let c = collect::discovery_collector();
    if block.enabled.is_some() {
        return Err(invalid(
            format!("{key}.enabled"),
            "discover: has no enabled key: remove the block to stop discovering",
        ));
    }
    let interval = match (block.interval, c.spec().schedule) {
        (Some(d), _) => {
            check_interval(&format!("{key}.interval"), d)?;
            d
        }
        (None, Schedule::Own { demo_interval, .. }) if cli.demo => demo_interval,
        (None, Schedule::Own { interval, .. }) => interval,
        (None, Schedule::Refresh) => DEFAULT_REFRESH_INTERVAL,
    };
    let settings = c.settings(block.settings.clone()).map_err(|e| {
        let at = [key, e.key.as_str()]
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        invalid(at, e.message)
    })?;
    Ok(CollectorSettings {
        name: c.spec().name,
        interval,
        settings,
    })
}

/// This process's shard: `--shard`, or with `--shard=auto` the ordinal suffix of the host
/// name (`$HOSTNAME` through `env`, else the system's), below `--total-shards`.
fn shard(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    if cli.total_shards == 0 {
        return Err(invalid("--total-shards", "must be at least 1"));
    }
    let shard = match cli.shard {
        Shard::Index(n) => n,
        Shard::Auto => {
            let host = env("HOSTNAME")
                .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
                .map(|h| h.trim().to_owned())
                .unwrap_or_default();
            ordinal(&host).ok_or_else(|| {
                invalid(
                    "--shard",
                    format!(
                        "auto needs a host name ending in -<ordinal>, as a StatefulSet's pods have (chatapp-exporter-2); the host name is {host:?}"
                    ),
                )
            })?
        }
    };
    if shard >= cli.total_shards {
        return Err(invalid(
            "--shard",
            format!(
                "{shard} must be below --total-shards ({})",
                cli.total_shards
            ),
        ));
    }
    Ok(shard)
}

/// The ordinal of a StatefulSet pod's name: `x-12` → 12.
pub fn ordinal(host: &str) -> Option<u32> {
    let (_, suffix) = host.rsplit_once('-')?;
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    suffix.parse().ok()
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

/// The top-level `collectors:` blocks, with the `tier_limits:` alias folded into the
/// phone-number collector's block, and where each setting was written (for messages).
struct TopBlocks {
    blocks: BTreeMap<String, CollectorFile>,
    /// (collector, first key of a setting) → the key prefix it was written under, for
    /// settings written elsewhere than `collectors.<name>`.
    written_as: BTreeMap<(String, String), String>,
}

impl TopBlocks {
    fn new(file: &FileConfig) -> Result<Self, ConfigError> {
        let mut blocks = file.collectors.clone();
        let mut written_as = BTreeMap::new();
        if !file.tier_limits.is_empty() {
            let phone = collect::phone_numbers::SPEC.name;
            let block = blocks.entry(phone.to_owned()).or_default();
            let key = serde_yaml_ng::Value::from("tier_limits");
            if block.settings.contains_key(&key) {
                return Err(invalid(
                    "tier_limits",
                    format!(
                        "set either tier_limits (the older spelling) or collectors.{phone}.tier_limits, not both"
                    ),
                ));
            }
            let table = file
                .tier_limits
                .iter()
                .map(|(k, v)| (serde_yaml_ng::Value::from(k.as_str()), (*v).into()))
                .collect();
            block
                .settings
                .insert(key, serde_yaml_ng::Value::Mapping(table));
            written_as.insert((phone.to_owned(), "tier_limits".to_owned()), String::new());
        }
        for name in blocks.keys() {
            check_collector_name(&format!("collectors.{name}"), name)?;
        }
        Ok(TopBlocks { blocks, written_as })
    }
}

/// An account's own `collectors:` blocks and their key in messages.
struct AccountBlocks<'a> {
    key: String,
    blocks: &'a BTreeMap<String, CollectorFile>,
}

/// The enabled collectors for one account (`account` is `None` for the top-level list): an
/// explicit flag wins over the account's `collectors:` block, which wins over the top-level
/// one, which wins over the collector's default; a setting of the account's block replaces
/// the top-level block's value of that key. Every collector's settings are checked, enabled
/// or not.
fn resolve_collectors(
    cli: &Cli,
    top: &TopBlocks,
    account: Option<&AccountBlocks>,
    refresh_interval: Duration,
) -> Result<Vec<CollectorSettings>, ConfigError> {
    if let Some(a) = account {
        for name in a.blocks.keys() {
            check_collector_name(&format!("{}.{name}", a.key), name)?;
        }
    }
    let mut out = Vec::new();
    for c in object_collectors() {
        let name = c.spec().name;
        let flag = cli.collectors.given.get(name).copied().unwrap_or_default();
        let own = account.and_then(|a| a.blocks.get(name).map(|b| (a.key.as_str(), b)));
        let top_block = top.blocks.get(name).map(|b| ("collectors", b));
        let enabled = flag
            .enabled
            .or(own.and_then(|(_, b)| b.enabled))
            .or(top_block.and_then(|(_, b)| b.enabled))
            .unwrap_or(if cli.demo {
                c.spec().enabled_in_demo
            } else {
                c.spec().enabled_by_default
            });
        let interval = interval(cli, c, flag.interval, own, top_block, refresh_interval)?;
        let settings = settings(c, top, own)?;
        if enabled {
            out.push(CollectorSettings {
                name,
                interval,
                settings,
            });
        }
    }
    Ok(out)
}

/// A `collectors:` key names an object collector (the discovery collector has a block of
/// its own, `discover:`).
fn check_collector_name(key: &str, name: &str) -> Result<(), ConfigError> {
    match collect::find(name).map(|c| c.spec().role) {
        Some(Role::Objects) => Ok(()),
        Some(Role::Discovery) => Err(invalid(
            key,
            "discovery is configured by an account's discover: block, not under collectors:",
        )),
        None => {
            let known: Vec<&str> = object_collectors().map(|c| c.spec().name).collect();
            Err(invalid(
                key,
                format!("unknown collector; known: {}", known.join(", ")),
            ))
        }
    }
}

/// A collector's interval: `--refresh.interval` for the refresh collectors; else the flag,
/// the account's block, the top-level block, then the default.
fn interval(
    cli: &Cli,
    c: &dyn DynCollector,
    flag: Option<Duration>,
    own: Option<(&str, &CollectorFile)>,
    top: Option<(&str, &CollectorFile)>,
    refresh_interval: Duration,
) -> Result<Duration, ConfigError> {
    let name = c.spec().name;
    let (default, demo_default) = match c.spec().schedule {
        Schedule::Own {
            interval,
            demo_interval,
        } => (interval, demo_interval),
        Schedule::Refresh => {
            if let Some((key, _)) = [own, top]
                .into_iter()
                .flatten()
                .find(|(_, b)| b.interval.is_some())
            {
                return Err(invalid(
                    format!("{key}.{name}.interval"),
                    "this collector runs in every refresh: set refresh.interval instead",
                ));
            }
            return Ok(refresh_interval);
        }
    };
    let written = [own, top]
        .into_iter()
        .flatten()
        .find_map(|(key, b)| b.interval.map(|d| (d, format!("{key}.{name}.interval"))));
    let (value, key) = match (flag, written) {
        (Some(d), _) => (d, format!("--collector.{name}.interval")),
        (None, Some(w)) => w,
        (None, None) if cli.demo => return Ok(demo_default),
        (None, None) => return Ok(default),
    };
    check_interval(&key, value)?;
    Ok(value)
}

/// A collector's settings: the top-level block's keys, then the account's over them,
/// decoded and checked by the collector. An error names the key as it was written.
fn settings(
    c: &dyn DynCollector,
    top: &TopBlocks,
    own: Option<(&str, &CollectorFile)>,
) -> Result<collect::AnySettings, ConfigError> {
    let name = c.spec().name;
    let mut merged = top
        .blocks
        .get(name)
        .map(|b| b.settings.clone())
        .unwrap_or_default();
    if let Some((_, b)) = own {
        for (k, v) in &b.settings {
            merged.insert(k.clone(), v.clone());
        }
    }
    c.settings(merged).map_err(|e| {
        let first = e.key.split('.').next().unwrap_or("").to_owned();
        let from_account = own.is_some_and(|(_, b)| {
            b.settings
                .contains_key(serde_yaml_ng::Value::from(first.as_str()))
        });
        let prefix = match (own, top.written_as.get(&(name.to_owned(), first))) {
            (Some((key, _)), _) if from_account => format!("{key}.{name}"),
            (_, Some(alias)) => alias.clone(),
            _ => format!("collectors.{name}"),
        };
        let key = [prefix.as_str(), e.key.as_str()]
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        invalid(key, e.message)
    })
}

/// Every enabled collector's required dependencies are enabled too: a collector that reads
/// another's results would otherwise give half a result without saying so.
fn check_needs(enabled: &[CollectorSettings], key: &str) -> Result<(), ConfigError> {
    for c in enabled {
        let Some(spec) = collect::find(c.name).map(|c| c.spec()) else {
            continue;
        };
        for need in spec.needs.iter().filter(|n| n.required) {
            if !enabled.iter().any(|e| e.name == need.collector) {
                return Err(invalid(
                    format!("{key}.{}", c.name),
                    format!(
                        "{} reads what {} publishes ({}); enable {} (it is off here) or switch {} off (--no-collector.{} or enabled: false)",
                        c.name, need.collector, need.why, need.collector, c.name, c.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An interval is at least a second and at most [`MAX_INTERVAL`].
fn check_interval(key: &str, value: Duration) -> Result<(), ConfigError> {
    if value < Duration::from_secs(1) {
        return Err(invalid(key, "must be at least 1s"));
    }
    check_at_most(key, value, MAX_INTERVAL)
}

fn check_at_most(key: &str, value: Duration, max: Duration) -> Result<(), ConfigError> {
    if value > max {
        return Err(invalid(
            key,
            format!("must be at most {}", humantime::format_duration(max)),
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_telemetry_path_is_a_plain_path_of_its_own() {
        for ok in ["/metrics", "/probe/chatapp", "/m-1.txt", "/~x_y"] {
            assert!(check_telemetry_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "metrics",
            "/",
            "",
            "/-/healthy",
            "/-/ready",
            "/-/x",
            "/{id}",
            "/m/{*rest}",
            "/a//b",
            "//",
            "/:x",
            "/a b",
            "/ü",
        ] {
            let e = check_telemetry_path(bad).unwrap_err().to_string();
            assert!(e.starts_with("--web.telemetry-path: "), "{bad}: {e}");
        }
    }
}
