//! The store: every (account, collector)'s rendering, stitched family by family into the
//! [`Exposition`] a scrape serves and published through an [`ArcSwap`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::{AccountExposition, Block, BlockWriter, Exposition, openmetrics};
use crate::metrics::filter::FamilyFilter;
use crate::metrics::format::Format;
use crate::view::{Facts, Fleet};

/// Every (account, collector)'s current rendering and the stitched result.
///
/// Each collector of each account publishes into its own slot, so a slow collector (one
/// paced round can take many minutes) replaces its families without re-rendering anyone
/// else's. The family order and the `--metrics.allowlist`/`--metrics.denylist` filter are
/// injected ([`ExpositionStore::new`]): the store knows nothing about collectors, which sit
/// above it. A slot also holds what the collector learned for people ([`Facts`]), so the
/// landing page's fleet view comes from the same snapshot as `/metrics`.
///
/// Both text formats are stitched at every publish, from the same blocks: OpenMetrics
/// differs only in some families' headers (see [`openmetrics`]) and in its `# EOF`, so a
/// scrape in either format is a pointer load and the sample text is shared, not doubled;
/// what is doubled is the buffer of compressed blocks (about 1/25 of the text).
#[derive(Debug)]
pub struct ExpositionStore {
    /// Family names in exposition order; families not listed follow in order of first
    /// appearance.
    order: Vec<&'static str>,
    filter: FamilyFilter,
    slots: Mutex<BTreeMap<(String, String), Slot>>,
    /// The Prometheus text format 0.0.4.
    current: ArcSwap<Exposition>,
    /// OpenMetrics 1.0.0: the same, with OpenMetrics headers and `# EOF`.
    openmetrics: ArcSwap<Exposition>,
    /// OpenMetrics headers by the 0.0.4 header text they were made from, kept from one
    /// publish to the next while a family uses them, so a publish compresses none anew
    /// unless a HELP text changed. Only locked under `slots`.
    openmetrics_headers: Mutex<HashMap<Bytes, Block>>,
    /// Bumped at every change of the slots.
    generation: AtomicU64,
    /// The fleet view and the generation it was built from.
    fleet: Mutex<Option<(u64, Arc<Fleet>)>>,
}

/// One collector's output for one account.
#[derive(Debug, Clone)]
struct Slot {
    exposition: Arc<AccountExposition>,
    facts: Arc<Facts>,
}

impl Default for ExpositionStore {
    fn default() -> Self {
        ExpositionStore {
            order: Vec::new(),
            filter: FamilyFilter::default(),
            slots: Mutex::default(),
            current: ArcSwap::default(),
            openmetrics: ArcSwap::from_pointee({
                // Before the first publish OpenMetrics is the empty MetricSet: `# EOF`.
                let mut empty = Stitched::with_capacity(0);
                empty.add(openmetrics::eof());
                empty.finish()
            }),
            openmetrics_headers: Mutex::default(),
            generation: AtomicU64::default(),
            fleet: Mutex::default(),
        }
    }
}

impl ExpositionStore {
    /// An empty store that stitches families in `order` (for the exporter, the registered
    /// collectors' families: [`crate::collect::family_order`]) and leaves out the families
    /// `filter` drops.
    pub fn new(order: Vec<&'static str>, filter: FamilyFilter) -> Self {
        ExpositionStore {
            order,
            filter,
            ..Default::default()
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
        let mut slots = self.lock();
        let key = (account.to_owned(), collector.to_owned());
        match rendered {
            Some((exposition, facts)) => {
                slots.insert(key, Slot { exposition, facts });
            }
            None => {
                if slots.remove(&key).is_none() {
                    return;
                }
            }
        }
        self.changed(&slots);
    }

    /// [`ExpositionStore::publish`] of families without facts.
    pub fn set(&self, account: &str, collector: &str, rendered: Option<Arc<AccountExposition>>) {
        self.publish(account, collector, rendered.map(|r| (r, Arc::default())));
    }

    /// The current rendering of one collector of one account, whose blocks a refresh may
    /// reuse.
    pub fn get(&self, account: &str, collector: &str) -> Option<Arc<AccountExposition>> {
        self.lock()
            .get(&(account.to_owned(), collector.to_owned()))
            .map(|s| s.exposition.clone())
    }

    /// Drops every collector's families of `account` (a reload removed it).
    pub fn remove_account(&self, account: &str) {
        self.retain(&|a| a != account);
    }

    /// Drops every account not in `keep` (after a reload removed some).
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        let mut slots = self.lock();
        let before = slots.len();
        slots.retain(|(a, _), _| keep(a));
        if slots.len() != before {
            self.changed(&slots);
        }
    }

