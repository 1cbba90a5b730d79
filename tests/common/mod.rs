//! Shared harness for the integration tests: a scripted backend for the signature-checking
//! simulator, fixtures, settings builders, a test instance of the whole exporter on a
//! loopback port, a small parser for the text exposition, and log capture.
//!
//! Everything here talks to 127.0.0.1 only.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod exposition;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatapp_exporter::cli::{Cli, LogFormat, LogLevel};
use chatapp_exporter::config::{self, AccountSettings, FileConfig, Settings};
use chatapp_exporter::credentials::{
    CredentialSource, Credentials, ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET,
};
use chatapp_exporter::sim::{Backend, SimKey, SimRequest, SimResponse, Simulator};
use chatapp_exporter::telemetry;
use clap::Parser as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[allow(unused_imports)]
pub use exposition::{Sample, Scrape};

/// The actions, as their collectors declare them.
pub const OP_PHONE_NUMBERS: &str = chatapp_exporter::collect::phone_numbers::OPERATION.action;
/// `QueryChatappBindWaba`.
pub const OP_BIND_WABA: &str = chatapp_exporter::collect::waba::OPERATION.action;
/// `GetWhatsappHealthStatus`.
pub const OP_HEALTH_STATUS: &str = chatapp_exporter::collect::health::OPERATION.action;
/// `ListChatappTemplate`.
pub const OP_LIST_TEMPLATES: &str = chatapp_exporter::collect::templates::LIST.action;
/// `GetChatappTemplateDetail`.
pub const OP_TEMPLATE_DETAIL: &str = chatapp_exporter::collect::templates::DETAIL.action;

/// The AccessKey ID the simulator knows (fictional, long enough to be masked).
pub const KEY_ID: &str = "LTAI5tTestKeyForSimulator";
/// Its secret.
pub const SECRET: &str = "test-secret-for-the-simulator-0001";
/// How long a test waits for an asynchronous outcome before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// Reads `tests/fixtures/api/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A successful `QueryChatappPhoneNumbers` body holding `numbers`.
pub fn numbers_body(numbers: Vec<Value>) -> Value {
    json!({
        "Code": "OK",
        "Message": "SUCCESS",
        "RequestId": "5D1F0000-0000-4000-8000-00000000AAAA",
        "Success": true,
        "PhoneNumbers": numbers,
    })
}

/// A successful `QueryChatappBindWaba` body for a WABA with `id`.
pub fn waba_body(id: &str, name: &str, review: &str) -> Value {
    json!({
        "Code": "OK",
        "Message": "SUCCESS",
        "RequestId": "5D1F0000-0000-4000-8000-00000000BBBB",
        "Success": true,
        "Data": {
            "Id": id,
            "Name": name,
            "BusinessId": "1122334455",
            "BusinessName": "Acme Ltd",
            "Currency": "USD",
            "MessageTemplateNamespace": "ns-0001",
            "AccountReviewStatus": review,
        },
    })
}

/// One number as the API describes it.
pub fn number(phone: &str, name: &str, status: &str, quality: &str, tier: &str) -> Value {
    json!({
        "PhoneNumber": phone,
        "VerifiedName": name,
        "Status": status,
        "QualityRating": quality,
        "MessagingLimitTier": tier,
        "CodeVerificationStatus": "VERIFIED",
        "NameStatus": "Approval",
        "NewNameStatus": "",
        "IsOfficial": "N",
        "StatusCallbackUrl": format!("https://hooks.example.com/status?token=tok-{phone}"),
        "UpCallbackUrl": "",
    })
}

/// What the scripted backend saw of one verified request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request (all parameters except `Signature`).
    pub request: SimRequest,
    /// Tokio time at arrival (paused time in the scheduler tests).
    pub at: tokio::time::Instant,
    /// The delay the answer was given.
    pub delay: Duration,
}

/// A [`Backend`] that answers each action with whatever the test set last, and records
/// every request it is asked about (only requests whose signature, nonce and timestamp the
/// simulator verified reach it).
#[derive(Debug, Default)]
pub struct Script {
    answers: Mutex<HashMap<String, SimResponse>>,
    seen: Mutex<Vec<Seen>>,
}

impl Script {
    /// A backend with no answers yet (each action answers 404 until set).
    pub fn empty() -> Arc<Script> {
        Arc::new(Script::default())
    }

    /// A backend answering both operations with the two full fixtures.
    pub fn full() -> Arc<Script> {
        let s = Arc::new(Script::default());
        s.set(
            OP_PHONE_NUMBERS,
            SimResponse::ok(fixture("query-chatapp-phone-numbers.full.json")),
        );
        s.set(
            OP_BIND_WABA,
            SimResponse::ok(fixture("query-chatapp-bind-waba.full.json")),
        );
        s
    }

