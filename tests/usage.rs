//! The usage collector against the signature-checking simulator: the 24-hour sums of the
//! buckets before the horizon (numbers and templates), an account without data, the
//! per-number fallback and its pace, a failing usage call beside healthy collectors, and no
//! call at all while it is off (the default).

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatapp_exporter::collect::{templates, usage};
use chatapp_exporter::sim::{Backend, SimRequest, SimResponse, Simulator};
use common::*;
use serde_json::{Value, json};

const NUMBER_METRIC: &str = usage::NUMBER_METRIC.action;
const TEMPLATE_METRIC: &str = usage::TEMPLATE_METRIC.action;
const HALF_HOUR: i64 = 1_800_000;

/// How the backend answers `GetChatappPhoneNumberMetric`.
#[derive(Clone, Copy, PartialEq)]
enum Numbers {
    /// One call answers every number, each entry naming its number.
    Named,
    /// Entries do not name their number: only per-number calls are usable.
    Unnamed,
    /// Metrics were never switched on: `OK` with no data.
    NotEnabled,
    /// Every call fails.
    Failing,
}

/// Two numbers (6511 at tier 1K, 6522 at 10K) and a marketing template, with usage buckets:
/// every half hour from `horizon - 30 h` to `horizon`, 10 sent and 9 delivered by 6511,
/// 100 and 60 by 6522; the template 5 sent, 4 delivered, 3 read, 1 click per bucket.
struct UsageBackend {
    script: Arc<Script>,
    numbers: Mutex<Numbers>,
    horizon: i64,
    calls: Mutex<Vec<(tokio::time::Instant, SimRequest)>>,
}

impl UsageBackend {
    fn new(numbers: Numbers) -> Arc<Self> {
        Self::with_extra(numbers, 0)
    }

    /// With `extra` more numbers (`6600..`), which send like 6511.
    fn with_extra(numbers: Numbers, extra: usize) -> Arc<Self> {
        let mut list = vec![
            number("6511", "One", "CONNECTED", "GREEN", "TIER_1K"),
            number("6522", "Two", "CONNECTED", "GREEN", "TIER_10K"),
        ];
        list.extend((0..extra).map(|i| {
            number(
                &format!("66{i:02}"),
                "More",
                "CONNECTED",
                "GREEN",
                "TIER_1K",
            )
        }));
        let script = Script::with_numbers(list);
        Arc::new(UsageBackend {
            script,
            numbers: Mutex::new(numbers),
            // A fixed horizon on a bucket boundary, well in the past.
            horizon: 1_796_400_000_000,
            calls: Mutex::default(),
        })
    }

    fn calls(&self, action: &str) -> Vec<(tokio::time::Instant, SimRequest)> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, r)| r.action == action)
            .cloned()
            .collect()
    }

    /// Bucket starts from 30 hours before the horizon up to it: 60 buckets, 48 in the window.
    fn starts(&self) -> impl Iterator<Item = i64> {
        let first = self.horizon - 60 * HALF_HOUR;
        (0..60).map(move |i| first + i * HALF_HOUR)
    }

    fn numbers_answer(&self, request: &SimRequest) -> SimResponse {
        let mode = *self.numbers.lock().unwrap_or_else(PoisonError::into_inner);
        let asked = request.param("PhoneNumber");
        let data: Vec<Value> = match mode {
            Numbers::Failing => {
                return SimResponse::error(
                    500,
                    "InternalError",
                    "The request processing has failed due to some unknown error.",
                );
            }
            Numbers::NotEnabled => Vec::new(),
            Numbers::Named | Numbers::Unnamed => [("6511", 10, 9), ("6522", 100, 60)]
                .into_iter()
                .chain(asked.filter(|a| a.starts_with("66")).map(|a| (a, 10, 9)))
                .filter(|(p, _, _)| asked.is_none_or(|a| a == *p))
                .flat_map(|(phone, sent, delivered)| {
                    self.starts().map(move |start| {
                        let mut b = json!({"Start": start, "End": start + HALF_HOUR,
                            "Granularity": "HALF_HOUR", "SentCount": sent,
                            "DeliveredCount": delivered});
                        if mode == Numbers::Named || asked.is_some() {
                            b["PhoneNumber"] = json!(phone);
                        }
                        b
                    })
                })
                .collect(),
        };
        SimResponse::ok(json!({"RequestId": "R", "Code": "OK", "Success": true, "Data": data}))
    }

    fn templates_answer(&self, request: &SimRequest) -> SimResponse {
        let data: Vec<Value> = match request.param("TemplateCode") {
            Some("promo") => self
                .starts()
                .map(|start| {
                    json!({"TemplateCode": "promo", "Language": "en", "Start": start,
                        "End": start + HALF_HOUR, "SentCount": 5, "DeliveredCount": 4,
                        "ReadCount": 3, "Cliented": [
                            {"Type": "url_button", "ButtonContent": "Buy <now>", "Count": 1}]})
                })
                .collect(),
            _ => Vec::new(),
        };
        SimResponse::ok(json!({"RequestId": "R", "Code": "OK", "Success": true, "Data": data}))
    }
}

