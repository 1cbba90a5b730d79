//! Command-line flags, named after the Prometheus exporter conventions (`--web.*`, `--log.*`,
//! namespaced `--refresh.*` and `--api.*`). No flag takes a secret: those would show in `ps`.
//!
//! Flags that the config file can also set are `Option`s here, so that an explicit flag wins
//! over the file and the file wins over the built-in default (see [`crate::config`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, Parser, ValueEnum};

use crate::collect::{Schedule, object_collectors};

/// Prometheus exporter for Alibaba Cloud Chat App Message Service (WhatsApp sending numbers).
///
/// Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
/// (optionally ALIBABA_CLOUD_SECURITY_TOKEN) or from accounts in --config.file.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatapp_exporter", version = crate::VERSION_LINE, about, long_about)]
pub struct Cli {
    /// Address to listen on for the web interface and telemetry.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":10155"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Path to a Prometheus exporter-toolkit web configuration file (TLS, client
    /// certificates, basic auth, security headers). Re-read when it or its files change.
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,

    /// Maximum number of requests served at once; more get 503 at once. 0 means no limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = crate::web::DEFAULT_MAX_REQUESTS)]
    pub web_max_requests: usize,

    /// Most connections open at once from one client address (an IPv4 address or an IPv6
    /// /64); more are closed at once. 0 means only the overall limit applies. Raise it behind
    /// a reverse proxy, whose connections all come from one address.
    #[arg(long = "web.max-connections-per-address", value_name = "N", default_value_t = crate::web::MAX_CONNECTIONS_PER_ADDRESS)]
    pub web_max_connections_per_address: usize,

    /// Time a client has, from connecting (TLS handshake included), to send its first
    /// request head.
    #[arg(
        long = "web.read-header-timeout",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub web_read_header_timeout: humantime::Duration,

    /// A connection with no request open for this long is closed (HTTP/2 pings do not keep
    /// it open).
    #[arg(
        long = "web.idle-timeout",
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub web_idle_timeout: humantime::Duration,

    /// YAML configuration file (accounts, refresh, tier limits).
    #[arg(long = "config.file", value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// Directory of the since-when history (when each number's status, quality, tier and
    /// can-send last changed), kept across restarts. Relative to the working directory.
    #[arg(long = "storage.path", value_name = "PATH", default_value = "data/")]
    pub storage_path: PathBuf,

    /// Validate the flags and the configuration file, print a summary and exit.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// With --config.check: also run discovery (ListInstance) for every account with
    /// `discover:`, and list the customers found and the shard that owns each. Calls the API.
    #[arg(long = "discover", requires = "config_check")]
    pub discover: bool,

    /// Run every enabled collector of every account once, print the result and exit (0: every
    /// account succeeded, 1: one failed, 2: configuration error). Opens no listener.
    #[arg(long = "once")]
    pub once: bool,

    /// Output of --once: a table of numbers and accounts, the same as a JSON document, or the
    /// exposition text /metrics would serve (without the process metrics), e.g. for
    /// node_exporter's textfile collector.
    #[arg(long = "once.format", value_enum, default_value_t = OnceFormat::Table, requires = "once")]
    pub once_format: OnceFormat,

    /// StateSet families (status, quality rating, tier, ...): `all` emits every known state
    /// (1 for the current one, 0 for the others); `current` only the current state's series.
    /// Every shipped alert and dashboard query works with both.
    #[arg(long = "metrics.enum", value_enum, value_name = "all|current", default_value_t = crate::metrics::EnumMode::All)]
    pub metrics_enum: crate::metrics::EnumMode,

    /// Expose only the metric families whose name matches one of these regular expressions
    /// (anchored; repeatable). Default: every family.
    #[arg(long = "metrics.allowlist", value_name = "REGEX")]
    pub metrics_allowlist: Vec<String>,

