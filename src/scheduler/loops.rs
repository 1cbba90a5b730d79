//! The loops of an account: the refresh (every refresh collector, side by side, on the
//! account's phase grid) and one loop per collector with a schedule of its own; their
//! back-off, staleness and logging once per change of error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, warn};

use super::failure::log_failure;
use super::run::{AccountRun, Instance, inputs_changed, own_round, refresh, remember};
use super::{Failure, MAX_BACKOFF, OWN_STALE_AFTER_ROUNDS, RefreshError, Shared};
use crate::api::ErrorKind;
use crate::config::AccountSettings;
use crate::view::Facts;

/// Starts the account's loops: the refresh (every refresh collector, together, the first
/// time `first` after now, then at the account's [`super::Pace`]) and one loop per
/// collector with its own schedule. They all end when `shutdown` flips to true.
pub async fn run_account(
    shared: Arc<Shared>,
    account: AccountSettings,
    first: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let (account, refresh, own) = AccountRun::start(account, false);
    let span = info_span!("refresh", account = %account.settings.name);
    let refresh_loop = refresh_loop(&shared, &account, refresh, first, shutdown.clone());
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
/// combined result is `chatapp_up`. The interval and phase are read from the plan at every
/// turn ([`super::Pacing`]), so they follow the accounts that come and go under the key.
/// Returns when `shutdown` flips to true.
async fn refresh_loop(
    shared: &Shared,
    account: &AccountRun,
    mut instances: Vec<Instance>,
    first: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    if instances.is_empty() {
        account.refreshed.send_replace(true);
        return;
    }
    let start = Instant::now();
    let name = account.settings.name.as_str();
    let last = shared
        .status
        .snapshot_of(name)
        .filter(|s| s.serving_data)
        .and_then(|s| s.last_success_at);
    let keeps = format!(
        "serving the last good data until --refresh.max-staleness ({}) has passed",
        humantime::format_duration(shared.max_staleness)
    );
    let mut state = LoopState::resumed("refresh", last, keeps);
    let mut next = start + first;
    let mut first = true;
    loop {
        let pace = shared.pacing.get(name, shared.interval);
        // Never drop data between two planned refreshes of a stretched interval.
        let stale_at = state.stale_at(shared.max_staleness.max(pace.interval * 2));
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
            refresh_attempt(shared, account, &mut instances, &mut state, pace.interval).await
        };
        account.refreshed.send_replace(true);
        shared.metrics.set_backoff(&account.settings.name, backoff);
        let pace = shared.pacing.get(name, shared.interval);
        // Stay on the account's phase grid (start + phase + k·interval), then add jitter
        // of up to 5% and any back-off. The first refresh ran at start, off the grid: the
        // second waits for a grid point at least half an interval after that start, or
        // an account whose phase is a few seconds would call the API twice in a few
        // seconds, and a fleet would make two calls per account in its first interval
        // (1.5 on average this way, 1 in every later one).
        let mut after = Instant::now();
        if std::mem::take(&mut first) {
            after = after.max(start + pace.interval / 2);
        }
        next = next_on_grid(start + pace.phase, pace.interval, after)
            + jitter(pace.interval / 20)
            + backoff;
    }
}

