//! The one renderer every collector's families go through: families described as data, rows
//! of values written straight to text, in blocks the store can reuse.
//!
//! A collector declares each group of families that share their identifying labels as a
//! [`Table`]: the label names (`account`, `phone_number`, ...) and one [`Series`] per family
//! (an `_info` family with its further labels, a StateSet, a gauge), in exposition order.
//! Rendering is then a loop over the collector's objects giving each one's label values and
//! a [`Cell`] per family ([`Rows::row`]). What the `prometheus` crate's encoder did with one
//! `Metric` of owned label strings per series is done here once per row: the row's labels
//! are escaped once and reused for every series, a StateSet's known states once per table,
//! and the lines go straight into per-family text; a templates run of 5,000 templates built
//! 55,000 `Metric`s and their strings before (+33 to +42 MiB of transient heap, bench/README.md).
//!
//! The output is byte for byte the encoder's (`AccountExposition::render` over the
//! `prometheus::proto` families the same rows make): label order as given, the encoder's
//! escaping and number spelling (`text`, property-tested against it), families without
//! series left out. The tests below check the whole renderer against the encoder on
//! arbitrary label values; each collector's golden file checks its conversion.
//!
//! Rows are cut into blocks (see [`BLOCK_SPREAD`]) that a [`BlockWriter`] seeded with the
//! previous rendering reuses when unchanged, so a run that changed little compresses
//! little, and the store rebuilds nothing for a family that did not change.

use std::hash::Hasher as _;

use super::exposition::{
    AccountExposition, Block, BlockWriter, FamilyText, push_gauge_header, push_label,
    push_label_value, push_value,
};
use super::family::{EnumMode, FamilyDef, StateSetDef, UnknownValue, label_str};

/// Average rows per block: a block ends after a row whose labels hash to 0 modulo this.
/// Boundaries so depend only on the row itself, not on its position: a row added or removed
/// changes one block per family, and every other block is found unchanged and reused.
const BLOCK_SPREAD: u64 = 64;
/// Most rows in one block (bounds a block's size when hashes happen not to cooperate).
const BLOCK_MAX: usize = 256;

/// How one family's series come from one row. Every series carries the table's labels
/// first.
#[derive(Debug, Clone, Copy)]
pub enum Series {
    /// An `_info` family: one series of value 1 with these further labels ([`Cell::Info`]
    /// gives their values).
    Info(&'static FamilyDef, &'static [&'static str]),
    /// A StateSet ([`Cell::State`] gives the current state): every known state, 0 or 1,
    /// plus an unknown current state, or under [`EnumMode::Current`] the current one only.
    States(&'static StateSetDef),
    /// One gauge ([`Cell::Value`]).
    Gauge(&'static FamilyDef),
}

impl Series {
    /// The family.
    pub const fn family(&self) -> &'static FamilyDef {
        match self {
            Series::Info(def, _) | Series::Gauge(def) => def,
            Series::States(def) => &def.family,
        }
    }
}

/// Families that share their identifying labels, as data.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    /// The labels every series starts with, in order.
    pub labels: &'a [&'static str],
    /// The families, in exposition order.
    pub series: &'a [Series],
}

impl Table<'_> {
    /// The families, in order.
    pub fn families(&self) -> impl Iterator<Item = &'static FamilyDef> + '_ {
        self.series.iter().map(Series::family)
    }
}