impl Backend for UsageBackend {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((tokio::time::Instant::now(), request.clone()));
        match request.action.as_str() {
            NUMBER_METRIC => self.numbers_answer(request),
            TEMPLATE_METRIC => self.templates_answer(request),
            a if a == templates::LIST.action => SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true, "Total": 2,
                "ListTemplate": [
                    {"TemplateCode": "promo", "Language": "en", "Category": "MARKETING",
                     "TemplateType": "WHATSAPP", "AuditStatus": "pass"},
                    {"TemplateCode": "otp", "Language": "en", "Category": "AUTHENTICATION",
                     "TemplateType": "WHATSAPP", "AuditStatus": "pass"}]})),
            a if a == templates::DETAIL.action => SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true,
                "Data": {"QualityScore": "GREEN"}})),
            _ => self.script.respond(request),
        }
    }
}

async fn start(backend: &Arc<UsageBackend>, args: &[&str]) -> (TestApp, Simulator) {
    let sim = Simulator::start(backend.clone(), sim_keys(None))
        .await
        .expect("simulator binds 127.0.0.1:0");
    let app = spawn_app(fast_settings(args, vec![account("shop", &sim)])).await;
    (app, sim)
}

const USAGE_ON: [&str; 3] = ["--collector.usage", "--collector.usage.interval", "2s"];

fn labels(phone: &str) -> [(&str, &str); 2] {
    [("account", "shop"), ("phone_number", phone)]
}

#[tokio::test]
async fn sums_the_24_hours_before_the_horizon_for_numbers_and_templates() {
    let backend = UsageBackend::new(Numbers::Named);
    let mut args = USAGE_ON.to_vec();
    args.extend([
        "--collector.templates",
        "--collector.templates.interval",
        "1s",
    ]);
    let (app, _sim) = start(&backend, &args).await;
    let s = app
        .wait_for("usage of numbers and templates", |s| {
            s.value(
                "chatapp_template_messages_sent_24h",
                &[("template_code", "promo")],
            )
            .is_some()
        })
        .await;
    // 48 of the 60 buckets lie in the 24 hours before the horizon.
    let sent = |p| s.value("chatapp_phone_number_messages_sent_24h", &labels(p));
    let delivered = |p| s.value("chatapp_phone_number_messages_delivered_24h", &labels(p));
    assert_eq!(
        (sent("6511"), delivered("6511")),
        (Some(480.0), Some(432.0))
    );
    assert_eq!(
        (sent("6522"), delivered("6522")),
        (Some(4800.0), Some(2880.0))
    );
    assert_eq!(
        s.value(
            "chatapp_usage_window_end_timestamp_seconds",
            &[("account", "shop")]
        ),
        Some(1_796_400_000.0)
    );
    let promo = [("template_code", "promo"), ("language", "en")];
    for (family, want) in [
        ("chatapp_template_messages_sent_24h", 240.0),
        ("chatapp_template_messages_delivered_24h", 192.0),
        ("chatapp_template_messages_read_24h", 144.0),
    ] {
        assert_eq!(s.value(family, &promo), Some(want), "{family}");
    }
    assert_eq!(
        s.value(
            "chatapp_template_button_clicks_24h",
            &[("template_code", "promo"), ("button_type", "url_button")]
        ),
        Some(48.0)
    );
    // Only the marketing template is asked about, and only with its list's language.
    let asked: Vec<String> = backend
        .calls(TEMPLATE_METRIC)
        .iter()
        .map(|(_, r)| {
            format!(
                "{}/{}",
                r.request_param("TemplateCode"),
                r.request_param("Language")
            )
        })
        .collect();
    assert!(asked.iter().all(|a| a == "promo/en"), "{asked:?}");
    // One call for the whole account; every request had Start, End and HALF_HOUR.
    let numbers = backend.calls(NUMBER_METRIC);
    assert!(
        numbers
            .iter()
            .all(|(_, r)| r.param("PhoneNumber").is_none())
    );
    assert!(
        numbers
            .iter()
            .all(|(_, r)| r.param("Granularity") == Some("HALF_HOUR"))
    );
    // The landing page shows the numbers against their limits, the funnel and the button
    // text (escaped), never as a label.
    let (_, page) = app.get("/").await;
    assert!(page.contains("<th>Sent 24 h / limit</th>"), "{page}");
    assert!(page.contains("4800 / 10000 (48%)"), "{page}");
    assert!(page.contains("480 / 1000 (48%)"), "{page}");
    assert!(page.contains("Buy &lt;now&gt;: 48"), "{page}");
    let (_, metrics) = app.get("/metrics").await;
    assert!(!metrics.contains("Buy"), "the button text is never a label");
    app.shutdown().await;
}

