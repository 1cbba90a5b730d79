//! Credential providers end to end (issue #3, "Credentials"), against in-process mock STS,
//! metadata and credentials URI servers on loopback: nothing here talks to
//! `100.100.100.200` or a real STS, reads the real process environment or the real home
//! directory (the environment is a map, `HOME` a temporary directory).
//!
//! Expiry is driven by a `ManualClock` shared by the providers and the mocks: the mocks stamp
//! `Expiration` from it, the caches read it, and the tests move it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chatapp_exporter::api::signing;
use chatapp_exporter::cli::Cli;
use chatapp_exporter::config;
use chatapp_exporter::credentials::{
    Clock, Context, CredentialError, CredentialSource, CredentialsConfig, ManualClock, Options,
    expose,
};
use clap::Parser as _;

const DIR: &str = "tests/testdata/credentials";
const BASE_ID: &str = "LTAI5tBaseKeyForStsTests";
const BASE_SECRET: &str = "base-secret-never-printed";
const ROLE: &str = "acs:ram::1234567890123456:role/cams-monitor";
const OIDC_PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1";
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------- helpers

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn iso(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// An environment made of a map.
#[derive(Clone, Default)]
struct Env(BTreeMap<String, String>);

impl Env {
    fn with(mut self, k: &str, v: impl AsRef<str>) -> Self {
        self.0.insert(k.into(), v.as_ref().into());
        self
    }
    fn without(mut self, k: &str) -> Self {
        self.0.remove(k);
        self
    }
    fn get(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.0.get(k).cloned()
    }
}

fn home(dir: &Path) -> Env {
    Env::default().with("HOME", dir.to_str().unwrap())
}

struct Rig {
    clock: Arc<ManualClock>,
    sts: Arc<MockSts>,
    sts_url: String,
    meta: Arc<MockMetadata>,
    meta_url: String,
    uri: Arc<MockUri>,
    uri_url: String,
    ctx: Arc<Context>,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Rig {
        let clock = Arc::new(ManualClock::new(t0()));
        let sts = Arc::new(MockSts::new(clock.clone()));
        let sts_url = serve(sts_router(sts.clone())).await;
        let meta = Arc::new(MockMetadata::new(clock.clone()));
        let meta_url = serve(metadata_router(meta.clone())).await;
        let uri = Arc::new(MockUri::new(clock.clone()));
        let uri_url = format!(
            "{}/credentials?token=uri-query-token",
            serve(uri_router(uri.clone())).await
        );
        let ctx = Context::new(Options {
            clock: clock.clone() as Arc<dyn Clock>,
            sts_endpoint: Some(sts_url.clone()),
            metadata_endpoint: meta_url.clone(),
            ..Options::default()
        });
        Rig {
            clock,
            sts,
            sts_url,
            meta,
            meta_url,
            uri,
            uri_url,
            ctx,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    fn build(&self, yaml: &str, env: &Env) -> Result<CredentialSource, CredentialError> {
        let c: CredentialsConfig = serde_yaml_ng::from_str(yaml).unwrap();
        c.build_with(&env.get(), &self.ctx)
    }

    fn chain(&self, env: &Env) -> Result<CredentialSource, CredentialError> {
        CredentialSource::default_chain_with(&env.get(), &self.ctx)
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn json(status: StatusCode, body: serde_json::Value) -> (StatusCode, String) {
    (status, body.to_string())
}

// ---------------------------------------------------------------- mock STS

/// Verifies `AssumeRole` signatures with the exporter's own signer, accepts any non-empty OIDC
/// token, and hands out credentials that expire `lifetime` after the shared clock's now.
struct MockSts {
    clock: Arc<ManualClock>,
    secrets: Mutex<HashMap<String, String>>,
    requests: Mutex<Vec<BTreeMap<String, String>>>,
    failure: Mutex<Option<(StatusCode, &'static str)>>,
    delay: Mutex<Duration>,
    issued: AtomicUsize,
}

impl MockSts {
    fn new(clock: Arc<ManualClock>) -> Self {
        MockSts {
            clock,
            secrets: Mutex::new([(BASE_ID.to_string(), BASE_SECRET.to_string())].into()),
            requests: Mutex::default(),
            failure: Mutex::default(),
            delay: Mutex::default(),
            issued: AtomicUsize::new(0),
        }
    }
    fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    fn last(&self) -> BTreeMap<String, String> {
        self.requests.lock().unwrap().last().cloned().unwrap()
    }
    fn fail(&self, f: Option<(StatusCode, &'static str)>) {
        *self.failure.lock().unwrap() = f;
    }
    fn trust(&self, id: &str, secret: &str) {
        self.secrets
            .lock()
            .unwrap()
            .insert(id.into(), secret.into());
    }
}

fn sts_router(sts: Arc<MockSts>) -> Router {
    Router::new().fallback(sts_handler).with_state(sts)
}

async fn sts_handler(
    State(sts): State<Arc<MockSts>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> (StatusCode, String) {
    assert_eq!(method, Method::POST);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let query = query.unwrap_or_default();
    let mut params: BTreeMap<String, String> = signing::parse_query(&query).into_iter().collect();
    let form = signing::parse_query(&body);
    for (k, _) in &form {
        assert!(!params.contains_key(k), "{k} both in query and body");
    }
    params.extend(form);
    sts.requests.lock().unwrap().push(params.clone());
    let delay = *sts.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, code)) = *sts.failure.lock().unwrap() {
        return json(
            status,
            serde_json::json!({"RequestId": "req-fail", "HostId": "sts.aliyuncs.com", "Code": code, "Message": "mock failure"}),
        );
    }
    assert_eq!(params["Version"], "2015-04-01");
    assert_eq!(params["Format"], "JSON");
    let kind = match params["Action"].as_str() {
        "AssumeRole" => {
            let signature = params.remove("Signature").expect("AssumeRole is signed");
            assert_eq!(params["SignatureMethod"], "HMAC-SHA1");
            assert_eq!(params["SignatureVersion"], "1.0");
            assert!(!params["SignatureNonce"].is_empty());
            let secret = sts
                .secrets
                .lock()
                .unwrap()
                .get(&params["AccessKeyId"])
                .cloned();
            let string_to_sign = signing::string_to_sign("POST", &params);
            let ok = secret.is_some_and(|s| signing::sign_string(&s, &string_to_sign) == signature);
            if !ok {
                return json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "RequestId": "req-sig",
                        "Code": "SignatureDoesNotMatch",
                        "Message": format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
                    }),
                );
            }
            "role"
        }
        "AssumeRoleWithOIDC" => {
            assert!(!params.contains_key("Signature"), "OIDC is anonymous");
            assert!(!params["OIDCToken"].is_empty());
            assert!(
                !query.contains("OIDCToken"),
                "the token travels in the body"
            );
            "oidc"
        }
        other => panic!("unexpected action {other}"),
    };
    let n = sts.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = Duration::from_secs(params["DurationSeconds"].parse().unwrap());
    json(
        StatusCode::OK,
        serde_json::json!({
            "RequestId": format!("req-{n}"),
            "AssumedRoleUser": {"Arn": params["RoleArn"], "AssumedRoleId": "3000:exporter"},
            "Credentials": {
                "AccessKeyId": format!("STS.{kind}.{n}"),
                "AccessKeySecret": format!("sts-secret-{n}"),
                "SecurityToken": format!("sts-token-{n}"),
                "Expiration": iso(sts.clock.now() + lifetime),
            }
        }),
    )
}

// ---------------------------------------------------------------- mock metadata

/// The ECS metadata service. `hardened`: GETs without a valid token are refused (401);
/// `token_service`: whether `PUT /latest/api/token` exists at all.
struct MockMetadata {
    clock: Arc<ManualClock>,
    role: String,
    hardened: Mutex<bool>,
    token_service: Mutex<bool>,
    tokens: Mutex<Vec<String>>,
    requests: Mutex<Vec<(Method, String, Option<String>)>>,
    issued: AtomicUsize,
}

impl MockMetadata {
    fn new(clock: Arc<ManualClock>) -> Self {
        MockMetadata {
            clock,
            role: "exporter-role".into(),
            hardened: Mutex::new(true),
            token_service: Mutex::new(true),
            tokens: Mutex::default(),
            requests: Mutex::default(),
            issued: AtomicUsize::new(0),
        }
    }
    fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    fn log(&self) -> Vec<(Method, String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}

fn metadata_router(meta: Arc<MockMetadata>) -> Router {
    Router::new().fallback(metadata_handler).with_state(meta)
}

async fn metadata_handler(
    State(meta): State<Arc<MockMetadata>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let header = |k: &str| headers.get(k).map(|v| v.to_str().unwrap().to_string());
    let token = header("x-aliyun-ecs-metadata-token");
    let path = uri.path().to_string();
    meta.requests
        .lock()
        .unwrap()
        .push((method.clone(), path.clone(), token.clone()));
    if method == Method::PUT && path == "/latest/api/token" {
        if !*meta.token_service.lock().unwrap() {
            return (StatusCode::NOT_FOUND, String::new());
        }
        let Some(ttl) = header("x-aliyun-ecs-metadata-token-ttl-seconds") else {
            return (StatusCode::BAD_REQUEST, "ttl header required".into());
        };
        assert_eq!(ttl, "21600");
        let t = format!("metadata-token-{}", meta.tokens.lock().unwrap().len() + 1);
        meta.tokens.lock().unwrap().push(t.clone());
        return (StatusCode::OK, t);
    }
    assert_eq!(method, Method::GET, "{path}");
    let valid = token.is_some_and(|t| meta.tokens.lock().unwrap().contains(&t));
    if *meta.hardened.lock().unwrap() && !valid {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let prefix = "/latest/meta-data/ram/security-credentials/";
    match path.strip_prefix(prefix) {
        Some("") => (StatusCode::OK, format!("{}\n", meta.role)),
        Some(role) if role == meta.role => {
            let n = meta.issued.fetch_add(1, Ordering::SeqCst) + 1;
            json(
                StatusCode::OK,
                serde_json::json!({
                    "Code": "Success",
                    "AccessKeyId": format!("STS.ecs.{n}"),
                    "AccessKeySecret": format!("ecs-secret-{n}"),
                    "SecurityToken": format!("ecs-token-{n}"),
                    "Expiration": iso(meta.clock.now() + 6 * HOUR),
                    "LastUpdated": iso(meta.clock.now()),
                }),
            )
        }
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

// ---------------------------------------------------------------- mock credentials URI

struct MockUri {
    clock: Arc<ManualClock>,
    code: Mutex<&'static str>,
    requests: AtomicUsize,
}

impl MockUri {
    fn new(clock: Arc<ManualClock>) -> Self {
        MockUri {
            clock,
            code: Mutex::new("Success"),
            requests: AtomicUsize::new(0),
        }
    }
    fn calls(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn uri_router(m: Arc<MockUri>) -> Router {
    Router::new().fallback(uri_handler).with_state(m)
}

async fn uri_handler(
    State(m): State<Arc<MockUri>>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let n = m.requests.fetch_add(1, Ordering::SeqCst) + 1;
    assert_eq!(query.as_deref(), Some("token=uri-query-token"));
    json(
        StatusCode::OK,
        serde_json::json!({
            "Code": *m.code.lock().unwrap(),
            "AccessKeyId": format!("STS.uri.{n}"),
            "AccessKeySecret": format!("uri-secret-{n}"),
            "SecurityToken": format!("uri-token-{n}"),
            "Expiration": iso(m.clock.now() + HOUR),
        }),
    )
}

async fn id(source: &CredentialSource) -> String {
    source.resolve().await.unwrap().access_key_id
}

fn role_yaml(rig: &Rig, extra: &str) -> String {
    let secret = rig.write("base_secret", &format!("{BASE_SECRET}\n"));
    format!(
        "type: ram_role_arn\naccess_key_id: {BASE_ID}\naccess_key_secret_file: {}\nrole_arn: {ROLE}\n{extra}",
        secret.display()
    )
}

// ---------------------------------------------------------------- configuration

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("chatapp_exporter").chain(args.iter().copied())).unwrap()
}

fn load(file: &str, env: &Env) -> Result<config::Settings, String> {
    let path = format!("{DIR}/{file}");
    config::load(&cli(&["--config.file", &path]), &env.get()).map_err(|e| e.to_string())
}

#[test]
fn every_type_parses_and_builds_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    let env = home(tmp.path())
        .with("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tEnvironmentKey")
        .with(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "env-secret-never-printed",
        );
    let s = load("all-types.ok.yaml", &env).unwrap();
    let described: BTreeMap<&str, String> = s
        .accounts
        .iter()
        .map(|a| (a.name.as_str(), a.credentials.describe()))
        .collect();
    let expect = [
        (
            "legacy-access-key",
            "access key LTAI****als (secret from tests/testdata/credentials/ak_secret)",
        ),
        (
            "access-key",
            "access key LTAI****als (secret from tests/testdata/credentials/ak_secret)",
        ),
        ("sts", "STS token from tests/testdata/credentials/sts_token"),
        (
            "role",
            "ram_role_arn acs:ram::1234567890123456:role/cams-monitor (session exporter-test, duration 1800s, external id isv-42, sts https://sts.ap-southeast-1.aliyuncs.com) with access key LTAI****als",
        ),
        (
            "rrsa",
            "oidc_role_arn acs:ram::1234567890123456:role/cams-monitor (provider acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1, token from tests/testdata/credentials/oidc_token, session chatapp-exporter, duration 3600s, sts https://sts.aliyuncs.com)",
        ),
        (
            "ecs",
            "ecs_ram_role exporter-role (metadata http://100.100.100.200)",
        ),
        (
            "ecs-discovered",
            "ecs_ram_role (discovered) (metadata http://127.0.0.1:9)",
        ),
        (
            "cli-profile",
            "profile ak from profile file tests/testdata/credentials/aliyun-config.json",
        ),
        (
            "ini-profile",
            "profile (current, or default for INI) from profile file tests/testdata/credentials/credentials.ini",
        ),
        ("uri", "uri http://127.0.0.1:9/credentials?token=*** (#"),
        (
            "chain",
            "default chain [environment: access key LTAI****Key]",
        ),
        (
            "implicit-chain",
            "default chain [environment: access key LTAI****Key]",
        ),
    ];
    for (account, needle) in expect {
        assert!(
            described[account].contains(needle),
            "{account}: {} lacks {needle}",
            described[account]
        );
    }
    let summary = s.summary();
    for secret in [
        "not-a-real",
        "env-secret-never-printed",
        "uri-token",
        "LTAI5tTestKeyForCredentials",
        "LTAI5tEnvironmentKey",
    ] {
        assert!(
            !summary.contains(secret),
            "summary leaks {secret}: {summary}"
        );
    }
    // Differently configured sources describe differently (reload change detection).
    let unique: std::collections::HashSet<&String> = described.values().collect();
    assert_eq!(unique.len(), described.len() - 2, "{described:#?}");
}

#[test]
fn invalid_blocks_fail_naming_the_key() {
    let env = Env::default();
    for (file, needles) in [
        (
            "unknown-key.bad.yaml",
            &["accounts[0]", "unknown field `role_sesion_name`"][..],
        ),
        (
            "key-of-another-type.bad.yaml",
            &["`role_arn` is not a setting of credentials type `access_key`"][..],
        ),
        ("missing-key.bad.yaml", &["missing `oidc_provider_arn`"][..]),
        (
            "unknown-type.bad.yaml",
            &["unknown credentials type `access_keys`", "ram_role_arn"][..],
        ),
        (
            "bad-role-arn.bad.yaml",
            &["accounts[0].credentials.role_arn", "not a RAM ARN"][..],
        ),
        (
            "short-duration.bad.yaml",
            &["accounts[0].credentials.duration", "between 15m and 12h"][..],
        ),
        (
            "missing-token-file.bad.yaml",
            &["accounts[0].credentials.oidc_token_file", "no-such-token"][..],
        ),
        (
            "bad-uri.bad.yaml",
            &["accounts[0].credentials.uri", "http(s)"][..],
        ),
    ] {
        let e = load(file, &env).unwrap_err();
        for n in needles {
            assert!(e.contains(n), "{file}: {e:?} lacks {n:?}");
        }
        assert!(!e.contains("not-a-real"), "{file}: {e}");
    }
    let mut listed: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bad.yaml"))
        .collect();
    listed.sort();
    assert_eq!(
        listed.len(),
        8,
        "every bad file is checked above: {listed:?}"
    );
}

#[test]
fn accounts_without_credentials_use_the_chain_and_nothing_found_lists_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    // No config file, no environment: the implicit account fails, naming the variable and
    // every step tried.
    let e = config::load(&cli(&[]), &home(tmp.path()).get())
        .unwrap_err()
        .to_string();
    for needle in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "environment:",
        "oidc: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE not set",
        ".aliyun/config.json not found",
        ".alibabacloud/credentials not found",
        "ALIBABA_CLOUD_ECS_METADATA not set (the metadata service was not queried)",
        "ALIBABA_CLOUD_CREDENTIALS_URI not set",
    ] {
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
    // RRSA alone is enough for the implicit account; building it sends nothing anywhere.
    let token = tmp.path().join("token");
    std::fs::write(&token, "jwt").unwrap();
    let env = home(tmp.path())
        .with("ALIBABA_CLOUD_ROLE_ARN", ROLE)
        .with("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER)
        .with("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap())
        .with("ALIBABA_CLOUD_STS_REGION", "ap-southeast-1");
    let s = config::load(&cli(&[]), &env.get()).unwrap();
    let d = s.accounts[0].credentials.describe();
    assert!(d.starts_with("default chain [oidc: oidc_role_arn"), "{d}");
    assert!(
        d.contains("sts https://sts.ap-southeast-1.aliyuncs.com"),
        "{d}"
    );
}

// ---------------------------------------------------------------- providers

#[tokio::test]
async fn a_rotated_secret_file_is_used_at_the_next_refresh() {
    let rig = Rig::start().await;
    let secret = rig.write("secret", "first-secret\n");
    let source = rig
        .build(
            &format!(
                "access_key_id: {BASE_ID}\naccess_key_secret_file: {}\n",
                secret.display()
            ),
            &Env::default(),
        )
        .unwrap();
    let c = source.resolve().await.unwrap();
    assert_eq!(expose(&c.access_key_secret), "first-secret");
    std::fs::write(&secret, "rotated-secret").unwrap();
    let c = source.resolve().await.unwrap();
    assert_eq!(expose(&c.access_key_secret), "rotated-secret");
    assert!(c.security_token.is_none());
}

#[tokio::test]
async fn ram_role_arn_is_signed_cached_and_renewed_before_expiry() {
    let rig = Rig::start().await;
    let yaml = role_yaml(
        &rig,
        &format!(
            "role_session_name: exporter-test\nexternal_id: isv-42\nduration: 15m\nsts_endpoint: {}\n",
            rig.sts_url
        ),
    );
    let source = rig.build(&yaml, &Env::default()).unwrap();
    let c = source.resolve().await.unwrap();
    assert_eq!(c.access_key_id, "STS.role.1");
    assert_eq!(expose(&c.access_key_secret), "sts-secret-1");
    assert_eq!(expose(c.security_token.as_ref().unwrap()), "sts-token-1");
    let req = rig.sts.last();
    assert_eq!(req["Action"], "AssumeRole");
    assert_eq!(req["AccessKeyId"], BASE_ID);
    assert_eq!(req["RoleArn"], ROLE);
    assert_eq!(req["RoleSessionName"], "exporter-test");
    assert_eq!(req["ExternalId"], "isv-42");
    assert_eq!(req["DurationSeconds"], "900");

    // Cached until 180 s before expiry, then renewed before it expires.
    assert_eq!(id(&source).await, "STS.role.1");
    rig.clock.advance(Duration::from_secs(900 - 181));
    assert_eq!(id(&source).await, "STS.role.1");
    assert_eq!(rig.sts.calls(), 1);
    rig.clock.advance(Duration::from_secs(2));
    assert_eq!(id(&source).await, "STS.role.2");
    assert_eq!(rig.sts.calls(), 2);

    // STS down: the still-valid credentials carry on; once expired, the error is clear.
    rig.sts.fail(Some((
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    )));
    rig.clock.advance(Duration::from_secs(900 - 100));
    assert_eq!(id(&source).await, "STS.role.2");
    rig.clock.advance(Duration::from_secs(80));
    let e = source.resolve().await.unwrap_err();
    assert!(e.is_transient(), "503 is worth a retry with back-off");
    let e = e.to_string();
    assert!(
        e.contains("ServiceUnavailable") && e.contains("req-fail"),
        "{e}"
    );
    rig.sts.fail(None);
    assert_eq!(id(&source).await, "STS.role.3");
}

#[tokio::test]
async fn a_wrong_base_secret_is_reported_without_echoing_the_string_to_sign() {
    let rig = Rig::start().await;
    rig.trust("LTAI5tOtherKeyForStsTests", "the-right-secret");
    let secret = rig.write("wrong", "a-wrong-secret");
    let yaml = format!(
        "type: ram_role_arn\naccess_key_id: LTAI5tOtherKeyForStsTests\naccess_key_secret_file: {}\nrole_arn: {ROLE}\n",
        secret.display()
    );
    let e = rig
        .build(&yaml, &Env::default())
        .unwrap()
        .resolve()
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "a wrong secret needs the operator");
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("SignatureDoesNotMatch") && text.contains("req-sig"),
        "{text}"
    );
    for leak in [
        "AccessKeyId%3D",
        "LTAI5tOtherKeyForStsTests",
        "a-wrong-secret",
        "the-right-secret",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

impl Rig {
    fn trust(&self, id: &str, secret: &str) {
        self.sts.trust(id, secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sharing_a_role_make_one_sts_call() {
    let rig = Rig::start().await;
    *rig.sts.delay.lock().unwrap() = Duration::from_millis(200);
    let yaml = role_yaml(&rig, "");
    // Fifty accounts configured alike, built separately as the config loader does.
    let sources: Vec<CredentialSource> = (0..50)
        .map(|_| rig.build(&yaml, &Env::default()).unwrap())
        .collect();
    let tasks: Vec<_> = sources
        .into_iter()
        .map(|s| tokio::spawn(async move { s.resolve().await.map(|c| c.access_key_id) }))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "STS.role.1");
    }
    assert_eq!(rig.sts.calls(), 1);
}

#[tokio::test]
async fn oidc_role_reads_the_rotated_token_at_each_renewal() {
    let rig = Rig::start().await;
    let token = rig.write("oidc-token", "jwt-one\n");
    let yaml = format!(
        "type: oidc_role_arn\nrole_arn: {ROLE}\noidc_provider_arn: {OIDC_PROVIDER}\noidc_token_file: {}\nrole_session_name: rrsa-test\n",
        token.display()
    );
    let source = rig.build(&yaml, &Env::default()).unwrap();
    assert_eq!(id(&source).await, "STS.oidc.1");
    let req = rig.sts.last();
    assert_eq!(req["Action"], "AssumeRoleWithOIDC");
    assert_eq!(req["OIDCToken"], "jwt-one");
    assert_eq!(req["OIDCProviderArn"], OIDC_PROVIDER);
    assert_eq!(req["RoleSessionName"], "rrsa-test");
    assert!(!req.contains_key("AccessKeyId"));

    std::fs::write(&token, "jwt-two").unwrap();
    rig.clock.advance(HOUR - Duration::from_secs(179));
    assert_eq!(id(&source).await, "STS.oidc.2");
    assert_eq!(rig.sts.last()["OIDCToken"], "jwt-two");
    assert!(!format!("{source:?}").contains("jwt"));
}

#[tokio::test]
async fn ecs_role_uses_the_metadata_token_and_discovers_the_role() {
    let rig = Rig::start().await;
    let source = rig
        .build(
            &format!("type: ecs_ram_role\nmetadata_endpoint: {}\n", rig.meta_url),
            &Env::default(),
        )
        .unwrap();
    let c = source.resolve().await.unwrap();
    assert_eq!(c.access_key_id, "STS.ecs.1");
    assert_eq!(expose(c.security_token.as_ref().unwrap()), "ecs-token-1");
    let log = rig.meta.log();
    let token = Some("metadata-token-1".to_string());
    assert_eq!(
        log,
        vec![
            (Method::PUT, "/latest/api/token".into(), None),
            (
                Method::GET,
                "/latest/meta-data/ram/security-credentials/".into(),
                token.clone()
            ),
            (
                Method::GET,
                "/latest/meta-data/ram/security-credentials/exporter-role".into(),
                token
            ),
        ]
    );
    // Cached for most of the six hours, then renewed with a fresh token.
    rig.clock.advance(5 * HOUR);
    assert_eq!(id(&source).await, "STS.ecs.1");
    assert_eq!(rig.meta.calls(), 3);
    rig.clock.advance(HOUR - Duration::from_secs(179));
    assert_eq!(id(&source).await, "STS.ecs.2");
    assert_eq!(rig.meta.log()[3].1, "/latest/api/token");
}

#[tokio::test]
async fn ecs_without_a_token_service_falls_back_to_imdsv1_unless_disabled() {
    let rig = Rig::start().await;
    *rig.meta.token_service.lock().unwrap() = false;
    *rig.meta.hardened.lock().unwrap() = false;
    let yaml = format!(
        "type: ecs_ram_role\nrole_name: exporter-role\nmetadata_endpoint: {}\n",
        rig.meta_url
    );
    let source = rig.build(&yaml, &Env::default()).unwrap();
    assert_eq!(id(&source).await, "STS.ecs.1");
    assert_eq!(rig.meta.log()[1].2, None, "IMDSv1: no token header");

    let strict = rig
        .build(
            &yaml,
            &Env::default().with("ALIBABA_CLOUD_IMDSV1_DISABLED", "true"),
        )
        .unwrap();
    let e = strict.resolve().await.unwrap_err().to_string();
    assert!(e.contains("IMDSv1 is disabled"), "{e}");

    // Hardened server, token service broken: the token-less fallback is refused too.
    *rig.meta.hardened.lock().unwrap() = true;
    let other = rig
        .build(
            &format!(
                "type: ecs_ram_role\nrole_name: other\nmetadata_endpoint: {}\n",
                rig.meta_url
            ),
            &Env::default(),
        )
        .unwrap();
    let e = other.resolve().await.unwrap_err().to_string();
    assert!(e.contains("HTTP 401"), "{e}");

    // With a token, a role that is not attached reports the 404, not the token-less retry's 401.
    *rig.meta.token_service.lock().unwrap() = true;
    let missing = rig
        .build(
            &format!(
                "type: ecs_ram_role\nrole_name: missing\nmetadata_endpoint: {}\n",
                rig.meta_url
            ),
            &Env::default(),
        )
        .unwrap();
    let e = missing.resolve().await.unwrap_err().to_string();
    assert!(e.contains("security-credentials/missing: HTTP 404"), "{e}");
}

#[tokio::test]
async fn credentials_uri_end_to_end() {
    let rig = Rig::start().await;
    let source = rig
        .build(
            &format!("type: uri\nuri: {}\n", rig.uri_url),
            &Env::default(),
        )
        .unwrap();
    assert_eq!(id(&source).await, "STS.uri.1");
    assert_eq!(id(&source).await, "STS.uri.1");
    rig.clock.advance(HOUR - Duration::from_secs(170));
    assert_eq!(id(&source).await, "STS.uri.2");
    assert!(
        !source.describe().contains("uri-query-token"),
        "{}",
        source.describe()
    );

    // Another URI is another provider, with its own (empty) cache.
    *rig.uri.code.lock().unwrap() = "Failure";
    let e = rig
        .build(
            &format!(
                "type: uri\nuri: {}\n",
                rig.uri_url.replace("/credentials", "/credentials/")
            ),
            &Env::default(),
        )
        .unwrap()
        .resolve()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"Failure\""), "{e}");
    assert!(
        !e.contains("uri-secret") && !e.contains("uri-query-token"),
        "{e}"
    );
}

// ---------------------------------------------------------------- profiles

fn cli_config(rig: &Rig) -> PathBuf {
    let token = rig.write("cli-oidc-token", "cli-jwt");
    rig.write(
        "home/.aliyun/config.json",
        &serde_json::json!({
            "current": "ak",
            "profiles": [
                {"name": "ak", "mode": "AK", "access_key_id": "LTAI5tCliAkProfile", "access_key_secret": "cli-secret"},
                {"name": "sts", "mode": "StsToken", "access_key_id": "STS.CliStsProfile", "access_key_secret": "cli-sts-secret", "sts_token": "cli-sts-token"},
                {"name": "role", "mode": "RamRoleArn", "access_key_id": BASE_ID, "access_key_secret": BASE_SECRET,
                 "ram_role_arn": ROLE, "ram_session_name": "cli-session", "expired_seconds": 1800},
                {"name": "chained", "mode": "ChainableRamRoleArn", "source_profile": "role", "ram_role_arn": "acs:ram::1234567890123456:role/second"},
                {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "exporter-role"},
                {"name": "oidc", "mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": OIDC_PROVIDER, "oidc_token_file": token},
                {"name": "sso", "mode": "CloudSSO"}
            ]
        })
        .to_string(),
    )
}

#[tokio::test]
async fn cli_profile_modes() {
    let rig = Rig::start().await;
    let file = cli_config(&rig);
    let profile = |name: &str| {
        rig.build(
            &format!("type: profile\nname: {name}\nfile: {}\n", file.display()),
            &Env::default(),
        )
        .unwrap()
    };
    assert_eq!(id(&profile("ak")).await, "LTAI5tCliAkProfile");
    let c = profile("sts").resolve().await.unwrap();
    assert_eq!(expose(c.security_token.as_ref().unwrap()), "cli-sts-token");

    assert_eq!(id(&profile("role")).await, "STS.role.1");
    assert_eq!(rig.sts.last()["RoleSessionName"], "cli-session");
    assert_eq!(rig.sts.last()["DurationSeconds"], "1800");

    // ChainableRamRoleArn: the second role is assumed with the first role's STS key.
    rig.trust("STS.role.2", "sts-secret-2");
    assert_eq!(id(&profile("chained")).await, "STS.role.3");
    let req = rig.sts.last();
    assert_eq!(req["AccessKeyId"], "STS.role.2");
    assert_eq!(req["SecurityToken"], "sts-token-2");
    assert_eq!(req["RoleArn"], "acs:ram::1234567890123456:role/second");

    assert_eq!(id(&profile("ecs")).await, "STS.ecs.1");
    assert_eq!(id(&profile("oidc")).await, "STS.oidc.4");
    assert_eq!(rig.sts.last()["OIDCToken"], "cli-jwt");

    let e = profile("sso").resolve().await.unwrap_err().to_string();
    assert!(e.contains("unsupported mode \"CloudSSO\""), "{e}");
    let e = profile("nobody").resolve().await.unwrap_err().to_string();
    assert!(e.contains("no profile named \"nobody\""), "{e}");
    // No name: the file's "current" profile.
    let current = rig
        .build(
            &format!("type: profile\nfile: {}\n", file.display()),
            &Env::default(),
        )
        .unwrap();
    assert_eq!(id(&current).await, "LTAI5tCliAkProfile");
}

#[tokio::test]
async fn ini_profile_types() {
    let rig = Rig::start().await;
    let token = rig.write("ini-oidc-token", "ini-jwt");
    let file = rig.write(
        "home/.alibabacloud/credentials",
        &format!(
            "[default]\ntype = access_key\naccess_key_id = LTAI5tIniDefault\naccess_key_secret = ini-secret\n\n\
             [role]\ntype = ram_role_arn\naccess_key_id = {BASE_ID}\naccess_key_secret = {BASE_SECRET}\nrole_arn = {ROLE}\nrole_session_name = ini-session\n\n\
             [oidc]\ntype = oidc_role_arn\nrole_arn = {ROLE}\noidc_provider_arn = {OIDC_PROVIDER}\noidc_token_file_path = {}\n\n\
             [ecs]\ntype = ecs_ram_role\nrole_name = exporter-role\n\n\
             [rsa]\ntype = rsa_key_pair\n",
            token.display()
        ),
    );
    let profile = |name: Option<&str>| {
        let name = name.map(|n| format!("name: {n}\n")).unwrap_or_default();
        rig.build(
            &format!("type: profile\n{name}file: {}\n", file.display()),
            &Env::default(),
        )
        .unwrap()
    };
    assert_eq!(id(&profile(None)).await, "LTAI5tIniDefault");
    assert_eq!(id(&profile(Some("role"))).await, "STS.role.1");
    assert_eq!(rig.sts.last()["RoleSessionName"], "ini-session");
    assert_eq!(id(&profile(Some("oidc"))).await, "STS.oidc.2");
    assert_eq!(rig.sts.last()["OIDCToken"], "ini-jwt");
    assert_eq!(id(&profile(Some("ecs"))).await, "STS.ecs.1");
    let e = profile(Some("rsa"))
        .resolve()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported type \"rsa_key_pair\""), "{e}");
    let e = profile(Some("missing"))
        .resolve()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no section [missing]"), "{e}");
}

#[tokio::test]
async fn an_edited_profile_file_is_picked_up_and_a_broken_edit_keeps_the_old_one() {
    let rig = Rig::start().await;
    let file = rig.write(
        "creds.ini",
        "[default]\ntype = access_key\naccess_key_id = LTAI5tFirstKey\naccess_key_secret = one\n",
    );
    let source = rig
        .build(
            &format!("type: profile\nfile: {}\n", file.display()),
            &Env::default(),
        )
        .unwrap();
    assert_eq!(id(&source).await, "LTAI5tFirstKey");
    std::fs::write(
        &file,
        "[default]\ntype = access_key\naccess_key_id = LTAI5tSecondKeyLonger\naccess_key_secret = two\n",
    )
    .unwrap();
    assert_eq!(id(&source).await, "LTAI5tSecondKeyLonger");
    std::fs::write(&file, "[default]\ntype = access_key\n").unwrap();
    assert_eq!(
        id(&source).await,
        "LTAI5tSecondKeyLonger",
        "broken edit: previous profile kept"
    );
}

// ---------------------------------------------------------------- the default chain

/// Every step of the chain configured, each yielding a recognisable key.
fn full_chain_env(rig: &Rig) -> Env {
    cli_config(rig);
    rig.write(
        "home/.alibabacloud/credentials",
        "[default]\ntype = access_key\naccess_key_id = LTAI5tIniChainKey\naccess_key_secret = ini-secret\n",
    );
    let token = rig.write("chain-oidc-token", "chain-jwt");
    home(&rig.path("home"))
        .with("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tEnvChainKey")
        .with("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
        .with("ALIBABA_CLOUD_ROLE_ARN", ROLE)
        .with("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER)
        .with("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap())
        .with("ALIBABA_CLOUD_ECS_METADATA", "exporter-role")
        .with("ALIBABA_CLOUD_CREDENTIALS_URI", &rig.uri_url)
}

fn steps(source: &CredentialSource) -> Vec<&'static str> {
    match source {
        CredentialSource::Chain(c) => c.applicable_steps(),
        other => panic!("not a chain: {other:?}"),
    }
}

#[tokio::test]
async fn chain_order_env_oidc_cli_ini_ecs_uri() {
    let rig = Rig::start().await;
    let env = full_chain_env(&rig);
    let chain = rig.chain(&env).unwrap();
    assert_eq!(
        steps(&chain),
        [
            "environment",
            "oidc",
            "cli profile",
            "credentials file",
            "ecs metadata",
            "credentials uri"
        ]
    );
    assert_eq!(id(&chain).await, "LTAI5tEnvChainKey");
    assert_eq!(
        (rig.sts.calls(), rig.meta.calls(), rig.uri.calls()),
        (0, 0, 0)
    );

    let env = env
        .without("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .without("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    assert_eq!(id(&rig.chain(&env).unwrap()).await, "STS.oidc.1");
    assert_eq!(rig.sts.last()["OIDCToken"], "chain-jwt");

    let env = env.without("ALIBABA_CLOUD_ROLE_ARN");
    assert_eq!(id(&rig.chain(&env).unwrap()).await, "LTAI5tCliAkProfile");
    let env2 = env.clone().with("ALIBABA_CLOUD_PROFILE", "sts");
    assert_eq!(id(&rig.chain(&env2).unwrap()).await, "STS.CliStsProfile");

    let env = env.with("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true");
    assert_eq!(id(&rig.chain(&env).unwrap()).await, "LTAI5tIniChainKey");
    assert_eq!((rig.meta.calls(), rig.uri.calls()), (0, 0));

    let env = env.with(
        "ALIBABA_CLOUD_CREDENTIALS_FILE",
        rig.path("none").to_str().unwrap(),
    );
    assert_eq!(id(&rig.chain(&env).unwrap()).await, "STS.ecs.1");
    assert_eq!(rig.uri.calls(), 0);

    let env = env.without("ALIBABA_CLOUD_ECS_METADATA");
    let chain = rig.chain(&env).unwrap();
    assert_eq!(steps(&chain), ["credentials uri"]);
    assert_eq!(id(&chain).await, "STS.uri.1");
}

#[tokio::test]
async fn ecs_metadata_is_never_queried_unless_the_role_is_named() {
    let rig = Rig::start().await;
    let empty_home = rig.path("empty-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    let e = rig.chain(&home(&empty_home)).unwrap_err().to_string();
    assert!(e.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{e}");
    assert!(e.contains("ALIBABA_CLOUD_ECS_METADATA not set"), "{e}");

    let disabled = home(&empty_home)
        .with("ALIBABA_CLOUD_ECS_METADATA", "exporter-role")
        .with("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    let e = rig.chain(&disabled).unwrap_err().to_string();
    assert!(
        e.contains("disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"),
        "{e}"
    );

    // Some other step configured but failing: the chain still does not try the metadata
    // service on its own.
    let failing =
        home(&empty_home).with("ALIBABA_CLOUD_CREDENTIALS_URI", "http://127.0.0.1:9/none");
    let e = rig
        .chain(&failing)
        .unwrap()
        .resolve()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("credentials uri: credentials uri at http://127.0.0.1:9/none"),
        "{e}"
    );
    assert_eq!(rig.meta.calls(), 0);
}

#[tokio::test]
async fn chain_falls_through_failing_steps_lists_them_all_and_then_sticks() {
    let rig = Rig::start().await;
    let token = rig.write("t", "jwt");
    let env = home(&rig.path("home"))
        .with("ALIBABA_CLOUD_ROLE_ARN", ROLE)
        .with("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER)
        .with("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap())
        .with("ALIBABA_CLOUD_CREDENTIALS_URI", &rig.uri_url);
    rig.sts.fail(Some((
        StatusCode::FORBIDDEN,
        "AuthenticationFail.OIDCToken.Invalid",
    )));
    *rig.uri.code.lock().unwrap() = "Failure";
    let chain = rig.chain(&env).unwrap();
    let e = chain.resolve().await.unwrap_err();
    assert!(matches!(e, CredentialError::ChainFailed { .. }));
    let text = e.to_string();
    for needle in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET not set",
        "oidc: sts at",
        "AuthenticationFail.OIDCToken.Invalid",
        "cli profile:",
        "credentials file:",
        "ecs metadata: ALIBABA_CLOUD_ECS_METADATA not set",
        "credentials uri: credentials uri at",
        "\"Failure\"",
    ] {
        assert!(text.contains(needle), "{text} lacks {needle}");
    }
    assert!(
        !text.contains("uri-query-token") && !text.contains("jwt"),
        "{text}"
    );

    // The URI recovers: it is used, and kept even once OIDC works again.
    *rig.uri.code.lock().unwrap() = "Success";
    assert_eq!(id(&chain).await, "STS.uri.2");
    rig.sts.fail(None);
    rig.clock.advance(HOUR);
    assert_eq!(id(&chain).await, "STS.uri.3");
    assert_eq!(
        rig.sts.calls(),
        2,
        "oidc tried twice while failing, never after"
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn no_secret_in_debug_describe_or_errors() {
    let rig = Rig::start().await;
    let env = full_chain_env(&rig);
    let mut printed = String::new();
    let role = rig.build(&role_yaml(&rig, ""), &env).unwrap();
    let chain = rig.chain(&env).unwrap();
    for source in [&role, &chain] {
        let c = source.resolve().await.unwrap();
        printed.push_str(&format!("{source:?} {} {c:?}\n", source.describe()));
    }
    rig.sts
        .fail(Some((StatusCode::BAD_REQUEST, "NoPermission")));
    rig.clock.advance(2 * HOUR);
    let e = role.resolve().await.unwrap_err();
    printed.push_str(&format!("{e} {e:?}\n"));
    for secret in [
        BASE_SECRET,
        "sts-secret",
        "sts-token",
        "env-secret",
        "cli-secret",
        "ini-secret",
        "chain-jwt",
        "uri-query-token",
        "LTAI5tEnvChainKey",
        BASE_ID,
    ] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}
