//! `--web.config.file` and the server limits (issue #5): TLS with a test CA, mutual TLS and
//! `client_allowed_sans`, basic auth and its cache, security headers, 503 past
//! `--web.max-requests`, slow clients, hot certificate rotation, reload, and config errors
//! that name the key. Hostile and unlucky clients (issue #30): idle, dripping and PING-only
//! connections, clients that never read, wrong-password floods, half-written web configs,
//! and a server task that dies.
//!
//! Certificates are made at test time with rcgen into a temporary directory
//! (`tests/testdata/web/` holds only YAML snippets, no keys). Everything listens on
//! 127.0.0.1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chatapp_exporter::web::{self, BasicAuth, ServeOptions, WebConfig, WebSettings};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct horse battery staple";

// ---------------------------------------------------------------------------------------
// Test PKI
// ---------------------------------------------------------------------------------------

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate and key (PEM), signed by `ca`.
struct Leaf {
    cert: String,
    key: String,
}

impl Leaf {
    fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.key, self.cert).as_bytes()).unwrap()
    }
}

fn leaf(ca: &Ca, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "leaf");
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn server_leaf(ca: &Ca) -> Leaf {
    leaf(
        ca,
        vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ],
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

fn client_leaf(ca: &Ca, sans: Vec<SanType>) -> Leaf {
    leaf(ca, sans, ExtendedKeyUsagePurpose::ClientAuth)
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// Writes `contents` to `path` atomically (temp file + rename), as cert-manager and
/// Kubernetes secret volumes replace files.
fn write_atomic(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A temporary directory with `server.crt`, `server.key` and `ca.crt` and a web config.
struct Setup {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Setup {
    fn new() -> Setup {
        chatapp_exporter::api::client::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("test CA");
        let server = server_leaf(&ca);
        std::fs::write(dir.path().join("server.crt"), &server.cert).unwrap();
        std::fs::write(dir.path().join("server.key"), &server.key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), &ca.pem).unwrap();
        Setup { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `web.yml` (relative file names resolve against its directory).
    fn config(&self, yaml: &str) -> PathBuf {
        let p = self.path("web.yml");
        write_atomic(&p, yaml);
        p
    }

    fn load(&self, yaml: &str) -> WebConfig {
        WebConfig::load(&self.config(yaml)).unwrap()
    }

    fn client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca.pem.as_bytes()).unwrap()])
            .tls_info(true)
            .timeout(WAIT)
    }
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

fn test_router() -> Router {
    Router::new()
        .route("/metrics", get(|| async { "metrics\n" }))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(config: Option<WebConfig>, options: ServeOptions, router: Router) -> Server {
        let web = WebSettings {
            config,
            options,
            ..WebSettings::default()
        };
        Server::serve(web, router).await
    }

    async fn serve(web: WebSettings, router: Router) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(web::serve(listener, router, web, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn with(config: WebConfig) -> Server {
        Server::start(Some(config), ServeOptions::default(), test_router()).await
    }

    fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

fn peer_cert(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

fn pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_handshake_with_test_ca_and_http2() {
    let s = Setup::new();
    let server = Server::with(s.load(TLS)).await;
    let resp = s
        .client()
        .build()
        .unwrap()
        .get(server.https("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.version(),
        reqwest::Version::HTTP_2,
        "h2 is offered by default"
    );
    assert_eq!(resp.text().await.unwrap(), "metrics\n");

    // A client that does not trust the test CA fails the handshake.
    let stranger = ca("someone else");
    let err = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(stranger.pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
        .get(server.https("/metrics"))
        .send()
        .await;
    assert!(err.is_err());

    // Plain HTTP on a TLS port is not served.
    let plain = reqwest::get(server.http("/metrics")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.stop().await;
}

#[tokio::test]
async fn http2_false_and_tls13_only() {
    let s = Setup::new();
    let cfg = s.load(&format!(
        "{TLS}  min_version: TLS13\nhttp_server_config:\n  http2: false\n"
    ));
    let server = Server::with(cfg).await;
    let resp = s
        .client()
        .build()
        .unwrap()
        .get(server.https("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);

    // A TLS 1.2-only client cannot connect.
    let err = s
        .client()
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap()
        .get(server.https("/metrics"))
        .send()
        .await;
    assert!(err.is_err(), "TLS 1.2 refused with min_version TLS13");
    server.stop().await;
}

#[tokio::test]
async fn tls12_with_listed_cipher_suite_and_curve() {
    let s = Setup::new();
    // rcgen keys are ECDSA P-256, so an ECDSA suite.
    let cfg = s.load(&format!(
        "{TLS}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  \
         curve_preferences: [CurveP256]\n  prefer_server_cipher_suites: false\n"
    ));
    let server = Server::with(cfg).await;
    let resp = s
        .client()
        .build()
        .unwrap()
        .get(server.https("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn mtls_require_and_verify() {
    let s = Setup::new();
    let cfg = s.load(&format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
    ));
    let server = Server::with(cfg).await;
    let url = server.https("/metrics");

    let good = client_leaf(&s.ca, vec![dns("scraper.example")]);
    let resp = s
        .client()
        .identity(good.identity())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    assert_eq!(resp.unwrap().status(), 200);

    // No certificate.
    let none = s.client().build().unwrap().get(&url).send().await;
    assert!(none.is_err(), "a client without a certificate is refused");

    // A certificate from another CA.
    let rogue_ca = ca("rogue CA");
    let rogue = client_leaf(&rogue_ca, vec![dns("scraper.example")]);
    let rogue = s
        .client()
        .identity(rogue.identity())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    assert!(rogue.is_err(), "a certificate from another CA is refused");
    server.stop().await;
}

#[tokio::test]
async fn mtls_verify_if_given_and_require_any() {
    let s = Setup::new();
    let cfg = s.load(&format!(
        "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
    ));
    let server = Server::with(cfg).await;
    let url = server.https("/metrics");
    let none = s.client().build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 200, "no certificate is fine");
    let rogue = client_leaf(&ca("rogue CA"), vec![dns("x.example")]);
    let rogue = s
        .client()
        .identity(rogue.identity())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    assert!(rogue.is_err(), "a given certificate is verified");
    server.stop().await;

    let cfg = s.load(&format!("{TLS}  client_auth_type: RequireAnyClientCert\n"));
    let server = Server::with(cfg).await;
    let url = server.https("/metrics");
    let none = s.client().build().unwrap().get(&url).send().await;
    assert!(none.is_err(), "a certificate is required");
    let any = client_leaf(&ca("any CA"), vec![dns("x.example")]);
    let any = s
        .client()
        .identity(any.identity())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    assert_eq!(any.unwrap().status(), 200, "any certificate is accepted");
    server.stop().await;
}

#[tokio::test]
async fn mtls_client_allowed_sans() {
    let s = Setup::new();
    let cfg = s.load(&format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
         client_allowed_sans:\n    - prometheus.example\n    - spiffe://cluster.local/ns/mon/sa/prometheus\n    - 10.0.0.7\n    - ops@example.com\n"
    ));
    let server = Server::with(cfg).await;
    let url = server.https("/metrics");
    let get = |leaf: Leaf| {
        let client = s.client().identity(leaf.identity()).build().unwrap();
        let url = url.clone();
        async move { client.get(&url).send().await }
    };

    let allowed: Vec<Vec<SanType>> = vec![
        vec![dns("other.example"), dns("prometheus.example")],
        vec![SanType::URI(
            "spiffe://cluster.local/ns/mon/sa/prometheus"
                .try_into()
                .unwrap(),
        )],
        vec![SanType::IpAddress("10.0.0.7".parse().unwrap())],
        vec![SanType::Rfc822Name("ops@example.com".try_into().unwrap())],
    ];
    for sans in allowed {
        let what = format!("{sans:?}");
        let resp = get(client_leaf(&s.ca, sans)).await;
        assert_eq!(resp.expect(&what).status(), 200, "{what}");
    }
    let refused: Vec<Vec<SanType>> = vec![
        vec![dns("grafana.example")],
        vec![dns("PROMETHEUS.example")],
        vec![SanType::IpAddress("10.0.0.8".parse().unwrap())],
        vec![],
    ];
    for sans in refused {
        let what = format!("{sans:?}");
        assert!(
            get(client_leaf(&s.ca, sans)).await.is_err(),
            "{what} refused"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn hot_certificate_rotation() {
    let s = Setup::new();
    let server = Server::with(s.load(TLS)).await;
    let url = server.https("/metrics");
    let first = std::fs::read_to_string(s.path("server.crt")).unwrap();
    let resp = s.client().build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&resp), pem_der(&first));

    // Rotate: key first, then certificate (in between, the pair does not match and the
    // old one is kept).
    let next = server_leaf(&s.ca);
    write_atomic(&s.path("server.key"), &next.key);
    let resp = s.client().build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(
        peer_cert(&resp),
        pem_der(&first),
        "mismatched pair: old cert kept"
    );
    write_atomic(&s.path("server.crt"), &next.cert);
    // The pair applies once it has settled, from the next handshake on.
    let new_cert = pem_der(&next.cert);
    until("the rotated certificate is served", async || {
        let resp = s.client().build().unwrap().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        peer_cert(&resp) == new_cert
    })
    .await;

    // A broken certificate file keeps the working one, also once it has settled.
    write_atomic(&s.path("server.crt"), "not a certificate\n");
    tokio::time::sleep(SETTLED).await;
    let resp = s.client().build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&resp), new_cert);
    server.stop().await;
}

/// Polls `check` until it holds, at most [`WAIT`].
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Basic auth and headers
// ---------------------------------------------------------------------------------------

fn users_yaml(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).unwrap();
    format!("basic_auth_users:\n  {user}: '{hash}'\n")
}

#[tokio::test]
async fn basic_auth_missing_wrong_right() {
    let s = Setup::new();
    let server = Server::with(s.load(&format!("{TLS}{}", users_yaml("alice", PASSWORD)))).await;
    let client = s.client().build().unwrap();
    for path in ["/metrics", "/-/healthy", "/nope"] {
        let resp = client.get(server.https(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path} without credentials");
        assert_eq!(resp.headers()["www-authenticate"], "Basic");
    }
    let wrong = client
        .get(server.https("/metrics"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = client
        .get(server.https("/metrics"))
        .basic_auth("mallory", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    for _ in 0..3 {
        let right = client
            .get(server.https("/metrics"))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200);
    }
    let healthy = client
        .get(server.https("/-/healthy"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn basic_auth_cache_skips_bcrypt_on_repeat() {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let users = BTreeMap::from([("alice".to_owned(), SecretString::from(hash))]);
    let auth = BasicAuth::new(users).unwrap().unwrap();
    let header = |u: &str, p: &str| {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        axum::http::HeaderValue::from_str(&format!("Basic {b}")).unwrap()
    };
    assert!(!auth.verify(None).await);
    assert_eq!(auth.bcrypt_runs(), 0, "no header: no bcrypt");
    assert!(auth.verify(Some(&header("alice", PASSWORD))).await);
    assert_eq!(auth.bcrypt_runs(), 1);
    for _ in 0..5 {
        assert!(auth.verify(Some(&header("alice", PASSWORD))).await);
    }
    assert_eq!(auth.bcrypt_runs(), 1, "cache hits do not run bcrypt");
    assert!(!auth.verify(Some(&header("alice", "nope"))).await);
    assert!(!auth.verify(Some(&header("alice", "nope"))).await);
    assert_eq!(auth.bcrypt_runs(), 2, "a wrong password is cached as wrong");
    assert!(!auth.verify(Some(&header("bob", PASSWORD))).await);
    assert_eq!(
        auth.bcrypt_runs(),
        3,
        "an unknown user still costs one bcrypt"
    );
    assert!(!auth.verify(Some(&header("bob", PASSWORD))).await);
    assert_eq!(auth.bcrypt_runs(), 3);
    let dbg = format!("{auth:?}");
    assert!(dbg.contains("alice") && !dbg.contains("$2"), "{dbg}");
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let s = Setup::new();
    let yaml = format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    \
         Content-Security-Policy: \"default-src 'self'\"\n    Strict-Transport-Security: max-age=31536000\n    \
         X-XSS-Protection: '1; mode=block'\n{}",
        users_yaml("alice", PASSWORD)
    );
    // Plain HTTP with auth and headers (no tls_server_config), as the toolkit allows.
    let server = Server::with(s.load(&yaml)).await;
    let client = reqwest::Client::new();
    let unauthorized = client.get(server.http("/metrics")).send().await.unwrap();
    let ok = client
        .get(server.http("/metrics"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(ok.status(), 200);
    for resp in [&unauthorized, &ok] {
        let h = resp.headers();
        assert_eq!(h["x-frame-options"], "deny");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["strict-transport-security"], "max-age=31536000");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
    }
    server.stop().await;
}

#[tokio::test]
async fn users_and_headers_reload_and_a_broken_file_keeps_them() {
    let s = Setup::new();
    let server = Server::with(s.load(&users_yaml("alice", PASSWORD))).await;
    let client = reqwest::Client::new();
    let as_user = |u: &'static str, p: &'static str| {
        client
            .get(server.http("/metrics"))
            .basic_auth(u, Some(p))
            .send()
    };
    assert_eq!(as_user("alice", PASSWORD).await.unwrap().status(), 200);

    s.config(&format!(
        "{}http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n",
        users_yaml("bob", "hunter2")
    ));
    until("bob's config applies", async || {
        as_user("bob", "hunter2").await.unwrap().status() == 200
    })
    .await;
    assert_eq!(as_user("alice", PASSWORD).await.unwrap().status(), 401);
    let bob = as_user("bob", "hunter2").await.unwrap();
    assert_eq!(bob.headers()["x-frame-options"], "sameorigin");

    s.config("basic_auth_users:\n  bob: not-a-hash\n");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(
        as_user("bob", "hunter2").await.unwrap().status(),
        200,
        "old users kept"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn requests_past_max_requests_get_503_immediately() {
    let release = Arc::new(Notify::new());
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<()>();
    let router = test_router().route(
        "/hold",
        get({
            let release = release.clone();
            move || {
                let release = release.clone();
                let arrived_tx = arrived_tx.clone();
                async move {
                    let notified = release.notified();
                    let _ = arrived_tx.send(());
                    notified.await;
                    "released\n"
                }
            }
        }),
    );
    let options = ServeOptions {
        max_requests: 2,
        ..ServeOptions::default()
    };
    let server = Server::start(None, options, router).await;
    let client = reqwest::Client::new();
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client.get(server.http("/hold")).send()))
        .collect();
    for _ in 0..2 {
        tokio::time::timeout(WAIT, arrived.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let refused = tokio::time::timeout(WAIT, client.get(server.http("/metrics")).send())
        .await
        .expect("answered at once, not queued")
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");

    release.notify_waiters();
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), 200);
    }
    let ok = client.get(server.http("/metrics")).send().await.unwrap();
    assert_eq!(ok.status(), 200, "permits come back");
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_gives_429() {
    let s = Setup::new();
    let cfg = s.load("rate_limit:\n  interval: 1h\n  burst: 2\n");
    let server = Server::with(cfg).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client.get(server.http("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client.get(server.http("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    server.stop().await;
}

/// Reads until EOF or error; returns when the server has closed the connection.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        tls_handshake_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    // HTTP/1: a request head that never completes.
    let server = Server::start(None, options.clone(), test_router()).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slow, WAIT).await, "header read timeout");
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, WAIT).await,
        "idle connection closed"
    );
    server.stop().await;

    // TLS: a client that never finishes the handshake.
    let s = Setup::new();
    let server = Server::start(Some(s.load(TLS)), options, test_router()).await;
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(
        closed_within(&mut stuck, WAIT).await,
        "TLS handshake timeout"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests() {
    let release = Arc::new(Notify::new());
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<()>();
    let router = Router::new().route(
        "/hold",
        get({
            let release = release.clone();
            move || {
                let release = release.clone();
                let arrived_tx = arrived_tx.clone();
                async move {
                    let notified = release.notified();
                    let _ = arrived_tx.send(());
                    notified.await;
                    "done\n"
                }
            }
        }),
    );
    let server = Server::start(None, ServeOptions::default(), router).await;
    let url = server.http("/hold");
    let req = tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() });
    arrived.recv().await.unwrap();
    let addr = server.addr;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    release.notify_waiters();
    assert_eq!(req.await.unwrap(), "done\n");
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Config errors
// ---------------------------------------------------------------------------------------

fn load_err(s: &Setup, yaml: &str) -> String {
    WebConfig::load(&s.config(yaml)).unwrap_err().to_string()
}

#[test]
fn config_errors_name_the_key() {
    let s = Setup::new();
    let good_hash = bcrypt::hash("x", 4).unwrap();
    let cases: Vec<(String, &[&str])> = vec![
        (
            "tls_server_config:\n  cert_fil: server.crt\n".into(),
            &["cert_fil", "unknown field"],
        ),
        ("web_server_config: {}\n".into(), &["web_server_config"]),
        (
            format!("{TLS}  min_version: TLS10\n"),
            &["tls_server_config.min_version", "rustls"],
        ),
        (
            format!("{TLS}  max_version: TLS11\n"),
            &["tls_server_config.max_version", "rustls"],
        ),
        (
            format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            &["tls_server_config.min_version"],
        ),
        (
            format!("{TLS}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"),
            &[
                "tls_server_config.cipher_suites",
                "not implemented by rustls",
            ],
        ),
        (
            format!("{TLS}  cipher_suites: [TLS_MADE_UP]\n"),
            &["tls_server_config.cipher_suites", "unknown cipher"],
        ),
        (
            format!("{TLS}  curve_preferences: [CurveP521]\n"),
            &["tls_server_config.curve_preferences", "P-521"],
        ),
        (
            format!("{TLS}  client_auth_type: Sometimes\n"),
            &["tls_server_config.client_auth_type"],
        ),
        (
            format!("{TLS}  client_ca_file: ca.crt\n"),
            &[
                "tls_server_config.client_auth_type",
                "without a Client Auth Policy",
            ],
        ),
        (
            format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            &["tls_server_config.client_ca_file"],
        ),
        (
            format!(
                "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a]\n"
            ),
            &["tls_server_config.client_allowed_sans"],
        ),
        (
            format!("{TLS}  cert: inline\n"),
            &["tls_server_config.cert", "only one"],
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n".into(),
            &["tls_server_config.key_file", "missing"],
        ),
        (
            "tls_server_config:\n  min_version: TLS13\n".into(),
            &["tls_server_config.min_version", "no certificate"],
        ),
        (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n".into(),
            &["tls_server_config.cert_file", "nope.crt"],
        ),
        (
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n".into(),
            &["tls_server_config.cert_file", "no PEM certificate"],
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n".into(),
            &["tls_server_config.key_file", "private key"],
        ),
        (
            "tls_server_config:\n  cert_file: other.crt\n  key_file: server.key\n".into(),
            &["tls_server_config.key_file", "does not match"],
        ),
        (
            format!(
                "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n"
            ),
            &["tls_server_config.client_ca_file"],
        ),
        (
            "http_server_config:\n  headers:\n    Server: nginx\n".into(),
            &["http_server_config.headers.Server", "can not be configured"],
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
            &["http_server_config.headers.X-Frame-Options", "deny"],
        ),
        ("http_server_config:\n  http3: true\n".into(), &["http3"]),
        (
            "basic_auth_users:\n  alice: plaintext-password\n".into(),
            &["basic_auth_users.alice", "bcrypt"],
        ),
        (
            format!(
                "basic_auth_users:\n  alice: '{}'\n",
                good_hash.replacen("$2b$", "$2x$", 1)
            ),
            &["basic_auth_users.alice", "bcrypt"],
        ),
        (
            "rate_limit:\n  interval: 1s\n  burst: 0\n".into(),
            &["rate_limit.burst"],
        ),
        (
            "rate_limit:\n  interval: soon\n  burst: 1\n".into(),
            &["rate_limit", "interval"],
        ),
    ];
    std::fs::write(s.path("other.crt"), server_leaf(&s.ca).cert).unwrap();
    for (yaml, wanted) in cases {
        let err = load_err(&s, &yaml);
        eprintln!("{err}");
        for w in wanted {
            assert!(
                err.contains(w),
                "error for\n{yaml}\nis {err:?}, which lacks {w:?}"
            );
        }
        assert!(err.contains("web.yml"), "error names the file: {err}");
    }
    // A file that does not exist.
    let err = WebConfig::load(&s.path("missing.yml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.yml"), "{err}");
}

#[test]
fn secrets_never_show_in_errors_or_debug() {
    let s = Setup::new();
    let key = std::fs::read_to_string(s.path("server.key")).unwrap();
    let cert = std::fs::read_to_string(s.path("server.crt")).unwrap();
    let key_body: String = key.lines().nth(1).unwrap().to_owned();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let indent = |t: &str| t.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let inline = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}basic_auth_users:\n  alice: '{hash}'\n",
        indent(&cert),
        indent(&key)
    );
    let cfg = WebConfig::load(&s.config(&inline)).expect("inline cert and key load");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains(&key_body), "Debug shows the key");
    assert!(!dbg.contains(&hash), "Debug shows the hash");
    assert!(dbg.contains("REDACTED"));

    // A mismatched inline key: the error names the key but shows none of it.
    let other = server_leaf(&s.ca);
    let mismatched = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}",
        indent(&cert),
        indent(&other.key)
    );
    let err = load_err(&s, &mismatched);
    assert!(err.contains("tls_server_config.key"), "{err}");
    assert!(!err.contains(other.key.lines().nth(1).unwrap()), "{err}");
    // A malformed hash is not echoed.
    let err = load_err(&s, "basic_auth_users:\n  alice: '$2y$10$short'\n");
    assert!(!err.contains("$2y$10$short"), "{err}");
}

#[test]
fn sample_configs_in_testdata_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/web");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let result = web::parse(&text, &dir);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".good.yml") {
            assert!(result.is_ok(), "{name}: {:?}", result.err());
            n += 1;
        } else if name.ends_with(".bad.yml") {
            assert!(result.is_err(), "{name} should be refused");
            n += 1;
        }
    }
    assert!(n >= 4, "found {n} sample files");
}

#[test]
fn web_settings_load() {
    let settings = WebSettings::load(None, 40).unwrap();
    assert!(settings.config.is_none());
    assert_eq!(settings.options.max_requests, web::DEFAULT_MAX_REQUESTS);
    assert!(settings.summary().contains("plain HTTP"));
    let err = WebSettings::load(Some(Path::new("/nonexistent/web.yml")), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/web.yml"), "{err}");

    let s = Setup::new();
    let path = s.config(&format!("{TLS}{}", users_yaml("alice", PASSWORD)));
    let settings = WebSettings::load(Some(&path), 0).unwrap();
    assert_eq!(settings.options.max_requests, 0);
    let summary = settings.summary();
    assert!(
        summary.contains("TLS: on") && summary.contains("alice"),
        "{summary}"
    );
    assert!(
        summary.contains("unlimited") && !summary.contains("$2"),
        "{summary}"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile and unlucky clients (issue #30)
// ---------------------------------------------------------------------------------------

/// The tests below open hundreds of connections or flood the server; one at a time, so that
/// they neither starve each other of the machine's two cores nor blur the memory reading.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A connection to `to` from the loopback address `source` (any of 127.0.0.0/8): tests that
/// play several clients use several addresses, as the per-address connection limit counts
/// them apart.
async fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
    socket.connect(to).await
}

/// A TLS client trusting the test CA that offers only `alpn`.
fn tls_connector(s: &Setup, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pem_der(&s.ca.pem).into()).unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Sends `first`, then `drip` every 200 ms (so bytes keep moving but no request ever
/// completes); true once the server has closed the connection, false if it is still open
/// after [`WAIT`].
async fn closed_while_dripping<S>(stream: S, first: Vec<u8>, drip: Vec<u8>) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = async {
        w.write_all(&first).await?;
        w.flush().await?;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            w.write_all(&drip).await?;
            w.flush().await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    let reader = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, async {
        tokio::select! {
            _ = reader => {}
            _ = writer => {}
        }
    })
    .await
    .is_ok()
}

/// An HTTP/2 frame: 24-bit length, type, flags, stream id, payload (RFC 9113 §4.1).
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The client connection preface and an empty SETTINGS frame.
fn h2_preface() -> Vec<u8> {
    let mut p = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    p.extend(h2_frame(0x4, 0, 0, &[]));
    p
}

#[tokio::test]
async fn idle_and_slow_clients_do_not_starve_an_authenticated_scraper() {
    let _one = HEAVY.lock().await;
    let s = Setup::new();
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..ServeOptions::default()
    };
    let config = s.load(&format!("{TLS}{}", users_yaml("alice", PASSWORD)));
    let server = Server::start(Some(config), options, test_router()).await;
    let addr = server.addr;

    // 1,000 TCP connections that never send a byte, from one address.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(connect_from("127.0.0.2", addr).await.unwrap());
    }
    let h1 = tls_connector(&s, b"http/1.1");
    let h2 = tls_connector(&s, b"h2");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..20 {
        // HTTP/1 over TLS: a request head that never ends, a byte at a time.
        let (h1c, name1) = (h1.clone(), name.clone());
        attackers.spawn(async move {
            let tcp = connect_from("127.0.0.3", addr).await.unwrap();
            let tls = h1c.connect(name1, tcp).await.unwrap();
            let head = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".to_vec();
            (
                "slow HTTP/1 head",
                i,
                closed_while_dripping(tls, head, b"a".to_vec()).await,
            )
        });
        // HTTP/2: the preface, then only PINGs (each answered, none a request).
        let (h2c, name2) = (h2.clone(), name.clone());
        attackers.spawn(async move {
            let tcp = connect_from("127.0.0.4", addr).await.unwrap();
            let tls = h2c.connect(name2, tcp).await.unwrap();
            let ping = h2_frame(0x6, 0, 0, &[0; 8]);
            (
                "idle HTTP/2 with PINGs",
                i,
                closed_while_dripping(tls, h2_preface(), ping).await,
            )
        });
        // HTTP/2: a HEADERS frame announced with 64 bytes that arrive one at a time.
        let (h2c, name3) = (h2.clone(), name.clone());
        attackers.spawn(async move {
            let tcp = connect_from("127.0.0.5", addr).await.unwrap();
            let tls = h2c.connect(name3, tcp).await.unwrap();
            let mut first = h2_preface();
            first.extend(&h2_frame(0x1, 0x5, 1, &[0x82; 64])[..9]);
            (
                "slow HTTP/2 HEADERS",
                i,
                closed_while_dripping(tls, first, vec![0x82]).await,
            )
        });
    }

    // Meanwhile an authenticated scraper, a new connection (and handshake) each time.
    let scraper = s
        .client()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for n in 0..20 {
        let resp = scraper
            .get(server.https("/metrics"))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap_or_else(|e| panic!("scrape {n} failed while under attack: {e}"));
        assert_eq!(resp.status(), 200, "scrape {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every attacker is cut off although bytes keep moving on its connection.
    while let Some(r) = attackers.join_next().await {
        let (what, i, closed) = r.unwrap();
        assert!(closed, "{what} #{i} still open after {WAIT:?}");
    }
    drop(idle);
    server.stop().await;
}

/// Counts the response bodies of `/big` that are alive (made and not yet dropped).
static LIVE_BODIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Size of the memory one `/big` body holds: fresh for each request, as a changed snapshot
/// of the exposition would be.
const BODY_HELD: usize = 1 << 20;

struct LiveBody;

impl LiveBody {
    fn new() -> LiveBody {
        LIVE_BODIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        LiveBody
    }
}

impl Drop for LiveBody {
    fn drop(&mut self) {
        LIVE_BODIES.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `/big`: 32 MiB sent as 32 copies of one fresh 1 MiB buffer, far more than the kernel's
/// socket buffers take, so a client that does not read keeps it pinned.
fn big_body() -> axum::body::Body {
    let chunk = bytes::Bytes::from(vec![b'x'; BODY_HELD]);
    let guard = LiveBody::new();
    let stream = futures_util::stream::iter((0..32).map(move |_| {
        let _held = &guard;
        Ok::<_, std::convert::Infallible>(chunk.clone())
    }));
    axum::body::Body::from_stream(stream)
}

/// Resident memory of this process, from `/proc/self/statm`.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Sends `GET path` and reads only the response head; the rest is never read.
async fn status_then_stall(stream: &mut TcpStream, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            other => panic!("no response head: {other:?}"),
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn clients_that_never_read_hold_at_most_max_requests_bodies() {
    let _one = HEAVY.lock().await;
    const MAX_REQUESTS: usize = 10;
    const CLIENTS: usize = 200;
    let router = test_router().route("/big", get(|| async { big_body() }));
    let options = ServeOptions {
        max_requests: MAX_REQUESTS,
        ..ServeOptions::default()
    };
    let server = Server::start(None, options, router).await;
    let before = rss_bytes();
    let live_before = LIVE_BODIES.load(std::sync::atomic::Ordering::SeqCst);

    // 200 clients over 50 addresses, each reading the status line and then nothing.
    let mut clients = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..CLIENTS {
        let source = format!("127.0.1.{}", 1 + i % 50);
        let mut c = connect_from(&source, server.addr).await.unwrap();
        statuses.push(status_then_stall(&mut c, "/big").await);
        clients.push(c);
    }
    let served = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    let live = LIVE_BODIES.load(std::sync::atomic::Ordering::SeqCst) - live_before;
    let grown = rss_bytes().saturating_sub(before);
    eprintln!("served {served}, refused {refused}, live bodies {live}, RSS +{grown} bytes");
    assert_eq!(served + refused, CLIENTS, "{statuses:?}");
    assert!(
        live <= MAX_REQUESTS,
        "{live} unread bodies pinned; --web.max-requests is {MAX_REQUESTS}"
    );
    // SECURITY.md's bound: max-requests responses, plus per-connection buffers (generous).
    let bound = MAX_REQUESTS * BODY_HELD + 40 * BODY_HELD;
    assert!(
        grown <= bound,
        "RSS grew by {grown} bytes, more than {bound}"
    );
    drop(clients);
    server.stop().await;
}

/// `basic_auth_users` with bcrypt cost 8: slow enough (several ms, far more in a debug
/// build) that a flood keeps bcrypt busy.
fn costly_users_yaml(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 8).unwrap();
    format!("basic_auth_users:\n  {user}: '{hash}'\n")
}

#[tokio::test]
async fn a_wrong_password_flood_never_refuses_a_verified_scraper() {
    let _one = HEAVY.lock().await;
    let s = Setup::new();
    let server = Server::with(s.load(&costly_users_yaml("alice", PASSWORD))).await;
    let url = server.http("/metrics");
    let scraper = reqwest::Client::new();
    let scrape = || scraper.get(&url).basic_auth("alice", Some(PASSWORD)).send();
    assert_eq!(
        scrape().await.unwrap().status(),
        200,
        "verified once, now cached"
    );

    // 100 clients, each sending fresh wrong passwords as fast as it is answered.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood_client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (c, url, stop, answered) = (
            flood_client.clone(),
            url.clone(),
            stop.clone(),
            answered.clone(),
        );
        flood.spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let password = format!("guess-{i}-{n}");
                if c.get(&url)
                    .basic_auth("alice", Some(password))
                    .send()
                    .await
                    .is_ok()
                {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    // Let the flood build up before scraping.
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..20 {
        let resp = scrape().await.unwrap();
        assert_eq!(resp.status(), 200, "scrape {n} during the flood");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    server.stop().await;
}

/// How long the tests wait for a changed web config to have settled (generous).
const SETTLED: Duration = web::RELOAD_SETTLE_TIME.saturating_add(Duration::from_millis(500));

#[tokio::test]
async fn a_truncated_or_half_written_config_keeps_basic_auth() {
    let s = Setup::new();
    let path = s.config(&users_yaml("alice", PASSWORD));
    let server = Server::with(WebConfig::load(&path).unwrap()).await;
    let client = reqwest::Client::new();
    let status = async |user: Option<(&str, &str)>| {
        let mut req = client.get(server.http("/metrics"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        req.send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some(("alice", PASSWORD))).await, 200);

    // `cat > web.yml` and non-atomic editor saves truncate the file first.
    std::fs::File::create(&path).unwrap();
    assert_eq!(status(None).await, 401, "just truncated");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(status(None).await, 401, "truncated, settled");

    // The new file written in steps: first a part that parses but has no users yet, then
    // one cut inside a bcrypt hash.
    let new = format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n{}",
        users_yaml("bob", "hunter2")
    );
    let no_users_yet = new.find("basic_auth_users").unwrap();
    let mid_hash = new.find("'$2").unwrap() + 5;
    std::fs::write(&path, &new[..no_users_yet]).unwrap();
    assert_eq!(status(None).await, 401, "half written, no users yet");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(status(None).await, 401, "half written and left so");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &new.as_bytes()[no_users_yet..mid_hash]).unwrap();
    assert_eq!(status(None).await, 401, "cut inside a hash");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(status(None).await, 401, "cut inside a hash, settled");

    // The rest: the complete new file applies once it has settled.
    std::io::Write::write_all(&mut file, &new.as_bytes()[mid_hash..]).unwrap();
    drop(file);
    until("the complete new file applies", async || {
        assert_eq!(status(None).await, 401, "while the new file settles");
        status(Some(("bob", "hunter2"))).await == 200
    })
    .await;
    assert_eq!(status(None).await, 401);
    assert_eq!(
        status(Some(("alice", PASSWORD))).await,
        401,
        "old user gone"
    );
    let resp = client
        .get(server.http("/metrics"))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-frame-options"], "deny");
    server.stop().await;
}

/// Settings as `chatapp_exporter --web.listen-address 127.0.0.1:0` resolves them, without
/// accounts: enough to run the whole exporter's HTTP side.
fn app_settings() -> chatapp_exporter::config::Settings {
    use chatapp_exporter::credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET};
    use clap::Parser as _;
    let cli = chatapp_exporter::cli::Cli::try_parse_from([
        "chatapp_exporter",
        "--web.listen-address",
        "127.0.0.1:0",
    ])
    .unwrap();
    let env = |k: &str| match k {
        ENV_ACCESS_KEY_ID => Some("LTAI5tUnusedEnvironmentKey".to_owned()),
        ENV_ACCESS_KEY_SECRET => Some("unused".to_owned()),
        _ => None,
    };
    let file = chatapp_exporter::config::FileConfig::default();
    let mut settings = chatapp_exporter::config::resolve(&cli, file, &env).unwrap();
    settings.accounts.clear();
    settings
}

/// Binds 127.0.0.1:0 without listening: every accept() then fails with EINVAL, an error
/// that retrying cannot fix.
fn listener_that_cannot_accept() -> TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    TcpListener::from_std(std::net::TcpListener::from(socket)).unwrap()
}

#[tokio::test]
async fn run_with_web_fails_when_the_server_task_dies() {
    let run = chatapp_exporter::app::run_with_web(
        app_settings(),
        listener_that_cannot_accept(),
        std::future::pending(),
        None,
        WebSettings::default(),
    );
    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("run_with_web returns when its server task has died");
    let err = result.expect_err("a dead server is an error");
    eprintln!("{err:#}");
}

/// Sends a keep-alive `GET /metrics` on `stream`: true when a response comes (its head is
/// read, the short body left), false when the server closes the connection instead.
async fn answers(stream: &mut TcpStream) -> bool {
    let sent = stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 256];
    match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
        Ok(Ok(n)) => sent.is_ok() && buf[..n].starts_with(b"HTTP/1.1 200"),
        Ok(Err(_)) => false,
        Err(_) => panic!("neither answered nor closed within {WAIT:?}"),
    }
}

#[tokio::test]
async fn connections_are_limited_per_client_address() {
    let _one = HEAVY.lock().await;
    let options = ServeOptions {
        max_connections_per_address: 4,
        ..ServeOptions::default()
    };
    let server = Server::start(None, options, test_router()).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = connect_from("127.0.0.2", server.addr).await.unwrap();
        assert!(answers(&mut c).await, "within the limit");
        held.push(c);
    }
    let mut fifth = connect_from("127.0.0.2", server.addr).await.unwrap();
    assert!(
        !answers(&mut fifth).await,
        "a fifth from the same address is closed"
    );
    let mut other = connect_from("127.0.0.3", server.addr).await.unwrap();
    assert!(answers(&mut other).await, "another address is not affected");
    // A closed connection gives its slot back (once the server has noticed).
    drop(held.pop());
    until("a slot comes back", async || {
        let mut c = connect_from("127.0.0.2", server.addr).await.unwrap();
        answers(&mut c).await
    })
    .await;
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn an_unread_response_holds_its_slot_until_the_response_timeout() {
    let _one = HEAVY.lock().await;
    let router = test_router().route("/big", get(|| async { big_body() }));
    let options = ServeOptions {
        max_requests: 1,
        response_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = Server::start(None, options, router).await;
    let mut stalled = connect_from("127.0.0.2", server.addr).await.unwrap();
    assert_eq!(status_then_stall(&mut stalled, "/big").await, 200);
    // The handler has returned, but the body is not sent: the only slot is still taken.
    let mut other = connect_from("127.0.0.3", server.addr).await.unwrap();
    assert_eq!(status_then_stall(&mut other, "/metrics").await, 503);
    // Past the response timeout the stalled connection is closed (the stalled client does
    // not read meanwhile) and the slot comes back.
    until("the slot comes back", async || {
        let mut c = connect_from("127.0.0.3", server.addr).await.unwrap();
        status_then_stall(&mut c, "/metrics").await == 200
    })
    .await;
    // What the kernel had buffered is there to read, then the end: not the whole body.
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(WAIT, stalled.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the stalled connection is still open"),
        }
    }
    assert!(received < 32 * BODY_HELD, "cut off after {received} bytes");
    server.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_when_idle_even_with_pings() {
    let s = Setup::new();
    let options = ServeOptions {
        idle_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = Server::start(Some(s.load(TLS)), options.clone(), test_router()).await;
    // HTTP/1: one request, then nothing.
    let plain = Server::start(None, options, test_router()).await;
    let mut kept = TcpStream::connect(plain.addr).await.unwrap();
    assert!(answers(&mut kept).await);
    assert!(closed_within(&mut kept, WAIT).await, "idle HTTP/1 closed");
    plain.stop().await;

    // HTTP/2: one request (stream 1: GET / over HPACK static entries), then only PINGs.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tls_connector(&s, b"h2").connect(name, tcp).await.unwrap();
    let mut first = h2_preface();
    // :method GET, :scheme https, :path /metrics (literal), :authority localhost (literal).
    let mut block = vec![0x82, 0x87, 0x04, 0x08];
    block.extend(b"/metrics");
    block.extend([0x01, 0x09]);
    block.extend(b"localhost");
    first.extend(h2_frame(0x1, 0x5, 1, &block));
    let ping = h2_frame(0x6, 0, 0, &[0; 8]);
    assert!(
        closed_while_dripping(tls, first, ping).await,
        "an HTTP/2 connection with no open stream is closed although it PINGs"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_file_change_never_drops_client_certificate_checks_but_a_reload_may() {
    let s = Setup::new();
    let mtls =
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
    let web = WebSettings {
        config: Some(s.load(&mtls)),
        ..WebSettings::default()
    };
    let control = web.control.clone();
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    control.on_reload({
        let outcomes = outcomes.clone();
        move |ok| outcomes.lock().unwrap().push(ok)
    });
    let server = Server::serve(web, test_router()).await;
    let url = server.https("/metrics");
    let anonymous = async || s.client().build().unwrap().get(&url).send().await.is_ok();
    assert!(!anonymous().await, "no client certificate: refused");

    s.config(TLS);
    tokio::time::sleep(SETTLED).await;
    assert!(!anonymous().await, "the change is refused");
    assert_eq!(*outcomes.lock().unwrap(), [false]);

    // The operator confirms: an explicit reload applies it.
    let c = control.clone();
    tokio::task::spawn_blocking(move || c.reload())
        .await
        .unwrap()
        .unwrap();
    assert!(anonymous().await, "applied by the explicit reload");
    assert_eq!(*outcomes.lock().unwrap(), [false, true]);

    // Switching TLS off needs a restart, explicit reload or not.
    s.config(&users_yaml("alice", PASSWORD));
    let c = control.clone();
    let err = tokio::task::spawn_blocking(move || c.reload())
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("restart"), "{err}");
    assert!(anonymous().await, "TLS still served");
    server.stop().await;
}

#[tokio::test]
async fn post_reload_applies_the_web_config_and_the_metric_tells_refusals() {
    let s = Setup::new();
    let path = s.config(&users_yaml("alice", PASSWORD));
    let web = WebSettings::load(Some(&path), web::DEFAULT_MAX_REQUESTS).unwrap();
    let settings = app_settings();
    let loader: chatapp_exporter::app::SettingsLoader = {
        let settings = settings.clone();
        Arc::new(move || Ok(settings.clone()))
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let app = tokio::spawn(chatapp_exporter::app::run_with_web(
        settings,
        listener,
        async move {
            let _ = stopped.await;
        },
        Some(loader),
        web,
    ));
    let client = reqwest::Client::new();
    let anonymous = async || {
        let r = client.get(format!("{base}/metrics")).send().await.unwrap();
        r.status().as_u16()
    };
    let web_reload_ok = async |credentials: Option<&str>| {
        let mut req = client.get(format!("{base}/metrics"));
        if let Some(password) = credentials {
            req = req.basic_auth("alice", Some(password));
        }
        let text = req.send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("chatapp_web_config_last_reload_successful "))
            .map(|v| v.parse::<f64>().unwrap())
    };
    assert_eq!(anonymous().await, 401);
    assert_eq!(web_reload_ok(Some(PASSWORD)).await, Some(1.0));

    // An edit that would drop basic auth: refused while running, and the metric says so.
    s.config("# no users\n{}\n");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(anonymous().await, 401);
    assert_eq!(web_reload_ok(Some(PASSWORD)).await, Some(0.0));

    // POST /-/reload is the operator's confirmation.
    let r = client
        .post(format!("{base}/-/reload"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(anonymous().await, 200);
    assert_eq!(web_reload_ok(None).await, Some(1.0));
    let _ = stop.send(());
    tokio::time::timeout(WAIT, app)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
