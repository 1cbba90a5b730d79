//! The exporter's own metrics, owned by the application (no global registry): refresh
//! health, collector and API call series per account (plain values written straight to
//! text, see `account_series`), and in a `prometheus` crate registry the process-wide ones:
//! unknown enum values, configuration and storage, build info and the standard `process_*`
//! metrics.
//!
//! These are encoded per scrape, or reused while nothing changed (see
//! [`SelfMetrics::encoded`]); the per-account ones are some 20 series per account.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use prometheus::{Encoder as _, Gauge, GaugeVec, IntCounterVec, Opts, Registry};

use super::UnknownValue;
use super::account_series::{self, AccountValues, CollectorValues};
use super::exposition::{Block, BlockWriter, openmetrics};
use super::format::Format;
use crate::api::ApiError;

/// How long [`SelfMetrics::encoded`] may reuse an encoding while no `chatapp_*` self metric
/// changed: only the `process_*` values (CPU time, memory, open fds), which the library reads
/// from `/proc` at every encoding, can be this old. Any change to the exporter's own series
/// (a refresh, an API call, a reload) invalidates the encoding at once, so a scrape never
/// shows `chatapp_up` or the last-success time older than the object data it serves.
pub const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);
/// Most distinct `code` label values per process; later new codes are counted as `other`.
const MAX_DISTINCT_CODES: usize = 64;
/// Most distinct unknown enum values remembered for log-once purposes.
const MAX_REMEMBERED_UNKNOWN: usize = 1024;

/// Build facts, set at compile time by `build.rs`.
pub mod build {
    /// Crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// Git commit, or `unknown` when built outside a checkout.
    pub const REVISION: &str = env!("CHATAPP_REVISION");
    /// `rustc --version` of the compiler that built us.
    pub const RUSTC_VERSION: &str = env!("CHATAPP_RUSTC_VERSION");
}

/// The labels of an account's `chatapp_account_info`.
#[derive(Debug, Clone, Copy)]
pub struct AccountInfo<'a> {
    /// `account`.
    pub account: &'a str,
    /// `cust_space_id`; empty without one.
    pub cust_space_id: &'a str,
    /// `region_id`; empty when the endpoint names none.
    pub region_id: &'a str,
    /// `parent`: the parent of a discovered account; empty otherwise.
    pub parent: &'a str,
    /// `instance_name` of a discovered account.
    pub instance_name: &'a str,
    /// `instance_id` of a discovered account.
    pub instance_id: &'a str,
}

impl<'a> AccountInfo<'a> {
    /// A configured account's labels (no parent or instance).
    pub fn configured(account: &'a str, cust_space_id: &'a str, region_id: &'a str) -> Self {
        AccountInfo {
            account,
            cust_space_id,
            region_id,
            parent: "",
            instance_name: "",
            instance_id: "",
        }
    }

    /// The values of the labels after `account`, in the order of
    /// [`account_series::INFO_LABELS`].
    fn info_labels(&self) -> [&'a str; 5] {
        [
            self.cust_space_id,
            self.instance_id,
            self.instance_name,
            self.parent,
            self.region_id,
        ]
    }
}

/// The exporter's own metrics.
#[derive(Debug)]
pub struct SelfMetrics {
    /// The process-wide series (build, configuration, shards, storage, unknown values,
    /// `process_*`).
    registry: Registry,
    /// `--metrics.allowlist`/`--metrics.denylist`.
    filter: super::FamilyFilter,
    /// The per-account series (`account_series`), by account.
    accounts: Mutex<BTreeMap<String, AccountValues>>,
    refresh_interval: Gauge,
    unknown_enum: IntCounterVec,
    shard_ordinal: Gauge,
    total_shards: Gauge,
    reload_ok: Gauge,
    storage_written: Gauge,
    storage_errors: prometheus::IntCounter,
    reload_success_time: Gauge,
    web_reload_ok: Gauge,
    codes: Mutex<HashSet<String>>,
    seen_unknown: Mutex<HashSet<UnknownValue>>,
    /// Bumped after every change to a `chatapp_*` series (see [`SelfMetrics::encoded`]).
    generation: AtomicU64,
    /// The last encoding (see [`SelfMetrics::encoded`]).
    cached: Mutex<Option<Encoding>>,
}