    /// Do not expose the metric families whose name matches one of these regular expressions
    /// (anchored; repeatable; applied after the allowlist). Denying a self metric the shipped
    /// alert rules need is refused.
    #[arg(long = "metrics.denylist", value_name = "REGEX")]
    pub metrics_denylist: Vec<String>,

    /// Interval between refreshes of each account [default: 60s; 15s with --demo].
    #[arg(long = "refresh.interval", value_name = "DURATION")]
    pub refresh_interval: Option<humantime::Duration>,

    /// How long to keep serving an account's last good data after refreshes start failing
    /// [default: 10m].
    #[arg(long = "refresh.max-staleness", value_name = "DURATION")]
    pub max_staleness: Option<humantime::Duration>,

    /// CAMS API endpoint for accounts that do not set their own.
    #[arg(
        long = "api.endpoint",
        value_name = "URL",
        default_value = "https://cams.ap-southeast-1.aliyuncs.com"
    )]
    pub api_endpoint: String,

    /// Timeout of one API request (connect, send and read).
    #[arg(long = "api.timeout", value_name = "DURATION", default_value = "10s")]
    pub api_timeout: humantime::Duration,

    /// How CAMS requests are signed: v1 (RPC, HMAC-SHA1) or v3 (ACS3-HMAC-SHA256, Alibaba's
    /// recommended scheme). An account's `signature_version:` in the config file overrides it.
    #[arg(
        long = "api.signature-version",
        value_name = "v1|v3",
        default_value = "v1"
    )]
    pub api_signature_version: crate::api::SignatureVersion,

    /// Largest API response body accepted, in bytes.
    #[arg(long = "api.max-body-bytes", value_name = "BYTES", default_value_t = crate::api::client::DEFAULT_MAX_BODY_BYTES)]
    pub api_max_body_bytes: usize,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Most CAMS requests per second per AccessKey and API, shared by all accounts using the
    /// key (CAMS allows 10 per API per parent account, shared with production traffic).
    #[arg(long = "api.rate-limit", value_name = "PER_SECOND", default_value_t = crate::ratelimit::DEFAULT_PER_SECOND)]
    pub api_rate_limit: u32,

    /// This process's shard (0-based): it refreshes only the accounts whose name hashes to it.
    /// `auto` takes it from the ordinal suffix of the host name (`$HOSTNAME`, which
    /// Kubernetes sets to the pod name: a StatefulSet's `chatapp-exporter-2` is shard 2).
    #[arg(long = "shard", value_name = "N|auto", default_value = "0")]
    pub shard: Shard,

    /// Number of shards the accounts are split across (one exporter process per shard).
    #[arg(long = "total-shards", value_name = "N", default_value_t = 1)]
    pub total_shards: u32,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// Run against a built-in simulated CAMS backend on loopback (no credentials, no network).
    #[arg(long = "demo")]
    pub demo: bool,

    /// Number of simulated phone numbers in --demo (beyond the scripted ones), for load tests.
    #[arg(long = "demo.extra-numbers", value_name = "N", default_value_t = 0)]
    pub demo_extra_numbers: usize,

    /// Number of generated ISV customers of 20 numbers each that the demo's parent account
    /// discovers (beyond the scripted ones), for load tests.
    #[arg(long = "demo.extra-accounts", value_name = "N", default_value_t = 0)]
    pub demo_extra_accounts: usize,

    /// `--collector.<name>`, `--no-collector.<name>`, `--collector.<name>.interval`.
    #[command(flatten)]
    pub collectors: CollectorFlags,
}

/// `--once.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnceFormat {
    /// One line per number, then one per account, for a person.
    Table,
    /// The same as one JSON document, for scripts.
    Json,
    /// The Prometheus text exposition.
    Prom,
}

/// The collector flags, generated from [`crate::collect::REGISTRY`] (its object collectors)
/// as node_exporter
/// generates its own: `--collector.<name>` and `--no-collector.<name>` (the last one given
/// wins), and `--collector.<name>.interval` for collectors with a loop of their own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorFlags {
    /// What was given explicitly, by collector name.
    pub given: BTreeMap<&'static str, CollectorFlag>,
}

