//! One round of the paced collectors against the in-process simulator, unthrottled: the
//! health collector for 2,000 numbers (calls per second, CPU per call) and the templates
//! collector for 5,000 templates (calls on a first and a steady-state run, time and heap).
//!
//! Not a timing test and not criterion: each figure is one whole round, printed as a table
//! for bench/README.md. The simulator runs in the same process (it verifies every
//! signature), so CPU and heap include its side of each call. Run:
//! `cargo bench --bench collectors`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatapp_exporter::api::{ApiClient, ClientOptions, Target};
use chatapp_exporter::collect::health::{self, HealthState};
use chatapp_exporter::collect::published::BoundWaba;
use chatapp_exporter::collect::published::{ListedNumber, NumberList};
use chatapp_exporter::collect::templates::{self, TemplatesState};
use chatapp_exporter::collect::{ApiAccess, Collector as _, Ctx, Inputs, NoSettings};
use chatapp_exporter::credentials::Credentials;
use chatapp_exporter::metrics::SelfMetrics;
use chatapp_exporter::ratelimit::{KeyedLimits, Rates};
use chatapp_exporter::sim::{Backend, SimKey, SimRequest, SimResponse, Simulator};
use serde_json::json;

mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const KEY: &str = "LTAI5tBenchKeyForCollectors";
const SECRET: &str = "bench-secret";
const NUMBERS: usize = 2_000;
const TEMPLATES: usize = 5_000;

const OP_HEALTH_STATUS: &str = health::OPERATION.action;
const OP_LIST_TEMPLATES: &str = templates::LIST.action;
const OP_TEMPLATE_DETAIL: &str = templates::DETAIL.action;

/// Answers health calls AVAILABLE and serves a catalogue of templates; counts the calls
/// (the simulator's own log keeps only the latest).
#[derive(Default)]
struct Fleet {
    calls: std::sync::Mutex<BTreeMap<String, usize>>,
}

impl Fleet {
    fn count(&self, action: &str) -> usize {
        self.calls.lock().unwrap().get(action).copied().unwrap_or(0)
    }
}

impl Backend for Fleet {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(request.action.clone())
            .or_default() += 1;
        match request.action.as_str() {
            OP_HEALTH_STATUS => SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true,
                "Data": {"CanSendMessage": "AVAILABLE", "Entities": [{
                    "EntityType": "PHONE_NUMBER",
                    "PhoneNumber": request.param("PhoneNumber"),
                    "CanSendMessage": "AVAILABLE"}]},
            })),
            OP_LIST_TEMPLATES => {
                let page: serde_json::Value =
                    serde_json::from_str(request.param("Page").unwrap_or("{}")).unwrap_or_default();
                let index = page["Index"].as_u64().unwrap_or(1) as usize;
                let size = page["Size"].as_u64().unwrap_or(10) as usize;
                let items: Vec<_> = (0..TEMPLATES)
                    .skip((index - 1) * size)
                    .take(size)
                    .map(|i| {
                        json!({
                            "TemplateCode": format!("template_{i:05}"), "Language": "en",
                            "TemplateName": format!("Template {i}"), "Category": "MARKETING",
                            "TemplateType": "WHATSAPP", "AuditStatus": "pass",
                            "LastUpdateTime": 1_700_000_000_000u64 + i as u64,
                        })
                    })
                    .collect();
                SimResponse::ok(json!({"RequestId": "R", "Code": "OK", "Success": true,
                    "Total": TEMPLATES, "ListTemplate": items}))
            }
            OP_TEMPLATE_DETAIL => SimResponse::ok(json!({
                "RequestId": "R", "Code": "OK", "Success": true,
                "Data": {"TemplateCode": request.param("TemplateCode"), "QualityScore": "GREEN",
                         "AuditStatus": "pass", "Components": [{"Type": "BODY", "Text": "Hi"}]},
            })),
            _ => SimResponse::error(404, "InvalidApi.NotFound", "not in this bench"),
        }
    }
}

