//! Background collection: one task per account that runs its collectors on their schedules
//! and publishes what they render, so that /metrics never calls the API.
//!
//! An account's task runs two kinds of loop ([`crate::collect::Schedule`]): the refresh,
//! which runs every refresh collector (`phone_numbers`, `waba`) side by side and owns
//! `chatapp_up`; and one loop per collector with its own interval (`health`, `templates`),
//! which starts after the first refresh, never holds a refresh permit, and re-renders when
//! another collector of the account publishes. Both kinds share the bookkeeping of a run
//! ([`LoopState`]: back-off, staleness, logging once per change of error) and of a
//! collector (self metrics, landing page, publishing).
//!
//! Rules of the refresh (exporter-conventions.md §1):
//! - the first refresh runs at start; later ones every `interval` plus a little jitter, at a
//!   per-account phase so that many accounts do not all call at :00 (the second refresh at
//!   least half an interval after the first); a task never overlaps itself, and at most
//!   [`MAX_CONCURRENT_REFRESHES`] run at once across accounts;
//! - success replaces the account's data atomically (a number gone from the API is gone);
//! - failure sets `chatapp_up` to 0, counts the error and keeps the last good data until
//!   `max_staleness` has passed since the last success, then drops the account's object
//!   series (`chatapp_up` and the last-success timestamp stay);
//! - throttling and server errors back the account off exponentially (with jitter, capped,
//!   reset on success) instead of retrying: the quota is shared with production traffic
//!   (cams-api.md §7);
//! - a failure is logged at warn once per change of error code, not at every attempt.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::api::{ApiClient, ApiError, ClientOptions, ErrorKind, Target};
use crate::collect::{
    ApiAccess, CollectError, Collected, Ctx, DynCollector, Inputs, REGISTRY, RoundPlan, Schedule,
    TierLimits,
};
use crate::config::{AccountSettings, CollectorSettings, Settings};
use crate::credentials::{Credentials, read_secret_file};
use crate::metrics::{EnumMode, ExpositionStore, SelfMetrics};
use crate::ratelimit::{KeyedLimits, Rates};

/// Refreshes running at the same time, across all accounts.
pub const MAX_CONCURRENT_REFRESHES: usize = 4;
/// Longest back-off after repeated throttling or server errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// A collector with a loop of its own drops its series after this many rounds without a
/// successful run.
pub const OWN_STALE_AFTER_ROUNDS: u32 = 3;
/// Most detail lines (Meta's suggested fixes, ...) kept per collector for the landing page.
const MAX_DETAILS: usize = 50;

/// What every account task shares.
#[derive(Debug)]
pub struct Shared {
    /// The API client (one connection pool).
    pub client: ApiClient,
    /// Self metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Where rendered data goes.
    pub store: Arc<ExpositionStore>,
    /// Per-account status for the landing page and readiness.
    pub status: Arc<StatusBoard>,
    /// Tier → recipients table.
    pub tier_limits: TierLimits,
    /// Interval between refreshes.
    pub interval: Duration,
    /// How long last good data is served after failures.
    pub max_staleness: Duration,
    /// Bounds concurrent refreshes.
    pub permits: Semaphore,
    /// Per-AccessKey token buckets.
    pub limits: KeyedLimits,
    /// Requests per second per operation.
    pub rates: Rates,
    /// `--metrics.enum`.
    pub enum_mode: EnumMode,
}

impl Shared {
    /// Builds the shared state for `settings` around the long-lived store, metrics and status.
    pub fn new(
        settings: &Settings,
        store: Arc<ExpositionStore>,
        metrics: Arc<SelfMetrics>,
        status: Arc<StatusBoard>,
    ) -> Result<Arc<Self>, ApiError> {
        Ok(Arc::new(Shared {
            client: ApiClient::new(ClientOptions {
                timeout: settings.api_timeout,
                max_body_bytes: settings.api_max_body_bytes,
            })?,
            metrics,
            store,
            status,
            tier_limits: settings.tier_limits.clone(),
            interval: settings.refresh_interval,
            max_staleness: settings.max_staleness,
            permits: Semaphore::new(MAX_CONCURRENT_REFRESHES),
            limits: KeyedLimits::new(settings.api_rate_limit),
            rates: settings.rates.clone(),
            enum_mode: settings.enum_mode,
        }))
    }
}

