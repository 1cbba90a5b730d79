//! The health collector end to end (issue "Collectors ... GetWhatsappHealthStatus"): the
//! whole exporter against the signature-checking simulator, observed by scraping.
//!
//! The simulator's backend answers the refresh's two operations from a [`Script`] and each
//! health call by the node it names, so a test can give every number its own state.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatapp_exporter::sim::{Backend, SimRequest, SimResponse};
use common::*;
use serde_json::{Value, json};

const CAN_SEND: &str = "chatapp_phone_number_can_send";
const WABA_CAN_SEND: &str = "chatapp_waba_can_send";
const ERROR_INFO: &str = "chatapp_health_error_info";
const WABA_ID: &str = "100200300";

/// Health answers by node id (phone number or WABA id); other operations go to `script`.
struct HealthBackend {
    script: Arc<Script>,
    answers: Mutex<HashMap<String, SimResponse>>,
    calls: Mutex<Vec<(tokio::time::Instant, SimRequest)>>,
}

impl HealthBackend {
    fn new(script: Arc<Script>) -> Arc<Self> {
        Arc::new(HealthBackend {
            script,
            answers: Mutex::default(),
            calls: Mutex::default(),
        })
    }

    fn set(&self, node: &str, response: SimResponse) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.to_owned(), response);
    }

    fn calls(&self) -> Vec<(tokio::time::Instant, SimRequest)> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Backend for HealthBackend {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        if request.action != OP_HEALTH_STATUS {
            return self.script.respond(request);
        }
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((tokio::time::Instant::now(), request.clone()));
        let node = request
            .param("PhoneNumber")
            .or(request.param("WabaId"))
            .unwrap_or("");
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            .cloned()
            .unwrap_or_else(|| health("AVAILABLE", vec![]))
    }
}

/// A health answer with the given overall state and entities.
fn health(can_send: &str, entities: Vec<Value>) -> SimResponse {
    SimResponse::ok(json!({
        "RequestId": "5D1F0000-0000-4000-8000-00000000CCCC",
        "Code": "OK",
        "Message": "SUCCESS",
        "Success": true,
        "Data": {"CanSendMessage": can_send, "Entities": entities},
    }))
}

fn phone_error(phone: &str, code: &str, description: &str, fix: &str) -> Value {
    json!({
        "EntityType": "PHONE_NUMBER",
        "PhoneNumber": phone,
        "CanSendMessage": "BLOCKED",
        "Errors": [{"ErrorCode": code, "ErrorDescription": description, "PossibleSolution": fix}],
    })
}

fn fleet(phones: &[&str]) -> Vec<Value> {
    phones
        .iter()
        .map(|p| number(p, &format!("Sender {p}"), "CONNECTED", "GREEN", "TIER_1K"))
        .collect()
}

async fn start(
    backend: &Arc<HealthBackend>,
    args: &[&str],
    tweak: impl FnOnce(&mut chatapp_exporter::config::AccountSettings),
) -> (TestApp, chatapp_exporter::sim::Simulator) {
    let sim = chatapp_exporter::sim::Simulator::start(backend.clone(), sim_keys(None))
        .await
        .expect("simulator binds 127.0.0.1:0");
    let mut a = account("shop", &sim);
    tweak(&mut a);
    let app = spawn_app(fast_settings(args, vec![a])).await;
    (app, sim)
}