/// The explicit flags of one collector.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CollectorFlag {
    /// `Some(true)` for `--collector.<name>`, `Some(false)` for `--no-collector.<name>`.
    pub enabled: Option<bool>,
    /// `--collector.<name>.interval`.
    pub interval: Option<Duration>,
}

fn enable_id(name: &str) -> String {
    format!("collector.{name}")
}

fn disable_id(name: &str) -> String {
    format!("no-collector.{name}")
}

fn interval_id(name: &str) -> String {
    format!("collector.{name}.interval")
}

/// `--shard`: a number, or `auto` (from the host name's ordinal suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shard {
    /// This shard.
    Index(u32),
    /// From the host name.
    Auto,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(Shard::Auto);
        }
        s.parse()
            .map(Shard::Index)
            .map_err(|_| format!("{s:?} is neither a shard number nor auto"))
    }
}

impl Cli {
    /// The listener's limits from the `--web.*` flags (checked by
    /// [`crate::config::resolve`]).
    pub fn serve_options(&self) -> crate::web::ServeOptions {
        crate::web::ServeOptions {
            max_requests: self.web_max_requests,
            max_connections_per_address: self.web_max_connections_per_address,
            header_read_timeout: self.web_read_header_timeout.into(),
            idle_timeout: self.web_idle_timeout.into(),
            ..crate::web::ServeOptions::default()
        }
    }
}

impl Args for CollectorFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for c in object_collectors() {
            let spec = c.spec();
            let name = spec.name;
            let default = match (spec.enabled_by_default, spec.enabled_in_demo) {
                (true, _) => "enabled",
                (false, true) => "disabled; enabled with --demo",
                (false, false) => "disabled",
            };
            cmd = cmd
                .arg(
                    Arg::new(enable_id(name))
                        .long(enable_id(name))
                        .action(ArgAction::SetTrue)
                        .overrides_with(disable_id(name))
                        .help_heading("Collectors")
                        .help(format!(
                            "Enable the {name} collector: {} [default: {default}]",
                            spec.description
                        )),
                )
                .arg(
                    Arg::new(disable_id(name))
                        .long(disable_id(name))
                        .action(ArgAction::SetTrue)
                        .overrides_with(enable_id(name))
                        .help_heading("Collectors")
                        .help(format!("Disable the {name} collector")),
                );
            if let Schedule::Own {
                interval,
                demo_interval,
            } = spec.schedule
            {
                cmd = cmd.arg(
                    Arg::new(interval_id(name))
                        .long(interval_id(name))
                        .value_name("DURATION")
                        .value_parser(clap::value_parser!(humantime::Duration))
                        .help_heading("Collectors")
                        .help(format!(
                            "Interval between rounds of the {name} collector [default: {}; {} with --demo]",
                            humantime::format_duration(interval),
                            humantime::format_duration(demo_interval)
                        )),
                );
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for CollectorFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = BTreeMap::new();
        for c in object_collectors() {
            let name = c.spec().name;
            let flag = |id: String| m.try_get_one::<bool>(&id).ok().flatten().copied();
            let enabled = match (flag(enable_id(name)), flag(disable_id(name))) {
                (Some(true), _) => Some(true),
                (_, Some(true)) => Some(false),
                _ => None,
            };
            let interval = m
                .try_get_one::<humantime::Duration>(&interval_id(name))
                .ok()
                .flatten()
                .map(|d| Duration::from(*d));
            if enabled.is_some() || interval.is_some() {
                given.insert(name, CollectorFlag { enabled, interval });
            }
        }
        Ok(CollectorFlags { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// `--log.level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each API call.
    Debug,
    /// Normal operation.
    Info,
    /// Problems only.
    Warn,
    /// Failures only.
    Error,
}

/// `--log.format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` lines, as Prometheus' own components log.
    Logfmt,
    /// One JSON object per line.
    Json,
}
