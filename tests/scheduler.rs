//! The refresh loops (`supervisor::Supervisor` running `scheduler::run_account` per account)
//! in paused Tokio time: intervals
//! and jitter, no overlap, back-off, staleness, independent accounts, shutdown.
//!
//! The loop still talks HTTP to the signature-checking simulator on loopback. Paused time
//! auto-advances whenever the runtime is idle, which it also is while waiting for loopback
//! I/O, so the clock could jump to the API timeout in the middle of a request. The rig
//! therefore freezes the clock completely (a blocking task inhibits auto-advance, as the
//! `tokio::time::pause` docs describe) and moves it only in explicit steps; after every step
//! it waits, in real time, until every request the exporter started has reached the
//! simulator and every refresh whose answers are due has finished.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chatapp_exporter::metrics::{ExpositionStore, SelfMetrics};
use chatapp_exporter::scheduler::{Outputs, StatusBoard};
use chatapp_exporter::sim::{SimResponse, Simulator};
use chatapp_exporter::supervisor::Supervisor;
use common::*;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);
/// Jitter added to each refresh: up to 5% of the interval.
const JITTER: Duration = Duration::from_secs(3);
/// The clock moves in steps of this size: a timer fires at the first step at or after its
/// deadline.
const STEP: Duration = SECOND;
/// How much later than its deadline a timer may be observed to fire.
const SLACK: Duration = STEP;

/// Keeps the paused clock from auto-advancing while it lives.
struct Frozen {
    /// Dropping it ends the blocking task.
    _release: std::sync::mpsc::Sender<()>,
}

fn freeze() -> Frozen {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    Frozen { _release: tx }
}

struct Account {
    name: String,
    script: Arc<Script>,
    _sim: Simulator,
    /// Finished attempts observed so far, and the last attempt time seen.
    done: usize,
    last_attempt: Option<SystemTime>,
}

struct Rig {
    supervisor: Option<Supervisor>,
    /// The flags and accounts it was started with, for a reload.
    flags: Vec<String>,
    configured: Vec<chatapp_exporter::config::AccountSettings>,
    store: Arc<ExpositionStore>,
    metrics: Arc<SelfMetrics>,
    status: Arc<StatusBoard>,
    accounts: Vec<Account>,
    timeout: Duration,
    start: Instant,
    _frozen: Frozen,
}

impl Rig {
    /// One account per script, each on its own simulator, refreshed every `interval`, with
    /// a 10 s API timeout.
    async fn start(
        scripts: &[(&str, Arc<Script>)],
        interval: Duration,
        max_staleness: Duration,
    ) -> Rig {
        Rig::start_with_timeout(scripts, interval, max_staleness, Duration::from_secs(10)).await
    }

    async fn start_with_timeout(
        scripts: &[(&str, Arc<Script>)],
        interval: Duration,
        max_staleness: Duration,
        timeout: Duration,
    ) -> Rig {
        let frozen = freeze();
        let mut accounts = Vec::new();
        let mut configured = Vec::new();
        for (name, script) in scripts {
            let sim = start_sim(script).await;
            configured.push(account(name, &sim));
            accounts.push(Account {
                name: (*name).to_owned(),
                script: script.clone(),
                _sim: sim,
                done: 0,
                last_attempt: None,
            });
        }
        let flags: Vec<String> = [
            "--refresh.interval",
            &humantime::format_duration(interval).to_string(),
            "--refresh.max-staleness",
            &humantime::format_duration(max_staleness).to_string(),
            "--api.timeout",
            &humantime::format_duration(timeout).to_string(),
            // The client-side rate limiter runs on the wall clock, which hardly moves
            // while these tests step through hours of paused time: keep it out of the way.
            "--api.rate-limit",
            "1000000",
        ]
        .map(str::to_owned)
        .into();
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        let settings = settings(&args, configured.clone());
        let metrics = Arc::new(SelfMetrics::new(interval).unwrap());
        let outputs = Outputs::in_memory(metrics.clone());
        let (store, status) = (outputs.store.clone(), outputs.status.clone());
        let start = Instant::now();
        let supervisor = Supervisor::start(&settings, outputs).unwrap();
        let mut rig = Rig {
            supervisor: Some(supervisor),
            flags,
            configured,
            store,
            metrics,
            status,
            accounts,
            timeout,
            start,
            _frozen: frozen,
        };
        rig.settle().await;
        rig
    }