/// The last known state of one account, as the landing page shows it.
#[derive(Debug, Clone, Default)]
pub struct AccountStatus {
    /// API endpoint.
    pub endpoint: String,
    /// `CustSpaceId`, if any.
    pub cust_space_id: Option<String>,
    /// When the last refresh attempt finished.
    pub last_attempt: Option<SystemTime>,
    /// When the last successful refresh finished.
    pub last_success: Option<SystemTime>,
    /// `Ok(summary)` (e.g. `7 numbers`) or `Err(code and message)` of the last attempt.
    pub last_result: Option<Result<String, String>>,
    /// Whether object series are currently served for the account.
    pub serving_data: bool,
    /// False when no refresh collector is enabled (readiness then does not wait for one).
    pub refreshes: bool,
    /// Each enabled collector, in registry order.
    pub collectors: Vec<(&'static str, CollectorStatus)>,
}

/// The last known state of one collector of one account.
#[derive(Debug, Clone, Default)]
pub struct CollectorStatus {
    /// Its interval.
    pub interval: Duration,
    /// When its last run finished.
    pub last_attempt: Option<SystemTime>,
    /// When its last successful run finished.
    pub last_success: Option<SystemTime>,
    /// `Ok(summary)` or `Err(code and message)` of the last run.
    pub last_result: Option<Result<String, String>>,
    /// Lines for a person: Meta's errors and suggested fixes.
    pub details: Vec<String>,
    /// Set when a round takes longer than the interval at the operation's rate limit.
    pub note: Option<String>,
}

/// Per-account status, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct StatusBoard {
    accounts: Mutex<BTreeMap<String, AccountStatus>>,
}

impl StatusBoard {
    /// Adds an account, or updates its configuration while keeping its history (reload).
    pub fn register(&self, account: &AccountSettings) {
        let mut accounts = self.lock();
        let status = accounts.entry(account.name.clone()).or_default();
        status.endpoint = account.endpoint.clone();
        status.cust_space_id = account.cust_space_id.clone();
        status.refreshes = account
            .collectors
            .iter()
            .any(|c| schedule_of(c) == Some(Schedule::Refresh));
        let old = std::mem::take(&mut status.collectors);
        status.collectors = account
            .collectors
            .iter()
            .map(|c| {
                let mut s = old
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                s.interval = c.interval;
                (c.name, s)
            })
            .collect();
    }

    /// Forgets an account.
    pub fn remove(&self, account: &str) {
        self.lock().remove(account);
    }

    /// A copy of every account's status, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, AccountStatus)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// True once every account has had its first refresh attempt, whatever the result.
    pub fn ready(&self) -> bool {
        self.lock()
            .values()
            .all(|s| !s.refreshes || s.last_attempt.is_some())
    }

    fn update(&self, account: &str, f: impl FnOnce(&mut AccountStatus)) {
        if let Some(s) = self.lock().get_mut(account) {
            f(s);
        }
    }

