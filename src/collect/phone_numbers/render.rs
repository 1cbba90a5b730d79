//! The fast renderer: the families of [`convert`](super::convert) written straight to text,
//! byte for byte what `AccountExposition::render(&convert(..).0)` produces, without
//! building a `prometheus::proto::Metric` with owned label strings for each of the ~40
//! series of each number (686 ms → 45 ms for 10,000 numbers when it was introduced; see
//! bench/README.md).
//!
//! It walks the same [`COLUMNS`] table as the reference conversion, so a family added there
//! is rendered here too. Escaping is `metrics::exposition`'s explicit, property-tested
//! functions: each number's `{account="…",phone_number="…"` prefix is escaped once and
//! reused for all its series, each StateSet's known states once per call, an unknown state
//! where it occurs. Numbers are written in blocks (see [`BLOCK_SPREAD`]) so that the
//! [`BlockWriter`] can reuse the previous rendering's unchanged ones.

use std::hash::Hasher as _;

use super::{COLUMNS, Column, PhoneNumber, Report, TierLimits, dedupe};
use crate::collect::{UnknownValue, label_str, non_empty};
use crate::metrics::EnumMode;
use crate::metrics::exposition::{
    AccountExposition, BlockWriter, FamilyText, push_gauge_header, push_label, push_value,
};

/// Average numbers per block: a block ends after a number whose phone number hashes to 0
/// modulo this. Boundaries so depend only on the number itself, not on its position: a
/// number added or removed changes one block per family, and every other block is found
/// unchanged and reused by the [`BlockWriter`].
const BLOCK_SPREAD: u64 = 64;
/// Most numbers in one block (bounds a block's size when hashes happen not to cooperate).
const BLOCK_MAX: usize = 256;
/// Number of families, one per column.
const N: usize = COLUMNS.len();

/// What one number contributes to one family, prepared once.
#[derive(Default)]
enum Cell {
    /// No series.
    #[default]
    Absent,
    /// One series ending in this text after the prefix (an `_info` line's further labels,
    /// `} 1` and the line feed).
    Line(Vec<u8>),
    /// A StateSet whose current state is this index into the known states.
    Known(usize),
    /// A StateSet whose current state is not a known one: its line after the prefix
    /// (`,label="…"} 1` and the line feed).
    Unknown(Vec<u8>),
    /// One gauge of this value.
    Value(f64),
}

/// One number, prepared.
struct Row {
    /// `{account="…",phone_number="…"`, escaped.
    prefix: Vec<u8>,
    cells: [Cell; N],
}

/// Renders one account's numbers; see the module docs. Families without series are left
/// out, as the encoder path does.
pub fn render(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Report) {
    let (by_number, mut report) = dedupe(numbers);

    // `,label="STATE"} ` for every known state of every StateSet column, escaped once.
    let known: [Vec<Vec<u8>>; N] = std::array::from_fn(|c| match &COLUMNS[c] {
        Column::States(def, _) => def
            .known
            .iter()
            .map(|state| {
                let mut pair = vec![b','];
                push_label(&mut pair, def.label, state);
                pair.extend_from_slice(b"} ");
                pair
            })
            .collect(),
        _ => Vec::new(),
    });
    let mut account_prefix = Vec::new();
    account_prefix.push(b'{');
    push_label(&mut account_prefix, "account", account);
    account_prefix.push(b',');

    let mut blocks: [Vec<_>; N] = Default::default();
    let mut series = [0usize; N];
    let mut rows: Vec<Row> = Vec::with_capacity(BLOCK_MAX);
    let mut text: Vec<u8> = Vec::new();
    let mut flush = |rows: &mut Vec<Row>, writer: &mut BlockWriter| {
        for (c, column) in COLUMNS.iter().enumerate() {
            text.clear();
            for row in rows.iter() {
                series[c] += write_cell(&mut text, column.family().name, row, c, &known[c], mode);
            }
            if !text.is_empty() {
                blocks[c].push(writer.block(&text));
            }
        }
        rows.clear();
    };

    let total = by_number.len();
    for (i, (phone, n)) in by_number.into_iter().enumerate() {
        let mut prefix = account_prefix.clone();
        push_label(&mut prefix, "phone_number", phone);
        let cells = std::array::from_fn(|c| cell(&COLUMNS[c], n, tiers, &mut report));
        rows.push(Row { prefix, cells });
        let mut h = fnv::FnvHasher::default();
        h.write(phone.as_bytes());
        if h.finish() % BLOCK_SPREAD == 0 || rows.len() >= BLOCK_MAX || i + 1 == total {
            flush(&mut rows, writer);
        }
    }

    let mut out = AccountExposition::default();
    let mut header = Vec::new();
    for ((column, blocks), series) in COLUMNS.iter().zip(blocks).zip(series) {
        if series == 0 {
            continue;
        }
        let def = column.family();
        header.clear();
        push_gauge_header(
            &mut header,
            def.name,
            &format!("{} {refresh_note}", def.help),
        );
        let header = writer.block(&header);
        out.push(FamilyText::new(def.name, header, blocks, series));
    }
    (out, report)
}

