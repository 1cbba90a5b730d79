//! What a person sees of the fleet, defined once: the numbers table and the collectors' own
//! tables, as columns, for the landing page ([`html`]), the `--once` terminal table
//! ([`term`]) and the `--once` JSON document ([`json`]).
//!
//! Collectors contribute, as data beside their metric families, what they learned for
//! people ([`Facts`]): cells of the numbers table under columns they declare (the
//! phone-number list gives names, status, quality, tier; a per-number collector adds its own),
//! notes under a number (Meta's errors), their verdict on how bad a number's state is, and
//! rows of tables of their own (what needs attention). The store keeps the facts
//! in the same slot as the families, so the view is built from the same snapshot as
//! `/metrics`, once per change, never by calling the API. [`Layout`] is every registered
//! collector's columns, notes and tables in registry order: a new collector's columns
//! appear on every surface without a change here. This module is a leaf: plain data,
//! merging and ordering; the renderers beside it are pure functions of it.

pub mod html;
pub mod json;
pub mod term;

use std::cmp::Reverse;
use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::Serialize;

/// Where a value is shown: the renderers of a column may differ (the terminal has less room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The landing page.
    Html,
    /// The `--once` table.
    Terminal,
}

/// A value of a cell. Numbers stay numbers in the JSON document (an infinite one, an
/// unlimited tier, is `null` there).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Text, as the API sent it (label-cleaned).
    Text(CompactString),
    /// A number.
    Number(f64),
    /// A number out of another (sent of the messaging limit, delivered of sent): in the
    /// JSON document `{"value": .., "of": ..}`.
    Of {
        /// The part.
        value: f64,
        /// The whole.
        of: f64,
    },
}

impl Value {
    /// A text value.
    pub fn text(s: impl AsRef<str>) -> Self {
        Value::Text(CompactString::new(s))
    }

    /// The text, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            Value::Number(_) | Value::Of { .. } => None,
        }
    }
}

/// How a column's value reads on a surface.
pub type Show = fn(&Value, Surface) -> String;

/// A column of the numbers table or of a collector's table, as data.
#[derive(Debug)]
pub struct Column {
    /// The key in the JSON document.
    pub key: &'static str,
    /// The header on the landing page.
    pub title: &'static str,
    /// The header in the terminal, or `None` to leave the column out there (the JSON
    /// document still has it).
    pub term: Option<&'static str>,
    /// Right-aligned (a number).
    pub numeric: bool,
    /// How a value reads.
    pub show: Show,
    /// Shown on the landing page (else only in the JSON document and, with `term`, the
    /// terminal).
    pub page: bool,
}

impl Column {
    /// A column of text shown as it is, left-aligned; `term` is its terminal header.
    pub const fn text(key: &'static str, title: &'static str, term: Option<&'static str>) -> Self {
        Column {
            key,
            title,
            term,
            numeric: false,
            show: show_plain,
            page: true,
        }
    }
}

impl Column {
    /// A number for the JSON document only (a Unix time, say).
    pub const fn json_number(key: &'static str) -> Self {
        Column {
            key,
            title: key,
            term: None,
            numeric: true,
            show: show_plain,
            page: false,
        }
    }
}

/// [`Column::show`] for plain text and numbers as they are, a part of a whole as
/// `part / whole`.
pub fn show_plain(v: &Value, _: Surface) -> String {
    match v {
        Value::Text(t) => t.to_string(),
        Value::Number(n) => format!("{n}"),
        Value::Of { value, of } => format!("{value} / {of}"),
    }
}

/// [`Column::show`] for a share: `95%` (on the page also `(114 of 120)`); a plain number as
/// it is.
pub fn show_share(v: &Value, surface: Surface) -> String {
    match (v, surface) {
        (Value::Of { value, of }, _) if *of <= 0.0 => format!("{value:.0} of 0"),
        (Value::Of { value, of }, Surface::Terminal) => format!("{:.0}%", 100.0 * value / of),
        (Value::Of { value, of }, Surface::Html) => {
            format!("{:.0}% ({value:.0} of {of:.0})", 100.0 * value / of)
        }
        _ => show_plain(v, surface),
    }
}