    fn update_collector(
        &self,
        account: &str,
        collector: &str,
        f: impl FnOnce(&mut CollectorStatus),
    ) {
        self.update(account, |s| {
            if let Some((_, c)) = s.collectors.iter_mut().find(|(n, _)| *n == collector) {
                f(c);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AccountStatus>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn schedule_of(c: &CollectorSettings) -> Option<Schedule> {
    crate::collect::find(c.name).map(|c| c.spec().schedule)
}

/// One account's loops share this: its settings and what its collectors published.
struct AccountRun {
    settings: AccountSettings,
    inputs: Inputs,
    /// Flips to true when the first refresh has finished, whatever its result: collectors
    /// with their own loop start then, so that they find the refresh's results.
    refreshed: watch::Sender<bool>,
    /// A one-shot run (`--once`): rounds are not spread over the interval.
    once: bool,
}

/// An enabled collector of an account with the state it keeps between runs.
struct Instance {
    collector: &'static dyn DynCollector,
    interval: Duration,
    state: Box<dyn Any + Send>,
    /// Whether a round longer than the interval was reported already.
    warned_long_round: AtomicBool,
}

impl Instance {
    fn name(&self) -> &'static str {
        self.collector.spec().name
    }
}

/// The account's credentials and tenant, read afresh for every run (a rotated secret or
/// ISV code file is picked up without a restart).
async fn connect(account: &AccountSettings) -> Result<(Credentials, Target), ApiError> {
    let creds = account.credentials.resolve().await?;
    let isv_code = match &account.isv_code_file {
        Some(p) => Some(read_secret_file(p, "isv_code").await?),
        None => None,
    };
    let target = Target {
        endpoint: account.endpoint.clone(),
        cust_space_id: account.cust_space_id.clone(),
        isv_code,
        signature: account.signature_version,
    };
    Ok((creds, target))
}

fn note(interval: Duration) -> String {
    format!(
        "Refreshed every {} in the background.",
        humantime::format_duration(interval)
    )
}

/// Runs one collector once with a context for `conn`; returns its result, how long it took
/// and the round it planned.
async fn run_collector(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
    conn: &(Credentials, Target),
) -> (Result<Collected, CollectError>, Duration, Option<RoundPlan>) {
    let name = account.settings.name.as_str();
    let collector = instance.name();
    let limit_key = account.settings.credentials.describe();
    let api = ApiAccess {
        client: &shared.client,
        target: &conn.1,
        creds: &conn.0,
        limits: &shared.limits,
        limit_key: &limit_key,
        rates: &shared.rates,
        metrics: &shared.metrics,
    };
    let note = note(instance.interval);
    let publish = |c: Collected| progress(shared, name, collector, c);
    let (interval, warned) = (instance.interval, &instance.warned_long_round);
    let on_plan = |plan: RoundPlan| planned(shared, name, collector, interval, warned, plan);
    let mut ctx = Ctx::new(
        name,
        instance.interval,
        &note,
        &shared.tier_limits,
        shared.store.get(name, collector),
        &account.inputs,
        Some(&api),
        &publish,
        &on_plan,
    );
    ctx.enum_mode = shared.enum_mode;
    ctx.spread = !account.once;
    let started = Instant::now();
    let result = instance
        .collector
        .run_dyn(instance.state.as_mut(), &ctx)
        .await;
    (result, started.elapsed(), ctx.planned_round())
}

/// Serves what a collector learned so far: its families, and its details on the landing
/// page (a failed run shows what it did learn, e.g. a rejected template's reason).
fn progress(shared: &Shared, account: &str, collector: &str, c: Collected) {
    shared.store.publish(
        account,
        collector,
        Some((Arc::new(c.exposition), Arc::new(c.facts))),
    );
    let mut details = c.details;
    details.truncate(MAX_DETAILS);
    shared
        .status
        .update_collector(account, collector, |s| s.details = details);
}

/// A collector planned a round: `chatapp_collector_round_seconds`, and when it does not fit
/// in the interval, one warning and a note on the landing page.
fn planned(
    shared: &Shared,
    account: &str,
    collector: &'static str,
    interval: Duration,
    warned: &AtomicBool,
    plan: RoundPlan,
) {
    shared
        .metrics
        .set_collector_round(account, collector, plan.round);
    let overruns = plan.overruns(interval);
    if overruns && !warned.swap(true, Ordering::Relaxed) {
        warn!(
            collector,
            round = %humantime::format_duration(plan.round),
            interval = %humantime::format_duration(interval),
            "a round does not fit in the interval at the operation's rate limit; rounds take longer instead"
        );
    }
    let note = overruns.then(|| {
        format!(
            "one round takes {} (longer than the {} interval at the rate limit)",
            humantime::format_duration(Duration::from_secs(plan.round.as_secs())),
            humantime::format_duration(interval)
        )
    });
    shared
        .status
        .update_collector(account, collector, |s| s.note = note);
}

/// The bookkeeping of one run, the same for every collector: self metrics, the landing
/// page, publishing a success. Returns the summary or the error.
fn record(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
    outcome: (Result<Collected, CollectError>, Duration, Option<RoundPlan>),
) -> Result<String, CollectError> {
    let (result, elapsed, _) = outcome;
    let name = account.settings.name.as_str();
    let collector = instance.name();
    let now = SystemTime::now();
    shared
        .metrics
        .collector_done(name, collector, result.is_ok(), elapsed, now);
    match result {
        Ok(c) => {
            for v in shared.metrics.unknown_values(&c.unknown) {
                warn!(collector, field = v.field, value = %v.value, "value not in the known states; exported as an extra state");
            }
            shared.store.publish(
                name,
                collector,
                Some((Arc::new(c.exposition), Arc::new(c.facts))),
            );
            if let Some(p) = c.published {
                account.inputs.publish(p);
            }
            let summary = c.summary;
            let mut details = c.details;
            details.truncate(MAX_DETAILS);
            shared.status.update_collector(name, collector, |s| {
                s.last_attempt = Some(now);
                s.last_success = Some(now);
                s.last_result = Some(Ok(summary.clone()));
                s.details = details;
            });
            Ok(summary)
        }
        Err(e) => {
            let shown = describe_error(&e);
            shared.status.update_collector(name, collector, |s| {
                s.last_attempt = Some(now);
                s.last_result = Some(Err(shown));
            });
            Err(e)
        }
    }
}

/// The error as the landing page shows it: the code once, then the message.
fn describe_error(e: &CollectError) -> String {
    let code = e.code_label();
    let message = e.to_string();
    match message.strip_prefix(&format!("{code}: ")) {
        Some(rest) => format!("{code}: {rest}"),
        None if message.starts_with(&code) => message,
        None => format!("{code}: {message}"),
    }
}

/// Starts the account's loops: the refresh (every refresh collector, together, every
/// `--refresh.interval` at `phase`) and one loop per collector with its own schedule. They
/// all end when `shutdown` flips to true.
pub async fn run_account(
    shared: Arc<Shared>,
    account: AccountSettings,
    phase: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut refresh = Vec::new();
    let mut own = Vec::new();
    for c in &account.collectors {
        let Some(collector) = crate::collect::find(c.name) else {
            continue;
        };
        let instance = Instance {
            collector,
            interval: c.interval,
            state: collector.new_state(),
            warned_long_round: AtomicBool::new(false),
        };
        match collector.spec().schedule {
            Schedule::Refresh => refresh.push(instance),
            Schedule::Own { .. } => own.push(instance),
        }
    }
    let account = AccountRun {
        settings: account,
        inputs: Inputs::default(),
        refreshed: watch::Sender::new(false),
        once: false,
    };
    let span = info_span!("refresh", account = %account.settings.name);
    let refresh_loop = refresh_loop(&shared, &account, refresh, phase, shutdown.clone());
    let own_loops = join_all(
        own.into_iter()
            .map(|i| own_loop(&shared, &account, i, shutdown.clone())),
    );
    async {
        tokio::join!(refresh_loop, own_loops);
        debug!("refresh loops stopped");
    }
    .instrument(span)
    .await
}

/// The refresh loop of one account: every refresh collector runs side by side, and their
/// combined result is `chatapp_up`. Returns when `shutdown` flips to true.
async fn refresh_loop(
    shared: &Shared,
    account: &AccountRun,
    mut instances: Vec<Instance>,
    phase: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    if instances.is_empty() {
        account.refreshed.send_replace(true);
        return;
    }
    let start = Instant::now();
    let mut state = LoopState::default();
    let mut next = start;
    let mut first = true;
    loop {
        let stale_at = state.stale_at(shared.max_staleness);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = sleep_until_opt(stale_at) => {
                drop_stale(shared, account, &instances, &mut state);
                continue;
            }
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let backoff = {
            let Ok(_permit) = shared.permits.acquire().await else {
                break;
            };
            refresh_attempt(shared, account, &mut instances, &mut state).await
        };
        account.refreshed.send_replace(true);
        shared.metrics.set_backoff(&account.settings.name, backoff);
        // Stay on the account's phase grid (start + phase + k·interval), then add jitter
        // of up to 5% and any back-off. The first refresh ran at start, off the grid: the
        // second waits for a grid point at least half an interval after that start, or
        // an account whose phase is a few seconds would call the API twice in a few
        // seconds, and a fleet would make two calls per account in its first interval
        // (1.5 on average this way, 1 in every later one).
        let mut after = Instant::now();
        if std::mem::take(&mut first) {
            after = after.max(start + shared.interval / 2);
        }
        next = next_on_grid(start + phase, shared.interval, after)
            + jitter(shared.interval / 20)
            + backoff;
    }
}

/// One refresh: every refresh collector, side by side (each operation has its own quota,
/// 10/s each), each after a token from its own (key, API) bucket. Returns the back-off to add
/// before the next.
async fn refresh_attempt(
    shared: &Shared,
    account: &AccountRun,
    instances: &mut [Instance],
    state: &mut LoopState,
) -> Duration {
    let started = Instant::now();
    let name = account.settings.name.as_str();
    let result: Result<String, CollectError> = async {
        let conn = match connect(&account.settings).await {
            Ok(c) => c,
            Err(e) => {
                let now = SystemTime::now();
                for i in instances.iter() {
                    shared
                        .metrics
                        .collector_done(name, i.name(), false, Duration::ZERO, now);
                }
                return Err(e.into());
            }
        };
        let outcomes = join_all(
            instances
                .iter_mut()
                .map(|i| async { (run_collector(shared, account, i, &conn).await, i) }),
        )
        .await;
        let mut first_error = None;
        let mut summaries = Vec::new();
        // Each collector publishes its own success; the refresh succeeds when all did.
        for (outcome, instance) in outcomes {
            match record(shared, account, instance, outcome) {
                Ok(summary) if !summary.is_empty() => summaries.push(summary),
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(summaries.join(", ")),
            Some(e) => Err(e),
        }
    }
    .await;
    let elapsed = started.elapsed();
    let now = SystemTime::now();
    shared
        .metrics
        .refresh_done(name, result.is_ok(), elapsed, now);
    match result {
        Ok(summary) => {
            if state.succeeded() {
                info!(result = %summary, "refresh recovered");
            }
            debug!(result = %summary, duration = ?elapsed, "refresh succeeded");
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_success = Some(now);
                s.last_result = Some(Ok(summary));
                s.serving_data = true;
            });
            Duration::ZERO
        }
        Err(e) => {
            let backoff = state.failed(&e, shared.interval, refresh_actions(instances));
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_result = Some(Err(describe_error(&e)));
            });
            if state
                .stale_at(shared.max_staleness)
                .is_some_and(|t| Instant::now() >= t)
            {
                drop_stale(shared, account, instances, state);
            }
            backoff
        }
    }
}

fn refresh_actions(instances: &[Instance]) -> Vec<&'static str> {
    instances
        .iter()
        .flat_map(|i| i.collector.spec().operations.iter().map(|o| o.action))
        .collect()
}

