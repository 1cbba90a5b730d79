//! ISV discovery end to end (issue #31): a parent account with `discover:` lists its
//! customers through the signature-checking simulator, page by page, and each customer
//! becomes an account of its own that inherits the parent's credentials, signature version,
//! IsvCode and collectors; customers come and go without a restart; a failed listing keeps
//! them; shards split them with no overlap and no gap.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatapp_exporter::api::SignatureVersion;
use chatapp_exporter::collect::discovery::DiscoverySettings;
use chatapp_exporter::collect::{AnySettings, discovery_collector};
use chatapp_exporter::config::{AccountSettings, CollectorSettings, Settings};
use chatapp_exporter::sim::{Backend, SimRequest, SimResponse, Simulator};
use common::{
    Scrape, account, fast_settings, number, numbers_body, sim_keys, spawn_app, waba_body,
};
use serde_json::json;

/// A CAMS with ISV sub-customers: `ListInstance` pages through the current customers (or
/// fails when told to); the other operations answer for the customer a request names.
#[derive(Default)]
struct Isv {
    /// (CustSpaceId, InstanceName), in listing order.
    customers: Mutex<Vec<(String, String)>>,
    list_fails: AtomicBool,
    seen: Mutex<Vec<SimRequest>>,
    /// When each request arrived, with its action and space.
    times: Mutex<Vec<(std::time::Instant, String, String)>>,
}

impl Isv {
    fn with(customers: impl IntoIterator<Item = (String, String)>) -> Arc<Isv> {
        let isv = Arc::new(Isv::default());
        isv.set(customers);
        isv
    }

    fn set(&self, customers: impl IntoIterator<Item = (String, String)>) {
        *self
            .customers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = customers.into_iter().collect();
    }

    fn seen(&self) -> Vec<SimRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn list(&self, r: &SimRequest) -> SimResponse {
        if self.list_fails.load(Ordering::SeqCst) {
            return SimResponse::error(
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
            );
        }
        let n = |k: &str| {
            r.param(k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let (index, size) = (n("PageIndex"), n("PageSize"));
        if index == 0 || size == 0 || size > 100 {
            return SimResponse::invalid("PageIndex and PageSize are out of range.");
        }
        let all = self
            .customers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let page: Vec<_> = all
            .iter()
            .skip((index - 1) * size)
            .take(size)
            .map(|(space, name)| {
                json!({"CustSpaceId": space, "InstanceId": format!("cams-{space}"),
                       "InstanceName": name, "ChannelType": "whatsapp", "State": "NORMAL"})
            })
            .collect();
        SimResponse::ok(json!({"Code": "OK", "Success": true, "RequestId": "R",
                               "TotalCount": all.len(), "Data": page}))
    }
}

impl Backend for Isv {
    fn respond(&self, r: &SimRequest) -> SimResponse {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r.clone());
        let space = r.param("CustSpaceId").unwrap_or("none");
        self.times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                std::time::Instant::now(),
                r.action.clone(),
                space.to_owned(),
            ));
        match r.action.as_str() {
            "ListInstance" => self.list(r),
            "QueryChatappPhoneNumbers" => SimResponse::ok(numbers_body(vec![number(
                &format!("65{space}"),
                &format!("Sender of {space}"),
                "CONNECTED",
                "GREEN",
                "TIER_1K",
            )])),
            "QueryChatappBindWaba" => SimResponse::ok(waba_body(space, "WABA", "APPROVED")),
            _ => SimResponse::error(404, "InvalidApi.NotFound", "not scripted"),
        }
    }
}

/// How long a test waits for many accounts on a machine busy with other tests and builds.
const LONG: Duration = Duration::from_secs(90);

fn customers(prefix: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("29340{i:05}"), format!("{prefix}-{i}")))
        .collect()
}

/// A parent `isv` on `sim` whose discovery runs every second with `settings`; its customers
/// get the refresh collectors of `s`.
fn parent(sim: &Simulator, s: &Settings, discover: DiscoverySettings) -> AccountSettings {
    let mut isv = account("isv", sim);
    isv.children = Some(s.collectors.clone());
    isv.collectors = vec![CollectorSettings {
        name: discovery_collector().spec().name,
        interval: Duration::from_secs(1),
        settings: AnySettings::new(discover),
    }];
    isv
}