/// User + system CPU time of the process.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split(' ').filter_map(|x| x.parse().ok()).collect();
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    chatapp_exporter::api::client::install_crypto_provider();
    let keys = [(
        KEY.to_owned(),
        SimKey {
            secret: SECRET.into(),
            security_token: None,
        },
    )];
    let fleet = Arc::new(Fleet::default());
    let sim = Simulator::start(fleet.clone(), keys.into_iter().collect())
        .await
        .unwrap();
    let client = ApiClient::new(ClientOptions {
        timeout: Duration::from_secs(10),
        max_body_bytes: 16 << 20,
    })
    .unwrap();
    let target = Target {
        endpoint: sim.endpoint(),
        cust_space_id: None,
        isv_code: None,
        signature: Default::default(),
    };
    let creds = Credentials {
        access_key_id: KEY.into(),
        access_key_secret: SECRET.to_owned().into(),
        security_token: None,
    };
    // Unthrottled: a million requests per second for every operation.
    let fast = NonZeroU32::new(1_000_000).unwrap();
    let limits = KeyedLimits::new(fast);
    let rates = Rates {
        default: fast,
        overrides: [OP_HEALTH_STATUS, OP_TEMPLATE_DETAIL]
            .into_iter()
            .map(|op| (op.to_owned(), fast))
            .collect::<BTreeMap<_, _>>(),
    };
    let metrics = SelfMetrics::new(Duration::from_secs(60)).unwrap();
    let api = ApiAccess {
        client: &client,
        target: &target,
        creds: &creds,
        limits: &limits,
        limit_key: "bench",
        rates: &rates,
        metrics: &metrics,
    };
    let inputs = Inputs::default();
    inputs.publish(Arc::new(NumberList {
        numbers: (0..NUMBERS)
            .map(|i| ListedNumber {
                phone: format!("65{:09}", 100_000_000 + i).into(),
                status: Some("CONNECTED".into()),
                messaging_limit: Some(1000.0),
            })
            .collect(),
    }));
    inputs.publish(Arc::new(BoundWaba {
        id: Some("100200300".into()),
    }));
    // A 1 ms interval: the calls are spaced by the (unthrottled) rate only.
    let ctx = Ctx::new("bench", Duration::from_millis(1), &inputs).with_api(&api);

    println!("| Round | Calls | Wall time | Calls/s | CPU per call | Peak heap during the round |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut health_state = HealthState::default();
    let count = |op: &str| fleet.count(op);
    for round in ["health, first", "health, again"] {
        let (calls0, cpu0, t0) = (count(OP_HEALTH_STATUS), cpu(), Instant::now());
        let base = counting::reset_peak();
        health::COLLECTOR
            .run(&mut health_state, &NoSettings {}, &ctx)
            .await
            .expect("health round");
        let (wall, used, calls) = (t0.elapsed(), cpu() - cpu0, count(OP_HEALTH_STATUS) - calls0);
        println!(
            "| {round} ({NUMBERS} numbers + WABA) | {calls} | {:.2} s | {:.0} | {:.0} µs | +{} |",
            wall.as_secs_f64(),
            calls as f64 / wall.as_secs_f64(),
            used.as_secs_f64() * 1e6 / calls as f64,
            mib(counting::peak() - base),
        );
    }
    let mut templates_state = TemplatesState::default();
    for round in ["templates, first", "templates, steady", "templates, steady"] {
        let (pages0, details0) = (count(OP_LIST_TEMPLATES), count(OP_TEMPLATE_DETAIL));
        let (cpu0, t0) = (cpu(), Instant::now());
        let base = counting::reset_peak();
        let (_, cost) = templates::run(&mut templates_state, &ctx)
            .await
            .expect("templates run");
        let (wall, used) = (t0.elapsed(), cpu() - cpu0);
        let calls = count(OP_LIST_TEMPLATES) - pages0 + count(OP_TEMPLATE_DETAIL) - details0;
        assert_eq!(calls, cost.pages as usize + cost.details);
        println!(
            "| {round} ({TEMPLATES} templates) | {} list + {} detail | {:.2} s | {:.0} | {:.0} µs | +{} |",
            cost.pages,
            cost.details,
            wall.as_secs_f64(),
            calls as f64 / wall.as_secs_f64(),
            used.as_secs_f64() * 1e6 / calls as f64,
            mib(counting::peak() - base),
        );
    }
    println!(
        "\nheap held between runs by the collectors' state and the simulator's request log: {}",
        mib(counting::live())
    );
}
