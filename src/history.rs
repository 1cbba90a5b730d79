//! Since when: for each number, when each tracked field (the collectors' [`Tracked`]
//! columns: status, quality rating, messaging-limit tier, can-send) last changed value, and
//! its last [`MAX_CHANGES`] changes, kept across restarts in `--storage.path`.
//!
//! The question a person asks about a FLAGGED or RED number is "since when, and how long do
//! I have": Meta returns a number FLAGGED for low quality to CONNECTED one tier lower when its
//! quality has not recovered within 7 days (exporter-conventions.md, Meta's lifecycle), and
//! Prometheus can answer only where it keeps the history. A field first seen by the exporter
//! is "observed since" then (the HELP texts and the outlook say so).
//!
//! The store is one JSON file, replaced atomically (written beside, synced, renamed, the
//! directory synced), so a kill at any moment leaves the previous state or the new one. A
//! file that does not load is moved aside with a warning and the exporter starts fresh; a
//! path that cannot be written (a read-only root filesystem) is warned about once and the
//! history runs in memory; nothing here stops the exporter from starting. A refresh that
//! changes nothing writes nothing (a number's last sighting is kept to the hour, for the
//! 30-day retention). `--once` reads the file and never writes it; `--demo` keeps it in a
//! temporary directory.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compact_str::CompactString;
use litemap::LiteMap;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::collect::phone_numbers::lower_tier;
use crate::collect::{Tracked, tracked};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Renderer, Series, Table};
use crate::metrics::{AccountExposition, EnumMode, SelfMetrics};
use crate::view::{
    Cell, Column, Facts, Layout, Note, NoteKind, NumberFacts, Row, TableDef, TableRows, Value,
};

/// The store's file in `--storage.path` (per shard: `history-shard-<n>.json`).
pub const FILE: &str = "history.json";
/// Changes kept per number.
pub const MAX_CHANGES: usize = 20;
/// A number not seen for this long is forgotten.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// A number's last sighting is written at most this often when nothing else changed.
pub const SEEN_RESOLUTION: i64 = 3600;
/// Meta's grace for a FLAGGED number: its tier drops if quality has not recovered by then.
pub const FLAGGED_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Version of the file's format.
const VERSION: u32 = 1;

/// The collector slot the history publishes its families and facts in.
pub const SLOT: &str = "history";

/// A tracked field's value and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Field {
    value: CompactString,
    /// Unix seconds.
    since: i64,
    /// True when `since` is the exporter's first sighting, not a change it saw.
    observed: bool,
    /// Whether the collector reporting the field listed the number last time; a number it
    /// no longer lists loses its since series at once (its record stays for the retention).
    #[serde(skip, default = "listed")]
    present: bool,
}

fn listed() -> bool {
    true
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Unix seconds.
    pub at: i64,
    /// The field (`status`, `quality`, ...).
    pub field: CompactString,
    /// The value before.
    pub from: CompactString,
    /// The value after.
    pub to: CompactString,
}

/// What is remembered of one number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Record {
    account: String,
    phone: CompactString,
    /// Unix seconds, to [`SEEN_RESOLUTION`].
    last_seen: i64,
    /// A sorted vector, not a `BTreeMap`: a number has four fields, and a B-tree node is
    /// sized for eleven (about 14 MiB against 5 at 20,000 numbers, heaptrack).
    fields: LiteMap<CompactString, Field>,
    changes: VecDeque<Change>,
}

/// The file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    numbers: Vec<Record>,
}

/// The file as written: the same shape as [`Document`], borrowing the records instead of
/// copying them (a copy of every record doubled the heap a write needed at 10,000 numbers,
/// `cargo bench --bench history`).
#[derive(Serialize)]
struct DocumentRef<'a> {
    version: u32,
    numbers: Vec<&'a Record>,
}

/// How the store is used.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Load `path` if present, write it when something changes.
    ReadWrite(PathBuf),
    /// Load `path` if present, never write (`--once`).
    ReadOnly(PathBuf),
    /// Nothing on disk.
    InMemory,
}