    /// A backend answering with `numbers` and an approved WABA.
    pub fn with_numbers(numbers: Vec<Value>) -> Arc<Script> {
        let s = Arc::new(Script::default());
        s.set_numbers(numbers);
        s.set(
            OP_BIND_WABA,
            SimResponse::ok(waba_body("100200300", "Acme", "APPROVED")),
        );
        s
    }

    /// Answers `action` with `response` from now on.
    pub fn set(&self, action: &str, response: SimResponse) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(action.to_owned(), response);
    }

    /// Answers `QueryChatappPhoneNumbers` with `numbers` from now on.
    pub fn set_numbers(&self, numbers: Vec<Value>) {
        self.set(OP_PHONE_NUMBERS, SimResponse::ok(numbers_body(numbers)));
    }

    /// Answers both operations with `response` from now on.
    pub fn set_both(&self, response: SimResponse) {
        self.set(OP_PHONE_NUMBERS, response.clone());
        self.set(OP_BIND_WABA, response);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Backend for Script {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        let answer = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&request.action)
            .cloned()
            .unwrap_or_else(|| SimResponse::error(404, "InvalidAction.NotFound", "no script"));
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                request: request.clone(),
                at: tokio::time::Instant::now(),
                delay: answer.delay,
            });
        answer
    }
}

/// The keys a simulator accepts: [`KEY_ID`] with [`SECRET`], and an STS token if given.
pub fn sim_keys(security_token: Option<&str>) -> HashMap<String, SimKey> {
    HashMap::from([(
        KEY_ID.to_owned(),
        SimKey {
            secret: SECRET.to_owned(),
            security_token: security_token.map(str::to_owned),
        },
    )])
}

/// Starts a simulator serving `script` with [`sim_keys`]`(None)`.
pub async fn start_sim(script: &Arc<Script>) -> Simulator {
    start_sim_with_keys(script, sim_keys(None)).await
}

/// Starts a simulator serving `script` with `keys`.
pub async fn start_sim_with_keys(script: &Arc<Script>, keys: HashMap<String, SimKey>) -> Simulator {
    Simulator::start(script.clone(), keys)
        .await
        .expect("simulator binds 127.0.0.1:0")
}

/// Fixed credentials.
pub fn creds(id: &str, secret: &str, security_token: Option<&str>) -> CredentialSource {
    CredentialSource::Static(Credentials {
        access_key_id: id.to_owned(),
        access_key_secret: SecretString::from(secret.to_owned()),
        security_token: security_token.map(|t| SecretString::from(t.to_owned())),
    })
}

/// An account named `name` polling `sim` with the right key.
pub fn account(name: &str, sim: &Simulator) -> AccountSettings {
    AccountSettings {
        name: name.to_owned(),
        endpoint: sim.endpoint(),
        cust_space_id: None,
        isv_code_file: None,
        credentials: creds(KEY_ID, SECRET, None),
        collectors: Vec::new(),
        signature_version: Default::default(),
        children: None,
        origin: None,
    }
}

/// Settings as `chatapp_exporter --web.listen-address 127.0.0.1:0 <args>` would resolve them
/// (flags validated by the real code), with `accounts` instead of the environment's account;
/// each account gets the collectors the flags enable. The health collector is off unless
/// `args` name it, so that the tests written for the refresh see only its two operations.
pub fn settings(args: &[&str], accounts: Vec<AccountSettings>) -> Settings {
    let health_named = args.iter().any(|a| a.contains("collector.health"));
    let argv = ["chatapp_exporter", "--web.listen-address", "127.0.0.1:0"]
        .into_iter()
        .chain((!health_named).then_some("--no-collector.health"))
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).expect("test flags parse");
    let env = |k: &str| match k {
        ENV_ACCESS_KEY_ID => Some("LTAI5tUnusedEnvironmentKey".to_owned()),
        ENV_ACCESS_KEY_SECRET => Some("unused".to_owned()),
        _ => None,
    };
    let mut s = config::resolve(&cli, FileConfig::default(), &env).expect("test flags are valid");
    s.storage_path = storage_dir();
    s.accounts = accounts;
    for a in &mut s.accounts {
        a.collectors = s.collectors.clone();
        a.signature_version = s.signature_version;
    }
    s
}

/// A directory of this test process for the history store, under cargo's scratch directory
/// for integration tests (never the checkout's `data/`).
pub fn storage_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("storage-{}", std::process::id()))
}