/// [`Column::show`] for a count against a limit: `9000 / 10000 (90%)` (the terminal has no
/// room for the share); a plain count as it is.
pub fn show_against(v: &Value, surface: Surface) -> String {
    match (v, surface) {
        (Value::Of { value, of }, Surface::Html) if *of > 0.0 => {
            format!("{value:.0} / {of:.0} ({:.0}%)", 100.0 * value / of)
        }
        (Value::Of { value, of }, _) => format!("{value:.0}/{of:.0}"),
        (Value::Number(n), _) => format!("{n:.0}"),
        _ => show_plain(v, surface),
    }
}

/// Columns, note kinds and tables are statics: one is itself and no other, whatever it
/// says (two collectors may declare a `quality` column).
macro_rules! identity_eq {
    ($($t:ty),*) => {$(
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                std::ptr::eq(self, other)
            }
        }
    )*};
}
identity_eq!(Column, NoteKind, TableDef);

/// A kind of note shown under a number ("What Meta says: ...").
#[derive(Debug)]
pub struct NoteKind {
    /// The key of the list in the JSON document.
    pub key: &'static str,
    /// The words in front of the notes.
    pub lead: &'static str,
    /// Shown under the number in the fleet table; else only when the page shows that one
    /// number (`?number=`), and in the JSON document.
    pub in_fleet: bool,
}

/// A table of a collector's own (rows that need attention).
#[derive(Debug)]
pub struct TableDef {
    /// The key in the JSON document, and the `id` of the table on the landing page.
    pub key: &'static str,
    /// The heading.
    pub title: &'static str,
    /// Its columns after the account.
    pub columns: &'static [&'static Column],
    /// What is said of the rows beyond the shown ones: `3 <more>.`
    pub more: &'static str,
}

/// A column of the terminal's numbers table made from a row's cells, where the terminal has
/// no room for a collector's columns one by one (`90%/97%` for sent of the limit and
/// delivered).
#[derive(Debug)]
pub struct TermColumn {
    /// The header.
    pub header: &'static str,
    /// The cell of a row, or `None` (shown `-`).
    pub cell: fn(&NumberRow) -> Option<String>,
}

/// What a collector shows people, declared in its spec.
#[derive(Debug)]
pub struct ViewSpec {
    /// Its columns of the numbers table.
    pub columns: &'static [&'static Column],
    /// Its notes under a number.
    pub notes: &'static [&'static NoteKind],
    /// Its own tables.
    pub tables: &'static [&'static TableDef],
    /// Its terminal-only columns made from its cells.
    pub term_columns: &'static [&'static TermColumn],
}

impl ViewSpec {
    /// Nothing to show.
    pub const NONE: ViewSpec = ViewSpec {
        columns: &[],
        notes: &[],
        tables: &[],
        term_columns: &[],
    };
}

/// Every registered collector's columns, notes and tables, in registry order.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Columns of the numbers table after state, account and phone number.
    pub columns: Vec<&'static Column>,
    /// Kinds of notes under a number.
    pub notes: Vec<&'static NoteKind>,
    /// The collectors' own tables.
    pub tables: Vec<&'static TableDef>,
    /// Terminal-only columns of the numbers table.
    pub term_columns: Vec<&'static TermColumn>,
}

impl Layout {
    /// The layout of these views, in order.
    pub fn of<'a>(views: impl IntoIterator<Item = &'a ViewSpec>) -> Self {
        let mut layout = Layout::default();
        for v in views {
            layout.columns.extend(v.columns);
            layout.notes.extend(v.notes);
            layout.tables.extend(v.tables);
            layout.term_columns.extend(v.term_columns);
        }
        layout
    }
}

/// How bad a number's state is, worst last (so `max` is the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to see.
    Ok,
    /// Quality YELLOW: a warning from Meta.
    Yellow,
    /// Meta says sending is LIMITED.
    Limited,
    /// Quality RED: FLAGGED follows if it stays.
    Red,
    /// FLAGGED, RESTRICTED or another state that caps or stops sending.
    Flagged,
    /// Cannot send at all: Meta says BLOCKED, or the number is BANNED.
    Blocked,
}

