//! cargo-fuzz entry point (nightly) of the target in `fuzz/targets/web_config.rs`, which the
//! stable runner `tests/fuzz.rs` runs too.
#![no_main]

#[path = "../targets/web_config.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
