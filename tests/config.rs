//! Configuration: every invalid file fails with a message naming the offending key (and the
//! line, where the parser knows it); flags beat the file; `--config.check` prints a summary
//! without secrets and sets the exit code.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chatapp_exporter::cli::Cli;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersSettings;
use chatapp_exporter::config;
use clap::Parser as _;

const DIR: &str = "tests/testdata/config";
const SECRET: &str = "not-a-real-secret-for-tests";

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("chatapp_exporter").chain(args.iter().copied())).unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(file: &str, extra: &[&str]) -> Result<config::Settings, String> {
    let path = format!("{DIR}/{file}");
    let mut args = vec!["--config.file", path.as_str()];
    args.extend_from_slice(extra);
    config::load(&cli(&args), &no_env).map_err(|e| e.to_string())
}

#[test]
fn valid_file_is_loaded_with_relative_secret_paths() {
    let s = load("good.ok.yaml", &[]).unwrap();
    assert_eq!(s.refresh_interval, Duration::from_secs(120));
    assert_eq!(s.max_staleness, Duration::from_secs(900));
    assert_eq!(s.accounts.len(), 2);
    assert_eq!(s.accounts[0].name, "shop-a");
    assert_eq!(s.accounts[0].cust_space_id.as_deref(), Some("2934000001"));
    assert_eq!(
        s.accounts[0].isv_code_file.as_deref(),
        Some(Path::new(DIR).join("isv_code").as_path())
    );
    assert_eq!(s.accounts[0].region_id(), "ap-southeast-1");
    // shop-b has no endpoint: it takes --api.endpoint's default.
    assert_eq!(
        s.accounts[1].endpoint,
        "https://cams.ap-southeast-1.aliyuncs.com"
    );
    // The top-level tier_limits: is an alias of collectors.phone_numbers.tier_limits.
    for account in &s.accounts {
        let tiers = &phone_settings(account).tier_limits;
        assert_eq!(tiers.get("TIER_50"), Some(50.0));
        assert_eq!(tiers.get("TIER_CUSTOM"), Some(f64::INFINITY));
        assert_eq!(tiers.get("TIER_1K"), Some(1000.0), "defaults stay");
    }
}

/// The phone-number collector's settings of `account`.
fn phone_settings(account: &config::AccountSettings) -> &PhoneNumbersSettings {
    account
        .collectors
        .iter()
        .find(|c| c.name == "phone_numbers")
        .and_then(|c| c.settings.get::<PhoneNumbersSettings>())
        .expect("phone_numbers is enabled")
}

#[test]
fn collector_settings_come_from_its_block_and_an_account_overrides_a_key() {
    let s = load("collector-settings.ok.yaml", &[]).unwrap();
    let (a, b) = (
        &phone_settings(&s.accounts[0]).tier_limits,
        &phone_settings(&s.accounts[1]).tier_limits,
    );
    assert_eq!(a.get("TIER_50"), Some(50.0));
    assert_eq!(a.get("TIER_250"), Some(300.0));
    // shop-b's tier_limits replaces the top-level table as a whole (the defaults stay).
    assert_eq!(b.get("TIER_50"), Some(10000.0));
    assert_eq!(b.get("TIER_250"), Some(250.0));
    // A changed setting is a changed account: a reload restarts it.
    assert_ne!(
        format!("{:?}", s.accounts[0].collectors),
        format!("{:?}", s.accounts[1].collectors)
    );
}

#[test]
fn a_collector_without_what_it_reads_is_refused_by_flags_too() {
    let env = |k: &str| match k {
        "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("LTAI5tTestKeyForConfig".to_owned()),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let err = config::load(&cli(&["--no-collector.phone_numbers"]), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("health reads what phone_numbers publishes"),
        "{err}"
    );
    // Switching health off too is fine; so is switching off waba, which health only uses.
    config::load(
        &cli(&["--no-collector.phone_numbers", "--no-collector.health"]),
        &env,
    )
    .unwrap();
    config::load(&cli(&["--no-collector.waba"]), &env).unwrap();
}