/// The families of `tables`, in order: a collector's `FAMILIES`, declared once with its
/// tables. `N` is their number (checked when compiling).
pub const fn families<const N: usize>(tables: &[Table<'static>]) -> [&'static FamilyDef; N] {
    assert!(
        !tables.is_empty() && !tables[0].series.is_empty(),
        "no family"
    );
    let mut out = [tables[0].series[0].family(); N];
    let mut k = 0;
    let mut t = 0;
    while t < tables.len() {
        let series = tables[t].series;
        let mut i = 0;
        while i < series.len() {
            assert!(k < N, "more families than N");
            out[k] = series[i].family();
            k += 1;
            i += 1;
        }
        t += 1;
    }
    assert!(k == N, "fewer families than N");
    out
}

/// What one row gives one family.
#[derive(Debug, Clone, Copy, Default)]
pub enum Cell<'a> {
    /// No series.
    #[default]
    Absent,
    /// An `_info` series: the values of its further labels, in the [`Series::Info`] order
    /// (written as given: callers pass them through [`label_str`] or an equivalent).
    Info(&'a [&'a str]),
    /// A StateSet's current state, as the API sent it (trimmed and capped here, as
    /// [`crate::metrics::family::push_state_set`] does).
    State(&'a str),
    /// A gauge's value.
    Value(f64),
}

impl<'a> Cell<'a> {
    /// [`Cell::State`], or [`Cell::Absent`] without a value.
    pub fn state(value: Option<&'a str>) -> Self {
        value.map_or(Cell::Absent, Cell::State)
    }

    /// [`Cell::Value`], or [`Cell::Absent`] without a value.
    pub fn value(value: Option<f64>) -> Self {
        value.map_or(Cell::Absent, Cell::Value)
    }
}

/// Renders tables into one [`AccountExposition`].
pub struct Renderer<'w> {
    writer: &'w mut BlockWriter,
    note: &'w str,
    mode: EnumMode,
    out: AccountExposition,
    unknown: Vec<UnknownValue>,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("series", &self.out.series())
            .finish_non_exhaustive()
    }
}

impl<'w> Renderer<'w> {
    /// A renderer whose blocks come from `writer`, whose HELP texts end with `note` (how
    /// often the families are refreshed), exporting StateSets in `mode`.
    pub fn new(writer: &'w mut BlockWriter, note: &'w str, mode: EnumMode) -> Self {
        Renderer {
            writer,
            note,
            mode,
            out: AccountExposition::default(),
            unknown: Vec::new(),
        }
    }

    /// Appends `table`'s families, their rows given by `fill`.
    pub fn table(&mut self, table: &Table<'_>, fill: impl FnOnce(&mut Rows<'_, '_>)) {
        let n = table.series.len();
        let mut rows = Rows {
            table: *table,
            mode: self.mode,
            writer: &mut *self.writer,
            unknown: &mut self.unknown,
            known: table.series.iter().map(known_states).collect(),
            pending: vec![Vec::new(); n],
            blocks: vec![Vec::new(); n],
            series: vec![0; n],
            rows: 0,
            prefix: Vec::new(),
        };
        fill(&mut rows);
        rows.flush();
        let Rows { blocks, series, .. } = rows;
        let mut header = Vec::new();
        for ((s, blocks), series) in table.series.iter().zip(blocks).zip(series) {
            if series == 0 {
                continue;
            }
            let def = s.family();
            header.clear();
            push_gauge_header(
                &mut header,
                def.name,
                &format!("{} {}", def.help, self.note),
            );
            let header = self.writer.block(&header);
            self.out
                .push(FamilyText::new(def.name, header, blocks, series));
        }
    }

    /// The rendering, and the values met outside the StateSets' known states (in row
    /// order, then family order).
    pub fn finish(self) -> (AccountExposition, Vec<UnknownValue>) {
        (self.out, self.unknown)
    }
}

/// The rows of one table being rendered.
pub struct Rows<'r, 't> {
    table: Table<'t>,
    mode: EnumMode,
    writer: &'r mut BlockWriter,
    unknown: &'r mut Vec<UnknownValue>,
    /// Per family: each known state's `label="STATE"`, escaped once (StateSets only).
    known: Vec<Vec<Vec<u8>>>,
    /// Per family: the text of the current block.
    pending: Vec<Vec<u8>>,
    blocks: Vec<Vec<Block>>,
    series: Vec<usize>,
    /// Rows in the current block.
    rows: usize,
    /// The current row's labels, escaped, comma-separated.
    prefix: Vec<u8>,
}

