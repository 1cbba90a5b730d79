//! The golden contract of every registered collector: a fixture in the real API shape for
//! each of its operations (`tests/fixtures/api/<action in kebab case>.full.json`), run
//! through the production path (the signature-checking simulator, the client, the
//! collector's run and renderer, the store), compared byte for byte with
//! `tests/golden/<collector>.prom`, which `promtool check metrics` must accept.
//!
//! A new collector fails here until it has its fixtures and a reviewed golden file.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test contract`, then review the diff; CI
//! regenerates and fails if a file changed.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chatapp_exporter::cli::Cli;
use chatapp_exporter::collect::{REGISTRY, object_collectors};
use chatapp_exporter::config::{self, FileConfig};
use chatapp_exporter::credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET};
use chatapp_exporter::metrics::SelfMetrics;
use chatapp_exporter::scheduler::{Outputs, Shared, run_once};
use chatapp_exporter::sim::{Backend, SimRequest, SimResponse};
use clap::Parser as _;
use common::{account, promtool_check, sim_keys};

/// `QueryChatappPhoneNumbers` → `query-chatapp-phone-numbers`.
fn kebab(action: &str) -> String {
    let mut out = String::new();
    for (i, c) in action.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn fixture_path(action: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api")
        .join(format!("{}.full.json", kebab(action)))
}

/// Answers every action with its fixture.
struct Fixtures(BTreeMap<String, Vec<u8>>);

impl Backend for Fixtures {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        match self.0.get(&request.action) {
            Some(body) => SimResponse::raw(200, body.clone()),
            None => SimResponse::error(404, "InvalidApi.NotFound", "no fixture"),
        }
    }
}

/// The discovery collector with its default settings.
fn discovery_settings() -> config::CollectorSettings {
    let c = chatapp_exporter::collect::discovery_collector();
    config::CollectorSettings {
        name: c.spec().name,
        interval: std::time::Duration::from_secs(600),
        settings: c.settings(Default::default()).unwrap(),
    }
}

/// Every registered operation's fixture; fails naming the missing files.
fn fixtures() -> Fixtures {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for c in REGISTRY {
        for op in c.spec().operations {
            let path = fixture_path(op.action);
            match std::fs::read(&path) {
                Ok(body) => {
                    found.insert(op.action.to_owned(), body);
                }
                Err(_) => missing.push(format!("{} ({})", path.display(), c.spec().name)),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "every collector's operations need a fixture in the real API shape:\n{}",
        missing.join("\n")
    );
    Fixtures(found)
}

fn check_golden(collector: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{collector}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        eprintln!("note: rewrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (UPDATE_GOLDEN=1 cargo test --test contract creates it; review it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the collector's rendering at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 cargo test --test contract rewrites it; review the diff)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

#[tokio::test]
async fn every_collector_renders_its_fixtures_as_its_golden_file() {
    chatapp_exporter::api::client::install_crypto_provider();
    let sim = chatapp_exporter::sim::Simulator::start(Arc::new(fixtures()), sim_keys(None))
        .await
        .unwrap();
    // Every collector on; every operation fast (the contract is about the output, not pacing).
    let mut args: Vec<String> = ["x", "--api.rate-limit", "1000"].map(String::from).into();
    args.extend(object_collectors().map(|c| format!("--collector.{}", c.spec().name)));
    let cli = Cli::try_parse_from(&args).unwrap();
    let file = FileConfig {
        rate_limits: REGISTRY
            .iter()
            .flat_map(|c| c.spec().operations)
            .map(|op| (op.action.to_owned(), 1000))
            .collect(),
        ..Default::default()
    };
    let env = |k: &str| match k {
        ENV_ACCESS_KEY_ID => Some("LTAI5tUnusedEnvironmentKey".to_owned()),
        ENV_ACCESS_KEY_SECRET => Some("unused".to_owned()),
        _ => None,
    };
    let mut settings = config::resolve(&cli, file, &env).unwrap();
    let mut shop = account("shop", &sim);
    shop.collectors = settings.collectors.clone();
    // A parent whose discovery lists the fixture's instances.
    let mut isv = account("isv", &sim);
    isv.cust_space_id = None;
    isv.children = Some(settings.collectors.clone());
    isv.collectors = vec![discovery_settings()];
    settings.accounts = vec![shop, isv];

    let outputs = Outputs::in_memory(Arc::new(
        SelfMetrics::new(settings.refresh_interval).unwrap(),
    ));
    let store = outputs.store.clone();
    let discovered = outputs.discovered.clone();
    let shared = Shared::new(&settings, &outputs).unwrap();
    let report = run_once(&shared, &settings.accounts).await;
    assert!(report.all_ok(), "{:?}", report.accounts);

    // The discovery collector's contract is what it publishes: the fixture's instances.
    let found = discovered.snapshot();
    let names: Vec<(&str, &str)> = found["isv"]
        .instances
        .iter()
        .map(|i| (i.cust_space_id.as_str(), i.instance_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("2934000001", "shop-acme"),
            ("2934000002", "travel-globetrotter"),
            ("2934000003", "test-sandbox")
        ]
    );

    for c in object_collectors() {
        let name = c.spec().name;
        let rendered = store
            .get("shop", name)
            .unwrap_or_else(|| panic!("{name} published nothing"));
        let text = String::from_utf8(rendered.to_text()).unwrap();
        assert!(
            !text.is_empty(),
            "{name} rendered no family from its fixtures"
        );
        for family in c.spec().families {
            assert!(
                text.contains(&format!("# TYPE {} ", family.name)),
                "{name}'s fixtures exercise no {}: extend them",
                family.name
            );
        }
        promtool_check(&format!("tests/golden/{name}.prom"), &text);
        check_golden(name, &text);
    }
}