#[test]
fn a_secret_pasted_in_the_wrong_place_is_not_repeated_by_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "accounts:\n  - name: shop\n    credentials: \"LTAI5tPasted:pasted-secret-value\"\n",
    )
    .unwrap();
    let err = config::load(&cli(&["--config.file", path.to_str().unwrap()]), &no_env)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("pasted-secret-value"), "{err}");
    assert!(
        err.contains("accounts[0].credentials: invalid type"),
        "{err}"
    );
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn shard_auto_takes_the_ordinal_of_the_pod_name() {
    let with_host = |host: &'static str| {
        move |k: &str| match k {
            "HOSTNAME" => Some(host.to_owned()),
            "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("LTAI5tTestKeyForConfig".to_owned()),
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some(SECRET.to_owned()),
            _ => None,
        }
    };
    let load = |host: &'static str, total: &str| {
        config::load(
            &cli(&["--shard=auto", "--total-shards", total]),
            &with_host(host),
        )
    };
    assert_eq!(load("chatapp-exporter-0", "3").unwrap().shard, 0);
    assert_eq!(load("x-12", "13").unwrap().shard, 12);
    let e = load("x", "3").unwrap_err().to_string();
    assert!(
        e.starts_with("--shard: auto needs a host name ending in -<ordinal>"),
        "{e}"
    );
    assert!(e.contains("\"x\""), "the error names the host name: {e}");
    let e = load("x-12", "3").unwrap_err().to_string();
    assert!(e.contains("12 must be below --total-shards (3)"), "{e}");
    // The same ordinal from the flag, as before.
    assert_eq!(
        config::load(
            &cli(&["--shard", "1", "--total-shards", "3"]),
            &with_host("x")
        )
        .unwrap()
        .shard,
        1
    );
}

#[test]
fn a_parent_runs_only_discovery_and_every_shard_keeps_it() {
    let s = load("discover.ok.yaml", &["--total-shards", "4", "--shard", "3"]).unwrap();
    let isv = s
        .accounts
        .iter()
        .find(|a| a.name == "isv")
        .expect("every shard keeps the parent");
    assert_eq!(enabled(isv), [("discovery", 900)]);
    // Its collectors: block is its customers': the top level's health switched off here.
    let children: Vec<&str> = isv
        .children
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(children, ["phone_numbers", "waba"]);
    assert!(isv.isv_code_file.is_some());
    let settings = format!("{:?}", isv.collectors[0].settings);
    assert!(
        settings.contains("shop-.*") && settings.contains("test-.*"),
        "{settings}"
    );
    // Only shop-a is split by the hash; the count of other shards' accounts ignores parents.
    assert_eq!(
        s.other_shards_accounts + s.accounts.iter().filter(|a| a.children.is_none()).count(),
        1
    );
    let summary = s.summary();
    assert!(summary.contains("discover:"), "{summary}");
    assert!(
        summary.contains("each an account <name>/<CustSpaceId> with phone_numbers, waba"),
        "{summary}"
    );
}

#[test]
fn explicit_flags_beat_the_file() {
    let s = load("good.ok.yaml", &["--refresh.interval", "90s"]).unwrap();
    assert_eq!(s.refresh_interval, Duration::from_secs(90));
    assert_eq!(s.max_staleness, Duration::from_secs(900), "file value kept");
}

