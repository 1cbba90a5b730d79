//! Issue #3: live reload (accounts added and removed, a bad file keeps the running
//! configuration) and the per-AccessKey rate limit shared by accounts, measured at the mock.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chatapp_exporter::app::{self, SettingsLoader};
use chatapp_exporter::cli::Cli;
use chatapp_exporter::config;
use clap::Parser as _;
use common::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn config_text(sim_endpoint: &str, secret_file: &Path, accounts: &[&str]) -> String {
    let mut s = String::from("refresh: {interval: 1s, max_staleness: 1m}\naccounts:\n");
    for name in accounts {
        s.push_str(&format!(
            "  - name: {name}\n    endpoint: {sim_endpoint}\n    credentials:\n      access_key_id: {KEY_ID}\n      access_key_secret_file: {}\n",
            secret_file.display()
        ));
    }
    s
}

/// A temporary directory with the AccessKey secret file, and the path of the config file
/// to write there.
fn config_files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ak_secret");
    std::fs::write(&secret, SECRET).unwrap();
    let file = dir.path().join("config.yaml");
    (dir, secret, file)
}

struct ReloadApp {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

impl ReloadApp {
    async fn start(config_file: &Path, extra: &[&str]) -> ReloadApp {
        let mut argv = vec![
            "chatapp_exporter".to_owned(),
            "--config.file".to_owned(),
            config_file.display().to_string(),
            "--storage.path".to_owned(),
            storage_dir().display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        let cli = Cli::try_parse_from(argv).unwrap();
        let no_env = |_: &str| None;
        let settings = config::load(&cli, &no_env).unwrap();
        let loader: SettingsLoader = Arc::new(move || config::load(&cli, &|_| None));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run_with_reload(
            settings,
            listener,
            async move {
                let _ = stopped.await;
            },
            Some(loader),
        ));
        ReloadApp {
            base,
            stop: Some(stop),
            task,
            http: http_client(),
        }
    }

    async fn scrape(&self) -> common::exposition::Scrape {
        let body = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        common::exposition::Scrape::parse(&body)
    }

    async fn wait_for(&self, what: &str, cond: impl Fn(&common::exposition::Scrape) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = self.scrape().await;
            if cond(&s) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what}\n{}",
                s.text
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn reload(&self) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/-/reload", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("app stops")
            .unwrap()
            .unwrap();
    }
}

fn up(s: &common::exposition::Scrape, account: &str) -> Option<f64> {
    s.value("chatapp_up", &[("account", account)])
}