/// The loop of a collector with its own schedule: it starts after the account's first
/// refresh, runs a round every interval (a round that overran starts the next one at once),
/// backs off like the refresh, drops its series after [`OWN_STALE_AFTER_ROUNDS`] rounds
/// without success, and re-renders when another collector of the account publishes.
async fn own_loop(
    shared: &Shared,
    account: &AccountRun,
    mut instance: Instance,
    mut shutdown: watch::Receiver<bool>,
) {
    let collector = instance.name();
    let name = account.settings.name.as_str();
    let mut refreshed = account.refreshed.subscribe();
    tokio::select! {
        r = refreshed.wait_for(|done| *done) => if r.is_err() { return },
        _ = shutdown.wait_for(|stop| *stop) => return,
    }
    let mut inputs = account.inputs.subscribe();
    inputs.mark_unchanged();
    let mut state = LoopState::default();
    let mut next = Instant::now();
    let mut round = instance.interval;
    let actions: Vec<&'static str> = instance
        .collector
        .spec()
        .operations
        .iter()
        .map(|o| o.action)
        .collect();
    loop {
        let stale_at = state.stale_at(round.max(instance.interval) * OWN_STALE_AFTER_ROUNDS);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = sleep_until_opt(stale_at) => {
                warn!(collector, "no successful run for three rounds; dropping the collector's series");
                shared.store.set(name, collector, None);
                state.serving = false;
                continue;
            }
            changed = inputs.changed() => {
                if changed.is_ok() {
                    inputs_changed(shared, account, &mut instance);
                }
                continue;
            }
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let started = Instant::now();
        let outcome = match connect(&account.settings).await {
            Ok(conn) => run_collector(shared, account, &mut instance, &conn).await,
            Err(e) => (Err(e.into()), Duration::ZERO, None),
        };
        if let Some(plan) = outcome.2 {
            round = plan.round;
        }
        let backoff = match record(shared, account, &mut instance, outcome) {
            Ok(summary) => {
                if state.succeeded() {
                    info!(collector, result = %summary, "collector recovered");
                }
                Duration::ZERO
            }
            Err(e) => state.failed(&e, instance.interval, actions.clone()),
        };
        // Publications during the round were the collector's own inputs at work.
        inputs.mark_unchanged();
        // The next round on the grid of the interval, or at once after a round that took
        // longer than the interval (its calls were paced by the rate limit already).
        next = (started + instance.interval).max(Instant::now())
            + jitter(instance.interval / 20)
            + backoff;
    }
}

