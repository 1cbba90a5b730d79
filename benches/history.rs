//! The since-when history at the scale of a large fleet (issue #33): what one refresh costs
//! it when states change and when nothing does, and the size of the file on disk.
//!
//! For 1,000 and 10,000 numbers in one account and in 500 accounts of 20, it reports: the
//! first observation (every number new) and its write; an unchanged refresh (observe only:
//! it must not write, checked by the file's modification time and length); a refresh where
//! 1% of the numbers changed quality, and its write; and the file size. The write is the
//! whole atomic replace (temporary file, fsync, rename). A counting allocator also gives the
//! heap the history holds once every number is in it, and what a write adds at its peak
//! (exact, not timed). Run: `cargo bench --bench history`.

use std::time::{Duration, Instant};

use chatapp_exporter::collect::{Tracked, tracked};
use chatapp_exporter::history::{self, History, Mode};
use chatapp_exporter::view::{Cell, Facts, NumberFacts, Value};

const T0: i64 = 1_796_000_000;

mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Live heap now, and the peak since the last call (a new one starts now).
fn heap() -> (usize, usize) {
    let peak = counting::peak();
    (counting::reset_peak(), peak)
}

/// Account `account`'s facts: `n` numbers; those among the fleet's first `changed` (counted
/// across accounts in order) are RED instead of GREEN.
fn facts(account: usize, n: usize, changed: usize) -> Facts {
    let column = |field: &str| tracked().find(|t| t.field == field).unwrap().column;
    Facts {
        numbers: (0..n)
            .map(|i| NumberFacts {
                phone_number: format!("65{account:04}{i:05}").into(),
                cells: vec![
                    Cell {
                        column: column("status"),
                        value: Value::text("CONNECTED"),
                    },
                    Cell {
                        column: column("quality"),
                        value: Value::text(if account * n + i < changed {
                            "RED"
                        } else {
                            "GREEN"
                        }),
                    },
                    Cell {
                        column: column("tier"),
                        value: Value::text("TIER_10K"),
                    },
                ],
                ..Default::default()
            })
            .collect(),
        tables: vec![],
    }
}

struct Row {
    shape: String,
    first: Duration,
    first_write: Duration,
    unchanged: Duration,
    unchanged_wrote: bool,
    one_percent: Duration,
    write: Duration,
    bytes: u64,
    /// Heap the history holds with every number in it.
    held: usize,
    /// What a write adds on top, at its peak (the document it serialises).
    write_peak: usize,
}

fn run(accounts: usize, per_account: usize) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let path = history::file_in(dir.path(), 0, 1);
    let fields = phone_fields();
    // Built before timing: a refresh hands the history facts it already decoded.
    let names: Vec<String> = (0..accounts).map(|a| format!("a{a}")).collect();
    let steady: Vec<Facts> = (0..accounts).map(|a| facts(a, per_account, 0)).collect();
    let moved: Vec<Facts> = (0..accounts)
        .map(|a| facts(a, per_account, accounts * per_account / 100))
        .collect();
    let (empty, _) = heap();
    let h = History::open(Mode::ReadWrite(path.clone()), None);
    let observe_all = |changed: bool, now: i64| {
        let all = if changed { &moved } else { &steady };
        let mut dirty = false;
        for (name, facts) in names.iter().zip(all) {
            dirty |= h.observe(name, facts, fields, now).write;
        }
        dirty
    };
    let timed = |f: &dyn Fn() -> bool| {
        let t = Instant::now();
        let r = f();
        (t.elapsed(), r)
    };
    let (first, dirty) = timed(&|| observe_all(false, T0));
    assert!(dirty);
    let (full, _) = heap();
    let t = Instant::now();
    h.save(T0);
    let first_write = t.elapsed();
    let (_, write_peak) = heap();
    let before = std::fs::metadata(&path).unwrap();
    let (unchanged, dirty) = timed(&|| observe_all(false, T0 + 60));
    // The exporter writes only when an observation says something changed.
    if dirty {
        h.save(T0 + 60);
    }
    let after = std::fs::metadata(&path).unwrap();
    let unchanged_wrote = dirty
        || after.modified().unwrap() != before.modified().unwrap()
        || after.len() != before.len();
    let (one_percent, dirty) = timed(&|| observe_all(true, T0 + 120));
    assert!(dirty);
    let t = Instant::now();
    h.save(T0 + 120);
    let write = t.elapsed();
    Row {
        shape: format!("{accounts} × {per_account}"),
        first,
        first_write,
        unchanged,
        unchanged_wrote,
        one_percent,
        write,
        bytes: std::fs::metadata(&path).unwrap().len(),
        held: full - empty,
        write_peak: write_peak - full,
    }
}

/// The tracked fields of the phone-number collector, as its spec declares them.
fn phone_fields() -> &'static [Tracked] {
    chatapp_exporter::collect::phone_numbers::SPEC.tracked
}

fn main() {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| numbers (accounts × per account) | first observe | first write | unchanged refresh (observe) | wrote? | 1% changed (observe) | its write | file | heap held | a write's peak on top |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (accounts, per) in [(1, 1_000), (1, 10_000), (500, 20)] {
        // Best of three: the machine is shared.
        let rows: Vec<Row> = (0..3).map(|_| run(accounts, per)).collect();
        let best = |f: fn(&Row) -> Duration| rows.iter().map(f).min().unwrap();
        let r = &rows[0];
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} KiB | {:.1} MiB | {:.1} MiB |",
            r.shape,
            ms(best(|r| r.first)),
            ms(best(|r| r.first_write)),
            ms(best(|r| r.unchanged)),
            if rows.iter().any(|r| r.unchanged_wrote) {
                "yes"
            } else {
                "no"
            },
            ms(best(|r| r.one_percent)),
            ms(best(|r| r.write)),
            r.bytes as f64 / 1024.0,
            r.held as f64 / 1048576.0,
            r.write_peak as f64 / 1048576.0,
        );
    }
}
