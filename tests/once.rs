//! `--once` as a user runs it: the binary against the built-in demo backend, a dead endpoint
//! and a broken config file; what it prints and the exit status scripts rely on.

use std::process::{Command, Output};

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
        stdout.contains("7 numbers: 1 blocked, 1 flagged, 2 limited, 3 ok"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("demo-travel  ok")),
        "{stdout}"
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
    assert_eq!(numbers.len(), 7);
    assert_eq!(numbers[0]["phone_number"], "6580000003");
    assert_eq!(numbers[0]["severity"], "blocked");
    assert_eq!(numbers[6]["severity"], "ok");
    let accounts: Vec<&str> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["demo-retail", "demo-travel"]);
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
