//! One run of one collector for one account: the credentials and tenant it needs, the
//! context it runs in (built here, in one place), and the bookkeeping every run shares
//! (self metrics, the status board, publishing to the store and to the account's other
//! collectors). The daemon's loops and `--once` run collectors through the same two bodies:
//! [`refresh`] (every refresh collector, side by side) and [`own_round`] (one collector with
//! a schedule of its own).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{Failure, RefreshError, Shared};
use crate::api::Target;
use crate::collect::published::Discovered;
use crate::collect::{
    AnySettings, ApiAccess, CollectError, Collected, Ctx, DynCollector, Hooks, Inputs, RoundPlan,
    Schedule,
};
use crate::config::AccountSettings;
use crate::credentials::{Credentials, read_secret_file};
use crate::view::Facts;

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
    /// Whether it has refresh collectors (a parent, which runs only its discovery, has
    /// none: its own collector's result is then the account's).
    pub(super) refreshes: bool,
    /// The key of its credentials' rate-limit buckets, made once rather than at every run.
    pub(super) limit_key: String,
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
            let instance = Instance::new(collector, c.interval, c.settings.clone());
            match collector.spec().schedule {
                Schedule::Refresh => refresh.push(instance),
                Schedule::Own { .. } => own.push(instance),
            }
        }
        let run = AccountRun {
            limit_key: settings.credentials.describe(),
            settings,
            inputs: Inputs::default(),
            refreshed: watch::Sender::new(false),
            once,
            refreshes: !refresh.is_empty(),
        };
        (run, refresh, own)
    }
}

/// An enabled collector of an account with its settings and the state it keeps between runs.
pub(super) struct Instance {
    pub(super) collector: &'static dyn DynCollector,
    pub(super) interval: Duration,
    pub(super) settings: AnySettings,
    pub(super) state: Box<dyn Any + Send>,
    /// Whether a round longer than the interval was reported already.
    pub(super) warned_long_round: AtomicBool,
}