#[tokio::test]
async fn every_state_and_error_is_exported() {
    let script = Script::with_numbers(fleet(&["6511", "6522", "6533", "6544"]));
    let backend = HealthBackend::new(script.clone());
    backend.set("6522", health("LIMITED", vec![]));
    backend.set(
        "6533",
        health(
            "BLOCKED",
            vec![phone_error(
                "6533",
                "141006",
                "There is an error with the payment method.",
                "Add a new payment method in WhatsApp Manager.",
            )],
        ),
    );
    backend.set("6544", health("PAUSED_BY_META", vec![]));
    backend.set(WABA_ID, health("LIMITED", vec![]));
    let isv = secret_file("isv-code-not-for-health");
    let (app, _sim) = start(&backend, &["--collector.health.interval", "2s"], |a| {
        a.cust_space_id = Some("2934000001".into());
        a.isv_code_file = Some(isv.path().to_owned());
    })
    .await;

    let s = app
        .wait_for("every number and the WABA checked", |s| {
            s.state(CAN_SEND, "state", &[("phone_number", "6544")])
                .is_some()
                && s.state(WABA_CAN_SEND, "state", &[]).is_some()
        })
        .await;
    let state = |phone| {
        s.state(
            CAN_SEND,
            "state",
            &[("account", "shop"), ("phone_number", phone)],
        )
    };
    assert_eq!(state("6511").as_deref(), Some("AVAILABLE"));
    assert_eq!(state("6522").as_deref(), Some("LIMITED"));
    assert_eq!(state("6533").as_deref(), Some("BLOCKED"));
    // An unseen value is an extra state, every known state still present with 0.
    assert_eq!(state("6544").as_deref(), Some("PAUSED_BY_META"));
    assert_eq!(s.find(CAN_SEND, &[("phone_number", "6544")]).len(), 4);
    assert!(
        s.value(
            "chatapp_unknown_enum_values_total",
            &[("field", "CanSendMessage")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(
        s.state(WABA_CAN_SEND, "state", &[("waba_id", WABA_ID)])
            .as_deref(),
        Some("LIMITED")
    );
    let errors = s.find(ERROR_INFO, &[("account", "shop")]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].label("entity_type"), "PHONE_NUMBER");
    assert_eq!(errors[0].label("entity_id"), "6533");
    assert_eq!(errors[0].label("error_code"), "141006");
    assert_eq!(
        errors[0].label("description"),
        "There is an error with the payment method."
    );

    // The calls: NodeType and the node's id, the account's CustSpaceId, never the IsvCode.
    let calls = backend.calls();
    let phone_call = calls
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.param("PhoneNumber") == Some("6533"))
        .expect("6533 was asked about");
    assert_eq!(phone_call.param("NodeType"), Some("phone"));
    assert_eq!(phone_call.param("CustSpaceId"), Some("2934000001"));
    assert_eq!(phone_call.param("IsvCode"), None);
    let waba_call = calls
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.param("WabaId").is_some())
        .expect("the WABA was asked about");
    assert_eq!(waba_call.param("NodeType"), Some("waba"));
    assert_eq!(waba_call.param("WabaId"), Some(WABA_ID));

    // The landing page shows Meta's suggested fix, which is not a label.
    let (_, page) = app.get("/").await;
    assert!(
        page.contains("Add a new payment method in WhatsApp Manager."),
        "{page}"
    );
    assert!(!s.text.contains("Add a new payment method"));

    assert_eq!(
        s.value(
            "chatapp_collector_success",
            &[("account", "shop"), ("collector", "health")]
        ),
        Some(1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_number_that_leaves_the_list_loses_its_health_series_at_once() {
    // A 30 s round for two numbers and the WABA: 6511 is asked at once, the next call is
    // 10 s later. Removing 6511 must take its health series away with the next refresh
    // (1 s), not at the next health round.
    let script = Script::with_numbers(fleet(&["6511", "6522"]));
    let backend = HealthBackend::new(script.clone());
    backend.set(
        "6511",
        health(
            "BLOCKED",
            vec![phone_error("6511", "141006", "Payment method.", "Add one.")],
        ),
    );
    let (app, _sim) = start(&backend, &["--collector.health.interval", "30s"], |_| {}).await;
    app.wait_for("6511 checked", |s| {
        s.state(CAN_SEND, "state", &[("phone_number", "6511")])
            .as_deref()
            == Some("BLOCKED")
            && !s.find(ERROR_INFO, &[("entity_id", "6511")]).is_empty()
    })
    .await;
    let removed = tokio::time::Instant::now();
    script.set_numbers(fleet(&["6522"]));
    let s = app
        .wait_for("6511's health series gone", |s| {
            s.find(CAN_SEND, &[("phone_number", "6511")]).is_empty()
        })
        .await;
    assert!(
        removed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        removed.elapsed()
    );
    assert!(s.find(ERROR_INFO, &[("entity_id", "6511")]).is_empty());
    assert!(
        s.find(STATUS_FAMILY, &[("phone_number", "6511")])
            .is_empty()
    );
    assert_eq!(
        backend
            .calls()
            .iter()
            .filter(|(_, r)| r.param("PhoneNumber") == Some("6511"))
            .count(),
        1,
        "no health call was needed for the removal"
    );
    app.shutdown().await;
}

const STATUS_FAMILY: &str = "chatapp_phone_number_status";

#[tokio::test]
async fn no_collector_health_makes_no_health_calls() {
    let script = Script::with_numbers(fleet(&["6511", "6522"]));
    let backend = HealthBackend::new(script.clone());
    // The harness passes --no-collector.health unless a test names the collector.
    let (app, _sim) = start(&backend, &["--no-collector.health"], |_| {}).await;
    app.wait_for("three refreshes", |s| {
        s.value(
            "chatapp_api_requests_total",
            &[("account", "shop"), ("operation", OP_PHONE_NUMBERS)],
        )
        .unwrap_or(0.0)
            >= 3.0
    })
    .await;
    let s = app.scrape().await;
    assert!(backend.calls().is_empty(), "{:?}", backend.calls());
    assert!(s.find(CAN_SEND, &[]).is_empty());
    assert!(
        s.find("chatapp_collector_success", &[("collector", "health")])
            .is_empty()
    );
    assert_eq!(
        s.value(
            "chatapp_api_requests_total",
            &[("account", "shop"), ("operation", OP_HEALTH_STATUS)]
        ),
        None
    );
    app.shutdown().await;
}

#[tokio::test]
async fn health_calls_keep_their_rate_while_the_refresh_goes_on() {
    // 19 numbers and the WABA: 20 calls at 2/s take 10 s, more than the 1 s interval, so the
    // round is paced by the rate and takes longer instead of going faster.
    let phones: Vec<String> = (0..19).map(|i| format!("65{i:03}")).collect();
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    let script = Script::with_numbers(fleet(&phones));
    let backend = HealthBackend::new(script.clone());
    let (app, _sim) = start(&backend, &["--collector.health.interval", "1s"], |_| {}).await;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let s = app.scrape().await;
    let calls = backend.calls();
    let refreshes = script
        .seen()
        .iter()
        .filter(|r| r.request.action == OP_PHONE_NUMBERS)
        .count();
    let (_, page) = app.get("/").await;
    app.shutdown().await;

    let times: Vec<Duration> = calls.iter().map(|(t, _)| *t - started).collect();
    // GCRA at 2/s with a burst of 2 admits at most 4 in any closed 1 s window.
    let most = most_in_any_window(&times, Duration::from_secs(1));
    assert!(
        (2..=4).contains(&most),
        "{most} health calls within 1 s: {times:?}"
    );
    assert!(
        (8..=14).contains(&times.len()),
        "about 2 health calls/s for 6 s, saw {}: {times:?}",
        times.len()
    );
    // The refresh went on at its own 1 s interval meanwhile, and stayed up.
    assert!(refreshes >= 5, "{refreshes} refreshes in 6 s");
    assert_eq!(s.up("shop"), Some(1.0));
    assert_eq!(
        s.value(
            "chatapp_collector_round_seconds",
            &[("account", "shop"), ("collector", "health")]
        ),
        Some(10.0)
    );
    assert!(page.contains("longer than the 1s interval"), "{page}");
}

#[tokio::test]
async fn a_failing_health_call_never_touches_the_refresh() {
    let script = Script::with_numbers(fleet(&["6511", "6522"]));
    let backend = HealthBackend::new(script.clone());
    let throttled = SimResponse::error(
        400,
        "Throttling.User",
        "Request was denied due to user flow control.",
    );
    backend.set("6511", throttled.clone());
    backend.set("6522", throttled);
    let (app, _sim) = start(&backend, &["--collector.health.interval", "1s"], |_| {}).await;
    let s = app
        .wait_for("a health call throttled", |s| {
            s.value(
                "chatapp_collector_success",
                &[("account", "shop"), ("collector", "health")],
            ) == Some(0.0)
        })
        .await;
    assert_eq!(s.up("shop"), Some(1.0));
    assert_eq!(
        s.state(STATUS_FAMILY, "status", &[("phone_number", "6511")])
            .as_deref(),
        Some("CONNECTED")
    );
    assert!(
        s.value(
            "chatapp_api_request_errors_total",
            &[
                ("account", "shop"),
                ("operation", OP_HEALTH_STATUS),
                ("code", "Throttling.User")
            ]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(s.find(CAN_SEND, &[]).is_empty(), "no answer, no series");
    // Throttling stopped the round at its first call: the second number was not asked.
    assert!(
        backend
            .calls()
            .iter()
            .all(|(_, r)| r.param("PhoneNumber") == Some("6511")),
        "{:?}",
        backend.calls()
    );
    app.shutdown().await;
}
