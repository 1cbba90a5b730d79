//! The store: every (account, collector)'s rendering, kept family by family in
//! [`Segments`](super::segment), published as a [`Layout`] through an [`ArcSwap`]; a scrape
//! assembles a layout's [`Exposition`] in its format once, from the shared pieces.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;

use super::body::Assembly;
use super::segment::{Entry, Segment, Segments, SlotKey};
use super::{AccountExposition, Block, BlockWriter, Exposition, openmetrics};
use crate::metrics::filter::FamilyFilter;
use crate::metrics::format::Format;
use crate::view::{Facts, Fleet};

/// Every (account, collector)'s current rendering, and the layout scrapes read.
///
/// Each collector of each account publishes into its own slot, so a slow collector (one
/// paced round can take many minutes) replaces its families without re-rendering anyone
/// else's. The family order and the `--metrics.allowlist`/`--metrics.denylist` filter are
/// injected ([`ExpositionStore::new`]): the store knows nothing about collectors, which sit
/// above it. A slot also holds what the collector learned for people ([`Facts`]), so the
/// landing page's fleet view comes from the same snapshot as `/metrics`.
///
/// A publish costs in proportion to its slot, not to the exposition: each family keeps its
/// slots' parts in segments (see `segment`), and a publish rebuilds only the segments of the
/// families its slot has (none at all for a family whose blocks are the ones already
/// served, as in a refresh where nothing changed), then swaps in a new [`Layout`]: a list of
/// families, each a header and shared segments. Both text formats are assembled from the
/// same layout: OpenMetrics differs only in some families' headers (see [`openmetrics`]) and
/// in its `# EOF`, so the sample text and its compressed form are shared, not doubled.
#[derive(Debug)]
pub struct ExpositionStore {
    inner: Mutex<Inner>,
    /// What scrapes read.
    layout: ArcSwap<Layout>,
    /// Bumped at every change of the slots.
    generation: AtomicU64,
    /// The fleet view and the generation it was built from.
    fleet: Mutex<Option<(u64, Arc<Fleet>)>>,
}

/// What publishes change, under the store's lock.
#[derive(Debug, Default)]
struct Inner {
    slots: BTreeMap<SlotKey, Slot>,
    filter: FamilyFilter,
    /// The families named in the order given to [`ExpositionStore::new`], by position.
    listed: Vec<Family>,
    /// Position in `listed` by name.
    positions: HashMap<&'static str, usize>,
    /// Families not in that order, by name: they follow the listed ones in order of first
    /// appearance (by slot, then position in the slot's rendering).
    unlisted: HashMap<String, Family>,
}

/// One collector's output for one account.
#[derive(Debug, Clone)]
struct Slot {
    exposition: Arc<AccountExposition>,
    facts: Arc<Facts>,
}

/// One family across all slots.
#[derive(Debug)]
struct Family {
    /// False when the filter drops it: then no slot's part is kept.
    kept: bool,
    segments: Segments,
    /// What the layout shows of it; `None` while no slot has it.
    shown: Option<Arc<Shown>>,
}

/// One family as a layout holds it: its header in both formats (the first slot's), then
/// its segments.
#[derive(Debug)]
struct Shown {
    header: Block,
    openmetrics_header: Block,
    segments: Vec<Arc<Segment>>,
    /// Where an unlisted family goes: its first slot, and its position in that slot.
    first: (SlotKey, usize),
}

/// The families as a scrape sees them, and their exposition in each format, assembled the
/// first time a scrape asks.
#[derive(Debug, Default)]
pub(super) struct Layout {
    families: Vec<Arc<Shown>>,
    text: OnceLock<Arc<Exposition>>,
    openmetrics: OnceLock<Arc<Exposition>>,
}

impl Layout {
    /// The exposition in `format`, assembled once per layout. Only reference counts change
    /// and small compressed pieces (headers) are copied together: no sample text is copied.
    fn exposition(&self, format: Format) -> Arc<Exposition> {
        let cell = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        cell.get_or_init(|| {
            let mut out = Assembly::default();
            for f in &self.families {
                out.block(match format {
                    Format::Text => &f.header,
                    Format::OpenMetrics => &f.openmetrics_header,
                });
                for s in &f.segments {
                    out.segment(s);
                }
            }
            if format == Format::OpenMetrics {
                out.block(openmetrics::eof());
            }
            Arc::new(out.finish())
        })
        .clone()
    }
}

impl Default for ExpositionStore {
    fn default() -> Self {
        ExpositionStore::new(Vec::new(), FamilyFilter::default())
    }
}

