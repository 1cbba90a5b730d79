//! The templates collector end to end (issue "Templates collector"): the whole exporter
//! against the signature-checking simulator, observed by scraping.
//!
//! The backend serves `ListChatappTemplate` pages from the SDK's `Page` JSON and answers each
//! `GetChatappTemplateDetail` by template code; the refresh's operations come from a
//! [`Script`].

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatapp_exporter::sim::{Backend, SimRequest, SimResponse, Simulator};
use common::*;
use serde_json::{Value, json};

const AUDIT: &str = "chatapp_template_audit_status";
const QUALITY: &str = "chatapp_template_quality_score";
const INFO: &str = "chatapp_template_info";

#[derive(Clone)]
struct Template {
    code: String,
    audit: &'static str,
    quality: &'static str,
    category: &'static str,
}

fn t(code: &str, audit: &'static str, quality: &'static str) -> Template {
    Template {
        code: code.to_owned(),
        audit,
        quality,
        category: "MARKETING",
    }
}

struct TemplatesBackend {
    script: Arc<Script>,
    templates: Mutex<Vec<Template>>,
    detail_errors: Mutex<HashMap<String, SimResponse>>,
    calls: Mutex<Vec<(tokio::time::Instant, SimRequest)>>,
    /// Every page holds the whole catalogue, whatever size was asked for.
    oversize_pages: std::sync::atomic::AtomicBool,
}

impl TemplatesBackend {
    fn new(templates: Vec<Template>) -> Arc<Self> {
        Arc::new(TemplatesBackend {
            script: Script::with_numbers(vec![number(
                "6511",
                "Sender",
                "CONNECTED",
                "GREEN",
                "TIER_1K",
            )]),
            templates: Mutex::new(templates),
            detail_errors: Mutex::default(),
            calls: Mutex::default(),
            oversize_pages: Default::default(),
        })
    }

    fn set_templates(&self, templates: Vec<Template>) {
        *self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = templates;
    }

    fn fail_detail(&self, code: &str, response: SimResponse) {
        self.detail_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code.to_owned(), response);
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
}

impl Backend for TemplatesBackend {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        if request.action != OP_LIST_TEMPLATES && request.action != OP_TEMPLATE_DETAIL {
            return self.script.respond(request);
        }
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((tokio::time::Instant::now(), request.clone()));
        let templates = self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if request.action == OP_LIST_TEMPLATES {
            let page: Value = serde_json::from_str(request.param("Page").unwrap_or("")).unwrap();
            let (mut index, mut size) = (
                page["Index"].as_u64().unwrap() as usize,
                page["Size"].as_u64().unwrap() as usize,
            );
            if self
                .oversize_pages
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                (index, size) = (1, usize::MAX);
            }
            let items: Vec<Value> = templates
                .iter()
                .skip((index - 1) * size)
                .take(size)
                .map(|t| {
                    json!({
                        "TemplateCode": t.code,
                        "TemplateName": format!("Name of {}", t.code),
                        "Language": "en",
                        "Category": t.category,
                        "TemplateType": "WHATSAPP",
                        "AuditStatus": t.audit,
                        "Reason": if t.audit == "fail" { "Contains a prohibited link." } else { "" },
                        "LastUpdateTime": 1_700_000_000_000u64,
                    })
                })
                .collect();
            return SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true,
                "Total": templates.len(), "ListTemplate": items,
            }));
        }
        let code = request.param("TemplateCode").unwrap_or("");
        if let Some(e) = self
            .detail_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(code)
        {
            return e.clone();
        }
        match templates.iter().find(|t| t.code == code) {
            Some(t) => SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true,
                "Data": {"TemplateCode": t.code, "Language": "en", "QualityScore": t.quality,
                         "AuditStatus": t.audit, "Components": []},
            })),
            None => SimResponse::error(400, "InvalidParameter", "no such template"),
        }
    }
}

async fn start(backend: &Arc<TemplatesBackend>, args: &[&str]) -> (TestApp, Simulator) {
    let sim = Simulator::start(backend.clone(), sim_keys(None))
        .await
        .expect("simulator binds 127.0.0.1:0");
    let mut a = account("shop", &sim);
    a.cust_space_id = Some("2934000001".into());
    let app = spawn_app(fast_settings(args, vec![a])).await;
    (app, sim)
}

/// The templates collector on, every 2 s.
const TEMPLATES_EVERY_2S: [&str; 3] = [
    "--collector.templates",
    "--collector.templates.interval",
    "2s",
];

