//! Golden files: the object families rendered from API fixtures, byte for byte. They are the
//! metrics contract (names, HELP, labels, StateSet expansion, tier limits, escaping, order)
//! that dashboards and alerts depend on; a change shows up as a diff to review. `*.om` are
//! the same in OpenMetrics, as Prometheus negotiates it (metadata and `# EOF` differ, samples
//! do not).
//!
//! Each fixture goes through the same steps as a refresh: the client's success decision and
//! DTO decoding (`api::client::interpret`), the conversion (`collect`), rendering
//! (`AccountExposition`) and stitching of accounts (`ExpositionStore`).
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test exposition`, then review the diff.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{TierLimits, UnknownValue, phone_numbers, waba};
use chatapp_exporter::metrics::{AccountExposition, EnumMode, ExpositionStore, Format};
use common::{Scrape, openmetrics_parse, promtool_check};

/// The HELP suffix a refresh every minute (the default interval) adds.
const NOTE: &str = "Refreshed every 1m in the background.";

/// One account's fixtures.
struct Input {
    account: &'static str,
    numbers: &'static str,
    waba: &'static str,
}

const FULL: Input = Input {
    account: "shop-a",
    numbers: "query-chatapp-phone-numbers.full.json",
    waba: "query-chatapp-bind-waba.full.json",
};
const SEED: Input = Input {
    account: "seed",
    numbers: "query-chatapp-phone-numbers.seed.json",
    waba: "query-chatapp-bind-waba.seed.json",
};
const HOSTILE: Input = Input {
    account: "hostile",
    numbers: "query-chatapp-phone-numbers.hostile.json",
    waba: "query-chatapp-bind-waba.hostile.json",
};

fn read(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes, converts and renders one account; returns what the conversion noticed too.
fn render(input: &Input) -> (AccountExposition, phone_numbers::Report, Vec<UnknownValue>) {
    let numbers: PhoneNumbersResponse = interpret(200, &read(input.numbers), "", "")
        .unwrap_or_else(|e| panic!("{} is a success: {e}", input.numbers));
    let bound: BindWabaResponse = interpret(200, &read(input.waba), "", "")
        .unwrap_or_else(|e| panic!("{} is a success: {e}", input.waba));
    let (mut families, report) = phone_numbers::convert(
        input.account,
        &numbers.phone_numbers,
        &TierLimits::default(),
        NOTE,
        EnumMode::All,
    );
    let mut unknown = Vec::new();
    families.extend(waba::convert(
        input.account,
        &bound.data,
        NOTE,
        EnumMode::All,
        &mut unknown,
    ));
    let exposition = AccountExposition::render(&families).expect("renders");
    (exposition, report, unknown)
}

/// The stitched exposition of `inputs`, as /metrics serves the object part.
fn exposition(inputs: &[&Input]) -> String {
    exposition_in(inputs, Format::Text)
}

/// The same in `format`.
fn exposition_in(inputs: &[&Input], format: Format) -> String {
    let store = ExpositionStore::default();
    for input in inputs {
        store.set(input.account, "test", Some(Arc::new(render(input).0)));
    }
    String::from_utf8(store.current_in(format).text.to_vec()).expect("UTF-8")
}

/// `tests/golden/<file>`.
fn golden_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file)
}

/// Compares `actual` with `tests/golden/<name>.prom`, or rewrites it under UPDATE_GOLDEN.
fn check_golden(name: &str, actual: &str) {
    check_golden_file(&format!("{name}.prom"), actual);
}

/// Compares `actual` with `tests/golden/<file>`, or rewrites it under UPDATE_GOLDEN.
fn check_golden_file(file: &str, actual: &str) {
    let path = golden_path(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        eprintln!("note: rewrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendering at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 cargo test --test exposition rewrites it; review the diff)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

#[test]
fn full_fixtures_match_golden() {
    check_golden("full", &exposition(&[&FULL]));
}

#[test]
fn seed_fixtures_match_golden() {
    check_golden("seed", &exposition(&[&SEED]));
}

#[test]
fn hostile_fixtures_match_golden() {
    check_golden("hostile", &exposition(&[&HOSTILE]));
}

#[test]
fn two_accounts_share_one_header_per_family_golden() {
    let text = exposition(&[&SEED, &FULL]);
    check_golden("two-accounts", &text);
    let scrape = Scrape::parse(&text); // fails on a repeated or split family
    assert!(scrape.object_series("shop-a") > 0 && scrape.object_series("seed") > 0);
    assert_eq!(
        text.matches("# TYPE chatapp_phone_number_status ").count(),
        1
    );
}

#[test]
fn hostile_input_is_contained() {
    let (exposition, report, unknown) = render(&HOSTILE);
    assert_eq!(report.numbers, 6, "distinct numbers with a PhoneNumber");
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.missing_number, 1);
    let mut fields: Vec<(&str, String)> = report
        .unknown
        .iter()
        .chain(&unknown)
        .map(|u| (u.field, u.value.clone()))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("AccountReviewStatus", "IN_APPEAL".to_owned()),
            ("MessagingLimitTier", "TIER_42".to_owned()),
            ("QualityRating", "PURPLE".to_owned()),
            ("Status", "SUSPENDED_BY_META".to_owned()),
        ]
    );

    let store = ExpositionStore::default();
    store.set(HOSTILE.account, "test", Some(Arc::new(exposition)));
    let text = String::from_utf8(store.current().text.to_vec()).unwrap();
    let s = Scrape::parse(&text);
    let name = |phone: &str| {
        s.find("chatapp_phone_number_info", &[("phone_number", phone)])[0]
            .label("verified_name")
            .to_owned()
    };
    assert_eq!(
        name("6580000001"),
        "Quote \"double\" and 'single'",
        "first duplicate kept"
    );
    assert_eq!(
        name("6580000002"),
        "back\\slash, \\n is not a newline, C:\\\\dir"
    );
    assert_eq!(name("6580000003"), "line one\nline two\ttabbed");
    assert!(name("6580000004").ends_with("evil\"} 1\nchatapp_up{account=\"x\"} 1"));
    assert_eq!(
        name("6580000005").chars().count(),
        256,
        "long values are truncated"
    );
    assert_eq!(
        name("6580000006"),
        "padded",
        "trimmed, and so is the number"
    );
    assert!(s.find("chatapp_up", &[]).is_empty(), "no injected series");
    assert!(!text.contains("hostile-callback-token") && !text.contains("hooks.example.com"));
    let limit = |phone: &str| {
        s.value(
            "chatapp_phone_number_messaging_limit",
            &[("phone_number", phone)],
        )
    };
    assert_eq!(limit("6580000001"), Some(f64::INFINITY));
    assert_eq!(limit("6580000002"), None, "unmapped tier: no limit series");
    assert_eq!(limit("6580000004"), Some(250.0));
    assert_eq!(limit("6580000006"), None, "TIER_NOT_SET has no limit");
    assert!(
        s.find(
            "chatapp_phone_number_status",
            &[("phone_number", "6580000002")]
        )
        .is_empty(),
        "null Status: no series rather than a made-up state"
    );
    assert_eq!(
        s.state(
            "chatapp_phone_number_status",
            "status",
            &[("phone_number", "6580000003")]
        )
        .as_deref(),
        Some("RESTRICTED")
    );
}

#[test]
fn golden_files_pass_promtool() {
    for name in ["full", "seed", "hostile", "two-accounts"] {
        let text = std::fs::read_to_string(golden_path(&format!("{name}.prom"))).unwrap();
        if !promtool_check(&format!("tests/golden/{name}.prom"), &text) {
            return;
        }
    }
}

/// The OpenMetrics rendering of the same fixtures (`tests/golden/*.om`): the 0.0.4 sample
/// lines under OpenMetrics headers (`_info` families as type `info`), then `# EOF`; read by
/// prometheus_client's OpenMetrics parser when python3 has it.
#[test]
fn openmetrics_matches_golden_and_shares_the_samples() {
    let samples = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    for (name, inputs) in [("full", &[&FULL][..]), ("hostile", &[&HOSTILE][..])] {
        let om = exposition_in(inputs, Format::OpenMetrics);
        check_golden_file(&format!("{name}.om"), &om);
        assert!(om.ends_with("\n# EOF\n"));
        assert_eq!(samples(&om), samples(&exposition(inputs)), "{name}");
        assert!(om.contains("# TYPE chatapp_phone_number info\n"));
        assert!(om.contains("# TYPE chatapp_waba info\n"));
        if let Some(types) = openmetrics_parse(&format!("tests/golden/{name}.om"), &om) {
            assert!(
                types.lines().any(|l| l == "chatapp_phone_number info"),
                "{types}"
            );
        }
    }
}