impl Severity {
    /// The word for the marker column and the `data-severity` attribute.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Yellow => "yellow",
            Severity::Limited => "limited",
            Severity::Red => "red",
            Severity::Flagged => "flagged",
            Severity::Blocked => "blocked",
        }
    }
}

/// A collector's judgement of a number: how bad, and the word that says it (`BLOCKED`,
/// `FLAGGED`, `RED`...), shown beside the colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// How bad.
    pub severity: Severity,
    /// The word.
    pub word: CompactString,
}

/// A value under one of the collector's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Its column.
    pub column: &'static Column,
    /// Its value.
    pub value: Value,
}

/// A note under a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Its kind.
    pub kind: &'static NoteKind,
    /// Its text.
    pub text: String,
}

/// What one collector knows of one number.
///
/// The store keeps one per number and collector for as long as it serves them, so the
/// short words (a phone number, CONNECTED, GREEN, TIER_10K, most verified names) are
/// [`CompactString`]s held inline (up to 24 bytes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberFacts {
    /// The phone number, as the `phone_number` label.
    pub phone_number: CompactString,
    /// The collector's judgement, if it has one.
    pub verdict: Option<Verdict>,
    /// Its cells, under its own columns.
    pub cells: Vec<Cell>,
    /// Its notes.
    pub notes: Vec<Note>,
}

/// A row of a collector's table; `cells` follow the table's columns (`None`: not known).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Lower comes first (the most urgent rows).
    pub rank: u8,
    /// The values.
    pub cells: Vec<Option<Value>>,
}

/// A collector's rows of one of its tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRows {
    /// The table.
    pub table: &'static TableDef,
    /// The rows.
    pub rows: Vec<Row>,
}

/// What one collector learned about one account, for people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Numbers (each collector fills the cells it knows).
    pub numbers: Vec<NumberFacts>,
    /// Rows of the collector's own tables.
    pub tables: Vec<TableRows>,
}

/// One number of the fleet view: every collector's cells and notes merged.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRow {
    /// The `account` label.
    pub account: String,
    /// How bad it is: the worst verdict.
    pub severity: Severity,
    /// The word of the worst verdict (`OK` without any).
    pub marker: CompactString,
    /// The phone number.
    pub phone_number: CompactString,
    /// Every collector's cells.
    pub cells: Vec<Cell>,
    /// Every collector's notes.
    pub notes: Vec<Note>,
}

impl NumberRow {
    /// The value under `column`, if any collector gave one.
    pub fn value(&self, column: &Column) -> Option<&Value> {
        self.cells
            .iter()
            .find(|c| c.column == column)
            .map(|c| &c.value)
    }
}

/// One row of a collector's table in the fleet view.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// The `account` label.
    pub account: String,
    /// The row.
    pub row: Row,
}

/// Every number and every collector table's rows, worst first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    /// Worst first, then by account and number.
    pub numbers: Vec<NumberRow>,
    /// Each table's rows, by table key: by rank, then account and cells.
    pub tables: BTreeMap<&'static str, Vec<TableRow>>,
}

