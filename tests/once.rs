//! `--once` as a user runs it: the binary against the built-in demo backend, a dead endpoint
//! and a broken config file; what it prints and the exit status scripts rely on.

mod common;

use std::process::{Command, Output};

use common::{KEY_ID, SECRET, Script, number, start_sim};
use unicode_width::UnicodeWidthStr as _;

fn once(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatapp_exporter"))
        .arg("--once")
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .output()
        .expect("run the exporter")
}

// The templates collector reads 126 template details at 2/s (a minute); these tests are
// about the output, so they leave it out.
const DEMO: [&str; 2] = ["--demo", "--no-collector.templates"];

#[test]
fn the_table_lists_the_worst_number_first_and_fits_a_terminal() {
    let out = once(&DEMO);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().starts_with("STATE "), "{stdout}");
    // Acme Promo: FLAGGED, and BLOCKED by its payment method per the health collector.
    let first = lines.next().unwrap();
    assert!(first.starts_with("BLOCKED "), "{stdout}");
    assert!(first.contains("6580000003"), "{stdout}");
    assert!(
        // Acme Support sends 90% of its messaging limit (the usage collector): NEAR LIMIT.
        // The ISV parent's customers add three numbers, one YELLOW (in the first two minutes
        // of the demo's cycle; `--once` runs in them).
        stdout.contains("10 numbers: 1 blocked, 1 flagged, 2 limited, 2 yellow, 4 ok"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("demo-travel          ok")),
        "{stdout}"
    );
    // Discovery ran first, then every customer it kept (not the excluded `test-sandbox`),
    // shown in the numbers table by the customer's space.
    assert!(
        stdout.contains("demo-isv             ok (2 customers of 3 instances"),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo-isv/2934000101  ok (2 numbers"),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo-isv  2934000101  shop-bloom"),
        "{stdout}"
    );
    assert!(
        stdout.contains("YELLOW      …/2934000101  66000000001"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("2934000104"),
        "test-sandbox is excluded: {stdout}"
    );
    for l in stdout.lines() {
        assert!(
            l.chars().count() <= 100,
            "line longer than 100 columns: {l:?}"
        );
    }
    assert!(
        !stdout.contains('\x1b'),
        "colour codes on a pipe: {stdout:?}"
    );
}

#[test]
fn json_is_a_versioned_document_worst_first() {
    let out = once(&[DEMO[0], DEMO[1], "--once.format=json"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["ok"], true);
    let numbers = doc["numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 10);
    assert_eq!(numbers[0]["phone_number"], "6580000003");
    assert_eq!(numbers[0]["severity"], "blocked");
    assert_eq!(numbers[9]["severity"], "ok");
    let accounts: Vec<&str> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(
        accounts,
        [
            "demo-retail",
            "demo-travel",
            "demo-isv",
            "demo-isv/2934000101",
            "demo-isv/2934000103"
        ]
    );
    assert_eq!(doc["discovered"][0]["cust_space_id"], "2934000101", "{doc}");
}

#[test]
fn prom_is_exposition_text_without_process_metrics() {
    let out = once(&[DEMO[0], DEMO[1], "--once.format=prom"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("# TYPE chatapp_phone_number_quality_rating gauge"),
        "{text}"
    );
    assert!(
        text.contains("chatapp_up{account=\"demo-retail\"} 1"),
        "{text}"
    );
    assert!(!text.contains("process_"), "{text}");
    // Still 0.0.4 (node_exporter's textfile collector reads no OpenMetrics): no `# EOF`, and
    // counters and `_info` families under their 0.0.4 names.
    assert!(!text.contains("# EOF"), "{text}");
    for line in [
        "# TYPE chatapp_build_info gauge\n",
        "# TYPE chatapp_phone_number_info gauge\n",
        "# TYPE chatapp_api_requests_total counter\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
}

#[test]
fn an_unreachable_endpoint_exits_1_and_says_what_to_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatapp_exporter"))
        .args(["--once", "--api.endpoint=http://127.0.0.1:1"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tTestKeyForOnce")
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "not-a-real-secret-for-once",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("default  FAILED"), "{stdout}");
    assert!(
        stdout.contains("check: network or server trouble"),
        "{stdout}"
    );
    assert!(!stdout.contains("not-a-real-secret") && !stderr.contains("not-a-real-secret"));
}

#[test]
fn a_broken_config_file_exits_2_with_one_clear_line() {
    let out = once(&["--config.file=/nonexistent/chatapp.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read config file /nonexistent/chatapp.yaml"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_display_names_fit_the_terminal_and_cannot_steer_it() {
    // Emoji with variation selectors in a name that needs cutting made --once panic
    // (capacity overflow, exit 101); a right-to-left override printed as it is.
    let names = [
        "❤️❤️❤️ Flowers & Gifts Delivery Singapore Best Florist In Town Open 24 Hours Every Day Always",
        "Bank \u{202E}lanoitaN\u{202C} Alerts",
        "Ring \u{7}\u{1b}[2J\u{9b}31m bell",
        "日本語の名前です日本語の名前です日本語の名前です日本語の名前です日本語の名前です",
    ];
    let numbers = names
        .iter()
        .enumerate()
        .map(|(i, n)| number(&format!("658000000{i}"), n, "CONNECTED", "GREEN", "TIER_1K"))
        .collect();
    let script = Script::with_numbers(numbers);
    let sim = start_sim(&script).await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chatapp_exporter"))
            .args([
                "--once",
                "--no-collector.health",
                "--api.endpoint",
                &sim.endpoint(),
            ])
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .env_remove("NO_COLOR")
            .output()
            .expect("run the exporter")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK ")).count(),
        4,
        "{stdout}"
    );
    for l in stdout.lines() {
        assert!(l.width() <= 100, "{} columns: {l:?}", l.width());
        assert!(
            !l.chars()
                .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
            "{l:?}"
        );
    }
    assert!(stdout.contains("❤️❤️❤️ Flowers"), "{stdout}");
    assert!(stdout.contains('…'), "{stdout}");
}
