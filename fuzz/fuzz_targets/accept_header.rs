//! cargo-fuzz entry point (nightly) of the target in `fuzz/targets/accept_header.rs`, which the
//! stable runner `tests/fuzz.rs` runs too.
#![no_main]

#[path = "../targets/accept_header.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
