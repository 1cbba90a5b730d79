//! Fuzzing on the stable toolchain (issue #34): the cargo-fuzz targets in `fuzz/targets/`,
//! driven by proptest instead of libFuzzer so they run everywhere `cargo test` does.
//!
//! For each target this first replays the corpus kept in the repository (`fuzz/seeds/<target>/`
//! and every crash ever found, `fuzz/regressions/<target>/`), then explores: inputs made by
//! mutating the seeds (bytes flipped, inserted, deleted, duplicated, spliced from another seed,
//! JSON and YAML tokens dropped in) and arbitrary bytes.
//!
//! `cargo test` explores a few hundred inputs per target from a fixed seed, so it is quick and
//! repeatable. CI sets `FUZZ_SECONDS` to explore for that long per target from a fresh seed
//! (printed; `FUZZ_SEED` replays it). An input that panics is shrunk, written to
//! `fuzz/regressions/<target>/`, and the test fails naming the file: commit it with the fix and
//! it is replayed by every `cargo test` from then on.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};

#[path = "../fuzz/targets/accept_header.rs"]
mod accept_header;
#[path = "../fuzz/targets/decode_response.rs"]
mod decode_response;
#[path = "../fuzz/targets/san.rs"]
mod san;
#[path = "../fuzz/targets/terminal_table.rs"]
mod terminal_table;
#[path = "../fuzz/targets/web_config.rs"]
mod web_config;

#[test]
fn decode_response() {
    fuzz("decode_response", decode_response::run);
}

#[test]
fn web_config() {
    fuzz("web_config", web_config::run);
}

#[test]
fn san() {
    fuzz("san", san::run);
}

#[test]
fn accept_header() {
    fuzz("accept_header", accept_header::run);
}

#[test]
fn terminal_table() {
    fuzz("terminal_table", terminal_table::run);
}

/// Cases per exploration round, and per target when no time budget is set.
const ROUND_CASES: u32 = 256;

/// Replays the corpus, then explores; panics naming the input that broke `run`.
fn fuzz(target: &str, run: fn(&[u8])) {
    let corpus = corpus(target);
    assert!(
        corpus.iter().any(|(name, _)| name.starts_with("seeds/")),
        "fuzz/seeds/{target}/ is empty: the corpus is what makes the mutations reach past the parser's first byte"
    );
    for (name, input) in &corpus {
        if panic::catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
            panic!("{target}: fuzz/{name} panics (see the message above)");
        }
    }

    let seeds: Vec<Vec<u8>> = corpus.into_iter().map(|(_, input)| input).collect();
    let strategy = inputs(seeds);
    let budget = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let base_seed = match (std::env::var("FUZZ_SEED").ok(), budget) {
        (Some(seed), _) => seed.parse().expect("FUZZ_SEED is a number"),
        (None, Some(_)) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        (None, None) => 34,
    };
    let started = Instant::now();
    let mut rounds = 0u64;
    loop {
        let config = Config {
            cases: ROUND_CASES,
            rng_seed: RngSeed::Fixed(base_seed.wrapping_add(rounds)),
            failure_persistence: None,
            ..Config::default()
        };
        let outcome = TestRunner::new(config).run(&strategy, |input| {
            run(&input);
            Ok(())
        });
        if let Err(error) = outcome {
            fail(target, base_seed, error);
        }
        rounds += 1;
        match budget {
            Some(budget) if started.elapsed() < budget => continue,
            _ => break,
        }
    }
    if budget.is_some() {
        eprintln!(
            "fuzz {target}: {} inputs in {:.0?} from FUZZ_SEED={base_seed}, no crash",
            rounds * u64::from(ROUND_CASES),
            started.elapsed()
        );
    }
}

/// Keeps the shrunk input as a regression and fails the test naming it.
fn fail(target: &str, base_seed: u64, error: TestError<Vec<u8>>) -> ! {
    match error {
        TestError::Abort(reason) => panic!("{target}: fuzzing aborted: {reason}"),
        TestError::Fail(reason, input) => {
            let dir = fuzz_dir().join("regressions").join(target);
            let name = format!("crash-{:016x}", fnv1a(&input));
            let saved = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join(&name), &input))
                .map_or_else(
                    |e| format!("could not be saved ({e})"),
                    |()| {
                        format!("saved as fuzz/regressions/{target}/{name}: commit it with the fix")
                    },
                );
            panic!(
                "{target}: {reason}\ninput ({} bytes) {saved}\n{:?}\n(FUZZ_SEED={base_seed} repeats this run)",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(2048)]),
            )
        }
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file under `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`, named by its path
/// under `fuzz/`, in a stable order.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut corpus = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.is_file()) {
            let input = std::fs::read(&path).expect("corpus file reads");
            let name = format!(
                "{kind}/{target}/{}",
                path.file_name().unwrap_or_default().display()
            );
            corpus.push((name, input));
        }
    }
    corpus
}

/// One edit to a seed. Positions are fractions of the input so they stay in range whatever
/// the length.
#[derive(Debug, Clone)]
enum Edit {
    /// Replaces one byte.
    Set(f64, u8),
    /// Inserts bytes (often a token the parsers give meaning to).
    Insert(f64, Vec<u8>),
    /// Deletes up to this many bytes.
    Delete(f64, usize),
    /// Repeats a slice in place (deep nesting, long runs).
    Duplicate(f64, usize, usize),
    /// Cuts the input short (a half-written body or file).
    Truncate(f64),
    /// Replaces the tail with the tail of another seed.
    Splice(f64, usize, f64),
}

