//! `/metrics` in the format each scraper asks for, over a real connection to the whole
//! exporter: Prometheus 2 and 3 get OpenMetrics 1.0.0, a header that prefers protobuf (not
//! offered) gets OpenMetrics too, and `text/plain`, `*/*`, garbage or no `Accept` at all get
//! the 0.0.4 text. The sample lines are the same in both; only metadata and `# EOF` differ.
//! One request's format never leaks into the next on the same connection.
//!
//! Requests are written by hand on a TCP stream: an HTTP client library adds an `Accept` of
//! its own, and "no Accept header" must really be none.

mod common;

use std::io::Read as _;

use common::{Scrape, Script, account, fast_settings, openmetrics_parse, spawn_app, start_sim};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus 3's default `Accept`.
const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// Prometheus 2's (2.42 included).
const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// Prometheus 3 with native histograms on: protobuf first.
const PROTOBUF_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=underscores;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

/// Each `Accept` (None: no header) and the `Content-Type` it must get.
const CASES: &[(Option<&str>, &str)] = &[
    (
        Some(PROMETHEUS_3),
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    ),
    (Some(PROMETHEUS_2), OPENMETRICS),
    (
        Some(PROTOBUF_FIRST),
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
    ),
    (Some("text/plain"), TEXT),
    (None, TEXT),
    (Some("*/*"), TEXT),
    (Some("garbage, \"; q=x, ;;,/"), TEXT),
    (
        Some("application/openmetrics-text;version=0.0.1"),
        "application/openmetrics-text; version=0.0.1; charset=utf-8",
    ),
];

/// One answer of `/metrics`.
#[derive(Debug)]
struct Answer {
    content_type: String,
    vary: String,
    gzip: bool,
    /// Decoded when gzip.
    body: String,
}

impl Answer {
    fn is_openmetrics(&self) -> bool {
        self.content_type
            .starts_with("application/openmetrics-text;")
    }

    /// The sample lines of the object families, which both formats share byte for byte.
    fn object_samples(&self) -> Vec<&str> {
        self.body
            .lines()
            .filter(|l| l.starts_with("chatapp_phone_number_") || l.starts_with("chatapp_waba_"))
            .collect()
    }
}

/// One keep-alive HTTP/1.1 connection to the exporter.
struct Conn(BufReader<TcpStream>);

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        Conn(BufReader::new(TcpStream::connect(addr).await.unwrap()))
    }

    /// GET /metrics with `accept` (no header when `None`), asking for gzip when `gzip`.
    async fn scrape(&mut self, accept: Option<&str>, gzip: bool) -> Answer {
        let mut request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_owned();
        if let Some(a) = accept {
            request.push_str(&format!("Accept: {a}\r\n"));
        }
        if gzip {
            request.push_str("Accept-Encoding: gzip\r\n");
        }
        request.push_str("\r\n");
        self.0
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();

        let mut status = String::new();
        self.0.read_line(&mut status).await.unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let (mut content_type, mut vary, mut encoding, mut length) =
            (String::new(), String::new(), String::new(), 0usize);
        loop {
            let mut line = String::new();
            self.0.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            let value = value.trim().to_owned();
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = value,
                "vary" => vary = value,
                "content-encoding" => encoding = value,
                "content-length" => length = value.parse().unwrap(),
                _ => {}
            }
        }
        let mut raw = vec![0; length];
        self.0.read_exact(&mut raw).await.unwrap();
        let gzip = encoding == "gzip";
        let body = if gzip {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .expect("one valid gzip member");
            text
        } else {
            String::from_utf8(raw).expect("UTF-8")
        };
        Answer {
            content_type,
            vary,
            gzip,
            body,
        }
    }
}

/// The exporter with one account answering the full fixtures, after its first refresh.
async fn exporter() -> (common::TestApp, chatapp_exporter::sim::Simulator) {
    let sim = start_sim(&Script::full()).await;
    let app = spawn_app(fast_settings(&[], vec![account("shop", &sim)])).await;
    app.wait_for("first refresh", |s| {
        s.up("shop") == Some(1.0) && s.object_series("shop") > 0
    })
    .await;
    (app, sim)
}