fn catalogue() -> Vec<Template> {
    let mut v = vec![
        t("a_pass_green", "pass", "GREEN"),
        t("b_pass_yellow", "pass", "YELLOW"),
        t("c_pass_red", "pass", "RED"),
        t("d_fail", "fail", "UNKNOWN"),
        t("e_auditing", "auditing", "UNKNOWN"),
        t("f_unaudit", "unaudit", "UNKNOWN"),
        t("g_paused", "paused_by_meta", "GREEN"),
    ];
    for i in 0..113 {
        v.push(Template {
            category: "UTILITY",
            ..t(&format!("z_util_{i:03}"), "pass", "GREEN")
        });
    }
    v
}

#[tokio::test]
async fn pages_states_scores_removal_and_a_failing_detail() {
    let backend = TemplatesBackend::new(catalogue());
    backend.fail_detail(
        "z_util_000",
        SimResponse::error(400, "InvalidParameter", "detail refused"),
    );
    // 120 templates, 50 per page: three list calls; 120 details at 20/s take 6 s.
    let args = [
        "--collector.templates",
        "--collector.templates.interval",
        "5s",
    ];
    let sim = Simulator::start(backend.clone(), sim_keys(None))
        .await
        .unwrap();
    let mut a = account("shop", &sim);
    a.cust_space_id = Some("2934000001".into());
    let mut settings = fast_settings(&args, vec![a]);
    settings.rates.overrides.insert(
        OP_TEMPLATE_DETAIL.into(),
        std::num::NonZeroU32::new(20).unwrap(),
    );
    let app = spawn_app(settings).await;

    let s = app
        .wait_for("the marketing templates' scores", |s| {
            s.state(QUALITY, "score", &[("template_code", "g_paused")])
                .is_some()
        })
        .await;
    let pages: Vec<String> = backend
        .calls(OP_LIST_TEMPLATES)
        .iter()
        .map(|(_, r)| r.param("Page").unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        pages,
        [
            r#"{"Index":1,"Size":50}"#,
            r#"{"Index":2,"Size":50}"#,
            r#"{"Index":3,"Size":50}"#
        ]
    );
    let list = &backend.calls(OP_LIST_TEMPLATES)[0].1;
    assert_eq!(list.param("TemplateType"), Some("WHATSAPP"));
    assert_eq!(list.param("CustSpaceId"), Some("2934000001"));
    assert_eq!(
        s.value("chatapp_templates", &[("account", "shop")]),
        Some(120.0)
    );
    let audit = |code| s.state(AUDIT, "status", &[("template_code", code)]);
    let score = |code| s.state(QUALITY, "score", &[("template_code", code)]);
    assert_eq!(audit("a_pass_green").as_deref(), Some("pass"));
    assert_eq!(audit("d_fail").as_deref(), Some("fail"));
    assert_eq!(audit("e_auditing").as_deref(), Some("auditing"));
    assert_eq!(audit("f_unaudit").as_deref(), Some("unaudit"));
    assert_eq!(audit("g_paused").as_deref(), Some("paused_by_meta"));
    assert_eq!(s.find(AUDIT, &[("template_code", "g_paused")]).len(), 5);
    assert_eq!(score("a_pass_green").as_deref(), Some("GREEN"));
    assert_eq!(score("b_pass_yellow").as_deref(), Some("YELLOW"));
    assert_eq!(score("c_pass_red").as_deref(), Some("RED"));
    assert_eq!(score("d_fail").as_deref(), Some("UNKNOWN"));
    let info = s.find(INFO, &[("template_code", "c_pass_red")]);
    assert_eq!(info[0].label("category"), "MARKETING");
    assert_eq!(info[0].label("template_name"), "Name of c_pass_red");
    assert_eq!(
        s.value(
            "chatapp_template_last_update_timestamp_seconds",
            &[("template_code", "c_pass_red")]
        ),
        Some(1_700_000_000.0)
    );

    // The detail of z_util_000 fails: its list data stays, without a score.
    let s = app
        .wait_for("the first run done", |s| {
            s.value(
                "chatapp_collector_success",
                &[("account", "shop"), ("collector", "templates")],
            )
            .is_some()
        })
        .await;
    assert_eq!(
        s.value(
            "chatapp_collector_success",
            &[("account", "shop"), ("collector", "templates")]
        ),
        Some(0.0),
        "a failed detail call fails the run"
    );
    assert_eq!(
        s.state(AUDIT, "status", &[("template_code", "z_util_000")])
            .as_deref(),
        Some("pass")
    );
    assert!(s.find(INFO, &[("template_code", "z_util_000")]).len() == 1);
    assert!(
        s.find(QUALITY, &[("template_code", "z_util_000")])
            .is_empty()
    );
    assert_eq!(
        s.state(QUALITY, "score", &[("template_code", "z_util_112")])
            .as_deref(),
        Some("GREEN"),
        "the details after the failed one were read"
    );

    // The rejection reason is on the landing page, not in a label.
    let (_, page) = app.get("/").await;
    assert!(page.contains("Contains a prohibited link."), "{page}");
    assert!(!s.text.contains("prohibited link"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_removed_template_vanishes_at_the_next_run() {
    let backend = TemplatesBackend::new(vec![t("keep", "pass", "GREEN"), t("drop", "fail", "RED")]);
    let (app, _sim) = start(&backend, &TEMPLATES_EVERY_2S).await;
    app.wait_for("both templates scored", |s| {
        s.state(QUALITY, "score", &[("template_code", "drop")])
            .as_deref()
            == Some("RED")
            && s.state(QUALITY, "score", &[("template_code", "keep")])
                .is_some()
    })
    .await;
    backend.set_templates(vec![t("keep", "pass", "GREEN")]);
    let s = app
        .wait_for("drop gone", |s| {
            s.find(INFO, &[("template_code", "drop")]).is_empty()
        })
        .await;
    for family in [
        AUDIT,
        QUALITY,
        "chatapp_template_last_update_timestamp_seconds",
    ] {
        assert!(
            s.find(family, &[("template_code", "drop")]).is_empty(),
            "{family}"
        );
    }
    assert_eq!(
        s.value("chatapp_templates", &[("account", "shop")]),
        Some(1.0)
    );
    assert_eq!(
        s.state(QUALITY, "score", &[("template_code", "keep")])
            .as_deref(),
        Some("GREEN")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_page_holds_at_most_what_was_asked_for() {
    // A hostile or broken server answers every page with the whole catalogue: the
    // exporter keeps the page size it asked for (50) of each page, no more.
    let backend = TemplatesBackend::new(catalogue());
    backend
        .oversize_pages
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (app, _sim) = start(&backend, &TEMPLATES_EVERY_2S).await;
    let s = app
        .wait_for("a templates run", |s| {
            s.value("chatapp_templates", &[("account", "shop")])
                .is_some()
        })
        .await;
    assert_eq!(
        s.value("chatapp_templates", &[("account", "shop")]),
        Some(50.0),
        "the first 50 of each page (the pages repeat)"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn templates_are_off_by_default() {
    let backend = TemplatesBackend::new(catalogue());
    let (app, _sim) = start(&backend, &[]).await;
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
    assert!(backend.calls(OP_LIST_TEMPLATES).is_empty());
    assert!(backend.calls(OP_TEMPLATE_DETAIL).is_empty());
    assert!(s.find(INFO, &[]).is_empty());
    assert!(
        s.find("chatapp_collector_success", &[("collector", "templates")])
            .is_empty()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn detail_calls_never_exceed_their_rate() {
    // 120 templates at the default 2/s take a minute; watch 5 s of it.
    let backend = TemplatesBackend::new(catalogue());
    let (app, _sim) = start(
        &backend,
        &[
            "--collector.templates",
            "--collector.templates.interval",
            "1s",
        ],
    )
    .await;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s = app.scrape().await;
    app.shutdown().await;
    let times: Vec<Duration> = backend
        .calls(OP_TEMPLATE_DETAIL)
        .iter()
        .map(|(t, _)| *t - started)
        .collect();
    // GCRA at 2/s with a burst of 2 admits at most 4 in any closed 1 s window.
    let most = most_in_any_window(&times, Duration::from_secs(1));
    assert!(
        (2..=4).contains(&most),
        "{most} detail calls within 1 s: {times:?}"
    );
    assert!(
        (6..=12).contains(&times.len()),
        "about 2 detail calls/s for 5 s, saw {}: {times:?}",
        times.len()
    );
    assert_eq!(s.up("shop"), Some(1.0), "the refresh is undisturbed");
    assert_eq!(
        s.value(
            "chatapp_collector_round_seconds",
            &[("account", "shop"), ("collector", "templates")]
        ),
        Some(60.0),
        "120 details at 2/s"
    );
}
