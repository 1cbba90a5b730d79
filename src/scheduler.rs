//! Background refresh: one task per account that calls the API on its own schedule, converts
//! the answer and publishes it, so that /metrics never calls the API.
//!
//! Rules (issue #2, exporter-conventions.md §1):
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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::api::client::{OP_BIND_WABA, OP_PHONE_NUMBERS};
use crate::api::{ApiClient, ApiError, ClientOptions, ErrorKind, Target};
use crate::collect::{self, TierLimits, UnknownValue};
use crate::config::{AccountSettings, Settings};
use crate::credentials::read_secret_file;
use crate::metrics::{AccountExposition, ExpositionStore, SelfMetrics};
use crate::ratelimit::KeyedLimits;

/// Refreshes running at the same time, across all accounts.
pub const MAX_CONCURRENT_REFRESHES: usize = 4;
/// Longest back-off after repeated throttling or server errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

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
    /// `Ok(numbers)` or `Err(code and message)` of the last attempt.
    pub last_result: Option<Result<usize, String>>,
    /// Whether object series are currently served for the account.
    pub serving_data: bool,
}

/// Per-account status, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct StatusBoard {
    accounts: Mutex<BTreeMap<String, AccountStatus>>,
}

impl StatusBoard {
    /// Adds an account that has not been refreshed yet.
    /// Adds an account, or updates its configuration while keeping its history (reload).
    pub fn register(&self, account: &AccountSettings) {
        let mut accounts = self.lock();
        let status = accounts.entry(account.name.clone()).or_default();
        status.endpoint = account.endpoint.clone();
        status.cust_space_id = account.cust_space_id.clone();
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
        self.lock().values().all(|s| s.last_attempt.is_some())
    }