#[tokio::test]
async fn reload_adds_and_removes_accounts_and_keeps_running_on_a_bad_file() {
    let script = Script::full();
    let sim = start_sim(&script).await;
    let (_dir, secret, file) = config_files();
    std::fs::write(&file, config_text(&sim.endpoint(), &secret, &["shop-a"])).unwrap();

    let app = ReloadApp::start(&file, &[]).await;
    app.wait_for("shop-a up", |s| up(s, "shop-a") == Some(1.0))
        .await;

    // Add shop-b.
    std::fs::write(
        &file,
        config_text(&sim.endpoint(), &secret, &["shop-a", "shop-b"]),
    )
    .unwrap();
    assert_eq!(app.reload().await.0, 200);
    app.wait_for("shop-b up and exported", |s| {
        up(s, "shop-b") == Some(1.0)
            && !s
                .find("chatapp_phone_number_info", &[("account", "shop-b")])
                .is_empty()
    })
    .await;
    let s = app.scrape().await;
    assert_eq!(
        s.value("chatapp_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // A broken file is rejected with the key's name; both accounts keep refreshing.
    std::fs::write(
        &file,
        "refresh: {interval: 1s}\naccounts:\n  - nme: shop-c\n",
    )
    .unwrap();
    let (status, body) = app.reload().await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("nme"), "{body}");
    let before = script.count();
    app.wait_for("refreshes continue after a bad reload", |s| {
        s.value("chatapp_config_last_reload_successful", &[]) == Some(0.0)
            && up(s, "shop-a") == Some(1.0)
            && up(s, "shop-b") == Some(1.0)
            && script.count() >= before + 4
    })
    .await;

    // Remove shop-a: every series labelled with it disappears.
    std::fs::write(&file, config_text(&sim.endpoint(), &secret, &["shop-b"])).unwrap();
    assert_eq!(app.reload().await.0, 200);
    app.wait_for("shop-a gone", |s| {
        s.samples
            .iter()
            .all(|x| x.labels.get("account").map(String::as_str) != Some("shop-a"))
            && up(s, "shop-b") == Some(1.0)
            && s.value("chatapp_config_last_reload_successful", &[]) == Some(1.0)
    })
    .await;
    app.stop().await;
}

/// A reload that switches a collector off for an account removes every series of that
/// collector, and leaves the refresh's alone.
#[tokio::test]
async fn a_collector_switched_off_by_reload_takes_its_series_with_it() {
    let script = Script::full();
    let sim = start_sim(&script).await;
    let (_dir, secret, file) = config_files();
    let text = config_text(&sim.endpoint(), &secret, &["shop-a"]);
    std::fs::write(&file, &text).unwrap();
    let app = ReloadApp::start(&file, &[]).await;
    let health = [("account", "shop-a"), ("collector", "health")];
    app.wait_for("the health collector registered", |s| {
        s.value("chatapp_collector_interval_seconds", &health) == Some(600.0)
            && up(s, "shop-a") == Some(1.0)
    })
    .await;
    std::fs::write(
        &file,
        format!("collectors: {{health: {{enabled: false}}}}\n{text}"),
    )
    .unwrap();
    assert_eq!(app.reload().await.0, 200);
    app.wait_for("health's series gone", |s| {
        s.samples
            .iter()
            .all(|x| x.labels.get("collector").map(String::as_str) != Some("health"))
    })
    .await;
    let s = app.scrape().await;
    assert!(
        s.value(
            "chatapp_collector_success",
            &[("account", "shop-a"), ("collector", "waba")]
        )
        .is_some()
    );
    assert_eq!(up(&s, "shop-a"), Some(1.0));
    app.stop().await;
}

/// A reload that removes an account while its refresh is in flight: the account's task is
/// stopped and waited for before its series are cleared, so a refresh that was on its way
/// can never publish them again.
#[tokio::test]
async fn a_removed_account_stays_gone_when_its_refresh_was_in_flight() {
    let script = Script::full();
    let sim = start_sim(&script).await;
    let (_dir, secret, file) = config_files();
    std::fs::write(
        &file,
        config_text(&sim.endpoint(), &secret, &["shop-a", "shop-b"]),
    )
    .unwrap();
    let app = ReloadApp::start(&file, &[]).await;
    app.wait_for("both up", |s| {
        up(s, "shop-a") == Some(1.0) && up(s, "shop-b") == Some(1.0)
    })
    .await;

    // From now on every answer takes 800 ms: the next refreshes are in flight when the
    // reload removes shop-a.
    let slow = |op| {
        let body = if op == OP_PHONE_NUMBERS {
            fixture("query-chatapp-phone-numbers.full.json")
        } else {
            fixture("query-chatapp-bind-waba.full.json")
        };
        chatapp_exporter::sim::SimResponse::ok(body).delayed(Duration::from_millis(800))
    };
    script.set(OP_PHONE_NUMBERS, slow(OP_PHONE_NUMBERS));
    script.set(OP_BIND_WABA, slow(OP_BIND_WABA));
    let before = script.count();
    common::wait_until("a slow refresh in flight", || script.count() > before).await;
    std::fs::write(&file, config_text(&sim.endpoint(), &secret, &["shop-b"])).unwrap();
    assert_eq!(app.reload().await.0, 200);

    // Well past the answers that were in flight: shop-a never comes back.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < deadline {
        let s = app.scrape().await;
        assert!(
            s.samples
                .iter()
                .all(|x| x.labels.get("account").map(String::as_str) != Some("shop-a")),
            "shop-a's series came back after its removal:\n{}",
            s.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(up(&app.scrape().await, "shop-b"), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn accounts_sharing_a_key_share_its_rate_limit() {
    // Eight accounts sign with the same key; at 2 requests/s per key and API the simulator
    // must never see more than the buckets allow, although every account wants one request
    // per API per second.
    let script = Script::full();
    let sim = start_sim(&script).await;
    let (_dir, secret, file) = config_files();
    let names: Vec<String> = (0..8).map(|i| format!("isv-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    std::fs::write(&file, config_text(&sim.endpoint(), &secret, &names)).unwrap();

    let app = ReloadApp::start(&file, &["--api.rate-limit", "2"]).await;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let seen = script.seen();
    app.stop().await;

    // Each API has its own bucket (its own 10/s quota upstream). GCRA with a burst of 2 at
    // 2/s admits at most 2 + 2 = 4 requests in any closed 1 s window; allow one more for
    // scheduling delay. Without the limit, 8 of each arrive at once.
    for op in [OP_PHONE_NUMBERS, OP_BIND_WABA] {
        let times: Vec<Duration> = seen
            .iter()
            .filter(|s| s.request.action == op)
            .map(|s| s.at.duration_since(started))
            .collect();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u <= *t + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 5,
                "{op}: {in_window} requests within 1s of {t:?}: {times:?}"
            );
        }
        assert!(
            (4..=10).contains(&times.len()),
            "{op}: expected about 2/s for 3 s, saw {}: {times:?}",
            times.len()
        );
    }
}