impl Instance {
    /// A collector of an account, before its first run.
    pub(super) fn new(
        collector: &'static dyn DynCollector,
        interval: Duration,
        settings: AnySettings,
    ) -> Self {
        Instance {
            collector,
            interval,
            settings,
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

/// One refresh: every refresh collector, side by side (each operation has its own quota,
/// 10/s each), each after a token from its own (key, API) bucket; each records its own
/// result, and `chatapp_up` says whether all succeeded. Returns their summaries, or the
/// first failure.
pub(super) async fn refresh(
    shared: &Shared,
    account: &AccountRun,
    instances: &mut [Instance],
) -> Result<String, RefreshError> {
    let started = Instant::now();
    let name = account.settings.name.as_str();
    let result = match connect(&account.settings).await {
        Ok(conn) => {
            let outcomes = join_all(
                instances
                    .iter_mut()
                    .map(|i| async { (run_collector(shared, account, i, &conn).await, i) }),
            )
            .await;
            let mut first_error = None;
            let mut summaries = Vec::new();
            for (outcome, instance) in outcomes {
                match record(shared, account, instance, outcome) {
                    Ok(summary) if !summary.is_empty() => summaries.push(summary),
                    Ok(_) => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or_else(|| Ok(summaries.join(", ")), Err)
        }
        Err(e) => {
            let now = SystemTime::now();
            for i in instances.iter() {
                shared
                    .metrics
                    .collector_done(name, i.name(), false, Duration::ZERO, now);
            }
            Err(e)
        }
    };
    shared
        .metrics
        .refresh_done(name, result.is_ok(), started.elapsed(), SystemTime::now());
    result
}

/// One round of a collector with a schedule of its own: connect, run, record. Returns its
/// summary or failure, and the round it planned.
pub(super) async fn own_round(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
) -> (Result<String, RefreshError>, Option<RoundPlan>) {
    let outcome = match connect(&account.settings).await {
        Ok(conn) => run_collector(shared, account, instance, &conn).await,
        Err(e) => (Err(e), Duration::ZERO, None),
    };
    let plan = outcome.2;
    (record(shared, account, instance, outcome), plan)
}

/// The context of one run of `instance`: the only place one is built. `api` is `None` for
/// [`inputs_changed`], which may not call the API.
fn context<'a>(
    shared: &'a Shared,
    account: &'a AccountRun,
    instance: &Instance,
    api: Option<&'a ApiAccess<'a>>,
    hooks: Hooks<'a>,
) -> Ctx<'a> {
    let name = account.settings.name.as_str();
    let ctx = Ctx::new(name, instance.interval, &account.inputs)
        .with_previous(shared.store.get(name, instance.name()))
        .with_mode(shared.enum_mode, !account.once)
        .with_hooks(hooks);
    match api {
        Some(api) => ctx.with_api(api),
        None => ctx,
    }
}

/// Runs one collector once with a context for `conn`; returns its result, how long it took
/// and the round it planned. A run that panics is a failed run (logged with the panic's
/// message and counted in `chatapp_collector_panics_total`), and the collector starts over
/// from a fresh state: what it kept may be half-updated.
pub(super) async fn run_collector(
    shared: &Shared,
    account: &AccountRun,
    instance: &mut Instance,
    conn: &(Credentials, Target),
) -> Outcome {
    let name = account.settings.name.as_str();
    let collector = instance.name();
    let api = ApiAccess {
        client: &shared.client,
        target: &conn.1,
        creds: &conn.0,
        limits: &shared.limits,
        limit_key: &account.limit_key,
        rates: &shared.rates,
        metrics: &shared.metrics,
    };
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
    let hooks = Hooks {
        publish: &publish,
        on_plan: &on_plan,
    };
    let ctx = context(shared, account, instance, Some(&api), hooks);
    let started = Instant::now();
    let run = instance
        .collector
        .run_dyn(instance.state.as_mut(), &instance.settings, &ctx);
    let result = match AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result.map_err(RefreshError::from),
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            error!(collector, panic = %message, "collector run panicked; it starts over from a fresh state");
            shared.metrics.collector_panicked(name, collector);
            instance.state = instance.collector.new_state();
            Err(RefreshError::from(CollectError::Bug(
                "the collector panicked",
            )))
        }
    };
    (result, started.elapsed(), ctx.planned_round())
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    crate::wire::clean_message(text)
}

/// Serves what a collector learned so far: its families, and its details on the landing
/// page (a failed run shows what it did learn).
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
/// waits (120 calls at the default 2/s take a minute).
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
            remember(shared, name, instance.collector.spec().tracked, &c.facts);
            shared.store.publish(
                name,
                collector,
                Some((Arc::new(c.exposition), Arc::new(c.facts))),
            );
            if let Some(p) = c.published {
                // A parent's customers go to the supervisor as well (`crate::discovery`).
                if let Ok(found) = p.clone().downcast::<Discovered>() {
                    shared.discovered.publish(name, found);
                }
                account.inputs.publish(p);
            }
            let summary = c.summary;
            let mut details = c.details;
            details.truncate(MAX_DETAILS);
            shared.status.update_collector(name, collector, |s| {
                s.last_attempt = Some(now);
                s.last_success = Some(now);
                s.last_success_at = Some(Instant::now());
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

/// Records the states of the collector's tracked columns in the history and serves the
/// account's since families and facts, rendered again only when they would differ; writes
/// the history store off the runtime when something changed.
pub(super) fn remember(
    shared: &Shared,
    account: &str,
    tracked: &[crate::collect::Tracked],
    facts: &Facts,
) {
    if tracked.is_empty() {
        return;
    }
    let now = crate::history::now();
    let observed = shared.history.observe(account, facts, tracked, now);
    let previous = shared.store.get(account, crate::history::SLOT);
    // What is served stays right without rendering it again: at most refreshes nothing a
    // person sees changed (rendering it anyway was a tenth of the CPU at 1,000 accounts,
    // `perf record` on bench/accounts.sh).
    let current = previous.is_some() && !observed.shown && !shared.history.shows_ages(account);
    if !current {
        let (exposition, facts) =
            shared
                .history
                .render(account, HISTORY_NOTE, now, previous.as_deref());
        shared.store.publish(
            account,
            crate::history::SLOT,
            Some((Arc::new(exposition), Arc::new(facts))),
        );
    }
    if observed.write {
        let history = shared.history.clone();
        tokio::task::spawn_blocking(move || history.save(now));
    }
}

/// The HELP suffix of the since families.
const HISTORY_NOTE: &str = "Updated when the collector that reports the field runs.";

/// Lets a collector follow what another collector of the account published.
pub(super) fn inputs_changed(shared: &Shared, account: &AccountRun, instance: &mut Instance) {
    let name = account.settings.name.as_str();
    let collector = instance.name();
    let publish = |c: Collected| progress(shared, name, collector, c);
    let hooks = Hooks {
        publish: &publish,
        on_plan: &|_| {},
    };
    let ctx = context(shared, account, instance, None, hooks);
    let changed =
        instance
            .collector
            .inputs_changed_dyn(instance.state.as_mut(), &instance.settings, &ctx);
    if let Some(c) = changed {
        progress(shared, name, collector, c);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use clap::Parser as _;

    use super::*;
    use crate::collect::{CollectorSpec, NoSettings, Schedule};
    use crate::metrics::SelfMetrics;

    /// Runs before the panic, and the runs that panicked.
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    struct Panicky;

    static SPEC: CollectorSpec = CollectorSpec {
        name: "panicky",
        description: "panics on its first run",
        operations: &[],
        families: &[],
        schedule: Schedule::Own {
            interval: Duration::from_secs(60),
            demo_interval: Duration::from_secs(60),
        },
        role: crate::collect::Role::Objects,
        enabled_by_default: false,
        enabled_in_demo: false,
        needs: &[],
        view: crate::view::ViewSpec::NONE,
        tracked: &[],
    };

    impl crate::collect::Collector for Panicky {
        /// Runs since the state was made: a reset state starts at 0.
        type State = usize;
        type Settings = NoSettings;

        fn spec(&self) -> &'static CollectorSpec {
            &SPEC
        }

        async fn run<'a>(
            &'a self,
            state: &'a mut usize,
            _settings: &'a NoSettings,
            _ctx: &'a Ctx<'a>,
        ) -> Result<Collected, CollectError> {
            *state += 1;
            if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("the first run breaks\x1b[2J");
            }
            Ok(Collected {
                summary: format!("run {state} of this state"),
                ..Default::default()
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_run_is_a_failure_counted_once_and_the_collector_starts_over() {
        let cli =
            crate::cli::Cli::try_parse_from(["x", "--api.endpoint", "http://127.0.0.1:1"]).unwrap();
        let env = |k: &str| match k {
            crate::credentials::ENV_ACCESS_KEY_ID => Some("LTAI5tTestKeyForPanics".into()),
            crate::credentials::ENV_ACCESS_KEY_SECRET => Some("unused".into()),
            _ => None,
        };
        let settings = crate::config::resolve(&cli, Default::default(), &env).unwrap();
        let metrics = Arc::new(SelfMetrics::new(Duration::from_secs(60)).unwrap());
        let outputs = crate::scheduler::Outputs::in_memory(metrics.clone());
        let status = outputs.status.clone();
        let shared = Shared::new(&settings, &outputs).unwrap();
        let mut account_settings = settings.accounts[0].clone();
        account_settings.collectors.clear();
        status.register(&account_settings);
        metrics.add_collector("default", "panicky", Duration::from_secs(60));
        let (account, _, _) = AccountRun::start(account_settings, false);
        static PANICKY: Panicky = Panicky;
        let mut instance = Instance::new(
            &PANICKY,
            Duration::from_secs(60),
            AnySettings::new(NoSettings {}),
        );

        let (first, _) = own_round(&shared, &account, &mut instance).await;
        let e = first.expect_err("a panic is a failed run");
        assert_eq!(e.code_label(), "internal");
        assert_eq!(e.kind(), crate::api::ErrorKind::Transient, "backs off");
        let (second, _) = own_round(&shared, &account, &mut instance).await;
        assert_eq!(second.unwrap(), "run 1 of this state", "a fresh state");
        let mut text = Vec::new();
        metrics.encode(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                r#"chatapp_collector_panics_total{account="default",collector="panicky"} 1"#
            ),
            "{text}"
        );
    }
}
