//! One run of one collector for one account: the credentials and tenant it needs, the
//! context it runs in, and the bookkeeping every run shares (self metrics, the status
//! board, publishing to the store and to the account's other collectors).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Failure, RefreshError, Shared};
use crate::api::Target;
use crate::collect::{ApiAccess, Collected, Ctx, DynCollector, Inputs, RoundPlan, Schedule};
use crate::config::AccountSettings;
use crate::credentials::{Credentials, read_secret_file};

/// Most detail lines (Meta's suggested fixes, ...) kept per collector for the landing page.
const MAX_DETAILS: usize = 50;

/// What a run returns: its result, how long it took and the round it planned.
pub(super) type Outcome = (Result<Collected, RefreshError>, Duration, Option<RoundPlan>);

/// One account's loops share this: its settings and what its collectors published.
pub(super) struct AccountRun {
    pub(super) settings: AccountSettings,
    pub(super) inputs: Inputs,
    /// Flips to true when the first refresh has finished, whatever its result: collectors
    /// with their own loop start then, so that they find the refresh's results.
    pub(super) refreshed: watch::Sender<bool>,
    /// A one-shot run (`--once`): rounds are not spread over the interval.
    pub(super) once: bool,
}

impl AccountRun {
    /// An account before its first run, with its enabled collectors split into the refresh
    /// group (run together, their result is `chatapp_up`) and those with a schedule of their
    /// own. A collector name the registry does not know was rejected by the configuration
    /// already; it is skipped here rather than trusted.
    pub(super) fn start(
        settings: AccountSettings,
        once: bool,
    ) -> (Self, Vec<Instance>, Vec<Instance>) {
        let mut refresh = Vec::new();
        let mut own = Vec::new();
        for c in &settings.collectors {
            let Some(collector) = crate::collect::find(c.name) else {
                continue;
            };
            let instance = Instance::new(collector, c.interval);
            match collector.spec().schedule {
                Schedule::Refresh => refresh.push(instance),
                Schedule::Own { .. } => own.push(instance),
            }
        }
        let run = AccountRun {
            settings,
            inputs: Inputs::default(),
            refreshed: watch::Sender::new(false),
            once,
        };
        (run, refresh, own)
    }
}

/// An enabled collector of an account with the state it keeps between runs.
pub(super) struct Instance {
    pub(super) collector: &'static dyn DynCollector,
    pub(super) interval: Duration,
    pub(super) state: Box<dyn Any + Send>,
    /// Whether a round longer than the interval was reported already.
    pub(super) warned_long_round: AtomicBool,
}

impl Instance {
    /// A collector of an account, before its first run.
    pub(super) fn new(collector: &'static dyn DynCollector, interval: Duration) -> Self {
        Instance {
            collector,
            interval,
            state: collector.new_state(),
            warned_long_round: AtomicBool::new(false),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        self.collector.spec().name
    }

    /// The CAMS operations the collector calls (for the RAM hint).
    pub(super) fn actions(&self) -> Vec<&'static str> {
        self.collector
            .spec()
            .operations
            .iter()
            .map(|o| o.action)
            .collect()
    }
}

/// The account's credentials and tenant, read afresh for every run (a rotated secret or
/// ISV code file is picked up without a restart).
pub(super) async fn connect(
    account: &AccountSettings,
) -> Result<(Credentials, Target), RefreshError> {
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
pub(super) async fn run_collector(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
    conn: &(Credentials, Target),
) -> Outcome {
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
    let once = account.once;
    let on_plan = |plan: RoundPlan| {
        if once {
            planned_once(collector, plan);
        } else {
            planned(shared, name, collector, interval, warned, plan);
        }
    };
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
        .await
        .map_err(RefreshError::from);
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

/// A `--once` round this long is announced, so a user watching the terminal knows why it
/// waits (120 template details at the default 2/s take a minute).
const ONCE_ANNOUNCE: Duration = Duration::from_secs(5);

/// A collector planned a round in a one-shot run: the calls go at the rate limit, and a
/// long round says how long and how to skip it.
fn planned_once(collector: &'static str, plan: RoundPlan) {
    if plan.round >= ONCE_ANNOUNCE {
        info!(
            collector,
            takes = %humantime::format_duration(Duration::from_secs(plan.round.as_secs())),
            "calls go at the rate limit; --no-collector.{collector} skips it, \
             rate_limits: in the config file raises the limit"
        );
    }
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
pub(super) fn record(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
    outcome: Outcome,
) -> Result<String, RefreshError> {
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
            let shown = Failure::new(&e, &instance.actions());
            shared.status.update_collector(name, collector, |s| {
                s.last_attempt = Some(now);
                s.last_result = Some(Err(shown));
            });
            Err(e)
        }
    }
}

/// Lets a collector follow what another collector of the account published.
pub(super) fn inputs_changed(shared: &Shared, account: &AccountRun, instance: &mut Instance) {
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