    /// Applies the start's settings plus `extra` flags, as a reload does.
    async fn reload(&mut self, extra: &[&str]) {
        let mut args: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        let new = settings(&args, self.configured.clone());
        let supervisor = self.supervisor.as_mut().unwrap();
        supervisor.apply(&new).await.unwrap();
        self.settle().await;
    }

    /// Virtual time since start.
    fn now(&self) -> Duration {
        Instant::now() - self.start
    }

    /// Waits (real time, bounded) until the loop has done everything it can without the
    /// clock moving: quiet twice in a row. `yield_now` lets every task woken so far (by a
    /// timer or I/O) run before this one resumes; waiting for I/O takes real time.
    async fn settle(&mut self) {
        let deadline = std::time::Instant::now() + WAIT;
        let mut quiet = 0;
        while quiet < 2 {
            tokio::task::yield_now().await;
            match self.pending() {
                None => quiet += 1,
                Some(why) => {
                    quiet = 0;
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the refresh loop does not settle at {:?}: {why}",
                        self.now()
                    );
                    tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)))
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// What the loop is still doing at the current instant, if anything.
    fn pending(&mut self) -> Option<String> {
        let status = self.status.snapshot();
        let counters = self.self_metrics();
        let now = Instant::now();
        let timeout = self.timeout;
        for a in &mut self.accounts {
            let name = a.name.as_str();
            let last = status
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, s)| s.last_attempt);
            if last != a.last_attempt {
                a.last_attempt = last;
                a.done += 1;
            }
            let started: f64 = counters
                .find("chatapp_api_requests_total", &[("account", name)])
                .iter()
                .map(|s| s.value)
                .sum();
            let seen = a.script.seen();
            if seen.len() != started as usize {
                return Some(format!(
                    "{name}: {started} requests started, {} arrived",
                    seen.len()
                ));
            }
            // Both operations of a refresh run side by side; the next refresh starts after
            // both finished. An answer is due after its delay or the API timeout.
            let due = seen
                .chunks(2)
                .filter(|pair| {
                    pair.len() == 2 && pair.iter().all(|r| r.at + r.delay.min(timeout) <= now)
                })
                .count();
            assert!(
                a.done <= due,
                "{name}: {} refreshes finished, {due} due",
                a.done
            );
            if a.done < due {
                return Some(format!(
                    "{name}: {} of {due} due refreshes finished",
                    a.done
                ));
            }
        }
        None
    }

    /// Moves the clock by `d` and lets the loop catch up.
    async fn step(&mut self, d: Duration) {
        tokio::time::advance(d).await;
        self.settle().await;
    }

    /// Steps the clock until `until` (since start), calling `each` after every step.
    async fn run_until(&mut self, until: Duration, mut each: impl FnMut(&mut Rig)) {
        while self.now() < until {
            self.step(STEP).await;
            each(self);
        }
    }

    /// When each refresh of account `i` started, relative to start.
    fn refreshes(&self, i: usize) -> Vec<Duration> {
        self.accounts[i]
            .script
            .seen()
            .iter()
            .filter(|r| r.request.action == OP_PHONE_NUMBERS)
            .map(|r| r.at - self.start)
            .collect()
    }

    fn self_metrics(&self) -> Scrape {
        let mut out = Vec::new();
        self.metrics.encode(&mut out);
        Scrape::parse(&String::from_utf8(out).unwrap())
    }

    /// What `/metrics` serves now: the self metrics, then the cached object families.
    fn scrape(&self) -> Scrape {
        let mut out = Vec::new();
        self.metrics.encode(&mut out);
        out.extend_from_slice(&self.store.current().text.to_vec());
        Scrape::parse(&String::from_utf8(out).unwrap())
    }

    fn gauge(&self, name: &str, account: &str) -> Option<f64> {
        self.self_metrics().value(name, &[("account", account)])
    }

    /// Stops every refresh loop, as shutdown does.
    async fn stop(mut self) {
        let supervisor = self.supervisor.take().unwrap();
        let stopped = tokio::spawn(supervisor.shutdown());
        let deadline = std::time::Instant::now() + WAIT;
        while !stopped.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the refresh loops did not stop"
            );
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)))
                .await
                .unwrap();
        }
    }
}