/// An encoding of the self metrics and what it reflects.
#[derive(Debug)]
struct Encoding {
    /// [`SelfMetrics::generation`] read before encoding: every change counted up to it is in.
    generation: u64,
    at: Instant,
    /// The Prometheus text format 0.0.4.
    bytes: Bytes,
    /// The same metrics in OpenMetrics, made from `bytes` on the first OpenMetrics scrape
    /// that reads this encoding (so both formats show the same values).
    openmetrics: Option<Bytes>,
    /// Each format's text compressed, on the first gzip scrape in that format.
    compressed: [Option<Block>; 2],
}

impl Encoding {
    fn text(&mut self, format: Format) -> Bytes {
        match format {
            Format::Text => self.bytes.clone(),
            Format::OpenMetrics => self
                .openmetrics
                .get_or_insert_with(|| Bytes::from(openmetrics::convert(&self.bytes)))
                .clone(),
        }
    }

    fn compressed(&mut self, format: Format) -> Block {
        let slot = match format {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        };
        if let Some(b) = &self.compressed[slot] {
            return b.clone();
        }
        // The block shares the encoding's text instead of holding a copy (some 2 MB at
        // 1,000 accounts).
        let block = BlockWriter::new(None).block_of(self.text(format));
        self.compressed[slot].insert(block).clone()
    }
}

/// Creates metrics and registers them in one step, so that declaring a self metric is one
/// expression.
struct Registrar<'r>(&'r Registry);

