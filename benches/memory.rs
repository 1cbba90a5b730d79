//! Heap accounting of the refresh pipeline at 2,000 and 10,000 numbers (issue #6, memory).
//!
//! Not a timing bench: a counting global allocator records the live heap and its peak while
//! one refresh runs, phase by phase, so the numbers are exact and do not move between runs.
//! RSS (what the targets are about) is heap plus code plus allocator slack; this
//! shows which part of the heap a refresh adds on top of the exposition already served,
//! which is what decides the peak under scrapes. Run: `cargo bench --bench memory`.

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::TierLimits;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::metrics::ExpositionStore;
use common::{WABA, body, publish};

mod common;
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs `f`, returning its result and the peak heap above the live heap at the start.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = counting::reset_peak();
    let out = f();
    (out, counting::peak() - start)
}

/// What one refresh adds to the heap, in bytes.
struct Phases {
    /// Peak while decoding the body into the DTO.
    decode: usize,
    /// The decoded DTO, held while rendering.
    dto: usize,
    /// Peak while rendering and publishing, above the DTO.
    render: usize,
}

impl Phases {
    /// The refresh's peak above the heap it started with.
    fn peak(&self) -> usize {
        self.decode.max(self.dto + self.render)
    }
}

/// One refresh as the scheduler runs it (`collect::render_account`, then publish), with
/// the body already read.
fn refresh(store: &ExpositionStore, numbers: &[u8], tiers: &TierLimits) -> Phases {
    let bound: BindWabaResponse = interpret(200, WABA.as_bytes(), "", "").unwrap();
    let before = counting::live();
    let (decoded, decode) =
        peak_of(|| interpret::<PhoneNumbersResponse>(200, numbers, "", "").unwrap());
    let dto = counting::live() - before;
    let (_, render) = peak_of(|| publish(store, &decoded, &bound, tiers));
    Phases {
        decode,
        dto,
        render,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let tiers = TierLimits::default();
    println!(
        "{:>8} {:>10} {:>11} | {:>10} {:>10} {:>11} {:>11} | {:>11}",
        "numbers", "body", "exposition", "decode", "DTO", "render", "peak", "steady peak"
    );
    for n in [2_000, 10_000] {
        let numbers = body(n);
        let store = ExpositionStore::default();
        let before = counting::live();
        let first = refresh(&store, &numbers, &tiers);
        let exposition = counting::live() - before;
        let steady = refresh(&store, &numbers, &tiers);
        println!(
            "{n:>8} {:>10} {:>11} | {:>10} {:>10} {:>11} {:>11} | {:>11}",
            mib(numbers.len()),
            mib(exposition),
            mib(first.decode),
            mib(first.dto),
            mib(first.render),
            mib(first.peak()),
            mib(steady.peak()),
        );
    }
}
