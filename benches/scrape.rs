//! Per-scrape cost of `/metrics` at 100 / 2,000 / 10,000 numbers, plain and gzip: the
//! handler through the real router (`tower::ServiceExt::oneshot`), including encoding the
//! self metrics, the gzip framing and walking every body chunk (as hyper would; the bytes
//! themselves are shared, not copied).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chatapp_exporter::collect::TierLimits;
use chatapp_exporter::metrics::{ExpositionStore, SelfMetrics};
use chatapp_exporter::scheduler::StatusBoard;
use chatapp_exporter::server::{AppState, router};
use common::{WABA, body, refresh};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

mod common;

fn scrape(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("scrape");
    for n in [100, 2_000, 10_000] {
        let store = Arc::new(ExpositionStore::default());
        refresh(&store, &body(n), WABA.as_bytes(), &TierLimits::default());
        let app = router(AppState {
            store,
            metrics: Arc::new(SelfMetrics::new(Duration::from_secs(60)).unwrap()),
            status: Arc::new(StatusBoard::default()),
            telemetry_path: "/metrics".into(),
            reload: None,
            landing: Default::default(),
        });
        for gzip in [false, true] {
            let id = BenchmarkId::new(if gzip { "gzip" } else { "plain" }, n);
            g.bench_function(id, |b| {
                b.iter(|| {
                    rt.block_on(async {
                        let mut req = Request::get("/metrics");
                        if gzip {
                            req = req.header("accept-encoding", "gzip");
                        }
                        let resp = app
                            .clone()
                            .oneshot(req.body(Body::empty()).unwrap())
                            .await
                            .unwrap();
                        let mut body = resp.into_body();
                        let mut len = 0;
                        while let Some(frame) = body.frame().await {
                            len += frame.unwrap().into_data().map_or(0, |d| d.len());
                        }
                        len
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