#[tokio::test]
async fn an_account_without_usage_data_succeeds_with_no_series_and_says_why() {
    let backend = UsageBackend::new(Numbers::NotEnabled);
    let (app, _sim) = start(&backend, &USAGE_ON).await;
    let s = app
        .wait_for("a usage round", |s| {
            s.value(
                "chatapp_collector_success",
                &[("account", "shop"), ("collector", "usage")],
            ) == Some(1.0)
        })
        .await;
    for family in [
        "chatapp_phone_number_messages_sent_24h",
        "chatapp_usage_window_end_timestamp_seconds",
    ] {
        assert!(s.find(family, &[]).is_empty(), "{family}");
    }
    let (_, page) = app.get("/").await;
    assert!(page.contains("EnableWhatsappROIMetric"), "{page}");
    app.shutdown().await;
}

#[tokio::test]
async fn unnamed_entries_fall_back_to_calls_per_number_paced_at_the_operations_rate() {
    // 32 numbers in a 2 s interval: the calls cannot be spread over a second, so they go at
    // the operation's own rate (5/s per AccessKey by default), never faster.
    let backend = UsageBackend::with_extra(Numbers::Unnamed, 30);
    let (app, _sim) = start(&backend, &USAGE_ON).await;
    let s = app
        .wait_for("usage per number", |s| {
            s.value("chatapp_phone_number_messages_sent_24h", &labels("6629"))
                .is_some()
        })
        .await;
    assert_eq!(
        s.value("chatapp_phone_number_messages_sent_24h", &labels("6511")),
        Some(480.0)
    );
    assert_eq!(
        s.value("chatapp_phone_number_messages_sent_24h", &labels("6522")),
        Some(4800.0)
    );
    app.shutdown().await;
    let per_number: Vec<tokio::time::Instant> = backend
        .calls(NUMBER_METRIC)
        .iter()
        .filter(|(_, r)| r.param("PhoneNumber").is_some())
        .map(|(t, _)| *t)
        .collect();
    assert!(per_number.len() >= 32, "{}", per_number.len());
    let first = per_number[0];
    let times: Vec<Duration> = per_number.iter().map(|t| *t - first).collect();
    // A token bucket lets one extra call through at a window's edge.
    let most = most_in_any_window(&times, Duration::from_secs(1));
    assert!(most <= 6, "{most} calls in one second");
}

#[tokio::test]
async fn a_failing_usage_call_leaves_the_other_collectors_alone() {
    let backend = UsageBackend::new(Numbers::Failing);
    let (app, _sim) = start(&backend, &USAGE_ON).await;
    let s = app
        .wait_for("a failed usage round", |s| {
            s.value(
                "chatapp_collector_success",
                &[("account", "shop"), ("collector", "usage")],
            ) == Some(0.0)
        })
        .await;
    assert_eq!(s.up("shop"), Some(1.0));
    assert!(
        s.value("chatapp_phone_number_messaging_limit", &labels("6511"))
            .is_some()
    );
    assert!(
        s.find("chatapp_phone_number_messages_sent_24h", &[])
            .is_empty()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn off_by_default_it_makes_no_call() {
    let backend = UsageBackend::new(Numbers::Named);
    let (app, _sim) = start(&backend, &[]).await;
    app.wait_for("a refresh", |s| s.up("shop") == Some(1.0))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.shutdown().await;
    assert!(backend.calls(NUMBER_METRIC).is_empty());
    assert!(backend.calls(TEMPLATE_METRIC).is_empty());
}

/// A request's parameter or the empty string.
trait Param {
    fn request_param(&self, name: &str) -> String;
}

impl Param for SimRequest {
    fn request_param(&self, name: &str) -> String {
        self.param(name).unwrap_or_default().to_owned()
    }
}