/// What `column` gets from number `n`; an unknown state is added to `report`.
fn cell(column: &Column, n: &PhoneNumber, tiers: &TierLimits, report: &mut Report) -> Cell {
    match column {
        Column::Info(_, labels) => {
            let mut line = Vec::new();
            for (label, field) in *labels {
                line.push(b',');
                push_label(
                    &mut line,
                    label,
                    field(n).as_deref().map(label_str).unwrap_or(""),
                );
            }
            line.extend_from_slice(b"} 1\n");
            Cell::Line(line)
        }
        Column::States(def, field) => match non_empty(field(n)).map(label_str) {
            None => Cell::Absent,
            Some(v) => match def.known.iter().position(|k| *k == v) {
                Some(i) => Cell::Known(i),
                None => {
                    report.unknown.push(UnknownValue {
                        field: def.field,
                        value: v.to_owned(),
                    });
                    let mut line = vec![b','];
                    push_label(&mut line, def.label, v);
                    line.extend_from_slice(b"} 1\n");
                    Cell::Unknown(line)
                }
            },
        },
        Column::Gauge(_, value) => value(n, tiers).map_or(Cell::Absent, Cell::Value),
    }
}

/// Appends the lines of column `c` for one number (`known`: the column's known states);
/// returns how many.
fn write_cell(
    out: &mut Vec<u8>,
    name: &str,
    row: &Row,
    c: usize,
    known: &[Vec<u8>],
    mode: EnumMode,
) -> usize {
    let start = |out: &mut Vec<u8>| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&row.prefix);
    };
    match &row.cells[c] {
        Cell::Absent => 0,
        Cell::Line(rest) => {
            start(out);
            out.extend_from_slice(rest);
            1
        }
        Cell::Value(v) => {
            start(out);
            out.extend_from_slice(b"} ");
            push_value(out, *v);
            out.push(b'\n');
            1
        }
        Cell::Known(current) => {
            let mut written = 0;
            for (i, pair) in known.iter().enumerate() {
                if i != *current && mode == EnumMode::Current {
                    continue;
                }
                start(out);
                out.extend_from_slice(pair);
                out.extend_from_slice(if i == *current { b"1\n" } else { b"0\n" });
                written += 1;
            }
            written
        }
        Cell::Unknown(rest) => {
            let mut written = 1;
            if mode == EnumMode::All {
                for pair in known {
                    start(out);
                    out.extend_from_slice(pair);
                    out.extend_from_slice(b"0\n");
                }
                written += known.len();
            }
            start(out);
            out.extend_from_slice(rest);
            written
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::model::Text;
    use crate::collect::phone_numbers::convert;

    fn n(phone: Option<&str>, f: impl FnOnce(&mut PhoneNumber)) -> PhoneNumber {
        let mut p = PhoneNumber {
            phone_number: phone.map(Text::from),
            verified_name: Some("Name".into()),
            status: Some("CONNECTED".into()),
            quality_rating: Some("GREEN".into()),
            messaging_limit_tier: Some("TIER_1K".into()),
            code_verification_status: Some("VERIFIED".into()),
            name_status: Some("Approval".into()),
            new_name_status: None,
            status_callback_url: true,
            up_callback_url: false,
            is_official: Some("N".into()),
        };
        f(&mut p);
        p
    }

    /// A fleet with every awkward input the conversion handles, plus enough plain numbers
    /// to span several blocks.
    fn fleet() -> Vec<PhoneNumber> {
        let mut v = vec![
            n(Some("1"), |p| {
                p.verified_name = Some("Quote \"q\" back\\slash\nnew line 🎉 } 1\n".into())
            }),
            n(Some("1"), |p| p.verified_name = Some("duplicate".into())),
            n(None, |_| {}),
            n(Some("   "), |_| {}),
            n(Some("  2  "), |p| {
                p.status = Some("SUSPENDED \"x\"\\".into());
                p.quality_rating = Some("PURPLE".into());
                p.messaging_limit_tier = Some("TIER_42".into());
                p.name_status = Some("AVAILABLE_WITHOUT_REVIEW".into());
                p.new_name_status = Some("Pending_Review".into());
                p.up_callback_url = true;
            }),
            n(Some("3"), |p| {
                p.verified_name = Some("x".repeat(300).into());
                p.status = None;
                p.quality_rating = Some("  ".into());
                p.messaging_limit_tier = Some("UNLIMITED".into());
                p.is_official = None;
            }),
            n(Some("4"), |p| p.messaging_limit_tier = Some("NEG".into())),
            n(Some("5"), |p| p.messaging_limit_tier = Some("BIG".into())),
            n(Some("6"), |p| p.messaging_limit_tier = Some("NAN".into())),
            n(Some("7"), |p| {
                p.messaging_limit_tier = Some("NEGZERO".into())
            }),
        ];
        for i in 0..1500 {
            v.push(n(
                Some(&format!("65{:09}", i * 7919 % 1_000_000_000)),
                |p| {
                    p.quality_rating = Some(["GREEN", "YELLOW", "RED"][i % 3].into());
                    p.status_callback_url = i % 2 == 0;
                },
            ));
        }
        v
    }

    const NOTE: &str = "note \\ with\nnewline";

    fn tiers() -> TierLimits {
        TierLimits::with_overrides(&BTreeMap::from([
            ("NEG".to_owned(), f64::NEG_INFINITY),
            ("BIG".to_owned(), 1e21),
            ("NAN".to_owned(), f64::NAN),
            ("NEGZERO".to_owned(), -0.0),
        ]))
    }

    /// Equality with the first differing line on failure, not megabytes of bytes.
    fn same_text(got: &[u8], want: &[u8]) {
        let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
        if let Some((g, w)) = got.lines().zip(want.lines()).find(|(g, w)| g != w) {
            panic!("first difference:\n got: {g:?}\nwant: {w:?}");
        }
        assert_eq!(got.lines().count(), want.lines().count());
        assert!(got == want);
    }

    fn old_path(account: &str, numbers: &[PhoneNumber]) -> (Vec<u8>, Report) {
        let (families, report) = convert(account, numbers, &tiers(), NOTE, EnumMode::All);
        let text = AccountExposition::render(&families).unwrap().to_text();
        (text, report)
    }

    #[test]
    fn fast_render_is_byte_for_byte_the_encoder_path() {
        let numbers = fleet();
        for account in ["shop-a", "we\"ird\\acc\nount"] {
            let (want, want_report) = old_path(account, &numbers);
            let mut writer = BlockWriter::new(None);
            let (got, report) = render(
                account,
                &numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut writer,
            );
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
            assert_eq!(
                got.series(),
                want.iter().filter(|b| **b == b'\n').count() - 20,
                "10 families, 2 header lines each"
            );
            assert!(writer.compressed > 30, "several blocks per family");
        }
        let empty = render(
            "a",
            &[],
            &tiers(),
            "n",
            EnumMode::All,
            &mut BlockWriter::new(None),
        );
        assert!(empty.0.to_text().is_empty());
    }

    #[test]
    fn current_mode_keeps_only_the_current_states_byte_for_byte() {
        let numbers = fleet();
        let (families, _) = convert("a", &numbers, &tiers(), NOTE, EnumMode::Current);
        let want = AccountExposition::render(&families).unwrap().to_text();
        let (got, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::Current,
            &mut BlockWriter::new(None),
        );
        same_text(&got.to_text(), &want);
        let text = String::from_utf8(want).unwrap();
        let status = |line: &&str| line.starts_with("chatapp_phone_number_status{");
        let statuses: Vec<&str> = text.lines().filter(status).collect();
        // One series per number with a status (number 3 has none), each the current one.
        assert_eq!(statuses.len(), 1500 + 6, "{}", statuses.len());
        assert!(statuses.iter().all(|l| l.ends_with("} 1")));
        assert!(text.contains(r#"status="SUSPENDED \"x\"\\"} 1"#));
        let (all, _) = old_path("a", &numbers);
        assert!(all.len() > 3 * text.len() / 2, "all mode is much larger");
    }

    #[test]
    fn a_changed_number_recompresses_only_its_blocks() {
        let mut numbers = fleet();
        let (first, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::All,
            &mut BlockWriter::new(None),
        );
        let mut writer = BlockWriter::new(Some(&first));
        let (same, _) = render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer);
        assert_eq!(same.to_text(), first.to_text());
        assert_eq!(writer.compressed, 0);

        numbers[700].quality_rating = Some("RED".into());
        numbers.push(n(Some("65999999999"), |_| {}));
        let mut writer = BlockWriter::new(Some(&same));
        let (changed, _) = render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer);
        same_text(&changed.to_text(), &old_path("a", &numbers).0);
        assert!(
            writer.compressed <= 2 * 10 && writer.reused > 10 * writer.compressed,
            "{writer:?}"
        );
    }

    #[test]
    fn fast_render_matches_on_the_api_fixtures() {
        for name in ["full", "seed"] {
            let path = format!(
                "{}/tests/fixtures/api/query-chatapp-phone-numbers.{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let body = std::fs::read(&path).unwrap();
            let r: crate::collect::phone_numbers::PhoneNumbersResponse =
                serde_json::from_slice(&body).unwrap();
            let (want, want_report) = old_path("shop", &r.phone_numbers);
            let (got, report) = render(
                "shop",
                &r.phone_numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut BlockWriter::new(None),
            );
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
        }
    }
}