/// Fast settings for end-to-end scenarios: refresh every second (the smallest interval the
/// exporter accepts), a 2 s API timeout, unless `args` set them otherwise.
pub fn fast_settings(args: &[&str], accounts: Vec<AccountSettings>) -> Settings {
    let mut all: Vec<&str> = args.to_vec();
    for (flag, value) in [("--refresh.interval", "1s"), ("--api.timeout", "2s")] {
        if !args.contains(&flag) {
            all.extend([flag, value]);
        }
    }
    settings(&all, accounts)
}

/// A plain HTTP client for scraping the exporter under test.
pub fn http_client() -> reqwest::Client {
    chatapp_exporter::api::client::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// The whole exporter (`app::run`) on a loopback port.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The listening address.
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// `app::run`'s task.
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
    http: reqwest::Client,
}

/// Starts `app::run(settings)` on 127.0.0.1:0.
pub async fn spawn_app(settings: Settings) -> TestApp {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(chatapp_exporter::app::run(settings, listener, async move {
        let _ = stopped.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        addr,
        stop: Some(stop),
        task: Some(task),
        http: http_client(),
    }
}

impl TestApp {
    /// GETs `path`; returns status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// Scrapes `/metrics` and parses it (the parse fails the test on a malformed line).
    pub async fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Scrape::parse(&body)
    }

    /// Scrapes until `cond` holds, at most [`WAIT`]; returns the scrape that satisfied it.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Scrape) -> bool) -> Scrape {
        self.wait_for_within(what, WAIT, cond).await
    }

    /// [`TestApp::wait_for`] for at most `within` (many accounts on a busy machine).
    #[allow(dead_code)] // not every test binary waits that long
    pub async fn wait_for_within(
        &self,
        what: &str,
        within: Duration,
        cond: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let s = self.scrape().await;
            if cond(&s) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for: {what}\nlast scrape:\n{}", s.text);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Triggers shutdown without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Triggers shutdown and waits for `app::run` to return (at most [`WAIT`]); returns
    /// how long that took.
    pub async fn shutdown(mut self) -> Duration {
        let started = std::time::Instant::now();
        self.trigger_shutdown();
        let task = self.task.take().expect("not shut down yet");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("app::run returns after shutdown")
            .expect("app::run does not panic")
            .expect("app::run returns Ok");
        started.elapsed()
    }
}

/// The most of `times` (sorted) that fall in any closed window of length `window`: a
/// client-side limit of R/s with a burst of R admits at most 2R in a closed 1 s window.
pub fn most_in_any_window(times: &[Duration], window: Duration) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|u| **u <= times[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Waits until `cond` holds, at most [`WAIT`], checking every 10 ms.
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes `content` to a new temporary file (for secret files).
pub fn secret_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(content.as_bytes()).expect("write temp file");
    f
}

/// Captures everything logged on the current thread (all tests here run on a
/// current-thread runtime, so the exporter's tasks log on the test's thread).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the exporter's own subscriber at `--log.level=debug` for this thread until
    /// the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        tracing::subscriber::set_default(telemetry::subscriber(
            LogLevel::Debug,
            LogFormat::Logfmt,
            move || sink.clone(),
        ))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `program args` with `text` on its stdin and waits for it; `None` when the program
/// is not installed.
fn run_with_stdin(program: &str, args: &[&str], text: &str) -> Option<std::process::Output> {
    use std::process::{Command, Stdio};
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write to {program}: {e}"));
    Some(
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}")),
    )
}

/// Runs `promtool check metrics` on `text` when promtool is on PATH; returns false (after
/// printing a note) when it is not. Fails the test when promtool reports a problem.
pub fn promtool_check(what: &str, text: &str) -> bool {
    let Some(out) = run_with_stdin("promtool", &["check", "metrics"], text) else {
        eprintln!("note: promtool is not on PATH; skipped `promtool check metrics` of {what}");
        return false;
    };
    assert!(
        out.status.success(),
        "promtool check metrics rejected {what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// Parses `text` with the official Python client's OpenMetrics parser
/// (`prometheus_client.openmetrics.parser`) when python3 has it; returns its `family type`
/// lines, or `None` (after printing a note) when python3 or the package is missing (CI
/// installs it in `.ci/check-openmetrics.sh`). Fails the test when the parser rejects `text`.
pub fn openmetrics_parse(what: &str, text: &str) -> Option<String> {
    const SCRIPT: &str = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, f.type)\n";
    let have = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let out = have
        .then(|| run_with_stdin("python3", &["-c", SCRIPT], text))
        .flatten();
    let Some(out) = out else {
        eprintln!(
            "note: python3 with prometheus_client is not available; skipped its OpenMetrics parser on {what}"
        );
        return None;
    };
    assert!(
        out.status.success(),
        "prometheus_client's OpenMetrics parser rejected {what}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("UTF-8"))
}
