//! cargo-fuzz entry point (nightly) of the target in `fuzz/targets/decode_response.rs`, which the
//! stable runner `tests/fuzz.rs` runs too.
#![no_main]

#[path = "../targets/decode_response.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