/// What an OpenMetrics answer must hold, and a 0.0.4 one must not.
fn check_format(a: &Answer, what: &str) {
    let om_lines = [
        "# TYPE chatapp_phone_number info\n",
        "# TYPE chatapp_waba info\n",
        "# TYPE chatapp_build info\n",
        "# TYPE chatapp_account info\n",
        "# TYPE chatapp_api_requests counter\n",
        "# TYPE chatapp_phone_number_status gauge\n",
        "# TYPE chatapp_last_refresh_success_timestamp_seconds gauge\n\
         # UNIT chatapp_last_refresh_success_timestamp_seconds seconds\n",
    ];
    if a.is_openmetrics() {
        assert!(a.body.ends_with("# EOF\n"), "{what}: no # EOF at the end");
        assert_eq!(a.body.matches("# EOF").count(), 1, "{what}");
        for line in om_lines {
            assert!(a.body.contains(line), "{what}: missing {line:?}");
        }
        for old in [
            "# TYPE chatapp_phone_number_info ",
            "# TYPE chatapp_api_requests_total ",
            "_created",
        ] {
            assert!(!a.body.contains(old), "{what}: {old:?} in OpenMetrics");
        }
    } else {
        assert_eq!(a.content_type, TEXT, "{what}");
        assert!(!a.body.contains("# EOF"), "{what}");
        assert!(!a.body.contains("# UNIT"), "{what}");
        // kube-state-metrics once wrote `info` into 0.0.4 text, which Prometheus rejects.
        assert!(!a.body.contains(" info\n"), "{what}: info type in 0.0.4");
        assert!(
            a.body.contains("# TYPE chatapp_phone_number_info gauge\n"),
            "{what}"
        );
        assert!(
            a.body
                .contains("# TYPE chatapp_api_requests_total counter\n"),
            "{what}"
        );
        // The strict 0.0.4 parser of the other tests reads it.
        Scrape::parse(&a.body);
    }
    assert_eq!(a.vary, "Accept, Accept-Encoding", "{what}");
}

#[tokio::test]
async fn each_accept_header_gets_its_format_plain_and_gzip() {
    let (app, _sim) = exporter().await;
    let mut conn = Conn::open(app.addr).await;
    let reference = conn.scrape(None, false).await;
    assert!(!reference.object_samples().is_empty());
    for (accept, content_type) in CASES {
        for gzip in [false, true] {
            let what = format!("Accept {accept:?}, gzip {gzip}");
            let a = conn.scrape(*accept, gzip).await;
            assert_eq!(a.content_type, *content_type, "{what}");
            assert_eq!(a.gzip, gzip, "{what}");
            check_format(&a, &what);
            assert_eq!(
                a.object_samples(),
                reference.object_samples(),
                "{what}: the samples differ from 0.0.4's"
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_format_does_not_leak_between_requests() {
    let (app, _sim) = exporter().await;
    // One connection, alternating: each answer is what its own request asked for.
    let mut conn = Conn::open(app.addr).await;
    for (accept, content_type) in CASES.iter().chain(CASES.iter().rev()) {
        let a = conn.scrape(*accept, false).await;
        assert_eq!(a.content_type, *content_type, "Accept {accept:?}");
        check_format(&a, &format!("{accept:?}"));
    }
    // A 0.0.4 request right after an OpenMetrics one, on the same connection and on another.
    let om = conn.scrape(Some(PROMETHEUS_2), true).await;
    assert!(om.is_openmetrics());
    assert_eq!(conn.scrape(None, true).await.content_type, TEXT);
    let _ = conn.scrape(Some(PROMETHEUS_3), false).await;
    assert_eq!(
        Conn::open(app.addr)
            .await
            .scrape(None, false)
            .await
            .content_type,
        TEXT
    );
    // Many at once, each format on its own connection.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (accept, content_type) = CASES[i % CASES.len()];
        let addr = app.addr;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            for _ in 0..3 {
                let a = conn.scrape(accept, i % 2 == 0).await;
                assert_eq!(a.content_type, content_type, "Accept {accept:?}");
                assert_eq!(a.is_openmetrics(), a.body.ends_with("# EOF\n"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    app.shutdown().await;
}

/// The official Python client's OpenMetrics parser reads the live scrape, when python3 has
/// `prometheus_client` (CI installs it in `.ci/check-openmetrics.sh`, which also checks the
/// `--demo` binary); otherwise a note says it was skipped.
#[tokio::test]
async fn prometheus_client_parses_the_openmetrics_answer() {
    let (app, _sim) = exporter().await;
    let a = Conn::open(app.addr)
        .await
        .scrape(Some(PROMETHEUS_3), true)
        .await;
    app.shutdown().await;
    assert!(a.is_openmetrics());
    let Some(types) = openmetrics_parse("a live OpenMetrics scrape", &a.body) else {
        return;
    };
    for (family, kind) in [
        ("chatapp_phone_number", "info"),
        ("chatapp_waba", "info"),
        ("chatapp_build", "info"),
        ("chatapp_api_requests", "counter"),
        ("chatapp_up", "gauge"),
        ("chatapp_phone_number_quality_rating", "gauge"),
    ] {
        assert!(
            types.lines().any(|l| l == format!("{family} {kind}")),
            "{family} is not a {kind}:\n{types}"
        );
    }
}