/// Byte strings the targets' parsers give meaning to: JSON and YAML structure, numbers at the
/// edges of their types, escapes, multi-byte and terminal-steering characters, header syntax.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0.0",
    "18446744073709551616",
    "9223372036854775807",
    "NaN",
    "\"\"",
    "[]",
    "{}",
    "\n",
    "\r\n",
    "\t",
    "  ",
    "- ",
    ": ",
    "&a",
    "*a",
    "!!binary ",
    "~",
    "---",
    "...",
    "'",
    "|",
    ">",
    "#",
    "%",
    "%00",
    ";",
    "=",
    "q=",
    ";q=0",
    ";q=1.5",
    "version=",
    ",",
    "*/*",
    "\u{1b}[2J",
    "\u{202e}",
    "\u{200b}",
    "\u{fe0f}",
    "\u{1f1f8}\u{1f1ec}",
    "\u{4e2d}\u{6587}",
    "\u{7f}",
    "\u{0}",
    "\u{ffff}",
    "GREEN",
    "RED",
    "FLAGGED",
    "TIER_UNLIMITED",
    "Throttling",
];

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0.0..=1.0f64;
    prop_oneof![
        (at.clone(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (at.clone(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t.into())),
        (at.clone(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        (at.clone(), 1..64usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (at.clone(), 1..32usize, 1..64usize).prop_map(|(at, n, k)| Edit::Duplicate(at, n, k)),
        at.clone().prop_map(Edit::Truncate),
        (at.clone(), any::<usize>(), at)
            .prop_map(|(at, other, from)| Edit::Splice(at, other, from)),
    ]
}

/// Inputs for one target: mostly mutated seeds, some arbitrary bytes.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let others = seeds.clone();
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 1..6),
    )
        .prop_map(move |(seed, edits)| apply(seed, &edits, &others));
    prop_oneof![
        4 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit], others: &[Vec<u8>]) -> Vec<u8> {
    // The index a fraction of the way into a buffer of `len` bytes (0..=len).
    let index = |at: f64, len: usize| ((at * len as f64) as usize).min(len);
    for edit in edits {
        let len = input.len();
        match edit {
            Edit::Set(at, b) if len > 0 => {
                let i = index(*at, len - 1);
                input[i] = *b;
            }
            Edit::Set(..) => input.push(0),
            Edit::Insert(at, bytes) => {
                let i = index(*at, len);
                input.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(at, n) => {
                let i = index(*at, len);
                input.drain(i..(i + n).min(len));
            }
            Edit::Duplicate(at, n, times) => {
                let i = index(*at, len);
                let slice = input[i..(i + n).min(len)].to_vec();
                // Bounded, so one case stays a few hundred kilobytes at most.
                for _ in 0..(*times).min(4096 / slice.len().max(1)) {
                    input.splice(i..i, slice.iter().copied());
                }
            }
            Edit::Truncate(at) => input.truncate(index(*at, len)),
            Edit::Splice(at, other, from) => {
                let other = &others[other % others.len()];
                input.truncate(index(*at, len));
                input.extend_from_slice(&other[index(*from, other.len())..]);
            }
        }
    }
    input
}

/// A stable name for a crash file: FNV-1a over the input.
fn fnv1a(input: &[u8]) -> u64 {
    input.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn the_mutations_reach_every_kind_of_edit() {
    // The engine itself: each edit does what its comment says, so exploration is not quietly
    // replaying the seeds.
    let others = vec![b"XYZ".to_vec()];
    let seed = b"abcdef".to_vec();
    assert_eq!(
        apply(seed.clone(), &[Edit::Set(0.0, b'z')], &others),
        b"zbcdef"
    );
    assert_eq!(
        apply(seed.clone(), &[Edit::Insert(0.5, b"--".to_vec())], &others),
        b"abc--def"
    );
    assert_eq!(
        apply(seed.clone(), &[Edit::Delete(0.5, 2)], &others),
        b"abcf"
    );
    assert_eq!(
        apply(seed.clone(), &[Edit::Duplicate(0.0, 2, 2)], &others),
        b"abababcdef"
    );
    assert_eq!(apply(seed.clone(), &[Edit::Truncate(0.5)], &others), b"abc");
    assert_eq!(
        apply(seed.clone(), &[Edit::Splice(0.5, 0, 1.0 / 3.0)], &others),
        b"abcYZ"
    );
    assert_eq!(
        apply(
            Vec::new(),
            &[Edit::Delete(0.3, 9), Edit::Duplicate(1.0, 5, 5)],
            &others
        ),
        b""
    );
}

#[test]
fn a_crash_is_found_shrunk_and_kept() {
    // The engine against a planted bug: a decoder that panics when the quality `GREEN` has
    // become `RED` is caught from the seed within a few seconds' budget, and the input shrunk to a case
    // a person can read.
    fn planted(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if text.contains("RED") && !text.contains("GREEN") {
            panic!("planted bug");
        }
    }
    let seeds = vec![b"{\"Quality\":\"GREEN\"}".to_vec()];
    let mut runner = TestRunner::new(Config {
        cases: 16 * ROUND_CASES,
        rng_seed: RngSeed::Fixed(34),
        failure_persistence: None,
        ..Config::default()
    });
    // (The planted panics' messages go to this test's captured output.)
    let outcome = runner.run(&inputs(seeds), |input| {
        planted(&input);
        Ok(())
    });
    match outcome {
        Err(TestError::Fail(_, input)) => {
            let text = String::from_utf8_lossy(&input);
            assert!(text.contains("RED") && !text.contains("GREEN"), "{text:?}");
            assert!(input.len() <= 32, "shrunk: {text:?}");
        }
        other => panic!("the planted bug was not found: {other:?}"),
    }
}