async fn start(isv: &Arc<Isv>) -> Simulator {
    Simulator::start(isv.clone(), sim_keys(None))
        .await
        .expect("simulator binds 127.0.0.1:0")
}

/// The customers' account names `s` shows, from `chatapp_account_info{parent="isv"}`.
fn children(s: &Scrape) -> BTreeSet<String> {
    s.find("chatapp_account_info", &[("parent", "isv")])
        .iter()
        .map(|x| x.label("account").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_over_several_pages_become_accounts_that_inherit_the_parent() {
    let mut all = customers("shop", 0..250);
    all.extend(customers("test", 250..255));
    let backend = Isv::with(all);
    let sim = start(&backend).await;
    let isv_code = common::secret_file("ISV-CODE-4242\n");
    // Each customer refreshes once (interval 60s); the limit is raised so that 250 customers'
    // first refreshes take a second, not a minute.
    let mut s = fast_settings(
        &["--refresh.interval", "60s", "--api.rate-limit", "1000"],
        vec![],
    );
    let mut isv = parent(
        &sim,
        &s,
        DiscoverySettings {
            exclude: vec!["test-.*".into()],
            ..Default::default()
        },
    );
    isv.isv_code_file = Some(isv_code.path().to_owned());
    isv.signature_version = SignatureVersion::V3;
    s.accounts = vec![isv];
    let app = spawn_app(s).await;

    let scrape = app
        .wait_for_within("250 customers, each refreshed", LONG, |s| {
            s.value("chatapp_discovered_accounts", &[("account", "isv")]) == Some(250.0)
                && s.find("chatapp_up", &[])
                    .iter()
                    .filter(|x| x.value == 1.0)
                    .count()
                    == 250
        })
        .await;
    let names = children(&scrape);
    assert_eq!(names.len(), 250);
    assert!(names.contains("isv/2934000000") && names.contains("isv/2934000249"));
    assert!(!names.contains("isv/2934000250"), "test-* excluded");
    let info = scrape.find("chatapp_account_info", &[("account", "isv/2934000007")]);
    assert_eq!(info[0].label("instance_name"), "shop-7");
    assert_eq!(info[0].label("instance_id"), "cams-2934000007");
    assert_eq!(info[0].label("cust_space_id"), "2934000007");
    assert_eq!(
        scrape
            .find(
                "chatapp_phone_number_info",
                &[("account", "isv/2934000007")]
            )
            .len(),
        1,
        "the customer's number is served under its account"
    );
    // The parent queries no numbers itself and has no chatapp_up of its own.
    assert_eq!(scrape.value("chatapp_up", &[("account", "isv")]), None);
    assert_eq!(
        scrape.value(
            "chatapp_collector_success",
            &[("account", "isv"), ("collector", "discovery")]
        ),
        Some(1.0)
    );

    let seen = backend.seen();
    let lists: Vec<&SimRequest> = seen.iter().filter(|r| r.action == "ListInstance").collect();
    let pages: BTreeSet<&str> = lists.iter().filter_map(|r| r.param("PageIndex")).collect();
    assert_eq!(pages, BTreeSet::from(["1", "2", "3"]), "three pages of 100");
    for r in &lists {
        assert_eq!(r.param("PageSize"), Some("100"));
        assert_eq!(r.param("ChannelType"), Some("whatsapp"));
        assert_eq!(
            r.param("CustSpaceId"),
            None,
            "ListInstance is the parent's own view"
        );
        assert_eq!(r.param("IsvCode"), None);
    }
    // Every customer request was verified by the simulator with the parent's key and V3
    // signature, and carries the parent's IsvCode with the customer's space.
    let numbers: Vec<&SimRequest> = seen
        .iter()
        .filter(|r| r.action == "QueryChatappPhoneNumbers")
        .collect();
    assert!(numbers.len() >= 250);
    for r in numbers {
        assert_eq!(r.signature, "v3");
        assert_eq!(r.param("IsvCode"), Some("ISV-CODE-4242"));
        assert!(
            r.param("CustSpaceId")
                .is_some_and(|s| s.starts_with("29340"))
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_come_and_go_and_a_failed_listing_keeps_them() {
    let backend = Isv::with(customers("shop", 0..3));
    let sim = start(&backend).await;
    let mut s = fast_settings(&[], vec![]);
    let mut plain = account("direct", &sim);
    plain.collectors = s.collectors.clone();
    plain.cust_space_id = Some("7777".into());
    s.accounts = vec![plain, parent(&sim, &s, DiscoverySettings::default())];
    let app = spawn_app(s).await;
    let up = |s: &Scrape, a: &str| s.value("chatapp_up", &[("account", a)]) == Some(1.0);

    app.wait_for_within("three customers up", LONG, |s| {
        (0..3).all(|i| up(s, &format!("isv/29340{i:05}")))
    })
    .await;
    let phone_of_1 = "652934000001";
    // One customer leaves, another arrives.
    let mut next = customers("shop", 0..1);
    next.extend(customers("shop", 2..4));
    backend.set(next);
    let scrape = app
        .wait_for_within(
            "isv/2934000001 gone with its series, isv/2934000003 up",
            LONG,
            |s| {
                children(s).len() == 3
                    && !s.text.contains("isv/2934000001")
                    && up(s, "isv/2934000003")
            },
        )
        .await;
    assert!(
        !scrape.text.contains(phone_of_1),
        "the gone customer's numbers left too"
    );
    assert!(up(&scrape, "isv/2934000000") && up(&scrape, "direct"));
    assert_eq!(
        scrape.value("chatapp_discovered_accounts", &[("account", "isv")]),
        Some(3.0)
    );

    // The listing fails: the collector says so, and the customers stay.
    backend.list_fails.store(true, Ordering::SeqCst);
    let scrape = app
        .wait_for_within("discovery failing", LONG, |s| {
            s.value(
                "chatapp_collector_success",
                &[("account", "isv"), ("collector", "discovery")],
            ) == Some(0.0)
        })
        .await;
    assert_eq!(children(&scrape).len(), 3, "{}", scrape.text);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scrape = app.scrape().await;
    assert_eq!(children(&scrape).len(), 3, "still, rounds later");
    assert!(up(&scrape, "isv/2934000003"));
    // It recovers to the current list.
    backend.set(customers("shop", 0..2));
    backend.list_fails.store(false, Ordering::SeqCst);
    app.wait_for_within("back to the listed two", LONG, |s| children(s).len() == 2)
        .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_split_the_customers_with_no_overlap_and_no_gap() {
    let backend = Isv::with(customers("shop", 0..40));
    let sim = start(&backend).await;
    let mut apps = Vec::new();
    for shard in ["0", "1"] {
        let mut s = fast_settings(
            &[
                "--shard",
                shard,
                "--total-shards",
                "2",
                "--refresh.interval",
                "60s",
            ],
            vec![],
        );
        s.accounts = vec![parent(&sim, &s, DiscoverySettings::default())];
        apps.push(spawn_app(s).await);
    }
    let mut seen = Vec::new();
    for app in &apps {
        let s = app
            .wait_for_within("discovery ran and its customers started", LONG, |s| {
                s.value("chatapp_discovered_accounts", &[("account", "isv")])
                    .is_some_and(|n| n > 0.0 && n == children(s).len() as f64)
            })
            .await;
        let kept = s.value("chatapp_discovered_accounts", &[("account", "isv")]);
        let names = children(&s);
        assert_eq!(
            kept,
            Some(names.len() as f64),
            "the gauge counts what this shard kept"
        );
        seen.push(names);
    }
    assert!(seen[0].is_disjoint(&seen[1]), "no customer in both shards");
    assert_eq!(seen[0].len() + seen[1].len(), 40, "no customer in neither");
    assert!(seen[0].len() >= 10 && seen[1].len() >= 10, "{seen:?}");
    for app in apps {
        app.shutdown().await;
    }
}

/// 300 customers under one key at the default 5/s need 60 s of each refresh operation's
/// budget (63 s with the planner's room): more than the 30 s interval. They refresh every
/// 63 s instead, spread evenly and in order from the start, never above the limit, and each
/// within the stretched interval. (Real time: about 80 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_customers_share_the_default_rate_limit_in_turn() {
    let backend = Isv::with(customers("shop", 0..300));
    let sim = start(&backend).await;
    let mut s = fast_settings(&["--refresh.interval", "30s"], vec![]);
    let mut isv = parent(&sim, &s, DiscoverySettings::default());
    isv.collectors[0].interval = Duration::from_secs(600);
    s.accounts = vec![isv];
    let app = spawn_app(s).await;
    let started = std::time::Instant::now();
    let scrape = app
        .wait_for_within("300 customers planned", LONG, |s| {
            s.value("chatapp_discovered_accounts", &[("account", "isv")]) == Some(300.0)
                && s.value(
                    "chatapp_refresh_effective_interval_seconds",
                    &[("account", "isv/2934000123")],
                )
                .is_some()
        })
        .await;
    let discovered_at = started.elapsed();
    // 300 / 5 per second, with 5% room.
    let effective = scrape.value(
        "chatapp_refresh_effective_interval_seconds",
        &[("account", "isv/2934000123")],
    );
    assert_eq!(effective, Some(63.0));
    let (_, page) = app.get("/").await;
    assert!(
        page.contains("300 accounts under") && page.contains("cannot all refresh every 30s at 5/s"),
        "the landing page says so once"
    );
    tokio::time::sleep(Duration::from_secs(75).saturating_sub(started.elapsed())).await;
    let scrape = app.scrape().await;
    app.shutdown().await;

    let times = backend
        .times
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for op in ["QueryChatappPhoneNumbers", "QueryChatappBindWaba"] {
        let at: Vec<Duration> = times
            .iter()
            .filter(|(_, a, _)| a == op)
            .map(|(t, _, _)| t.duration_since(backend_start(&times)))
            .collect();
        // The bucket: 5/s with a burst of 5. Planned turns never need the burst for long.
        let second = common::most_in_any_window(&at, Duration::from_secs(1));
        let ten = common::most_in_any_window(&at, Duration::from_secs(10));
        assert!(second <= 10, "{op}: {second} in one second");
        assert!(ten <= 55, "{op}: {ten} in ten seconds");
    }
    // Every customer refreshed within the stretched interval after it was found, in order.
    let first = |space: &str| {
        times
            .iter()
            .find(|(_, a, s)| a == "QueryChatappPhoneNumbers" && s == space)
            .map(|(t, _, _)| t.duration_since(backend_start(&times)))
    };
    let mut firsts = Vec::new();
    for i in 0..300 {
        let t = first(&format!("29340{i:05}"))
            .unwrap_or_else(|| panic!("customer {i} never refreshed"));
        assert!(
            t <= discovered_at + Duration::from_secs(63 + 5),
            "customer {i} first at {t:?}"
        );
        firsts.push(t);
    }
    assert!(
        firsts[0] + Duration::from_secs(20) < firsts[150],
        "in turn, not in a burst: {firsts:?}"
    );
    assert!(
        firsts[150] + Duration::from_secs(20) < firsts[299],
        "{firsts:?}"
    );
    // No customer refreshed again before its stretched interval.
    for i in [0, 1, 2] {
        let space = format!("29340{i:05}");
        let calls: Vec<Duration> = times
            .iter()
            .filter(|(_, a, s)| a == "QueryChatappPhoneNumbers" && *s == space)
            .map(|(t, _, _)| t.duration_since(backend_start(&times)))
            .collect();
        for pair in calls.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(55),
                "customer {i}: {calls:?}"
            );
        }
    }
    assert_eq!(
        scrape
            .find("chatapp_up", &[])
            .iter()
            .filter(|x| x.value == 1.0)
            .count(),
        300
    );
}

/// When the first request arrived.
fn backend_start(times: &[(std::time::Instant, String, String)]) -> std::time::Instant {
    times.iter().map(|(t, _, _)| *t).min().expect("requests")
}