impl Fleet {
    /// Merges the collectors' facts of every account (`parts` in any order; for one
    /// account and number, an earlier part's cell wins a column both fill) and sorts worst
    /// first.
    pub fn build<'a>(parts: impl IntoIterator<Item = (&'a str, &'a Facts)>) -> Fleet {
        let mut numbers: BTreeMap<(&str, &str), NumberRow> = BTreeMap::new();
        let mut tables: BTreeMap<&'static str, Vec<TableRow>> = BTreeMap::new();
        for (account, facts) in parts {
            for n in &facts.numbers {
                numbers
                    .entry((account, n.phone_number.as_str()))
                    .or_insert_with(|| NumberRow {
                        account: account.to_owned(),
                        severity: Severity::Ok,
                        marker: CompactString::const_new("OK"),
                        phone_number: n.phone_number.clone(),
                        cells: Vec::new(),
                        notes: Vec::new(),
                    })
                    .merge(n);
            }
            for t in &facts.tables {
                tables
                    .entry(t.table.key)
                    .or_default()
                    .extend(t.rows.iter().map(|row| TableRow {
                        account: account.to_owned(),
                        row: row.clone(),
                    }));
            }
        }
        let mut numbers: Vec<NumberRow> = numbers.into_values().collect();
        // Stable: within a severity, the map's (account, number) order stays.
        numbers.sort_by_key(|r| Reverse(r.severity));
        for rows in tables.values_mut() {
            rows.sort_by(|a, b| {
                let key = |r: &TableRow| {
                    let cells: Vec<String> = r
                        .row
                        .cells
                        .iter()
                        .map(|c| {
                            c.as_ref()
                                .map(|v| show_plain(v, Surface::Html))
                                .unwrap_or_default()
                        })
                        .collect();
                    (r.row.rank, r.account.clone(), cells)
                };
                key(a).cmp(&key(b))
            });
        }
        Fleet { numbers, tables }
    }

    /// How many numbers have each severity, worst first, leaving out the empty ones.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        counts(&self.numbers)
    }

    /// The rows of `table`.
    pub fn rows(&self, table: &TableDef) -> &[TableRow] {
        self.tables.get(table.key).map_or(&[], Vec::as_slice)
    }
}

impl NumberRow {
    /// Adds what `facts` knows: cells of columns not filled yet, its notes, and its verdict
    /// when it is worse than the row's.
    fn merge(&mut self, facts: &NumberFacts) {
        for cell in &facts.cells {
            if self.value(cell.column).is_none() {
                self.cells.push(cell.clone());
            }
        }
        self.notes.extend(facts.notes.iter().cloned());
        if let Some(v) = &facts.verdict
            && (v.severity > self.severity || self.marker == "OK" && v.severity == self.severity)
        {
            self.severity = v.severity;
            self.marker = v.word.clone();
        }
    }
}

/// How many of `rows` have each severity, worst first, leaving out the empty ones.
pub fn counts<'a>(rows: impl IntoIterator<Item = &'a NumberRow>) -> Vec<(Severity, usize)> {
    let mut counts: BTreeMap<Reverse<Severity>, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(Reverse(r.severity)).or_default() += 1;
    }
    counts.into_iter().map(|(Reverse(s), n)| (s, n)).collect()
}

/// [`counts`] in words, as the landing page and `--once` print them: `1 blocked, 3 ok`.
pub fn describe(counts: &[(Severity, usize)]) -> String {
    let words: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.word()))
        .collect();
    words.join(", ")
}

/// Text from the API made safe to show in a terminal or a log: control characters
/// (escape sequences, line breaks) and the invisible formatting characters that reorder or
/// hide text (bidi overrides and isolates, zero-width joiners are kept only inside emoji)
/// become U+FFFD, so a hostile verified name cannot move the cursor, break a line or make
/// the text read backwards.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if is_unsafe(c) { '\u{FFFD}' } else { c })
        .collect()
}

pub use crate::wire::is_unsafe_char as is_unsafe;

/// Columns and notes for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Column, NoteKind};

    pub static NAME: Column = Column::text("verified_name", "Verified name", Some("VERIFIED NAME"));
    pub static STATUS: Column = Column::text("status", "Status", Some("STATUS"));
    pub static CAN_SEND: Column = Column::text("can_send", "Can send", Some("CAN SEND"));
    pub static META: NoteKind = NoteKind {
        key: "problems",
        lead: "What Meta says",
        in_fleet: true,
    };
}

#[cfg(test)]
mod tests {
    use super::fixtures::{CAN_SEND, META, NAME};
    use super::*;
    static TEMPLATES: TableDef = TableDef {
        key: "templates",
        title: "Templates",
        columns: &[&NAME],
        more: "more templates not shown",
    };