impl ExpositionStore {
    /// An empty store that lays families out in `order` (for the exporter, the registered
    /// collectors' families: [`crate::collect::family_order`]) and leaves out the families
    /// `filter` drops.
    pub fn new(order: Vec<&'static str>, filter: FamilyFilter) -> Self {
        let listed = order
            .iter()
            .map(|name| Family::new(filter.keeps(name)))
            .collect();
        let positions = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        ExpositionStore {
            inner: Mutex::new(Inner {
                slots: BTreeMap::new(),
                filter,
                listed,
                positions,
                unlisted: HashMap::new(),
            }),
            layout: ArcSwap::default(),
            generation: AtomicU64::default(),
            fleet: Mutex::default(),
        }
    }

    /// Replaces (`Some`) or drops (`None`) one collector's families and facts of one
    /// account and republishes.
    pub fn publish(
        &self,
        account: &str,
        collector: &str,
        rendered: Option<(Arc<AccountExposition>, Arc<Facts>)>,
    ) {
        let mut inner = self.lock();
        let key = (account.to_owned(), collector.to_owned());
        let rendered = rendered.map(|(mut exposition, facts)| {
            if let Some(e) = Arc::get_mut(&mut exposition) {
                inner.share_headers(e);
            }
            (exposition, facts)
        });
        // Nothing a scrape sees changed (the usual refresh): the slot keeps the rendering its
        // segments hold and takes the new facts, without a look at any family.
        if let Some((exposition, facts)) = &rendered
            && let Some(slot) = inner.slots.get_mut(&key)
            && slot.exposition.same_blocks(exposition)
        {
            slot.facts = facts.clone();
            self.changed(&inner, false);
            return;
        }
        let changed = match rendered {
            Some((exposition, facts)) => {
                let (key, old) = match inner.slots.remove_entry(&key) {
                    Some((key, old)) => (key, Some(old.exposition)),
                    None => (Arc::new(key), None),
                };
                let slot = Slot {
                    exposition: exposition.clone(),
                    facts,
                };
                inner.slots.insert(key.clone(), slot);
                inner.place(&key, Some(&exposition), old.as_ref())
            }
            None => match inner.slots.remove_entry(&key) {
                Some((key, old)) => inner.place(&key, None, Some(&old.exposition)),
                None => return,
            },
        };
        self.changed(&inner, changed);
    }

    /// [`ExpositionStore::publish`] of families without facts.
    pub fn set(&self, account: &str, collector: &str, rendered: Option<Arc<AccountExposition>>) {
        self.publish(account, collector, rendered.map(|r| (r, Arc::default())));
    }

    /// The current rendering of one collector of one account, whose blocks a refresh may
    /// reuse.
    pub fn get(&self, account: &str, collector: &str) -> Option<Arc<AccountExposition>> {
        self.lock()
            .slots
            .get(&(account.to_owned(), collector.to_owned()))
            .map(|s| s.exposition.clone())
    }

    /// Drops every collector's families of `account` (a reload removed it).
    pub fn remove_account(&self, account: &str) {
        self.retain(&|a| a != account);
    }