/// One refresh ([`refresh`]) and its bookkeeping: the status board, back-off, staleness.
/// Returns the back-off to add before the next.
async fn refresh_attempt(
    shared: &Shared,
    account: &AccountRun,
    instances: &mut [Instance],
    state: &mut LoopState,
    interval: Duration,
) -> Duration {
    let started = Instant::now();
    let name = account.settings.name.as_str();
    let result = refresh(shared, account, instances).await;
    let now = SystemTime::now();
    match result {
        Ok(summary) => {
            if state.succeeded() {
                info!(result = %summary, "refresh recovered");
            }
            debug!(result = %summary, duration = ?started.elapsed(), "refresh succeeded");
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_success = Some(now);
                s.last_success_at = Some(Instant::now());
                s.last_result = Some(Ok(summary));
                s.serving_data = true;
            });
            Duration::ZERO
        }
        Err(e) => {
            let failure = Failure::new(&e, &refresh_actions(instances));
            let backoff = state.failed(&e, &failure, interval);
            shared.status.update(name, |s| {
                s.last_attempt = Some(now);
                s.last_result = Some(Err(failure));
            });
            if state
                .stale_at(shared.max_staleness.max(interval * 2))
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
    let served = shared.store.get(name, collector).is_some();
    let last = shared
        .status
        .snapshot_of(name)
        .and_then(|s| s.collectors.into_iter().find(|(c, _)| *c == collector))
        .and_then(|(_, s)| s.last_success_at)
        .filter(|_| served);
    let keeps = format!(
        "serving the collector's last good data for up to {OWN_STALE_AFTER_ROUNDS} rounds ({} each)",
        humantime::format_duration(instance.interval)
    );
    let mut state = LoopState::resumed(collector, last, keeps);
    let mut next = Instant::now();
    let mut round = instance.interval;
    let actions = instance.actions();
    loop {
        let stale_at = state.stale_at(round.max(instance.interval) * OWN_STALE_AFTER_ROUNDS);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = sleep_until_opt(stale_at) => {
                warn!(collector, rounds = OWN_STALE_AFTER_ROUNDS, "no successful round for this many rounds; dropping the collector's series");
                shared.store.set(name, collector, None);
                remember(shared, name, instance.collector.spec().tracked, &Facts::default());
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
        let (result, plan) = own_round(shared, account, &mut instance).await;
        if let Some(plan) = plan {
            round = plan.round;
        }
        let now = SystemTime::now();
        let backoff = match result {
            Ok(summary) => {
                if state.succeeded() {
                    info!(collector, result = %summary, "collector recovered");
                }
                if !account.refreshes {
                    account_result(shared, name, now, Ok(summary));
                }
                Duration::ZERO
            }
            Err(e) => {
                let failure = Failure::new(&e, &actions);
                let backoff = state.failed(&e, &failure, instance.interval);
                if !account.refreshes {
                    account_result(shared, name, now, Err(failure));
                }
                backoff
            }
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

/// The account's own line on the landing page, for an account without a refresh (a parent,
/// which runs only its discovery): its collector's result.
fn account_result(shared: &Shared, name: &str, now: SystemTime, result: Result<String, Failure>) {
    shared.status.update(name, |s| {
        s.last_attempt = Some(now);
        if result.is_ok() {
            s.last_success = Some(now);
            s.last_success_at = Some(Instant::now());
            s.serving_data = true;
        }
        s.last_result = Some(result);
    });
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
    /// `refresh`, or the collector whose loop it is, for the log line.
    run: &'static str,
    /// What a failure leaves served, for the log line.
    keeps: String,
}

impl LoopState {
    /// A loop's state when it starts: fresh, or, when a reload restarted the account while
    /// the previous task's series are still served, with that task's `last_success`, so that
    /// the staleness limit counts from it and the old series go at the same deadline as
    /// they would have without the reload. `keeps` says, for the logs, what a failure leaves
    /// served.
    fn resumed(run: &'static str, last_success: Option<Instant>, keeps: String) -> Self {
        LoopState {
            last_success,
            serving: last_success.is_some(),
            run,
            keeps,
            ..LoopState::default()
        }
    }

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
    /// `failure` is `e` as people read it.
    fn failed(&mut self, e: &RefreshError, failure: &Failure, interval: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let code = failure.code.clone();
        let changed = self.last_error_code.as_deref() != Some(code.as_str());
        log_failure(self.run, failure, changed, self.failures, &self.keeps);
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
        // Their states are unknown now: the since series go too.
        remember(shared, name, i.collector.spec().tracked, &Facts::default());
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