/// The history of every number of this process's accounts.
pub struct History {
    state: Mutex<State>,
    /// Where it is written, while it can be.
    file: Mutex<Option<PathBuf>>,
    /// Writes one at a time, in order.
    writing: Mutex<()>,
    metrics: Option<Arc<SelfMetrics>>,
}

#[derive(Debug, Default)]
struct State {
    numbers: BTreeMap<(String, CompactString), Record>,
    dirty: bool,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field(
                "file",
                &*self.file.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

impl Default for History {
    fn default() -> Self {
        History::open(Mode::InMemory, None)
    }
}

impl History {
    /// Opens the store: loads the file if there is one, moves a broken one aside (warning),
    /// and checks that a writable store's directory can be written (warning once and
    /// running in memory if not). Never fails.
    pub fn open(mode: Mode, metrics: Option<Arc<SelfMetrics>>) -> Self {
        let (path, writes) = match mode {
            Mode::ReadWrite(p) => (Some(p), true),
            Mode::ReadOnly(p) => (Some(p), false),
            Mode::InMemory => (None, false),
        };
        let numbers = path.as_deref().map(load).unwrap_or_default();
        let file = match path {
            Some(p) if writes => writable(&p).then_some(p),
            _ => None,
        };
        History {
            state: Mutex::new(State {
                numbers,
                dirty: false,
            }),
            file: Mutex::new(file),
            writing: Mutex::default(),
            metrics,
        }
    }

    /// Records what a collector reported of `account`'s numbers at `now` (Unix seconds):
    /// the values of its `tracked` columns.
    pub fn observe(&self, account: &str, facts: &Facts, tracked: &[Tracked], now: i64) -> Observed {
        if tracked.is_empty() {
            return Observed::default();
        }
        let mut state = self.lock();
        let mut dirty = false;
        let mut shown = false;
        // Numbers the collector no longer reports lose those fields' series now.
        let reported: std::collections::BTreeSet<&str> = facts
            .numbers
            .iter()
            .map(|n| n.phone_number.as_str())
            .collect();
        let accounts = state
            .numbers
            .range_mut((account.to_owned(), CompactString::default())..)
            .take_while(|((a, _), _)| a == account);
        for ((_, phone), record) in accounts {
            if !reported.contains(phone.as_str()) {
                for t in tracked {
                    if let Some(f) = record.fields.get_mut(t.field) {
                        shown |= f.present;
                        f.present = false;
                    }
                }
            }
        }
        for n in &facts.numbers {
            let record = state
                .numbers
                .entry((account.to_owned(), n.phone_number.clone()))
                .or_insert_with(|| Record {
                    account: account.to_owned(),
                    phone: n.phone_number.clone(),
                    ..Default::default()
                });
            if now - record.last_seen >= SEEN_RESOLUTION {
                record.last_seen = now;
                dirty = true;
            }
            for t in tracked {
                let Some(value) = n
                    .cells
                    .iter()
                    .find(|c| c.column == t.column)
                    .and_then(|c| c.value.as_text())
                else {
                    continue;
                };
                let update = record.update(t.field, value, now);
                dirty |= update.changed;
                shown |= update.shown;
            }
        }
        state.dirty |= dirty;
        Observed {
            write: dirty,
            shown,
        }
    }

    /// Whether [`History::render`] of `account` would differ from its previous rendering
    /// although no observation since then was [`Observed::shown`]: only the ages of the
    /// states that need a person ("FLAGGED for 3h") move with the clock. A fleet whose
    /// numbers are all well, the usual case, is not rendered again at every refresh.
    pub fn shows_ages(&self, account: &str) -> bool {
        records_of(&self.lock(), account).any(|r| abnormal(r).next().is_some())
    }

    /// Writes the store if anything changed since the last write, forgetting numbers not
    /// seen for [`RETENTION`]. Blocking file IO: call it off the async runtime.
    pub fn save(&self, now: i64) {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(path) = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        let bytes = {
            let mut state = self.lock();
            if !state.dirty {
                return;
            }
            let oldest = now - RETENTION.as_secs() as i64;
            state.numbers.retain(|_, r| r.last_seen >= oldest);
            state.dirty = false;
            let doc = DocumentRef {
                version: VERSION,
                numbers: state.numbers.values().collect(),
            };
            serde_json::to_vec(&doc).unwrap_or_default()
        };
        match write_atomically(&path, &bytes) {
            Ok(()) => {
                if let Some(m) = &self.metrics {
                    m.storage_written(SystemTime::now());
                }
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot write the history store; it is kept in memory and written again at the next change");
                self.lock().dirty = true;
                if let Some(m) = &self.metrics {
                    m.storage_write_failed();
                }
            }
        }
    }

    /// `account`'s since families and facts for people, as of `now` (Unix seconds); the
    /// blocks of `previous` (the current rendering) are reused where unchanged.
    pub fn render(
        &self,
        account: &str,
        note: &str,
        now: i64,
        previous: Option<&AccountExposition>,
    ) -> (AccountExposition, Facts) {
        let state = self.lock();
        let records: Vec<&Record> = records_of(&state, account).collect();
        let series = since_series();
        let table = Table {
            labels: &["account", "phone_number"],
            series,
        };
        let mut writer = BlockWriter::new(previous);
        // The since families are gauges: the enum mode does not matter.
        let mut out = Renderer::new(&mut writer, note, EnumMode::All);
        let mut cells = Vec::with_capacity(series.len());
        out.table(&table, |rows| {
            for r in &records {
                cells.clear();
                cells.extend(tracked().map(|t| {
                    let field = r.fields.get(t.field).filter(|f| f.present);
                    render::Cell::value(field.map(|f| f.since as f64))
                }));
                rows.row(&[account, r.phone.as_str()], &cells);
            }
        });
        let facts = facts(&records, now);
        (out.finish().0, facts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `account`'s records, in phone-number order.
fn records_of<'a>(state: &'a State, account: &'a str) -> impl Iterator<Item = &'a Record> {
    state
        .numbers
        .range((account.to_owned(), CompactString::default())..)
        .take_while(move |((a, _), _)| a == account)
        .map(|(_, r)| r)
}

/// The since families of every tracked column, as gauges of the shared renderer (made once:
/// the tracked columns are the registry's).
fn since_series() -> &'static [Series] {
    static SERIES: std::sync::LazyLock<Vec<Series>> =
        std::sync::LazyLock::new(|| tracked().map(|t| Series::Gauge(&t.since)).collect());
    &SERIES
}

/// What [`History::observe`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Something worth writing to the store's file: a state, or a number seen again after
    /// [`SEEN_RESOLUTION`].
    pub write: bool,
    /// Something the account's since series or facts show: a state, or a number listed
    /// again or no longer.
    pub shown: bool,
}

/// What [`Record::update`] changed.
struct Update {
    changed: bool,
    shown: bool,
}

impl Record {
    /// Sets `field` to `value` at `now`.
    fn update(&mut self, field: &str, value: &str, now: i64) -> Update {
        match self.fields.get_mut(field) {
            Some(f) if f.value == value => {
                let shown = !f.present;
                f.present = true;
                Update {
                    changed: false,
                    shown,
                }
            }
            Some(f) => {
                self.changes.push_back(Change {
                    at: now,
                    field: field.into(),
                    from: f.value.clone(),
                    to: value.into(),
                });
                while self.changes.len() > MAX_CHANGES {
                    self.changes.pop_front();
                }
                *f = Field {
                    value: value.into(),
                    since: now,
                    observed: false,
                    present: true,
                };
                Update {
                    changed: true,
                    shown: true,
                }
            }
            None => {
                self.fields.insert(
                    field.into(),
                    Field {
                        value: value.into(),
                        since: now,
                        observed: true,
                        present: true,
                    },
                );
                Update {
                    changed: true,
                    shown: true,
                }
            }
        }
    }
}

/// The states that need a person, with since when, and what comes next. Pure.
fn facts(records: &[&Record], now: i64) -> Facts {
    let mut numbers = Vec::new();
    let mut rows = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.fields.values().any(|f| f.present))
    {
        let cells = tracked()
            .filter_map(|t| {
                let f = r.fields.get(t.field).filter(|f| f.present)?;
                Some(Cell {
                    column: &t.since_column,
                    value: Value::Number(f.since as f64),
                })
            })
            .collect();
        let notes = r
            .changes
            .iter()
            .rev()
            .map(|c| Note {
                kind: &CHANGES,
                text: format!("{} {} {} → {}", time(c.at), c.field, c.from, c.to),
            })
            .collect();
        numbers.push(NumberFacts {
            phone_number: r.phone.clone(),
            verdict: None,
            cells,
            notes,
        });
        if let Some(row) = attention(r, now) {
            rows.push(row);
        }
    }
    Facts {
        numbers,
        tables: vec![TableRows {
            table: &SINCE_TABLE,
            rows,
        }],
    }
}

/// The row of the "since when" table for a number whose state needs a person: its
/// non-normal states with how long they have lasted, and what Meta does next.
fn attention(r: &Record, now: i64) -> Option<Row> {
    let mut states = Vec::new();
    let mut rank = u8::MAX;
    for (f, r_rank) in abnormal(r) {
        let at_least = if f.observed { "at least " } else { "" };
        states.push(format!("{} for {at_least}{}", f.value, age(now - f.since)));
        rank = rank.min(r_rank);
    }
    if states.is_empty() {
        return None;
    }
    Some(Row {
        rank,
        cells: vec![
            Some(Value::text(&r.phone)),
            Some(Value::text(states.join(", "))),
            outlook(r).map(Value::text),
        ],
    })
}

/// The number's listed fields in a state that needs a person, with the rank of its row
/// (a status first).
fn abnormal(r: &Record) -> impl Iterator<Item = (&Field, u8)> {
    const NORMAL: [(&str, &[&str], u8); 3] = [
        ("status", &["CONNECTED"], 0),
        ("quality", &["GREEN", "UNKNOWN"], 1),
        ("can_send", &["AVAILABLE"], 1),
    ];
    NORMAL.into_iter().filter_map(|(name, normal, rank)| {
        let f = r.fields.get(name).filter(|f| f.present)?;
        (!normal.contains(&f.value.as_str())).then_some((f, rank))
    })
}

/// What Meta does next to a FLAGGED number: its tier drops one step 7 days after it was
/// flagged unless quality recovers ("at the latest" when the flagging was not seen, only
/// the first sighting).
pub fn outlook_text(
    status: &str,
    since: i64,
    observed: bool,
    tier: Option<&str>,
) -> Option<String> {
    if status != "FLAGGED" {
        return None;
    }
    let drop_at = since + FLAGGED_GRACE.as_secs() as i64;
    let when = if observed {
        format!("by {} at the latest", time(drop_at))
    } else {
        format!("around {}", time(drop_at))
    };
    Some(match tier.and_then(lower_tier) {
        Some(lower) => {
            format!("the messaging limit drops to {lower} {when} unless quality recovers")
        }
        None => format!("back to CONNECTED at the lowest tier {when} unless quality recovers"),
    })
}

fn outlook(r: &Record) -> Option<String> {
    let status = r.fields.get("status").filter(|f| f.present)?;
    outlook_text(
        &status.value,
        status.since,
        status.observed,
        r.fields.get("tier").map(|t| t.value.as_str()),
    )
}

/// `4d 3h`, `2d`, `5h 20m`, `12m`, `40s`: the two largest units.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A Unix time as RFC 3339 to the minute, UTC.
fn time(at: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(at.max(0) as u64);
    let full = humantime::format_rfc3339_seconds(t).to_string();
    // 2026-12-07T18:00:00Z -> 2026-12-07T18:00Z
    match full.len() {
        20 => format!("{}Z", &full[..16]),
        _ => full,
    }
}

/// A number's recent changes, newest first: shown when the landing page shows that number,
/// and in the JSON document.
pub static CHANGES: NoteKind = NoteKind {
    key: "changes",
    lead: "Changed",
    in_fleet: false,
};

/// The number.
static T_NUMBER: Column = Column::text("phone_number", "Phone number", Some("NUMBER"));
/// Its states that need a person and for how long.
static T_STATE: Column = Column::text("state", "State, for how long", Some("STATE, FOR HOW LONG"));
/// What Meta does next.
static T_NEXT: Column = Column::text("next", "What comes next", Some("WHAT COMES NEXT"));

/// The numbers whose state needs a person: since when, and what comes next.
pub static SINCE_TABLE: TableDef = TableDef {
    key: "since",
    title: "Since when",
    columns: &[&T_NUMBER, &T_STATE, &T_NEXT],
    more: "more numbers not shown",
};

/// The collectors' layout plus the history's: the since times (JSON), the changes and the
/// "since when" table.
pub fn layout() -> Layout {
    let mut layout = crate::collect::layout();
    layout.columns.extend(tracked().map(|t| &t.since_column));
    layout.notes.push(&CHANGES);
    layout.tables.push(&SINCE_TABLE);
    layout
}

/// The file of a process: `history.json`, or per shard `history-shard-<n>.json` so that
/// shards sharing a directory do not overwrite each other.
pub fn file_in(dir: &Path, shard: u32, total_shards: u32) -> PathBuf {
    if total_shards > 1 {
        dir.join(format!("history-shard-{shard}.json"))
    } else {
        dir.join(FILE)
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Loads the file; a missing one is empty, a broken one is moved aside with a warning.
fn load(path: &Path) -> BTreeMap<(String, CompactString), Record> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the history store; starting without history");
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<Document>(&bytes) {
        Ok(doc) if doc.version == VERSION => doc
            .numbers
            .into_iter()
            .map(|r| ((r.account.clone(), r.phone.clone()), r))
            .collect(),
        Ok(doc) => {
            set_aside(path, &format!("unknown version {}", doc.version));
            BTreeMap::new()
        }
        Err(e) => {
            set_aside(path, &e.to_string());
            BTreeMap::new()
        }
    }
}

/// Moves a file that does not load to `<file>.corrupt-<unix time>`, so nothing is lost and
/// the next write does not fail on it.
fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension(format!("json.corrupt-{}", now()));
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            warn!(path = %path.display(), moved_to = %aside.display(), error = why, "the history store does not load; moved it aside and starting fresh")
        }
        Err(e) => {
            warn!(path = %path.display(), error = why, rename_error = %e, "the history store does not load and cannot be moved aside; starting fresh")
        }
    }
}