impl std::fmt::Debug for Rows<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Rows<'_, '_> {
    /// Writes one row: `labels` are the values of the table's labels, `cells` one per
    /// family. A cell of the wrong kind for its family writes nothing (a bug the tests of
    /// each collector catch).
    pub fn row(&mut self, labels: &[&str], cells: &[Cell<'_>]) {
        debug_assert_eq!(labels.len(), self.table.labels.len());
        debug_assert_eq!(cells.len(), self.table.series.len());
        self.prefix.clear();
        let mut hash = fnv::FnvHasher::default();
        for (i, (name, value)) in self.table.labels.iter().zip(labels).enumerate() {
            if i > 0 {
                self.prefix.push(b',');
            }
            push_label(&mut self.prefix, name, value);
            hash.write(value.as_bytes());
            hash.write_u8(0xff);
        }
        for (c, (series, cell)) in self.table.series.iter().zip(cells).enumerate() {
            let line = Line {
                out: &mut self.pending[c],
                name: series.family().name,
                prefix: &self.prefix,
            };
            self.series[c] += match (series, cell) {
                (_, Cell::Absent) => 0,
                (Series::Info(_, names), Cell::Info(values)) => {
                    debug_assert_eq!(names.len(), values.len());
                    line.info(names, values)
                }
                (Series::Gauge(_), Cell::Value(v)) => line.value(*v),
                (Series::States(def), Cell::State(v)) => {
                    let v = label_str(v);
                    let current = def.known.iter().position(|k| *k == v);
                    if current.is_none() {
                        self.unknown.push(UnknownValue {
                            field: def.field,
                            value: v.to_owned(),
                        });
                    }
                    line.states(def.label, &self.known[c], current, v, self.mode)
                }
                _ => {
                    debug_assert!(false, "a {cell:?} cell for {series:?}");
                    0
                }
            };
        }
        self.rows += 1;
        if hash.finish() % BLOCK_SPREAD == 0 || self.rows >= BLOCK_MAX {
            self.flush();
        }
    }

    /// Ends the current block of every family.
    fn flush(&mut self) {
        for (text, blocks) in self.pending.iter_mut().zip(&mut self.blocks) {
            if !text.is_empty() {
                blocks.push(self.writer.block(text));
                text.clear();
            }
        }
        self.rows = 0;
    }
}

/// Each known state's `label="STATE"`, escaped, for a StateSet; nothing for other families.
fn known_states(series: &Series) -> Vec<Vec<u8>> {
    match series {
        Series::States(def) => def
            .known
            .iter()
            .map(|state| {
                let mut pair = Vec::new();
                push_label(&mut pair, def.label, state);
                pair
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes sample lines of one family for one row.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    name: &'a str,
    /// The row's labels, escaped.
    prefix: &'a [u8],
}

impl Line<'_> {
    /// `name{prefix` (or `name` alone when the row has no labels); returns whether a label
    /// was written.
    fn start(&mut self) -> bool {
        self.out.extend_from_slice(self.name.as_bytes());
        if self.prefix.is_empty() {
            return false;
        }
        self.out.push(b'{');
        self.out.extend_from_slice(self.prefix);
        true
    }

    /// Ends a line whose labels were opened (`labelled`) with `value`.
    fn end(&mut self, labelled: bool, value: &[u8]) {
        if labelled {
            self.out.push(b'}');
        }
        self.out.push(b' ');
        self.out.extend_from_slice(value);
        self.out.push(b'\n');
    }

    /// A separator before one more label: `{` for the first, `,` after others.
    fn more(&mut self, labelled: bool) {
        self.out.push(if labelled { b',' } else { b'{' });
    }

    fn info(mut self, names: &[&str], values: &[&str]) -> usize {
        let mut labelled = self.start();
        for (name, value) in names.iter().zip(values) {
            self.more(labelled);
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"=\"");
            push_label_value(self.out, value);
            self.out.push(b'"');
            labelled = true;
        }
        self.end(labelled, b"1");
        1
    }

    fn value(mut self, v: f64) -> usize {
        let labelled = self.start();
        if labelled {
            self.out.push(b'}');
        }
        self.out.push(b' ');
        push_value(self.out, v);
        self.out.push(b'\n');
        1
    }

    /// The StateSet's lines: `known` are its states' escaped pairs, `current` the index of
    /// the current state among them, else `value` is an unknown current state.
    fn states(
        mut self,
        label: &str,
        known: &[Vec<u8>],
        current: Option<usize>,
        value: &str,
        mode: EnumMode,
    ) -> usize {
        let mut written = 0;
        for (i, pair) in known.iter().enumerate() {
            let is_current = current == Some(i);
            if !is_current && mode == EnumMode::Current {
                continue;
            }
            let labelled = self.start();
            self.more(labelled);
            self.out.extend_from_slice(pair);
            self.end(true, if is_current { b"1" } else { b"0" });
            written += 1;
        }
        if current.is_none() {
            let labelled = self.start();
            self.more(labelled);
            push_label(self.out, label, value);
            self.end(true, b"1");
            written += 1;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use prometheus::proto::MetricFamily;
    use proptest::prelude::*;

    use super::*;
    use crate::metrics::family::{family, gauge, push_state_set};

    const INFO: FamilyDef = FamilyDef {
        name: "x_info",
        help: "Info \"x\"\\ with\nnewline.",
    };
    const STATE: StateSetDef = StateSetDef {
        family: FamilyDef {
            name: "x_state",
            help: "State.",
        },
        field: "State",
        label: "state",
        known: &["A", "B \"quoted\"", "C\\"],
    };
    const VALUE: FamilyDef = FamilyDef {
        name: "x_value",
        help: "",
    };
    const SERIES: &[Series] = &[
        Series::Info(&INFO, &["name", "kind"]),
        Series::States(&STATE),
        Series::Gauge(&VALUE),
    ];

    /// One row: its labels and what each family gets.
    #[derive(Debug, Clone)]
    struct Row {
        labels: Vec<String>,
        info: Option<[String; 2]>,
        state: Option<String>,
        value: Option<f64>,
    }

    /// What the library's encoder writes for the same rows: one `Metric` per series.
    fn oracle(
        label_names: &[&'static str],
        rows: &[Row],
        note: &str,
        mode: EnumMode,
    ) -> (Vec<u8>, Vec<UnknownValue>) {
        let [mut info, mut state, mut value]: [MetricFamily; 3] =
            [&INFO, &STATE.family, &VALUE].map(|d| family(d, note));
        let mut unknown = Vec::new();
        for r in rows {
            let base: Vec<(&str, &str)> = label_names
                .iter()
                .copied()
                .zip(r.labels.iter().map(String::as_str))
                .collect();
            if let Some([name, kind]) = &r.info {
                let mut labels = base.clone();
                labels.extend([("name", name.as_str()), ("kind", kind.as_str())]);
                info.mut_metric().push(gauge(&labels, 1.0));
            }
            unknown.extend(push_state_set(
                state.mut_metric(),
                &STATE,
                &base,
                r.state.as_deref(),
                mode,
            ));
            if let Some(v) = r.value {
                value.mut_metric().push(gauge(&base, v));
            }
        }
        let text = AccountExposition::render(&[info, state, value])
            .unwrap()
            .to_text();
        (text, unknown)
    }

    fn render(
        label_names: &[&'static str],
        rows: &[Row],
        note: &str,
        mode: EnumMode,
        writer: &mut BlockWriter,
    ) -> (AccountExposition, Vec<UnknownValue>) {
        let table = Table {
            labels: label_names,
            series: SERIES,
        };
        let mut r = Renderer::new(writer, note, mode);
        r.table(&table, |out| {
            for row in rows {
                let labels: Vec<&str> = row.labels.iter().map(String::as_str).collect();
                let info = row.info.as_ref().map(|[a, b]| [a.as_str(), b.as_str()]);
                out.row(
                    &labels,
                    &[
                        info.as_ref().map_or(Cell::Absent, |v| Cell::Info(v)),
                        Cell::state(row.state.as_deref()),
                        Cell::value(row.value),
                    ],
                );
            }
        });
        r.finish()
    }

    fn awkward() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just(' '),
                    Just('A'),
                    Just('é'),
                    any::<char>(),
                ],
                0..8
            )
            .prop_map(|c| c.into_iter().collect()),
            Just("A".to_owned()),
            Just("B \"quoted\"".to_owned()),
            Just("  C\\ ".to_owned()),
            Just("x".repeat(300)),
        ]
    }

    fn row(labels: usize) -> impl Strategy<Value = Row> {
        (
            proptest::collection::vec(awkward(), labels),
            proptest::option::of((awkward(), awkward())),
            proptest::option::of(awkward()),
            proptest::option::of(prop_oneof![
                any::<f64>(),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(f64::NAN),
                Just(-0.0),
                Just(1e21)
            ]),
        )
            .prop_map(|(labels, info, state, value)| Row {
                labels,
                info: info.map(|(a, b)| [a, b]),
                state,
                value,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn rows_render_as_the_encoder_renders_them(
            labels in 0usize..3,
            rows in proptest::collection::vec(row(2), 0..40),
            note in awkward(),
            current in any::<bool>(),
        ) {
            let rows: Vec<Row> = rows.into_iter().map(|mut r| { r.labels.truncate(labels); r }).collect();
            let names = &["account", "id"][..labels];
            let mode = if current { EnumMode::Current } else { EnumMode::All };
            let (want, want_unknown) = oracle(names, &rows, &note, mode);
            let (got, unknown) = render(names, &rows, &note, mode, &mut BlockWriter::new(None));
            let text = got.to_text();
            prop_assert_eq!(String::from_utf8_lossy(&text), String::from_utf8_lossy(&want));
            prop_assert_eq!(unknown, want_unknown);
            let lines = want.iter().filter(|b| **b == b'\n').count();
            let headers = want.split(|b| *b == b'\n').filter(|l| l.starts_with(b"#")).count();
            prop_assert_eq!(got.series(), lines - headers);
        }
    }

    #[test]
    fn many_rows_make_many_blocks_and_unchanged_ones_are_reused() {
        let rows: Vec<Row> = (0..2000)
            .map(|i| Row {
                labels: vec!["acct".into(), format!("{i:05}")],
                info: Some([format!("name {i}"), "k".into()]),
                state: Some(["A", "C\\", "Z"][i % 3].into()),
                value: Some(i as f64),
            })
            .collect();
        let names = ["account", "id"];
        let (want, _) = oracle(&names, &rows, "n", EnumMode::All);
        let mut writer = BlockWriter::new(None);
        let (first, unknown) = render(&names, &rows, "n", EnumMode::All, &mut writer);
        assert_eq!(first.to_text(), want);
        assert_eq!(unknown.len(), 666, "every Z");
        assert!(writer.compressed > 3 * 10, "{writer:?}");

        let mut changed = rows.clone();
        changed[1000].value = Some(-1.0);
        let mut writer = BlockWriter::new(Some(&first));
        let (second, _) = render(&names, &changed, "n", EnumMode::All, &mut writer);
        assert_eq!(
            second.to_text(),
            oracle(&names, &changed, "n", EnumMode::All).0
        );
        assert_eq!(
            writer.compressed, 1,
            "only the changed value's block: {writer:?}"
        );
    }

    #[test]
    fn a_table_without_rows_renders_nothing() {
        let (out, unknown) = render(&["a"], &[], "n", EnumMode::All, &mut BlockWriter::new(None));
        assert!(out.to_text().is_empty() && unknown.is_empty());
    }
}