/// Lets a collector follow what another collector of the account published.
fn inputs_changed(shared: &Shared, account: &AccountRun, instance: &mut Instance) {
    let name = account.settings.name.as_str();
    let collector = instance.name();
    let note = note(instance.interval);
    let publish = |c: Collected| progress(shared, name, collector, c);
    let mut ctx = Ctx::new(
        name,
        instance.interval,
        &note,
        &shared.tier_limits,
        shared.store.get(name, collector),
        &account.inputs,
        None,
        &publish,
        &|_| {},
    );
    ctx.enum_mode = shared.enum_mode;
    if let Some(c) = instance
        .collector
        .inputs_changed_dyn(instance.state.as_mut(), &ctx)
    {
        progress(shared, name, collector, c);
    }
}

/// The first point of the grid `origin + k·interval` (k ≥ 0) that is after `now`: a refresh
/// that overran the interval skips the missed slots instead of catching up in a burst.
fn next_on_grid(origin: Instant, interval: Duration, now: Instant) -> Instant {
    if now < origin {
        return origin;
    }
    let periods = (now - origin).as_nanos() / interval.as_nanos().max(1) + 1;
    origin + interval.mul_f64(periods as f64)
}

/// Success and failure bookkeeping of one loop (the refresh, or a collector's own loop).
#[derive(Debug, Default)]
struct LoopState {
    last_success: Option<Instant>,
    serving: bool,
    failures: u32,
    last_error_code: Option<String>,
}