#[test]
fn each_invalid_file_names_its_problem() {
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown-top-level.bad.yaml",
            &["unknown field `acounts`", "line 3"],
        ),
        (
            "unknown-account-key.bad.yaml",
            &["accounts[0]", "unknown field `access_key_secret`", "line 6"],
        ),
        (
            "duplicate-name.bad.yaml",
            &["accounts[1].name", "duplicate account name \"shop-a\""],
        ),
        (
            "staleness-below-interval.bad.yaml",
            &[
                "refresh.max_staleness",
                "at least the refresh interval (5m)",
            ],
        ),
        ("bad-duration.bad.yaml", &["refresh.interval", "line 1"]),
        (
            "discover-with-space.bad.yaml",
            &[
                "accounts[0].cust_space_id",
                "a parent",
                "remove cust_space_id",
            ],
        ),
        (
            "discover-bad-regex.bad.yaml",
            &[
                "accounts[0].discover.exclude[0]",
                "not a valid regular expression",
            ],
        ),
        (
            "discover-channel.bad.yaml",
            &["accounts[0].discover.channel_type", "whatsapp, messenger"],
        ),
        (
            "collectors-discovery.bad.yaml",
            &["collectors.discovery", "discover: block"],
        ),
        (
            "bad-endpoint.bad.yaml",
            &["accounts[0].endpoint", "is not a URL"],
        ),
        (
            "missing-secret-file.bad.yaml",
            &[
                "accounts[0].credentials.access_key_secret_file",
                "does-not-exist",
            ],
        ),
        ("broken-yaml.bad.yaml", &["line 3"]),
        (
            "negative-tier.bad.yaml",
            &["tier_limits.TIER_10", "non-negative"],
        ),
        (
            "unknown-collector.bad.yaml",
            &["collectors.helth", "unknown collector", "health"],
        ),
        (
            "collector-interval-on-refresh.bad.yaml",
            &[
                "accounts[0].collectors.phone_numbers.interval",
                "set refresh.interval instead",
            ],
        ),
        (
            "unknown-rate-limit.bad.yaml",
            &[
                "rate_limits.GetWhatsappHealth",
                "unknown API operation",
                "GetWhatsappHealthStatus",
            ],
        ),
        (
            "collector-unknown-key.bad.yaml",
            &[
                "collectors.health",
                "unknown field `enable`",
                "every collector block also takes `enabled` and `interval`",
            ],
        ),
        (
            "tier-limits-twice.bad.yaml",
            &[
                "tier_limits",
                "not both",
                "collectors.phone_numbers.tier_limits",
            ],
        ),
        (
            "health-without-numbers.bad.yaml",
            &[
                "accounts[0].collectors.health",
                "health reads what phone_numbers publishes",
                "--no-collector.health",
            ],
        ),
        (
            "collector-setting.bad.yaml",
            &[
                "collectors.phone_numbers.tier_limits.TIER_10",
                "non-negative",
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for (file, needles) in cases {
        match load(file, &[]) {
            Ok(_) => wrong.push(format!("{file}: accepted")),
            Err(msg) => {
                for n in *needles {
                    if !msg.contains(n) {
                        wrong.push(format!("{file}: {msg:?} lacks {n:?}"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The names and intervals of an account's enabled collectors.
fn enabled(a: &config::AccountSettings) -> Vec<(&'static str, u64)> {
    a.collectors
        .iter()
        .map(|c| (c.name, c.interval.as_secs()))
        .collect()
}

#[test]
fn collectors_flags_beat_the_account_block_which_beats_the_top_level() {
    let s = load("collectors.ok.yaml", &[]).unwrap();
    assert_eq!(
        enabled(&s.accounts[0]),
        [("phone_numbers", 60), ("waba", 60)]
    );
    assert_eq!(
        enabled(&s.accounts[1]),
        [("phone_numbers", 60), ("waba", 60), ("health", 1200)]
    );
    assert_eq!(
        s.rates.get("GetWhatsappHealthStatus", None).get(),
        1,
        "rate_limits: applies"
    );
    // An explicit flag wins over both blocks, for every account.
    let s = load(
        "collectors.ok.yaml",
        &["--collector.health", "--collector.health.interval", "5m"],
    )
    .unwrap();
    assert_eq!(enabled(&s.accounts[0])[2], ("health", 300));
    assert_eq!(enabled(&s.accounts[1])[2], ("health", 300));
    // The last of --collector.X / --no-collector.X wins, as in node_exporter.
    let s = load(
        "collectors.ok.yaml",
        &[
            "--collector.health",
            "--no-collector.health",
            "--no-collector.waba",
        ],
    )
    .unwrap();
    assert_eq!(enabled(&s.accounts[1]), [("phone_numbers", 60)]);
    // Defaults: health on every 10m, every 30s with --demo.
    let s = load("good.ok.yaml", &[]).unwrap();
    assert_eq!(enabled(&s.accounts[0])[2], ("health", 600));
    let s = load("good.ok.yaml", &["--demo"]).unwrap();
    assert_eq!(enabled(&s.accounts[0])[2], ("health", 30));
    assert!(
        load("good.ok.yaml", &["--collector.health.interval", "0s"])
            .unwrap_err()
            .contains("--collector.health.interval: must be at least 1s")
    );
}

#[test]
fn config_check_lists_each_accounts_collectors() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatapp_exporter"))
        .args([
            "--config.check",
            "--config.file",
            &format!("{DIR}/collectors.ok.yaml"),
        ])
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("collectors:    phone_numbers, waba (every 1m)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("collectors:    phone_numbers, waba (every 1m), health (every 20m)"),
        "{stdout}"
    );
    assert!(stdout.contains("GetWhatsappHealthStatus: 1/s"), "{stdout}");
}

#[test]
fn bad_testdata_is_all_covered() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".bad.yaml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        20,
        "add new .bad.yaml files to each_invalid_file_names_its_problem"
    );
}

#[test]
fn no_file_and_no_env_names_the_variable() {
    let err = config::load(&cli(&[]), &no_env).unwrap_err().to_string();
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
}

#[test]
fn flags_are_validated() {
    let env = |k: &str| match k {
        "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("LTAI5tTestKeyForConfig".to_owned()),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let err = |args: &[&str]| config::load(&cli(args), &env).unwrap_err().to_string();
    assert!(err(&["--refresh.interval", "500ms"]).contains("--refresh.interval"));
    assert!(err(&["--api.endpoint", "ftp://x"]).contains("--api.endpoint"));
    assert!(err(&["--web.telemetry-path", "metrics"]).contains("--web.telemetry-path"));
    // Paths the router would reject (route syntax) or that are the exporter's own: a
    // one-line error, never a panic at start.
    for path in ["/-/healthy", "/{x}", "/"] {
        assert!(
            err(&["--web.telemetry-path", path]).starts_with("--web.telemetry-path: "),
            "{path}"
        );
    }
    // Absurd durations are refused before any arithmetic on them.
    assert!(err(&["--refresh.interval", "400y"]).contains("must be at most 1day"));
    assert!(err(&["--refresh.max-staleness", "10y"]).contains("must be at most 7days"));
    assert!(err(&["--api.timeout", "2h"]).contains("must be at most 10m"));
    assert!(err(&["--collector.health.interval", "1000d"]).contains("must be at most 1day"));
    assert!(err(&["--web.idle-timeout", "0s"]).contains("--web.idle-timeout: must be at least 1s"));
    // The listener's limits reach the server's options.
    let options = cli(&[
        "--web.max-connections-per-address",
        "0",
        "--web.read-header-timeout",
        "3s",
        "--web.idle-timeout",
        "90s",
        "--web.max-requests",
        "7",
    ])
    .serve_options();
    assert_eq!(options.max_connections_per_address, 0);
    assert_eq!(options.header_read_timeout, Duration::from_secs(3));
    assert_eq!(options.idle_timeout, Duration::from_secs(90));
    assert_eq!(options.max_requests, 7);
    let s = config::load(&cli(&[]), &env).unwrap();
    assert_eq!(s.accounts.len(), 1);
    assert_eq!(s.accounts[0].name, "default");
    assert_eq!(s.refresh_interval, Duration::from_secs(60));
    assert_eq!(s.max_staleness, Duration::from_secs(600));
}

fn exporter() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatapp_exporter"));
    c.env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN");
    c
}

#[test]
fn config_check_prints_a_summary_without_secrets() {
    let out = exporter()
        .args([
            "--config.check",
            "--config.file",
            &format!("{DIR}/good.ok.yaml"),
        ])
        .env("ALIBABA_CLOUD_SECURITY_TOKEN", "unused-sts-token-value")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for needle in [
        "shop-a",
        "shop-b",
        "2934000001",
        "refresh interval: 2m",
        "isv_code",
    ] {
        assert!(stdout.contains(needle), "summary lacks {needle}: {stdout}");
    }
    for secret in [SECRET, "isv-code-for-tests", "LTAI5tTestKeyForConfig"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "leaked {secret}"
        );
    }
}

#[test]
fn config_check_fails_with_the_key_name() {
    let out = exporter()
        .args([
            "--config.check",
            "--config.file",
            &format!("{DIR}/unknown-account-key.bad.yaml"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("access_key_secret"), "{stderr}");
}

#[test]
fn missing_credentials_exit_non_zero_naming_the_variable() {
    let out = exporter()
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{stderr}");
}

#[test]
fn secrets_are_not_accepted_as_flags() {
    let out = exporter()
        .args(["--access-key-secret", SECRET])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn version_names_the_binary_and_revision() {
    let out = exporter().arg("--version").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.starts_with("chatapp_exporter 0."), "{stdout}");
    assert!(stdout.contains("revision:"), "{stdout}");
}