    fn number(phone: &str, verdict: Option<(Severity, &str)>, name: Option<&str>) -> NumberFacts {
        NumberFacts {
            phone_number: phone.into(),
            verdict: verdict.map(|(severity, word)| Verdict {
                severity,
                word: word.into(),
            }),
            cells: name
                .map(|n| Cell {
                    column: &NAME,
                    value: Value::text(n),
                })
                .into_iter()
                .collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn verdicts_merge_to_the_worst_and_cells_to_the_first() {
        use Severity::*;
        let list = Facts {
            numbers: vec![
                number("1", Some((Ok, "OK")), Some("one")),
                number("2", Some((Yellow, "YELLOW")), None),
                number("3", Some((Red, "RED")), None),
                number("4", Some((Flagged, "FLAGGED")), None),
                number("5", Some((Flagged, "RESTRICTED")), None),
                number("6", Some((Ok, "OK")), None),
                number("7", Some((Red, "RED")), None),
            ],
            tables: vec![],
        };
        let health = Facts {
            numbers: vec![
                NumberFacts {
                    notes: vec![Note {
                        kind: &META,
                        text: "business not verified".into(),
                    }],
                    cells: vec![Cell {
                        column: &CAN_SEND,
                        value: Value::text("BLOCKED"),
                    }],
                    ..number("6", Some((Blocked, "BLOCKED")), None)
                },
                number("1", Some((Limited, "LIMITED")), Some("another name")),
            ],
            tables: vec![],
        };
        let fleet = Fleet::build([("a", &list), ("a", &health)]);
        let order: Vec<(&str, &str)> = fleet
            .numbers
            .iter()
            .map(|r| (r.phone_number.as_str(), r.marker.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("6", "BLOCKED"),
                ("4", "FLAGGED"),
                ("5", "RESTRICTED"),
                ("3", "RED"),
                ("7", "RED"),
                ("1", "LIMITED"),
                ("2", "YELLOW"),
            ]
        );
        let six = &fleet.numbers[0];
        assert_eq!(six.value(&CAN_SEND), Some(&Value::text("BLOCKED")));
        assert_eq!(six.notes[0].text, "business not verified");
        assert_eq!(fleet.numbers[5].value(&NAME), Some(&Value::text("one")));
        assert_eq!(
            describe(&fleet.counts()),
            "1 blocked, 2 flagged, 2 red, 1 limited, 1 yellow"
        );
    }

    #[test]
    fn the_same_number_in_two_accounts_is_two_rows_and_tables_sort_by_rank() {
        let rows = |ranks: &[(u8, &str)]| TableRows {
            table: &TEMPLATES,
            rows: ranks
                .iter()
                .map(|(rank, name)| Row {
                    rank: *rank,
                    cells: vec![Some(Value::text(name))],
                })
                .collect(),
        };
        let a = Facts {
            numbers: vec![number("1", None, None)],
            tables: vec![rows(&[(1, "b"), (0, "z")])],
        };
        let fleet = Fleet::build([("x", &a), ("w", &a)]);
        assert_eq!(fleet.numbers.len(), 2);
        assert_eq!(fleet.numbers[0].account, "w");
        assert_eq!(fleet.numbers[0].marker, "OK");
        let order: Vec<(&str, Option<&Value>)> = fleet
            .rows(&TEMPLATES)
            .iter()
            .map(|t| (t.account.as_str(), t.row.cells[0].as_ref()))
            .collect();
        let z = Value::text("z");
        let b = Value::text("b");
        assert_eq!(
            order,
            [
                ("w", Some(&z)),
                ("x", Some(&z)),
                ("w", Some(&b)),
                ("x", Some(&b))
            ]
        );
    }

    #[test]
    fn control_and_bidi_characters_cannot_reach_a_terminal() {
        assert_eq!(printable("A\x1b[2Jb\nc"), "A\u{FFFD}[2Jb\u{FFFD}c");
        assert_eq!(printable("abc\u{202E}fed"), "abc\u{FFFD}fed");
        assert_eq!(printable("x\u{85}y\u{2066}z"), "x\u{FFFD}y\u{FFFD}z");
        // Emoji sequences keep their joiners and variation selectors.
        assert_eq!(printable("❤️ 👩‍👩‍👧"), "❤️ 👩‍👩‍👧");
    }
}