/// True when files can be created in `path`'s directory (created if missing); warns once
/// and returns false if not.
fn writable(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(Path::new("."));
    let probe = std::fs::create_dir_all(dir).and_then(|()| tempfile::NamedTempFile::new_in(dir));
    match probe {
        Ok(_) => true,
        Err(e) => {
            warn!(path = %dir.display(), error = %e, "cannot write the history store here (read-only filesystem?); since-when is kept in memory only and lost at a restart");
            false
        }
    }
}

/// Replaces `path` with `bytes`: written to a temporary file beside it, synced, renamed
/// over it, and the directory synced, so a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::REGISTRY;

    fn facts(phone: &str, cells: &[(&str, &str)]) -> Facts {
        let column = |field: &str| -> &'static Column {
            tracked()
                .find(|t| t.field == field)
                .map(|t| t.column)
                .expect("a tracked field")
        };
        Facts {
            numbers: vec![NumberFacts {
                phone_number: phone.into(),
                cells: cells
                    .iter()
                    .map(|(f, v)| Cell {
                        column: column(f),
                        value: Value::text(v),
                    })
                    .collect(),
                ..Default::default()
            }],
            tables: vec![],
        }
    }

    fn observe(h: &History, facts: &Facts, now: i64) -> bool {
        REGISTRY
            .iter()
            .map(|c| h.observe("a", facts, c.spec().tracked, now).write)
            .fold(false, |a, b| a | b)
    }

    fn since(h: &History, field: &str) -> (i64, bool) {
        let state = h.lock();
        let f = state
            .numbers
            .values()
            .next()
            .unwrap()
            .fields
            .get(field)
            .unwrap();
        (f.since, f.observed)
    }

    /// The file's shape is the users' data: a store written by an earlier release (fields
    /// as a JSON object, in key order) loads, and is written back the same way.
    #[test]
    fn the_file_keeps_its_shape() {
        let old = r#"{"version":1,"numbers":[{"account":"one","phone":"652018200000","last_seen":1796682435,"fields":{"quality":{"value":"GREEN","since":1796682435,"observed":true},"status":{"value":"CONNECTED","since":1796682400,"observed":false},"tier":{"value":"TIER_1K","since":1796682435,"observed":true}},"changes":[]}]}"#;
        let doc: Document = serde_json::from_str(old).unwrap();
        let status = doc.numbers[0].fields.get("status").unwrap();
        assert_eq!(
            (status.value.as_str(), status.since),
            ("CONNECTED", 1796682400)
        );
        let again = serde_json::to_string(&DocumentRef {
            version: doc.version,
            numbers: doc.numbers.iter().collect(),
        })
        .unwrap();
        assert_eq!(again, old);
    }

    #[test]
    fn a_change_moves_only_its_fields_since_and_is_remembered() {
        let h = History::default();
        let t0 = 1_000_000;
        assert!(observe(
            &h,
            &facts("1", &[("status", "CONNECTED"), ("quality", "GREEN")]),
            t0
        ));
        assert_eq!(since(&h, "status"), (t0, true));
        // Unchanged an hour later: nothing moves, and a minute later nothing is written.
        assert!(!observe(
            &h,
            &facts("1", &[("status", "CONNECTED"), ("quality", "GREEN")]),
            t0 + 60
        ));
        observe(
            &h,
            &facts("1", &[("status", "FLAGGED"), ("quality", "GREEN")]),
            t0 + 100,
        );
        assert_eq!(since(&h, "status"), (t0 + 100, false));
        assert_eq!(since(&h, "quality"), (t0, true));
        let state = h.lock();
        let r = state.numbers.values().next().unwrap();
        assert_eq!(r.changes.len(), 1);
        assert_eq!(
            (r.changes[0].from.as_str(), r.changes[0].to.as_str()),
            ("CONNECTED", "FLAGGED")
        );
    }

    #[test]
    fn only_the_last_twenty_changes_are_kept() {
        let h = History::default();
        for i in 0..30 {
            let status = if i % 2 == 0 { "CONNECTED" } else { "FLAGGED" };
            observe(&h, &facts("1", &[("status", status)]), 1_000 + i);
        }
        assert_eq!(
            h.lock().numbers.values().next().unwrap().changes.len(),
            MAX_CHANGES
        );
    }

    #[test]
    fn the_countdown_of_a_flagged_number() {
        let day = 86_400;
        let flagged = 1_796_000_000; // 2026-11-30T...
        let text = outlook_text("FLAGGED", flagged, false, Some("TIER_10K")).unwrap();
        assert!(
            text.starts_with("the messaging limit drops to TIER_2K around "),
            "{text}"
        );
        assert!(text.contains(&time(flagged + 7 * day)), "{text}");
        assert!(text.ends_with("unless quality recovers"));
        let observed = outlook_text("FLAGGED", flagged, true, Some("TIER_250")).unwrap();
        assert!(observed.contains("at the latest"), "{observed}");
        assert!(
            observed.starts_with("back to CONNECTED at the lowest tier"),
            "{observed}"
        );
        assert_eq!(outlook_text("CONNECTED", flagged, false, None), None);
        assert_eq!(age(4 * day + 3 * 3600 + 59), "4d 3h");
        assert_eq!(age(2 * day), "2d");
        assert_eq!(age(5 * 3600 + 20 * 60), "5h 20m");
        assert_eq!(age(-5), "0s");
    }
}