    fn update(&self, account: &str, f: impl FnOnce(&mut AccountStatus)) {
        if let Some(s) = self.lock().get_mut(account) {
            f(s);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AccountStatus>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The result of one refresh: the rendered families and what the conversion noticed.
#[derive(Debug)]
pub struct Refreshed {
    /// Rendered families.
    pub exposition: AccountExposition,
    /// Distinct numbers.
    pub numbers: usize,
    /// Values outside known states.
    pub unknown: Vec<UnknownValue>,
}

/// Calls both operations for `account`, converts and renders. Pure with respect to the
/// exposition store: publishing is the caller's job.
pub async fn refresh_once(
    shared: &Shared,
    account: &AccountSettings,
) -> Result<Refreshed, ApiError> {
    let creds = account.credentials.resolve().await?;
    let isv_code = match &account.isv_code_file {
        Some(p) => Some(read_secret_file(p, "isv_code").await?),
        None => None,
    };
    let target = Target {
        endpoint: account.endpoint.clone(),
        cust_space_id: account.cust_space_id.clone(),
        isv_code,
    };
    let m = &shared.metrics;
    let name = account.name.as_str();
    let key = account.credentials.describe();
    let limited = |op: &'static str| {
        let bucket = format!("{key}|{op}");
        async move {
            shared.limits.acquire(&bucket).await;
            m.api_request(name, op);
        }
    };
    // The two operations have separate quotas (10/s each), so they run side by side, each
    // after taking a token from the bucket of its own API and the account's key.
    let (numbers, waba) = tokio::join!(
        async {
            limited(OP_PHONE_NUMBERS).await;
            shared.client.query_phone_numbers(&target, &creds).await
        },
        async {
            limited(OP_BIND_WABA).await;
            shared.client.query_bind_waba(&target, &creds).await
        },
    );
    if let Err(e) = &numbers {
        m.api_error(name, OP_PHONE_NUMBERS, e);
    }
    if let Err(e) = &waba {
        m.api_error(name, OP_BIND_WABA, e);
    }
    let (numbers, waba) = (numbers?, waba?);

    let note = format!(
        "Refreshed every {} in the background.",
        humantime::format_duration(shared.interval)
    );
    // Render straight to text, reusing the blocks of the account's current rendering that
    // come out unchanged (see `metrics::exposition`): most of a large fleet's text is then
    // neither copied nor compressed again.
    let previous = shared.store.get(name);
    let (exposition, report) = collect::render_account(
        name,
        &numbers.phone_numbers,
        &waba.data,
        &shared.tier_limits,
        &note,
        previous.as_deref(),
    )
    .map_err(|e| ApiError::Decode(format!("cannot render metrics: {e}")))?;
    if report.duplicates > 0 || report.missing_number > 0 {
        warn!(
            duplicates = report.duplicates,
            without_phone_number = report.missing_number,
            "API returned entries that cannot be exported; kept the first of each number"
        );
    }
    let unknown = report.unknown;
    Ok(Refreshed {
        exposition,
        numbers: report.numbers,
        unknown,
    })
}

/// The refresh loop of one account; returns when `shutdown` flips to true.
pub async fn run_account(
    shared: Arc<Shared>,
    account: AccountSettings,
    phase: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("refresh", account = %account.name);
    async move {
        let start = Instant::now();
        let mut state = LoopState::default();
        let mut next = start;
        let mut first = true;
        loop {
            let stale_at = state.stale_at(shared.max_staleness);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = sleep_until_opt(stale_at) => {
                    drop_stale(&shared, &account.name, &mut state);
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
                attempt(&shared, &account, &mut state).await
            };
            shared.metrics.set_backoff(&account.name, backoff);
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
        debug!("refresh loop stopped");
    }
    .instrument(span)
    .await
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
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn drop_stale(shared: &Shared, account: &str, state: &mut LoopState) {
    warn!(
        max_staleness = %humantime::format_duration(shared.max_staleness),
        "no successful refresh for longer than max staleness; dropping the account's series"
    );
    shared.store.set(account, None);
    state.serving = false;
    shared.status.update(account, |s| s.serving_data = false);
}

/// One refresh attempt with its bookkeeping; returns the back-off to add before the next.
async fn attempt(shared: &Shared, account: &AccountSettings, state: &mut LoopState) -> Duration {
    let started = Instant::now();
    let result = refresh_once(shared, account).await;
    let elapsed = started.elapsed();
    let now = SystemTime::now();
    let name = account.name.as_str();
    shared
        .metrics
        .refresh_done(name, result.is_ok(), elapsed, now);
    match result {
        Ok(r) => {
            for v in shared.metrics.unknown_values(&r.unknown) {
                warn!(field = v.field, value = %v.value, "value not in the known states; exported as an extra state");
            }
            let series = r.exposition.series();
            shared.store.set(name, Some(Arc::new(r.exposition)));
            if state.last_error_code.take().is_some() {
                info!(numbers = r.numbers, "refresh recovered");
            }
            debug!(numbers = r.numbers, series, duration = ?elapsed, "refresh succeeded");
            state.last_success = Some(Instant::now());
            state.serving = true;
            state.failures = 0;
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_success = Some(now);
                s.last_result = Some(Ok(r.numbers));
                s.serving_data = true;
            });
            Duration::ZERO
        }
        Err(e) => {
            state.failures = state.failures.saturating_add(1);
            let code = e.code_label();
            let changed = state.last_error_code.as_deref() != Some(code.as_str());
            log_failure(&e, &code, changed, state.failures);
            state.last_error_code = Some(code.clone());
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_result = Some(Err(format!("{code}: {e}")));
            });
            if state
                .stale_at(shared.max_staleness)
                .is_some_and(|t| Instant::now() >= t)
            {
                drop_stale(shared, name, state);
            }
            match e.kind() {
                ErrorKind::Throttled | ErrorKind::Transient => {
                    backoff(shared.interval, state.failures)
                }
                ErrorKind::Auth | ErrorKind::Client | ErrorKind::Decode => Duration::ZERO,
            }
        }
    }
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

fn log_failure(e: &ApiError, code: &str, changed: bool, failures: u32) {
    let request_id = e.request_id().unwrap_or("");
    let hint = hint(e);
    if changed {
        warn!(code, request_id, hint, failures, error = %e, "refresh failed; serving last good data until max staleness");
    } else {
        debug!(code, request_id, failures, error = %e, "refresh failed again");
    }
}

/// What the operator should do, per cams-api.md §6.
fn hint(e: &ApiError) -> &'static str {
    let code = e.code_label();
    match e.kind() {
        ErrorKind::Throttled => {
            "the account's API quota (10/s per API, shared with other callers) is exhausted; backing off"
        }
        ErrorKind::Auth if code == "InvalidAccessKeySecret" => {
            "the AccessKey secret is wrong; check the secret file or ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        }
        ErrorKind::Auth if code.starts_with("InvalidAccessKeyId") => {
            "the AccessKey ID does not exist or is disabled"
        }
        ErrorKind::Auth if code.starts_with("Forbidden") || code == "Ram.PermissionDeny" => {
            "grant the RAM actions cams:QueryChatappPhoneNumbers and cams:QueryChatappBindWaba"
        }
        ErrorKind::Auth => "check the account's credentials",
        ErrorKind::Client if code.starts_with("InvalidTimeStamp") => {
            "the system clock is off by more than 15 minutes; check NTP"
        }
        ErrorKind::Client if code == "Product.Unsubscript" => {
            "CAMS is not activated for this Alibaba Cloud account"
        }
        ErrorKind::Client if code == "SignatureDoesNotMatch" => {
            "signature mismatch not explained by a wrong secret; please report a bug"
        }
        ErrorKind::Client => {
            "the request was rejected; check the account configuration (endpoint, cust_space_id)"
        }
        ErrorKind::Transient => "network or server trouble; backing off",
        ErrorKind::Decode => "the response was not the expected JSON (or too large)",
    }
}

/// Starts one task per account, all stopped by the same `stop` channel; returns their handles.
/// (The application uses [`crate::supervisor::Supervisor`], which can also reload.)
pub fn spawn_all(
    shared: &Arc<Shared>,
    accounts: &[AccountSettings],
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = accounts.len().max(1) as u32;
    accounts
        .iter()
        .enumerate()
        .map(|(i, a)| spawn_account(shared, a, shared.interval * i as u32 / n, stop.clone()))
        .collect()
}

/// Registers `account` (status board, `chatapp_account_info`, zeroed request counters) and
/// starts its refresh loop; the loop ends when `stop` flips to true.
pub fn spawn_account(
    shared: &Arc<Shared>,
    account: &AccountSettings,
    phase: Duration,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    shared.status.register(account);
    shared.metrics.add_account(
        &account.name,
        account.cust_space_id.as_deref().unwrap_or(""),
        &account.region_id(),
        &[OP_PHONE_NUMBERS, OP_BIND_WABA],
    );
    tokio::spawn(run_account(shared.clone(), account.clone(), phase, stop))
}
