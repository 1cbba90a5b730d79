//! Merging flags, the parsed file and the environment into [`Settings`]: precedence (flag,
//! then file, then default), collector switches and intervals, shards, and the checks that
//! reject a value before the exporter starts.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::file::{CollectorFile, FileConfig, read_file};
use super::{
    AccountSettings, CollectorSettings, ConfigError, DEFAULT_ACCOUNT, DEFAULT_MAX_STALENESS,
    DEFAULT_REFRESH_INTERVAL, DEMO_REFRESH_INTERVAL, Settings, invalid,
};
use crate::cli::Cli;
use crate::collect::{self, REGISTRY, Schedule, TierLimits};
use crate::credentials::{CredentialError, CredentialSource};
use crate::metrics::FamilyFilter;
use crate::ratelimit::Rates;

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