/// The grid point after `t`: the next multiple of `interval` (plus `phase`).
fn grid_after(t: Duration, interval: Duration, phase: Duration) -> Duration {
    let since = t.saturating_sub(phase);
    let periods = since.as_secs() / interval.as_secs() + 1;
    phase + interval * periods as u32
}

/// `t` is in `from..=from + width` (plus the timer slack).
fn assert_within(what: &str, t: Duration, from: Duration, width: Duration) {
    let width = width + SLACK;
    assert!(
        t >= from && t <= from + width,
        "{what} at {t:?}, expected within {from:?}..={:?}",
        from + width
    );
}

#[tokio::test(start_paused = true)]
async fn refreshes_at_start_then_every_interval_on_a_fixed_grid() {
    let mut rig = Rig::start(&[("shop", Script::full())], MINUTE, 10 * MINUTE).await;
    assert_eq!(
        rig.refreshes(0),
        vec![Duration::ZERO],
        "first refresh at start"
    );
    assert_eq!(rig.self_metrics().up("shop"), Some(1.0));

    rig.run_until(10 * MINUTE + 5 * SECOND, |_| {}).await;
    let times = rig.refreshes(0);
    assert_eq!(times.len(), 11, "{times:?}");
    for (k, t) in times.iter().enumerate() {
        // On the grid start + k·interval, plus at most 5% jitter: no drift, no bursts.
        assert_within(&format!("refresh {k}"), *t, MINUTE * k as u32, JITTER);
    }
    assert!(
        times.iter().skip(1).any(|t| t.as_secs() % 60 != 0),
        "jitter is applied: {times:?}"
    );
    let seen = rig.accounts[0].script.seen();
    assert_eq!(seen.len(), 22, "each refresh calls both operations once");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refresh_slower_than_the_interval_is_neither_overlapped_nor_caught_up() {
    let script = Script::full();
    for (op, fixture_name) in [
        (OP_PHONE_NUMBERS, "query-chatapp-phone-numbers.full.json"),
        ("QueryChatappBindWaba", "query-chatapp-bind-waba.full.json"),
    ] {
        script.set(
            op,
            SimResponse::ok(fixture(fixture_name)).delayed(Duration::from_secs(90)),
        );
    }
    let mut rig = Rig::start_with_timeout(
        &[("shop", script.clone())],
        MINUTE,
        10 * MINUTE,
        Duration::from_secs(120),
    )
    .await;
    // Stop between refreshes: the fourth (from ~6 min) has its answers at ~7.5 min.
    rig.run_until(7 * MINUTE + 45 * SECOND, |_| {}).await;

    let times = rig.refreshes(0);
    assert_eq!(times.len(), 4, "{times:?}");
    for (k, t) in times.iter().enumerate() {
        // Each refresh takes 90 s; the next one waits for the next grid point after it.
        assert_within(&format!("refresh {k}"), *t, 2 * MINUTE * k as u32, JITTER);
    }
    for pair in script.seen().windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap.is_zero() || gap >= Duration::from_secs(90),
            "a request started while another was in flight"
        );
    }
    let s = rig.scrape();
    assert_eq!(s.up("shop"), Some(1.0));
    assert!(s.object_series("shop") > 0);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn throttling_backs_off_exponentially_and_success_resets_it() {
    let throttled = SimResponse::raw(
        400,
        serde_json::to_vec(&fixture("error-throttling.json")).unwrap(),
    );
    let script = Script::full();
    script.set_both(throttled);
    let mut rig = Rig::start(&[("shop", script.clone())], MINUTE, 60 * MINUTE).await;

    // Record the back-off the exporter reports after each refresh.
    let mut backoffs = vec![
        rig.gauge("chatapp_refresh_backoff_seconds", "shop")
            .unwrap(),
    ];
    let mut recovered_at = None;
    rig.run_until(25 * MINUTE, |rig| {
        let n = rig.refreshes(0).len();
        if n > backoffs.len() {
            backoffs.push(
                rig.gauge("chatapp_refresh_backoff_seconds", "shop")
                    .unwrap(),
            );
            if n == 4 {
                // The quota frees up: the fifth refresh succeeds.
                rig.accounts[0].script.set(
                    OP_PHONE_NUMBERS,
                    SimResponse::ok(fixture("query-chatapp-phone-numbers.full.json")),
                );
                rig.accounts[0].script.set(
                    "QueryChatappBindWaba",
                    SimResponse::ok(fixture("query-chatapp-bind-waba.full.json")),
                );
            }
            if n == 5 {
                recovered_at = Some(rig.now());
            }
        }
    })
    .await;

    let times = rig.refreshes(0);
    assert!(times.len() >= 6, "{times:?}");
    // interval · (2^(failures-1) - 1) ± 20%: 0, ~60 s, ~180 s, ~420 s.
    assert_eq!(backoffs[0], 0.0, "first failure: no back-off");
    for (k, expected) in [(1, 60.0), (2, 180.0), (3, 420.0)] {
        let b = backoffs[k];
        assert!(
            b >= expected * 0.8 && b <= expected * 1.2,
            "back-off after failure {}: {b} s, expected {expected} s ± 20%",
            k + 1
        );
    }
    for k in 0..5 {
        // The reported back-off is what the next refresh waits beyond the grid.
        let from =
            grid_after(times[k], MINUTE, Duration::ZERO) + Duration::from_secs_f64(backoffs[k]);
        assert_within(&format!("refresh {}", k + 1), times[k + 1], from, JITTER);
    }
    assert_eq!(backoffs[4], 0.0, "success resets the back-off");
    let s = rig.scrape();
    assert_eq!(s.up("shop"), Some(1.0));
    assert_eq!(
        s.errors("shop", "Throttling.User"),
        8.0,
        "4 refreshes × 2 operations"
    );
    let recovered_at = recovered_at.unwrap();
    assert!(
        times[5] - recovered_at <= MINUTE + JITTER,
        "back on the interval after success"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stale_data_is_dropped_after_max_staleness_and_restored_by_a_success() {
    let script = Script::full();
    let mut rig = Rig::start(&[("shop", script.clone())], MINUTE, 5 * MINUTE).await;
    let good = rig.scrape();
    let series = good.object_series("shop");
    assert!(series > 0);
    let last_success = good
        .value(
            "chatapp_last_refresh_success_timestamp_seconds",
            &[("account", "shop")],
        )
        .unwrap();

    // Permission revoked: errors that do not back off, so refreshes stay on the grid.
    script.set_both(SimResponse::error(
        403,
        "Forbidden.RAM",
        "User not authorized to operate on the specified resource.",
    ));
    rig.run_until(5 * MINUTE - SECOND, |_| {}).await;
    let s = rig.scrape();
    assert_eq!(s.up("shop"), Some(0.0));
    assert_eq!(
        s.object_series("shop"),
        series,
        "last good data served until max staleness"
    );
    assert_eq!(rig.refreshes(0).len(), 5, "refreshes at 0, 1, 2, 3, 4 min");
    assert_eq!(
        s.value("chatapp_refresh_backoff_seconds", &[("account", "shop")]),
        Some(0.0)
    );

    rig.step(STEP).await; // max_staleness after the last success
    let s = rig.scrape();
    assert_eq!(
        s.object_series("shop"),
        0,
        "object series dropped at max staleness"
    );
    assert_eq!(s.up("shop"), Some(0.0), "chatapp_up stays");
    assert_eq!(
        s.value(
            "chatapp_last_refresh_success_timestamp_seconds",
            &[("account", "shop")]
        ),
        Some(last_success),
        "the last-success timestamp stays"
    );
    assert!(s.errors("shop", "Forbidden.RAM") >= 8.0);
    let status = rig.status.snapshot();
    assert!(
        !status[0].1.serving_data,
        "landing page says no data is served"
    );

    script.set_both(SimResponse::ok(fixture(
        "query-chatapp-phone-numbers.full.json",
    )));
    script.set(
        "QueryChatappBindWaba",
        SimResponse::ok(fixture("query-chatapp-bind-waba.full.json")),
    );
    rig.run_until(6 * MINUTE + JITTER, |_| {}).await;
    let s = rig.scrape();
    assert_eq!(s.up("shop"), Some(1.0));
    assert_eq!(
        s.object_series("shop"),
        series,
        "a success brings the series back"
    );
    assert!(
        s.value(
            "chatapp_last_refresh_success_timestamp_seconds",
            &[("account", "shop")]
        )
        .unwrap()
            > last_success
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_account_restarted_by_a_reload_during_an_outage_drops_its_series_at_the_deadline() {
    let script = Script::full();
    let mut rig = Rig::start(&[("shop", script.clone())], MINUTE, 5 * MINUTE).await;
    let series = rig.scrape().object_series("shop");
    assert!(series > 0);

    // The API goes down; two minutes later a reload changes a global setting, which
    // restarts every account. The restarted task never succeeds.
    script.set_both(SimResponse::error(
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    ));
    rig.run_until(2 * MINUTE, |_| {}).await;
    rig.reload(&["--api.max-body-bytes", "1048576"]).await;
    rig.run_until(5 * MINUTE - SECOND, |_| {}).await;
    let s = rig.scrape();
    assert_eq!(s.up("shop"), Some(0.0));
    assert_eq!(
        s.object_series("shop"),
        series,
        "last good data served until max staleness"
    );
    // Max staleness after the last success, which was before the reload.
    rig.step(STEP).await;
    assert_eq!(
        rig.scrape().object_series("shop"),
        0,
        "the restarted account drops the old series at the deadline, as a running one does"
    );
    assert!(!rig.status.snapshot()[0].1.serving_data);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_account_does_not_delay_the_others() {
    let hung = Script::full();
    hung.set_both(SimResponse::ok(numbers_body(vec![])).delayed(Duration::from_secs(3600)));
    let mut rig = Rig::start_with_timeout(
        &[("healthy", Script::full()), ("hung", hung)],
        MINUTE,
        10 * MINUTE,
        Duration::from_secs(45),
    )
    .await;
    rig.run_until(5 * MINUTE + 5 * SECOND, |_| {}).await;

    let healthy = rig.refreshes(0);
    assert_eq!(healthy.len(), 6, "{healthy:?}");
    for (k, t) in healthy.iter().enumerate() {
        assert_within(
            &format!("healthy refresh {k}"),
            *t,
            MINUTE * k as u32,
            JITTER,
        );
    }
    let s = rig.scrape();
    assert_eq!(s.up("healthy"), Some(1.0));
    assert_eq!(s.up("hung"), Some(0.0));
    assert!(s.errors("hung", "timeout") >= 2.0);
    assert!(s.object_series("healthy") > 0);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn accounts_are_spread_over_the_interval() {
    let mut rig = Rig::start(
        &[
            ("a", Script::full()),
            ("b", Script::full()),
            ("c", Script::full()),
        ],
        MINUTE,
        10 * MINUTE,
    )
    .await;
    rig.run_until(4 * MINUTE + 5 * SECOND, |_| {}).await;
    let runs: Vec<_> = (0..3).map(|i| rig.refreshes(i)).collect();
    assert!(
        runs.iter().all(|r| r[0] == Duration::ZERO),
        "all refresh at start: {runs:?}"
    );
    // Later refreshes sit on per-account grids a third of an interval apart (phases 0 s,
    // 20 s, 40 s), so that many accounts do not all call the API at the same second. The
    // second refresh waits for a grid point at least half an interval after the first:
    // b skips 20 s (it would call twice within 20 s) and starts at 80 s; c keeps 40 s.
    let grids = [
        (Duration::ZERO, MINUTE),
        (20 * SECOND, 80 * SECOND),
        (40 * SECOND, 40 * SECOND),
    ];
    for (i, (times, (phase, second))) in runs.iter().zip(grids).enumerate() {
        for (k, t) in times.iter().enumerate().skip(1) {
            let expected = second + MINUTE * (k as u32 - 1);
            assert_within(&format!("account {i} refresh {k}"), *t, expected, JITTER);
            assert_eq!(
                expected.as_secs() % 60,
                phase.as_secs(),
                "on the account's grid"
            );
        }
    }
    let counts: Vec<_> = runs.iter().map(Vec::len).collect();
    assert_eq!(counts, [5, 4, 5], "{runs:?}");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_loops_without_waiting_for_the_next_refresh() {
    let script = Script::full();
    let mut rig = Rig::start(&[("shop", script.clone())], MINUTE, 10 * MINUTE).await;
    rig.step(10 * SECOND).await;
    let at = Instant::now();
    rig.stop().await;
    assert_eq!(Instant::now(), at, "stopped without the clock moving");
    assert_eq!(script.count(), 2, "only the first refresh ran");
}