    /// The exposition to serve now, in the Prometheus text format 0.0.4.
    pub fn current(&self) -> Arc<Exposition> {
        self.current.load_full()
    }

    /// The exposition to serve now, in `format`. The two are published together, from the
    /// same slots.
    pub fn current_in(&self, format: Format) -> Arc<Exposition> {
        match format {
            Format::Text => self.current.load_full(),
            Format::OpenMetrics => self.openmetrics.load_full(),
        }
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
            let slots = self.lock();
            let parts: Vec<(String, Arc<Facts>)> = slots
                .iter()
                .map(|((account, _), s)| (account.clone(), s.facts.clone()))
                .collect();
            (self.generation.load(Ordering::Acquire), parts)
        };
        let fleet = Arc::new(Fleet::build(parts.iter().map(|(a, f)| (a.as_str(), &**f))));
        *self.fleet.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, fleet.clone()));
        fleet
    }

    /// Publishing under the slots' lock keeps two concurrent refreshes from publishing out
    /// of order; scrapes never take this lock.
    fn changed(&self, slots: &BTreeMap<(String, String), Slot>) {
        let mut headers = self
            .openmetrics_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (text, openmetrics) = stitch(&self.order, &self.filter, slots, &mut headers);
        self.current.store(Arc::new(text));
        self.openmetrics.store(Arc::new(openmetrics));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many OpenMetrics headers are kept (tests).
    #[cfg(test)]
    pub(super) fn openmetrics_header_count(&self) -> usize {
        self.openmetrics_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lists the slots' blocks so that each family appears once, with one header, in `order`
/// (families not in it follow in order of first appearance), in both formats: the
/// OpenMetrics one with each header converted (taken from `headers` when an earlier publish
/// made it; `headers` is left holding those used now) and `# EOF` last. Only reference
/// counts change: no sample text is copied.
fn stitch(
    order: &[&'static str],
    filter: &FamilyFilter,
    slots: &BTreeMap<(String, String), Slot>,
    headers: &mut HashMap<Bytes, Block>,
) -> (Exposition, Exposition) {
    let mut names: Vec<&str> = order.to_vec();
    for f in slots.values().flat_map(|s| &s.exposition.families) {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    let compressed: usize = slots
        .values()
        .flat_map(|s| &s.exposition.families)
        .flat_map(|f| std::iter::once(&f.header).chain(&f.blocks))
        .map(|b| b.deflate.len())
        .sum();
    let mut text = Stitched::with_capacity(compressed);
    // OpenMetrics headers can be a line longer (`# UNIT`); `# EOF` comes last.
    let mut om = Stitched::with_capacity(compressed + 1024);
    let mut previous = std::mem::take(headers);
    let mut writer: Option<BlockWriter> = None;
    for name in names.into_iter().filter(|n| filter.keeps(n)) {
        let mut header_written = false;
        for slot in slots.values() {
            for f in slot.exposition.families.iter().filter(|f| f.name == name) {
                if !header_written {
                    text.add(&f.header);
                    let converted = headers.entry(f.header.text.clone()).or_insert_with(|| {
                        previous.remove(&f.header.text).unwrap_or_else(|| {
                            let writer = writer.get_or_insert_with(|| BlockWriter::new(None));
                            writer.block(&openmetrics::convert(&f.header.text))
                        })
                    });
                    om.add(converted);
                    header_written = true;
                }
                for b in &f.blocks {
                    text.add(b);
                    om.add(b);
                }
            }
        }
    }
    om.add(openmetrics::eof());
    (text.finish(), om.finish())
}

/// One exposition being stitched.
struct Stitched {
    out: Exposition,
    deflate: Vec<u8>,
}

impl Stitched {
    /// Room for `compressed` bytes of DEFLATE blocks, so the buffer is not regrown.
    fn with_capacity(compressed: usize) -> Self {
        Stitched {
            out: Exposition::default(),
            deflate: Vec::with_capacity(compressed),
        }
    }

    fn add(&mut self, b: &Block) {
        if !b.text.is_empty() {
            self.out.text.push(&b.text);
            // The compressed blocks are copied into one buffer (about 1/25 of the text): a
            // gzip scrape is then three writes, where a list of small blocks (~1 KiB each)
            // cost hyper a write per 16 of them and capped gzip scrapes far below a static
            // file's rate.
            self.deflate.extend_from_slice(&b.deflate);
            self.out.crc.combine(&b.crc);
        }
    }

    fn finish(mut self) -> Exposition {
        self.deflate.shrink_to_fit();
        self.out.deflate.push(&Bytes::from(self.deflate));
        self.out
    }
}