    /// Drops every account not in `keep` (after a reload removed some).
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        let mut inner = self.lock();
        let gone: Vec<SlotKey> = inner
            .slots
            .keys()
            .filter(|k| !keep(&k.0))
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut changed = false;
        for key in gone {
            if let Some(old) = inner.slots.remove(&key) {
                changed |= inner.place(&key, None, Some(&old.exposition));
            }
        }
        self.changed(&inner, changed);
    }

    /// The exposition to serve now, in the Prometheus text format 0.0.4.
    pub fn current(&self) -> Arc<Exposition> {
        self.current_in(Format::Text)
    }

    /// The exposition to serve now, in `format`. The two are assembled from the same
    /// layout, the first time a scrape asks for each after a change.
    pub fn current_in(&self, format: Format) -> Arc<Exposition> {
        self.layout.load().exposition(format)
    }

    /// Every account's numbers and collector tables as the current slots describe them, worst
    /// first: built at most once per change of the slots.
    pub fn fleet(&self) -> Arc<Fleet> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((g, f)) = self
            .fleet
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            && *g == generation
        {
            return f.clone();
        }
        // Copy the facts (reference counts) and build outside both locks.
        let (generation, parts) = {
            let inner = self.lock();
            let parts: Vec<(String, Arc<Facts>)> = inner
                .slots
                .iter()
                .map(|(key, s)| (key.0.clone(), s.facts.clone()))
                .collect();
            (self.generation.load(Ordering::Acquire), parts)
        };
        let fleet = Arc::new(Fleet::build(parts.iter().map(|(a, f)| (a.as_str(), &**f))));
        *self.fleet.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, fleet.clone()));
        fleet
    }

    /// Publishing under the lock keeps two concurrent refreshes from publishing out of
    /// order; scrapes never take this lock. A new layout only when a family changed: the
    /// facts alone do not change what a scrape serves.
    fn changed(&self, inner: &Inner, families_changed: bool) {
        if families_changed {
            self.layout.store(Arc::new(inner.layout()));
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many families have an OpenMetrics header converted (tests).
    #[cfg(test)]
    pub(super) fn openmetrics_header_count(&self) -> usize {
        let inner = self.lock();
        inner
            .listed
            .iter()
            .chain(inner.unlisted.values())
            .filter(|f| f.shown.is_some())
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Replaces slot `key`'s parts of every family: `old` was its rendering, `new` is (or
    /// `None`: it is gone). True when a family changed.
    fn place(
        &mut self,
        key: &SlotKey,
        new: Option<&Arc<AccountExposition>>,
        old: Option<&Arc<AccountExposition>>,
    ) -> bool {
        if let (Some(new), Some(old)) = (new, old)
            && Arc::ptr_eq(new, old)
        {
            return false;
        }
        let parts = new.map(|e| parts_by_family(e)).unwrap_or_default();
        let mut changed = false;
        for (name, _) in old.map(|e| parts_by_family(e)).unwrap_or_default() {
            if !parts.iter().any(|(n, _)| *n == name) {
                changed |= self.family(name).remove(key);
            }
        }
        if let Some(new) = new {
            for (name, parts) in parts {
                let entry = Entry::new(key.clone(), new.clone(), parts);
                changed |= self.family(name).set(entry);
            }
        }
        changed
    }

    /// Makes `e`'s family headers the very blocks already shown for those families when the
    /// text is the same. Every account renders the same `# HELP`/`# TYPE` lines, and each
    /// kept its own copy (text and compressed, ~18 families per account: some 9 MB at 1,000
    /// accounts); the renderer then finds the shared block in the previous rendering and
    /// reuses it, so the copy is made once per account, not kept.
    fn share_headers(&self, e: &mut AccountExposition) {
        for f in &mut e.families {
            let family = match self.positions.get(f.name.as_str()) {
                Some(&i) => self.listed.get(i),
                None => self.unlisted.get(&f.name),
            };
            if let Some(shown) = family.and_then(|family| family.shown.as_ref())
                && shown.header.text == f.header.text
            {
                f.header = shown.header.clone();
            }
        }
    }

    /// The family called `name`, made (and checked against the filter) on first use.
    fn family(&mut self, name: &str) -> &mut Family {
        match self.positions.get(name) {
            Some(&i) => &mut self.listed[i],
            None => {
                let filter = &self.filter;
                self.unlisted
                    .entry(name.to_owned())
                    .or_insert_with(|| Family::new(filter.keeps(name)))
            }
        }
    }

    /// The families in order: those listed, then the others in order of first appearance.
    fn layout(&self) -> Layout {
        let mut families: Vec<Arc<Shown>> =
            self.listed.iter().filter_map(|f| f.shown.clone()).collect();
        let mut unlisted: Vec<Arc<Shown>> = self
            .unlisted
            .values()
            .filter_map(|f| f.shown.clone())
            .collect();
        unlisted.sort_by(|a, b| a.first.cmp(&b.first));
        families.append(&mut unlisted);
        Layout {
            families,
            ..Layout::default()
        }
    }
}

impl Family {
    fn new(kept: bool) -> Self {
        Family {
            kept,
            segments: Segments::default(),
            shown: None,
        }
    }

    /// Sets a slot's part; true when what is shown changed. A part whose header and blocks
    /// are the ones already shown (a refresh that reused every block) changes nothing.
    fn set(&mut self, entry: Entry) -> bool {
        if !self.kept {
            return false;
        }
        if self
            .segments
            .get(&entry.key)
            .is_some_and(|old| old.same(&entry))
        {
            return false;
        }
        self.segments.upsert(entry);
        self.show();
        true
    }

    /// Drops a slot's part; true when there was one.
    fn remove(&mut self, key: &SlotKey) -> bool {
        if !self.kept || !self.segments.remove(key) {
            return false;
        }
        self.show();
        true
    }

    /// Refreshes what the layout shows: the first slot's header (its OpenMetrics conversion
    /// kept while the header text is unchanged) and the segments.
    fn show(&mut self) {
        let Some(first) = self.segments.first() else {
            self.shown = None;
            return;
        };
        let header = &first.first().header;
        let openmetrics_header = match &self.shown {
            Some(s) if s.header.text == header.text => s.openmetrics_header.clone(),
            _ => BlockWriter::new(None).block(&openmetrics::convert(&header.text)),
        };
        self.shown = Some(Arc::new(Shown {
            header: header.clone(),
            openmetrics_header,
            segments: self.segments.list().to_vec(),
            first: (first.key.clone(), first.parts[0]),
        }));
    }
}

/// The families of a rendering, each with its positions (nearly always one).
fn parts_by_family(e: &AccountExposition) -> Vec<(&str, Vec<usize>)> {
    let mut out: Vec<(&str, Vec<usize>)> = Vec::with_capacity(e.families.len());
    for (i, f) in e.families.iter().enumerate() {
        match out.iter_mut().find(|(n, _)| *n == f.name) {
            Some((_, parts)) => parts.push(i),
            None => out.push((&f.name, vec![i])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::FamilyText;

    /// A small deterministic generator (xorshift), so a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const NAMES: [&str; 5] = ["fa", "fb", "fc", "fd", "fe"];

    /// A rendering with a random choice of families, in a random order (one sometimes
    /// repeated), with one of two HELP texts and up to three blocks of up to ~3 KB each.
    fn rendering(rng: &mut Rng, writer: &mut BlockWriter) -> AccountExposition {
        let mut out = AccountExposition::default();
        let count = rng.below(4) + 1;
        for _ in 0..count {
            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
            let help = if rng.below(5) == 0 { "other" } else { "help" };
            let header = format!("# HELP {name} {help}\n# TYPE {name} gauge\n");
            let mut blocks = Vec::new();
            let mut series = 0;
            for _ in 0..rng.below(3) + 1 {
                let mut text = String::new();
                for _ in 0..rng.below(60) {
                    text.push_str(&format!(
                        "{name}{{x=\"{}\"}} {}\n",
                        rng.next(),
                        rng.below(3)
                    ));
                    series += 1;
                }
                blocks.push(writer.block(text.as_bytes()));
            }
            out.push(FamilyText::new(
                name,
                writer.block(header.as_bytes()),
                blocks,
                series,
            ));
        }
        out
    }

    /// What the store stitched before it kept segments: every slot's blocks family by
    /// family, the first slot's header, listed families first, the others in order of
    /// first appearance.
    fn reference(
        order: &[&str],
        filter: &FamilyFilter,
        slots: &BTreeMap<(String, String), Arc<AccountExposition>>,
        format: Format,
    ) -> Vec<u8> {
        let mut names: Vec<&str> = order.to_vec();
        for f in slots.values().flat_map(|s| &s.families) {
            if !names.contains(&f.name.as_str()) {
                names.push(&f.name);
            }
        }
        let mut out = Vec::new();
        for name in names.into_iter().filter(|n| filter.keeps(n)) {
            let mut header = true;
            for f in slots
                .values()
                .flat_map(|s| &s.families)
                .filter(|f| f.name == name)
            {
                if std::mem::take(&mut header) {
                    match format {
                        Format::Text => out.extend_from_slice(&f.header.text),
                        Format::OpenMetrics => {
                            out.extend_from_slice(&openmetrics::convert(&f.header.text))
                        }
                    }
                }
                for b in &f.blocks {
                    out.extend_from_slice(&b.text);
                }
            }
        }
        if format == Format::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
        out
    }

    fn gunzip(e: &Arc<Exposition>) -> Vec<u8> {
        use std::io::Read as _;
        let (len, parts) = super::super::gzip_parts(&BlockWriter::new(None).block(b""), e);
        let gz: Vec<u8> = parts.flat_map(|b| b.to_vec()).collect();
        assert_eq!(gz.len(), len);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn publishes_in_any_order_serve_what_a_full_stitch_would() {
        let order = ["fc", "fa"];
        for (seed, filter) in [
            (1, FamilyFilter::default()),
            (2, FamilyFilter::new(&[], &["fb".to_owned()]).unwrap()),
            (3, FamilyFilter::default()),
        ] {
            let store = ExpositionStore::new(order.to_vec(), filter.clone());
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
            let mut slots: BTreeMap<(String, String), Arc<AccountExposition>> = BTreeMap::new();
            for step in 0..600 {
                let account = format!("a{:02}", rng.below(40));
                let collector = format!("c{}", rng.below(3));
                let key = (account.clone(), collector.clone());
                match rng.below(10) {
                    0 => {
                        store.set(&account, &collector, None);
                        slots.remove(&key);
                    }
                    1 if !slots.is_empty() => {
                        let gone = format!("a{:02}", rng.below(40));
                        store.remove_account(&gone);
                        slots.retain(|(a, _), _| *a != gone);
                    }
                    2 => {
                        // The same rendering again, or a copy sharing every block.
                        if let Some(e) = slots.get(&key) {
                            let e = if rng.below(2) == 0 {
                                e.clone()
                            } else {
                                Arc::new((**e).clone())
                            };
                            store.set(&account, &collector, Some(e.clone()));
                            slots.insert(key, e);
                        }
                    }
                    _ => {
                        let previous = slots.get(&key).cloned();
                        let mut writer = BlockWriter::new(previous.as_deref());
                        let e = Arc::new(rendering(&mut rng, &mut writer));
                        store.set(&account, &collector, Some(e.clone()));
                        slots.insert(key, e);
                    }
                }
                for format in [Format::Text, Format::OpenMetrics] {
                    let got = store.current_in(format);
                    let want = reference(&order, &filter, &slots, format);
                    assert!(
                        got.text.to_vec() == want,
                        "seed {seed} step {step} {format:?}"
                    );
                    assert_eq!(got.text.len(), want.len());
                    if step % 50 == 0 {
                        assert!(
                            gunzip(&got) == want,
                            "seed {seed} step {step} {format:?} gzip"
                        );
                    }
                }
            }
        }
    }

    /// Accounts rendering the same family keep one copy of its header, and a rendering
    /// seeded with its previous one reuses that copy.
    #[test]
    fn accounts_share_a_family_header() {
        let store = ExpositionStore::default();
        let header = b"# HELP f help\n# TYPE f gauge\n";
        let render = |previous: Option<&AccountExposition>, value: &str| {
            let mut writer = BlockWriter::new(previous);
            let mut e = AccountExposition::default();
            e.push(FamilyText::new(
                "f",
                writer.block(header),
                vec![writer.block(format!("f {value}\n").as_bytes())],
                1,
            ));
            e
        };
        store.set("a", "c", Some(Arc::new(render(None, "1"))));
        store.set("b", "c", Some(Arc::new(render(None, "2"))));
        let header_of = |account: &str| {
            store.get(account, "c").unwrap().families[0]
                .header
                .text
                .clone()
        };
        assert_eq!(header_of("a").as_ptr(), header_of("b").as_ptr());
        // B's next rendering reuses the shared block from its previous one.
        let previous = store.get("b", "c").unwrap();
        let next = render(Some(&previous), "3");
        assert_eq!(
            next.families[0].header.text.as_ptr(),
            header_of("a").as_ptr()
        );
        assert_eq!(
            store.current().text.to_vec(),
            b"# HELP f help\n# TYPE f gauge\nf 1\nf 2\n"
        );
    }

    #[test]
    fn an_unchanged_republish_keeps_the_layout() {
        let store = ExpositionStore::default();
        let mut rng = Rng(7);
        let first = Arc::new(rendering(&mut rng, &mut BlockWriter::new(None)));
        store.set("a", "c", Some(first.clone()));
        let served = store.current();
        // A new rendering that reused every block (what a refresh with no change makes).
        store.set("a", "c", Some(Arc::new((*first).clone())));
        assert!(Arc::ptr_eq(&served, &store.current()));
        // Facts alone do not change what is served either, but the fleet view takes them.
        let facts = Facts {
            numbers: vec![crate::view::NumberFacts {
                phone_number: "8613800000001".into(),
                verdict: None,
                cells: Vec::new(),
                notes: Vec::new(),
            }],
            tables: Vec::new(),
        };
        assert!(store.fleet().numbers.is_empty());
        store.publish(
            "a",
            "c",
            Some((Arc::new((*first).clone()), Arc::new(facts))),
        );
        assert!(Arc::ptr_eq(&served, &store.current()));
        let fleet = store.fleet();
        assert_eq!(fleet.numbers.len(), 1, "{fleet:?}");
        // The slot kept the rendering its segments hold: the next refresh reuses its blocks.
        assert!(Arc::ptr_eq(&store.get("a", "c").unwrap(), &first));
    }
}