impl Registrar<'_> {
    fn register<M: prometheus::core::Collector + Clone + 'static>(
        &self,
        metric: M,
    ) -> Result<M, prometheus::Error> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    fn gauge(&self, name: &str, help: &str) -> Result<Gauge, prometheus::Error> {
        self.register(Gauge::with_opts(Opts::new(name, help))?)
    }

    fn gauges(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<GaugeVec, prometheus::Error> {
        self.register(GaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, prometheus::Error> {
        self.register(IntCounterVec::new(Opts::new(name, help), labels)?)
    }
}

impl SelfMetrics {
    /// Creates and registers every self metric.
    pub fn new(refresh_interval_value: Duration) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = Registrar(&registry);
        r.gauges(
            "chatapp_build_info",
            "Build information of the running exporter; always 1.",
            &["version", "revision", "rustc_version"],
        )?
        .with_label_values(&[build::VERSION, build::REVISION, build::RUSTC_VERSION])
        .set(1.0);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let metrics = SelfMetrics {
            refresh_interval: r.gauge(
                "chatapp_refresh_interval_seconds",
                "Configured interval between refreshes of each account (--refresh.interval).",
            )?,
            unknown_enum: r.counters(
                "chatapp_unknown_enum_values_total",
                "Values outside the known states seen in API fields, counted per number per refresh; the values are logged.",
                &["field"],
            )?,
            storage_written: r.gauge(
                "chatapp_storage_last_write_success_timestamp_seconds",
                "Unix time of the last successful write of the since-when history (--storage.path); 0 while nothing was written.",
            )?,
            storage_errors: r.register(prometheus::IntCounter::with_opts(Opts::new(
                "chatapp_storage_write_errors_total",
                "Writes of the since-when history (--storage.path) that failed; the history is kept in memory and written again at the next change.",
            ))?)?,
            reload_ok: r.gauge(
                "chatapp_config_last_reload_successful",
                "1 if the last configuration load (at start, SIGHUP or POST /-/reload) succeeded.",
            )?,
            reload_success_time: r.gauge(
                "chatapp_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load.",
            )?,
            web_reload_ok: r.gauge(
                "chatapp_web_config_last_reload_successful",
                "1 if the last load of --web.config.file (at start, on a file change, SIGHUP or POST /-/reload) was applied; 0 if it was refused and the previous web settings stay.",
            )?,
            shard_ordinal: r.gauge(
                "chatapp_shard_ordinal",
                "This process's shard (--shard); accounts are split across shards by a stable hash of their name.",
            )?,
            total_shards: r.gauge(
                "chatapp_total_shards",
                "Number of shards the accounts are split across (--total-shards).",
            )?,
            filter: super::FamilyFilter::default(),
            codes: Mutex::default(),
            accounts: Mutex::default(),
            seen_unknown: Mutex::default(),
            generation: AtomicU64::new(0),
            cached: Mutex::default(),
            registry,
        };
        metrics.total_shards.set(1.0);
        // The server does not start without a web config that loads.
        metrics.web_reload_ok.set(1.0);
        metrics
            .refresh_interval
            .set(refresh_interval_secs(refresh_interval_value));
        Ok(metrics)
    }

    /// The same metrics, encoded through `filter`.
    pub fn with_filter(mut self, filter: super::FamilyFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Appends the text exposition of the self metrics to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_where(out, |_| true);
    }

    /// The self metrics without the `process_*` family: what `--once.format=prom` prints,
    /// since a one-shot process's CPU time and memory mean nothing once it has exited.
    pub fn encode_without_process(&self, out: &mut Vec<u8>) {
        self.encode_where(out, |name| !name.starts_with("process_"));
    }

    /// The process-wide families from the registry and the per-account ones, merged in name
    /// order (the order the registry's encoder gave all of them).
    fn encode_where(&self, out: &mut Vec<u8>, keep: impl Fn(&str) -> bool) {
        let mut families = self.registry.gather();
        families.retain(|f| self.filter.keeps(f.name()) && keep(f.name()));
        let accounts = self.lock_accounts();
        let mut own = account_series::FAMILIES
            .iter()
            .filter(|f| self.filter.keeps(f.name) && keep(f.name))
            .peekable();
        let encoder = prometheus::TextEncoder::new();
        for family in &families {
            while let Some(f) = own.next_if(|f| f.name < family.name()) {
                f.encode(&accounts, out);
            }
            if let Err(e) = encoder.encode(std::slice::from_ref(family), out) {
                tracing::error!(error = %e, "cannot encode self metrics");
            }
        }
        for f in own {
            f.encode(&accounts, out);
        }
    }

    /// The text exposition of the self metrics. An encoding is reused until a `chatapp_*`
    /// self metric changes or it is [`PROCESS_METRICS_MAX_AGE`] old: encoding (gathering the
    /// registry, reading `/proc` for the `process_*` metrics) was most of a scrape's CPU
    /// once the object families became shared bytes, and grows with the number of accounts.
    pub fn encoded(&self) -> Bytes {
        self.encoded_in(Format::Text)
    }

    /// [`SelfMetrics::encoded`] in `format`. OpenMetrics is converted from the 0.0.4
    /// encoding ([`openmetrics::convert`]: counters and `_info` families get their
    /// OpenMetrics metadata), once per encoding; it has no `# EOF`, since the object
    /// families follow it.
    pub fn encoded_in(&self, format: Format) -> Bytes {
        self.with_encoding(|e| e.text(format))
    }

    /// [`SelfMetrics::encoded_in`] compressed, for a gzip scrape: once per encoding and
    /// format. At 1,000 accounts the self metrics are some 2 MB of text, which went out
    /// uncompressed in every gzip scrape (the object families' compressed form is cached).
    pub fn compressed_in(&self, format: Format) -> Block {
        self.with_encoding(|e| e.compressed(format))
    }

    fn with_encoding<T>(&self, read: impl FnOnce(&mut Encoding) -> T) -> T {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        // Read before encoding: a change that lands during the encoding bumps the
        // generation past this value, so the next scrape encodes again.
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = cached.as_ref().is_some_and(|c| {
            c.generation == generation && c.at.elapsed() < PROCESS_METRICS_MAX_AGE
        });
        if !fresh {
            *cached = None;
        }
        let encoding = cached.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(8 * 1024);
            self.encode(&mut out);
            Encoding {
                generation,
                at: Instant::now(),
                bytes: Bytes::from(out),
                openmetrics: None,
                compressed: [None, None],
            }
        });
        read(encoding)
    }

    /// Marks the encoding out of date; every method that changes a series calls it last.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Records the outcome of a configuration load.
    pub fn config_reloaded(&self, ok: bool) {
        self.reload_ok.set(if ok { 1.0 } else { 0.0 });
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.reload_success_time.set(now.as_secs_f64());
        }
        self.changed();
    }

    /// Records the outcome of a load of the web config file (`crate::web::WebControl`
    /// reports each one).
    pub fn web_config_reloaded(&self, ok: bool) {
        self.web_reload_ok.set(if ok { 1.0 } else { 0.0 });
        self.changed();
    }

    /// Sets `chatapp_shard_ordinal` and `chatapp_total_shards`.
    pub fn set_shard(&self, ordinal: u32, total: u32) {
        self.shard_ordinal.set(f64::from(ordinal));
        self.total_shards.set(f64::from(total));
        self.changed();
    }

    /// Sets `chatapp_refresh_interval_seconds` (at start and on reload).
    pub fn set_refresh_interval(&self, interval: Duration) {
        self.refresh_interval.set(refresh_interval_secs(interval));
        self.changed();
    }

    /// Sets `chatapp_discovered_accounts` of a parent.
    pub fn set_discovered(&self, parent: &str, kept: usize) {
        self.account(parent, |a| a.discovered = Some(kept as f64));
    }

    /// Sets `chatapp_refresh_effective_interval_seconds` of an account.
    pub fn set_effective_interval(&self, account: &str, interval: Duration) {
        self.account(account, |a| {
            a.effective_interval = Some(interval.as_secs_f64());
        });
    }

    /// Removes `chatapp_discovered_accounts` of an account that is no longer a parent.
    pub fn remove_discovered(&self, parent: &str) {
        if let Some(a) = self.lock_accounts().get_mut(parent) {
            a.discovered = None;
        }
        self.changed();
    }

    /// Registers an account: `chatapp_account_info`, and zeroed request counters so that
    /// `rate()` works from the first refresh. A restarted account whose labels changed (a
    /// renamed instance) loses the old info series.
    pub fn add_account(&self, info: &AccountInfo<'_>, ops: &[&str]) {
        let labels = info.info_labels();
        self.account(info.account, |a| {
            a.info = Some(labels.map(str::to_owned));
            for op in ops {
                a.requests.entry((*op).to_owned()).or_insert(0);
            }
        });
    }

    /// Removes every series of an account that a reload removed.
    pub fn remove_account(&self, account: &str) {
        self.lock_accounts().remove(account);
        self.changed();
    }

    /// Registers an enabled collector of an account: its interval, and its round (the
    /// interval until a run plans a longer one).
    pub fn add_collector(&self, account: &str, collector: &str, interval: Duration) {
        let secs = interval.as_secs_f64();
        self.collector(account, collector, |c| {
            c.interval = Some(secs);
            c.round = Some(secs);
            // At 0 from the start, so that `increase()` sees the first panic.
            c.panics.get_or_insert(0);
        });
    }

    /// Removes the series of a collector that a reload switched off for `account`.
    pub fn remove_collector(&self, account: &str, collector: &str) {
        if let Some(a) = self.lock_accounts().get_mut(account) {
            a.collectors.remove(collector);
        }
        self.changed();
    }

    /// Records a successful write of the history store.
    pub fn storage_written(&self, now: SystemTime) {
        let ts = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.storage_written.set(ts.as_secs_f64());
        self.changed();
    }

    /// Counts a failed write of the history store.
    pub fn storage_write_failed(&self) {
        self.storage_errors.inc();
        self.changed();
    }

    /// Counts a run of a collector that panicked.
    pub fn collector_panicked(&self, account: &str, collector: &str) {
        self.collector(account, collector, |c| {
            *c.panics.get_or_insert(0) += 1;
        });
    }

    /// Records the outcome of one run of a collector.
    pub fn collector_done(
        &self,
        account: &str,
        collector: &str,
        ok: bool,
        duration: Duration,
        now: SystemTime,
    ) {
        self.collector(account, collector, |c| {
            c.success = Some(if ok { 1.0 } else { 0.0 });
            c.duration = Some(duration.as_secs_f64());
            if ok {
                c.last_success = Some(unix_secs(now));
            }
        });
    }

    /// Sets how long one round of the collector takes.
    pub fn set_collector_round(&self, account: &str, collector: &str, round: Duration) {
        self.collector(account, collector, |c| {
            c.round = Some(round.as_secs_f64());
        });
    }

    /// Counts one API request.
    pub fn api_request(&self, account: &str, operation: &str) {
        self.account(account, |a| match a.requests.get_mut(operation) {
            Some(n) => *n += 1,
            None => {
                a.requests.insert(operation.to_owned(), 1);
            }
        });
    }

    /// Counts one failed API request under its bounded code label.
    pub fn api_error(&self, account: &str, operation: &str, error: &ApiError) {
        let code = self.bounded_code(error.code_label());
        self.account(account, |a| {
            *a.errors.entry((code, operation.to_owned())).or_insert(0) += 1;
        });
    }

    fn bounded_code(&self, code: String) -> String {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        if codes.contains(&code) {
            return code;
        }
        if codes.len() >= MAX_DISTINCT_CODES {
            return "other".into();
        }
        codes.insert(code.clone());
        code
    }

    /// Records the outcome of a refresh attempt.
    pub fn refresh_done(&self, account: &str, ok: bool, duration: Duration, now: SystemTime) {
        self.account(account, |a| {
            a.up = Some(if ok { 1.0 } else { 0.0 });
            a.refresh_duration = Some(duration.as_secs_f64());
            if ok {
                a.last_success = Some(unix_secs(now));
            }
        });
    }

    /// Sets the account's current back-off.
    pub fn set_backoff(&self, account: &str, backoff: Duration) {
        self.account(account, |a| a.backoff = Some(backoff.as_secs_f64()));
    }

    /// Counts unknown enum values and returns those never seen before (to be logged once).
    pub fn unknown_values(&self, values: &[UnknownValue]) -> Vec<UnknownValue> {
        let mut seen = self
            .seen_unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut first_time = Vec::new();
        for v in values {
            self.unknown_enum.with_label_values(&[v.field]).inc();
            if seen.len() < MAX_REMEMBERED_UNKNOWN && seen.insert(v.clone()) {
                first_time.push(v.clone());
            }
        }
        self.changed();
        first_time
    }

    /// Changes `account`'s series (made on first use), then marks the encoding out of date.
    fn account(&self, account: &str, change: impl FnOnce(&mut AccountValues)) {
        {
            let mut accounts = self.lock_accounts();
            match accounts.get_mut(account) {
                Some(a) => change(a),
                None => change(accounts.entry(account.to_owned()).or_default()),
            }
        }
        self.changed();
    }

    /// [`SelfMetrics::account`] for one collector's series.
    fn collector(&self, account: &str, collector: &str, change: impl FnOnce(&mut CollectorValues)) {
        self.account(account, |a| match a.collectors.get_mut(collector) {
            Some(c) => change(c),
            None => change(a.collectors.entry(collector.to_owned()).or_default()),
        });
    }

    fn lock_accounts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AccountValues>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn refresh_interval_secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A change to the self metrics and a line the next encoding must contain.
    type Change = (&'static str, Box<dyn Fn(&SelfMetrics)>);

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn an_unchanged_encoding_is_reused() {
        let m = SelfMetrics::new(Duration::from_secs(60)).unwrap();
        let a = m.encoded();
        let b = m.encoded();
        // The same buffer, not an equal copy: nothing was encoded again.
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    /// Every kind of change shows in the very next scrape, never a reused encoding.
    #[test]
    fn every_change_shows_in_the_next_encoding() {
        let m = SelfMetrics::new(Duration::from_secs(60)).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let unknown = UnknownValue {
            field: "Status",
            value: "NEW_STATE".into(),
        };
        let changes: Vec<Change> = vec![
            (
                r#"chatapp_account_info{account="a",cust_space_id="c",instance_id="",instance_name="",parent="",region_id="r"} 1"#,
                Box::new(|m| m.add_account(&AccountInfo::configured("a", "c", "r"), &["Op"])),
            ),
            (
                r#"chatapp_refresh_effective_interval_seconds{account="a"} 105"#,
                Box::new(|m| m.set_effective_interval("a", Duration::from_secs(105))),
            ),
            (
                r#"chatapp_discovered_accounts{account="isv"} 3"#,
                Box::new(|m| m.set_discovered("isv", 3)),
            ),
            (
                r#"chatapp_api_requests_total{account="a",operation="Op"} 1"#,
                Box::new(|m| m.api_request("a", "Op")),
            ),
            (
                r#"chatapp_api_request_errors_total{account="a",code="timeout",operation="Op"} 1"#,
                Box::new(|m| m.api_error("a", "Op", &ApiError::Timeout(Duration::from_secs(1)))),
            ),
            (
                r#"chatapp_up{account="a"} 1"#,
                Box::new(move |m| m.refresh_done("a", true, Duration::from_millis(5), t0)),
            ),
            (
                r#"chatapp_up{account="a"} 0"#,
                Box::new(move |m| m.refresh_done("a", false, Duration::from_millis(5), t0)),
            ),
            (
                r#"chatapp_refresh_backoff_seconds{account="a"} 30"#,
                Box::new(|m| m.set_backoff("a", Duration::from_secs(30))),
            ),
            (
                r#"chatapp_unknown_enum_values_total{field="Status"} 1"#,
                Box::new(move |m| {
                    m.unknown_values(std::slice::from_ref(&unknown));
                }),
            ),
            (
                "chatapp_refresh_interval_seconds 30",
                Box::new(|m| m.set_refresh_interval(Duration::from_secs(30))),
            ),
            ("chatapp_total_shards 3", Box::new(|m| m.set_shard(1, 3))),
            (
                "chatapp_config_last_reload_successful 0",
                Box::new(|m| m.config_reloaded(false)),
            ),
            (
                "chatapp_web_config_last_reload_successful 0",
                Box::new(|m| m.web_config_reloaded(false)),
            ),
        ];
        for (want, change) in &changes {
            let _ = m.encoded();
            change(&m);
            let after = m.encoded();
            assert!(
                text(&after).contains(want),
                "{want} missing after the change:\n{}",
                text(&after)
            );
        }
        let _ = m.encoded();
        m.remove_account("a");
        assert!(!text(&m.encoded()).contains(r#"account="a""#));
    }

    /// The per-account families as `prometheus` crate vectors, as they were registered
    /// before `account_series`: the oracle its output must match byte for byte.
    struct Oracle {
        registry: Registry,
        gauges: HashMap<&'static str, GaugeVec>,
        counters: HashMap<&'static str, IntCounterVec>,
    }

    impl Oracle {
        fn new() -> Self {
            let registry = Registry::new();
            let r = Registrar(&registry);
            let mut gauges = HashMap::new();
            let mut counters = HashMap::new();
            for (name, help, labels) in [
                (
                    "chatapp_account_info",
                    "Configured or discovered account: its ISV sub-customer space, the API region, and for a discovered account its parent and instance; always 1.",
                    &[
                        "account",
                        "cust_space_id",
                        "region_id",
                        "parent",
                        "instance_name",
                        "instance_id",
                    ][..],
                ),
                (
                    "chatapp_refresh_effective_interval_seconds",
                    "Interval the account's refresh is planned at: --refresh.interval, or longer when the accounts sharing its AccessKey cannot all refresh within it at the rate limit.",
                    &["account"],
                ),
                (
                    "chatapp_discovered_accounts",
                    "Customers the parent account's last good discovery round found that this shard monitors (after discover: include/exclude).",
                    &["account"],
                ),
                (
                    "chatapp_up",
                    "1 if the last refresh of the account succeeded, 0 if it failed.",
                    &["account"],
                ),
                (
                    "chatapp_last_refresh_success_timestamp_seconds",
                    "Unix time of the account's last successful refresh.",
                    &["account"],
                ),
                (
                    "chatapp_refresh_duration_seconds",
                    "Wall time of the account's last refresh attempt (all API calls and conversion).",
                    &["account"],
                ),
                (
                    "chatapp_refresh_backoff_seconds",
                    "Extra delay added to the account's next refresh after throttling or server errors; 0 when healthy.",
                    &["account"],
                ),
                (
                    "chatapp_collector_success",
                    "1 if the collector's last run for the account succeeded, 0 if it failed.",
                    &["account", "collector"],
                ),
                (
                    "chatapp_collector_last_success_timestamp_seconds",
                    "Unix time of the collector's last successful run for the account.",
                    &["account", "collector"],
                ),
                (
                    "chatapp_collector_duration_seconds",
                    "Wall time of the collector's last run for the account (a paced round takes about its interval).",
                    &["account", "collector"],
                ),
                (
                    "chatapp_collector_round_seconds",
                    "How long one round of the collector takes for the account: its interval, or longer when its calls cannot fit in the interval at the operation's rate limit.",
                    &["account", "collector"],
                ),
                (
                    "chatapp_collector_interval_seconds",
                    "Configured interval between runs of the collector for the account.",
                    &["account", "collector"],
                ),
            ] {
                gauges.insert(name, r.gauges(name, help, labels).unwrap());
            }
            for (name, help, labels) in [
                (
                    "chatapp_collector_panics_total",
                    "Runs of the collector for the account that panicked (a bug: the log has the message); the collector starts over with back-off.",
                    &["account", "collector"][..],
                ),
                (
                    "chatapp_api_requests_total",
                    "CAMS API requests sent, by API action.",
                    &["account", "operation"],
                ),
                (
                    "chatapp_api_request_errors_total",
                    "CAMS API requests that failed, by API action and Alibaba error code (or timeout, connect, decode, http_4xx, http_5xx, ...).",
                    &["account", "operation", "code"],
                ),
            ] {
                counters.insert(name, r.counters(name, help, labels).unwrap());
            }
            Oracle {
                registry,
                gauges,
                counters,
            }
        }

        fn set(&self, name: &str, labels: &[&str], v: f64) {
            self.gauges[name].with_label_values(labels).set(v);
        }

        fn inc(&self, name: &str, labels: &[&str], by: u64) {
            self.counters[name].with_label_values(labels).inc_by(by);
        }

        fn text(&self) -> String {
            let mut out = Vec::new();
            prometheus::TextEncoder::new()
                .encode(&self.registry.gather(), &mut out)
                .unwrap();
            String::from_utf8(out).unwrap()
        }
    }

    /// The per-account families of an encoding, in order.
    fn account_families(text: &str) -> String {
        let names: Vec<&str> = account_series::FAMILIES.iter().map(|f| f.name).collect();
        let mut out = String::new();
        let mut keep = false;
        for line in text.split_inclusive('\n') {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                keep = names.iter().any(|n| rest.starts_with(&format!("{n} ")));
            }
            if keep {
                out.push_str(line);
            }
        }
        out
    }

    /// The per-account series are written as the crate's encoder wrote them: family and
    /// series order, label order, value spelling, counters, absent series left out; and
    /// they sit among the process-wide families in name order, as they did.
    #[test]
    fn per_account_series_match_the_crate_encoder() {
        let m = SelfMetrics::new(Duration::from_secs(60)).unwrap();
        let o = Oracle::new();
        let t = UNIX_EPOCH + Duration::from_millis(1_765_150_000_123);
        let ts = t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        // Accounts out of order, one with characters that need escaping.
        for (account, space) in [("shop-b", "cs-2"), ("isv/cs \"1\"", "cs-1"), ("shop-a", "")] {
            m.add_account(
                &AccountInfo::configured(account, space, "cn-hangzhou"),
                &["QueryChatappPhoneNumbers", "GetChatappVerifyCode"],
            );
            o.set(
                "chatapp_account_info",
                &[account, space, "cn-hangzhou", "", "", ""],
                1.0,
            );
            for op in ["QueryChatappPhoneNumbers", "GetChatappVerifyCode"] {
                o.inc("chatapp_api_requests_total", &[account, op], 0);
            }
            for (collector, secs) in [("waba", 60.0), ("phone_numbers", 60.0)] {
                m.add_collector(account, collector, Duration::from_secs_f64(secs));
                o.set(
                    "chatapp_collector_interval_seconds",
                    &[account, collector],
                    secs,
                );
                o.set(
                    "chatapp_collector_round_seconds",
                    &[account, collector],
                    secs,
                );
                o.inc("chatapp_collector_panics_total", &[account, collector], 0);
            }
        }
        let info = AccountInfo {
            account: "isv/cs-9",
            cust_space_id: "cs-9",
            region_id: "",
            parent: "isv",
            instance_name: "Shop \"Nine\"\nnew line",
            instance_id: "i-9",
        };
        m.add_account(&info, &[]);
        o.set(
            "chatapp_account_info",
            &[
                "isv/cs-9",
                "cs-9",
                "",
                "isv",
                "Shop \"Nine\"\nnew line",
                "i-9",
            ],
            1.0,
        );
        m.set_discovered("isv", 1);
        o.set("chatapp_discovered_accounts", &["isv"], 1.0);

        m.refresh_done("shop-b", true, Duration::from_millis(1234), t);
        o.set("chatapp_up", &["shop-b"], 1.0);
        o.set("chatapp_refresh_duration_seconds", &["shop-b"], 1.234);
        o.set(
            "chatapp_last_refresh_success_timestamp_seconds",
            &["shop-b"],
            ts,
        );
        m.refresh_done("shop-a", false, Duration::from_micros(1500), t);
        o.set("chatapp_up", &["shop-a"], 0.0);
        o.set("chatapp_refresh_duration_seconds", &["shop-a"], 0.0015);
        m.set_backoff("shop-a", Duration::from_secs(30));
        o.set("chatapp_refresh_backoff_seconds", &["shop-a"], 30.0);
        m.set_effective_interval("shop-b", Duration::from_millis(104_500));
        o.set(
            "chatapp_refresh_effective_interval_seconds",
            &["shop-b"],
            104.5,
        );
        m.collector_done(
            "shop-b",
            "phone_numbers",
            true,
            Duration::from_millis(80),
            t,
        );
        o.set(
            "chatapp_collector_success",
            &["shop-b", "phone_numbers"],
            1.0,
        );
        o.set(
            "chatapp_collector_duration_seconds",
            &["shop-b", "phone_numbers"],
            0.08,
        );
        o.set(
            "chatapp_collector_last_success_timestamp_seconds",
            &["shop-b", "phone_numbers"],
            ts,
        );
        m.collector_done("shop-b", "waba", false, Duration::from_secs(3), t);
        o.set("chatapp_collector_success", &["shop-b", "waba"], 0.0);
        o.set(
            "chatapp_collector_duration_seconds",
            &["shop-b", "waba"],
            3.0,
        );
        m.set_collector_round("shop-a", "waba", Duration::from_secs(150));
        o.set(
            "chatapp_collector_round_seconds",
            &["shop-a", "waba"],
            150.0,
        );
        m.collector_panicked("shop-a", "waba");
        o.inc("chatapp_collector_panics_total", &["shop-a", "waba"], 1);
        for _ in 0..3 {
            m.api_request("shop-b", "QueryChatappPhoneNumbers");
        }
        o.inc(
            "chatapp_api_requests_total",
            &["shop-b", "QueryChatappPhoneNumbers"],
            3,
        );
        m.api_request("shop-b", "QueryWabaBusinessInfo");
        o.inc(
            "chatapp_api_requests_total",
            &["shop-b", "QueryWabaBusinessInfo"],
            1,
        );
        for e in [
            ApiError::Timeout(Duration::from_secs(1)),
            ApiError::Timeout(Duration::from_secs(1)),
        ] {
            m.api_error("shop-b", "QueryChatappPhoneNumbers", &e);
        }
        o.inc(
            "chatapp_api_request_errors_total",
            &["shop-b", "QueryChatappPhoneNumbers", "timeout"],
            2,
        );
        m.api_error(
            "shop-b",
            "QueryWabaBusinessInfo",
            &ApiError::Timeout(Duration::from_secs(1)),
        );
        o.inc(
            "chatapp_api_request_errors_total",
            &["shop-b", "QueryWabaBusinessInfo", "timeout"],
            1,
        );

        let mut text = Vec::new();
        m.encode(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(account_families(&text), o.text());

        // In name order among the process-wide families.
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(names.contains(&"chatapp_build_info") && names.contains(&"chatapp_up"));

        // Removing an account and a collector removes their series, as the crate's
        // `remove_label_values` did.
        m.remove_account("shop-b");
        m.remove_collector("shop-a", "waba");
        m.remove_discovered("isv");
        let mut text = Vec::new();
        m.encode(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(!text.contains("shop-b") && !text.contains("chatapp_discovered_accounts"));
        assert!(
            !text.contains(r#"account="shop-a",collector="waba""#),
            "{text}"
        );
        assert!(text.contains(
            r#"chatapp_collector_panics_total{account="shop-a",collector="phone_numbers"} 0"#
        ));
    }

    /// A gzip scrape's self metrics: the encoding deflated once, sharing its text.
    #[test]
    fn the_compressed_form_is_the_encoding_deflated_once_without_a_copy() {
        let m = SelfMetrics::new(Duration::from_secs(60)).unwrap();
        m.add_account(&AccountInfo::configured("a", "c", "r"), &["Op"]);
        m.api_request("a", "Op");
        for format in [Format::Text, Format::OpenMetrics] {
            let text = m.encoded_in(format);
            let block = m.compressed_in(format);
            assert_eq!(block.text.as_ptr(), text.as_ptr(), "{format:?}");
            let mut out = Vec::with_capacity(text.len() * 2 + 64);
            flate2::Decompress::new(false)
                .decompress_vec(&block.deflate, &mut out, flate2::FlushDecompress::Sync)
                .unwrap();
            assert_eq!(out, text, "{format:?}");
            let again = m.compressed_in(format);
            assert_eq!(again.deflate.as_ptr(), block.deflate.as_ptr(), "{format:?}");
        }
        m.api_request("a", "Op");
        let after = m.compressed_in(Format::Text);
        assert!(text(&after.text).contains(r#"operation="Op"} 2"#));
    }

    #[test]
    fn openmetrics_is_the_same_encoding_converted_once() {
        let m = SelfMetrics::new(Duration::from_secs(60)).unwrap();
        m.add_account(&AccountInfo::configured("a", "c", "r"), &["Op"]);
        m.api_request("a", "Op");
        let plain = m.encoded_in(Format::Text);
        let om = m.encoded_in(Format::OpenMetrics);
        assert_eq!(om, openmetrics::convert(&plain), "from the same encoding");
        for line in [
            "# TYPE chatapp_build info\n",
            "# TYPE chatapp_account info\n",
            "# TYPE chatapp_api_requests counter\n",
            "chatapp_api_requests_total{account=\"a\",operation=\"Op\"} 1\n",
        ] {
            assert!(text(&om).contains(line), "{line} missing:\n{}", text(&om));
        }
        assert!(!text(&om).contains("# EOF"), "the object families follow");
        // Reused, not converted again, until something changes.
        assert_eq!(m.encoded_in(Format::OpenMetrics).as_ptr(), om.as_ptr());
        m.api_request("a", "Op");
        let after = m.encoded_in(Format::OpenMetrics);
        assert!(
            text(&after).contains(r#"chatapp_api_requests_total{account="a",operation="Op"} 2"#)
        );
        assert!(
            text(&m.encoded())
                .contains(r#"chatapp_api_requests_total{account="a",operation="Op"} 2"#)
        );
    }
}
