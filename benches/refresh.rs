//! The refresh pipeline at 100 / 2,000 / 10,000 numbers, next to the serde_json baseline,
//! in one criterion group per size so the ratios come from one run:
//!
//! - `json_value`: serde_json alone parsing the body into `serde_json::Value` (the baseline
//!   of issue #6's "refresh <= 3x serde_json" target);
//! - `decode_dto`: the client's decoding into the typed DTO (`api::client::interpret`);
//! - `refresh_warm`: decode + convert + render + publish, with the account's previous
//!   rendering in the store (a steady-state refresh: unchanged blocks are reused, so almost
//!   nothing is compressed);
//! - `refresh_cold`: the same into an empty store (first refresh: every block is compressed,
//!   so this includes the gzip of the whole exposition);
//! - `refresh_proto`: the general path, decode + `collect::phone_numbers::convert` (one
//!   `prometheus::proto::Metric` per series) + `AccountExposition::render` + publish, for
//!   comparison with the fast renderer.
//!
//! Bodies are generated from a template of one number (`common::body`).

use std::hint::black_box;
use std::sync::Arc;

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{TierLimits, phone_numbers, waba};
use chatapp_exporter::metrics::{AccountExposition, EnumMode, ExpositionStore};
use common::{NOTE, WABA, body, refresh};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;

/// The same through `prometheus::proto` objects and the library encoder family by family.
fn refresh_proto(store: &ExpositionStore, numbers: &[u8], bound: &[u8], tiers: &TierLimits) {
    let numbers: PhoneNumbersResponse = interpret(200, numbers, "", "").unwrap();
    let bound: BindWabaResponse = interpret(200, bound, "", "").unwrap();
    let (mut families, report) =
        phone_numbers::convert("shop-a", &numbers.phone_numbers, tiers, NOTE, EnumMode::All);
    let mut unknown = report.unknown;
    families.extend(waba::convert(
        "shop-a",
        &bound.data,
        NOTE,
        EnumMode::All,
        &mut unknown,
    ));
    let exposition = AccountExposition::render(&families).unwrap();
    store.set("shop-a", "phone_numbers", Some(Arc::new(exposition)));
}

fn sizes(c: &mut Criterion) {
    let tiers = TierLimits::default();
    for n in [100, 2_000, 10_000] {
        let numbers = body(n);
        let bound = WABA.as_bytes();
        let mut g = c.benchmark_group(format!("refresh/{n}"));
        g.throughput(Throughput::Bytes(numbers.len() as u64));
        if n >= 2_000 {
            g.sample_size(10);
        }
        g.bench_function(BenchmarkId::new("json_value", n), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&numbers)).unwrap())
        });
        g.bench_function(BenchmarkId::new("decode_dto", n), |b| {
            b.iter(|| interpret::<PhoneNumbersResponse>(200, black_box(&numbers), "", "").unwrap())
        });
        let warm = ExpositionStore::default();
        refresh(&warm, &numbers, bound, &tiers);
        g.bench_function(BenchmarkId::new("refresh_warm", n), |b| {
            b.iter(|| refresh(&warm, black_box(&numbers), bound, &tiers))
        });
        g.bench_function(BenchmarkId::new("refresh_cold", n), |b| {
            b.iter_with_large_drop(|| {
                let store = ExpositionStore::default();
                refresh(&store, black_box(&numbers), bound, &tiers);
                store
            })
        });
        g.bench_function(BenchmarkId::new("refresh_proto", n), |b| {
            b.iter_with_large_drop(|| {
                let store = ExpositionStore::default();
                refresh_proto(&store, black_box(&numbers), bound, &tiers);
                store
            })
        });
        g.finish();
    }
}

criterion_group!(benches, sizes);
criterion_main!(benches);