impl LoopState {
    fn stale_at(&self, max_staleness: Duration) -> Option<Instant> {
        match (self.serving, self.failures, self.last_success) {
            (true, f, Some(t)) if f > 0 => Some(t + max_staleness),
            _ => None,
        }
    }

    /// Records a success; true when it ends a run of failures.
    fn succeeded(&mut self) -> bool {
        self.last_success = Some(Instant::now());
        self.serving = true;
        self.failures = 0;
        self.last_error_code.take().is_some()
    }

    /// Records a failure, logs it (at warn once per change of error code) and returns the
    /// back-off to add: exponential for throttling and server trouble, none otherwise.
    /// `actions` are the API operations the loop calls, for the operator hint.
    fn failed(
        &mut self,
        e: &CollectError,
        interval: Duration,
        actions: Vec<&'static str>,
    ) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let code = e.code_label();
        let changed = self.last_error_code.as_deref() != Some(code.as_str());
        log_failure(e, &code, changed, self.failures, &actions);
        self.last_error_code = Some(code);
        match e.kind() {
            ErrorKind::Throttled | ErrorKind::Transient => backoff(interval, self.failures),
            ErrorKind::Auth | ErrorKind::Client | ErrorKind::Decode => Duration::ZERO,
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn drop_stale(
    shared: &Shared,
    account: &AccountRun,
    instances: &[Instance],
    state: &mut LoopState,
) {
    warn!(
        max_staleness = %humantime::format_duration(shared.max_staleness),
        "no successful refresh for longer than max staleness; dropping the account's series"
    );
    let name = account.settings.name.as_str();
    for i in instances {
        shared.store.set(name, i.name(), None);
    }
    state.serving = false;
    shared.status.update(name, |s| s.serving_data = false);
}

/// `interval · 2^(failures-1)` minus the interval that is waited anyway, with ±20% jitter,
/// capped at [`MAX_BACKOFF`]: 0, ~1, ~3, ~7 intervals extra...
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 2f64.powi(failures.saturating_sub(1).min(16) as i32) - 1.0;
    let base = interval.mul_f64(factor).min(MAX_BACKOFF);
    if base.is_zero() {
        return base;
    }
    let jittered = base.mul_f64(0.8 + 0.4 * rand::random::<f64>());
    jittered.min(MAX_BACKOFF)
}

fn jitter(max: Duration) -> Duration {
    max.mul_f64(rand::random::<f64>())
}

fn log_failure(e: &CollectError, code: &str, changed: bool, failures: u32, actions: &[&str]) {
    let request_id = e.request_id().unwrap_or("");
    let hint = hint(e, actions);
    if changed {
        warn!(code, request_id, hint = %hint, failures, error = %e, "refresh failed; serving last good data until max staleness");
    } else {
        debug!(code, request_id, failures, error = %e, "refresh failed again");
    }
}

/// What the operator should do, per cams-api.md §6; `actions` are the operations that
/// were called, for the RAM hint.
fn hint(e: &CollectError, actions: &[&str]) -> String {
    let code = e.code_label();
    match e.kind() {
        ErrorKind::Throttled => {
            "the account's API quota (10/s per API, shared with other callers) is exhausted; backing off".into()
        }
        ErrorKind::Auth if code == "InvalidAccessKeySecret" => {
            "the AccessKey secret is wrong; check the secret file or ALIBABA_CLOUD_ACCESS_KEY_SECRET".into()
        }
        ErrorKind::Auth if code.starts_with("InvalidAccessKeyId") => {
            "the AccessKey ID does not exist or is disabled".into()
        }
        ErrorKind::Auth if code.starts_with("Forbidden") || code == "Ram.PermissionDeny" => {
            let granted: Vec<String> = actions.iter().map(|a| format!("cams:{a}")).collect();
            format!("grant the RAM actions {} (or switch the collector off for this account)", granted.join(" and "))
        }
        ErrorKind::Auth => "check the account's credentials".into(),
        ErrorKind::Client if code.starts_with("InvalidTimeStamp") => {
            "the system clock is off by more than 15 minutes; check NTP".into()
        }
        ErrorKind::Client if code == "Product.Unsubscript" => {
            "CAMS is not activated for this Alibaba Cloud account".into()
        }
        ErrorKind::Client if code == "SignatureDoesNotMatch" => {
            "the server signed a different request than ours (not a wrong secret): a proxy rewriting the query or headers, or a bug; try the other --api.signature-version and please report it".into()
        }
        ErrorKind::Client
            if code == "IncompleteSignature"
                || code.starts_with("InvalidAuthorization")
                || code.starts_with("InvalidSignature") =>
        {
            "the gateway rejected the signature's form; check --api.signature-version (or the account's signature_version) and that nothing between the exporter and the endpoint strips the Authorization or x-acs-* headers".into()
        }
        ErrorKind::Client => {
            "the request was rejected; check the account configuration (endpoint, cust_space_id)".into()
        }
        ErrorKind::Transient => "network or server trouble; backing off".into(),
        ErrorKind::Decode if code == "render" => "cannot render the metrics; please report a bug".into(),
        ErrorKind::Decode => "the response was not the expected JSON (or too large)".into(),
    }
}

/// Registers `account` (status board, `chatapp_account_info`, zeroed request counters, its
/// collectors' intervals) and starts its loops; they end when `stop` flips to true.
pub fn spawn_account(
    shared: &Arc<Shared>,
    account: &AccountSettings,
    phase: Duration,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    shared.status.register(account);
    let operations: Vec<&str> = REGISTRY
        .iter()
        .filter(|c| account.collectors.iter().any(|s| s.name == c.spec().name))
        .flat_map(|c| c.spec().operations.iter().map(|o| o.action))
        .collect();
    shared.metrics.add_account(
        &account.name,
        account.cust_space_id.as_deref().unwrap_or(""),
        &account.region_id(),
        &operations,
    );
    for c in &account.collectors {
        shared
            .metrics
            .add_collector(&account.name, c.name, c.interval);
    }
    tokio::spawn(run_account(shared.clone(), account.clone(), phase, stop))
}
