//! The cached exposition of all accounts' object families.
//!
//! Each successful refresh renders its account's families to text once, with the library's
//! encoder doing all label escaping, as a list of [`Block`]s per family: a block is a run of
//! sample lines plus its own raw DEFLATE stream and CRC-32, compressed once when the block is
//! first seen. The store then stitches every account's blocks family by family (a family's
//! samples must be contiguous in the text format) into a list of shared chunks and publishes
//! it through an [`ArcSwap`]: a scrape only loads a pointer, never waits on a refresh, and
//! writes the shared chunks as they are (no stitched copy of the whole text exists).
//!
//! Why blocks: at 10,000 numbers the text is about 44 MB. A refresh must build the new text
//! while the old one is still being served, which would double that at every refresh. A
//! [`BlockWriter`] instead looks each freshly rendered block up among the previous
//! rendering's blocks (by CRC-32 and length, then compared byte for byte) and reuses the
//! old shared bytes and their compressed form when nothing changed, so a refresh only
//! allocates and compresses the blocks that did change.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bytes::Bytes;
// Level 1 ("fast"): the exposition is repetitive text that compresses about 25-fold even
// so, and each block is compressed once in its lifetime.
use flate2::{Compress, Compression, FlushCompress};
use prometheus::proto::MetricFamily;

use super::filter::FamilyFilter;
use crate::fleet::{Facts, Fleet};

/// A run of exposition text with its compressed form.
#[derive(Debug, Clone)]
pub struct Block {
    /// Plain text (whole lines).
    pub text: Bytes,
    /// The text as raw DEFLATE blocks with a fresh dictionary, ending byte-aligned after a
    /// sync flush and without a final block: blocks can be concatenated into one stream.
    pub deflate: Bytes,
    /// CRC-32 state of `text`, for the gzip trailer.
    crc: crc32fast::Hasher,
}

/// Makes [`Block`]s, reusing those of a previous rendering whose text is unchanged.
pub struct BlockWriter {
    reuse: HashMap<(u32, usize), Block>,
    compress: Compress,
    deflated: Vec<u8>,
    /// Blocks taken over unchanged from the previous rendering.
    pub reused: usize,
    /// Blocks compressed anew.
    pub compressed: usize,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("reusable", &self.reuse.len())
            .field("reused", &self.reused)
            .field("compressed", &self.compressed)
            .finish()
    }
}

impl BlockWriter {
    /// A writer that may reuse the blocks of `previous` (the account's current rendering).
    pub fn new(previous: Option<&AccountExposition>) -> Self {
        let mut reuse = HashMap::new();
        for family in previous.map(|p| p.families.as_slice()).unwrap_or_default() {
            for b in std::iter::once(&family.header).chain(&family.blocks) {
                reuse.insert((b.crc.clone().finalize(), b.text.len()), b.clone());
            }
        }
        BlockWriter {
            reuse,
            compress: Compress::new(Compression::fast(), false),
            deflated: Vec::new(),
            reused: 0,
            compressed: 0,
        }
    }

    /// The block for `text`: the previous rendering's if identical, else a new one.
    pub fn block(&mut self, text: &[u8]) -> Block {
        let mut crc = crc32fast::Hasher::new();
        crc.update(text);
        let key = (crc.clone().finalize(), text.len());
        if let Some(old) = self.reuse.get(&key)
            && old.text[..] == *text
        {
            self.reused += 1;
            return old.clone();
        }
        self.compressed += 1;
        // A fresh dictionary per block: back-references never reach into whatever block
        // precedes this one in a scrape, so blocks concatenate in any order.
        self.compress.reset();
        self.deflated.clear();
        deflate_sync(&mut self.compress, text, &mut self.deflated);
        Block {
            text: Bytes::copy_from_slice(text),
            deflate: Bytes::copy_from_slice(&self.deflated),
            crc,
        }
    }
}

/// Compresses `input` into `out` (appending) and ends with a sync flush, so the output is
/// byte-aligned and the DEFLATE stream can be continued by other blocks.
fn deflate_sync(compress: &mut Compress, mut input: &[u8], out: &mut Vec<u8>) {
    loop {
        out.reserve(input.len() / 2 + 64);
        let before_in = compress.total_in();
        let status = compress.compress_vec(input, out, FlushCompress::Sync);
        input = &input[(compress.total_in() - before_in) as usize..];
        // Done when all input is consumed and the flush fitted (spare capacity left).
        if status.is_err() || (input.is_empty() && out.len() < out.capacity()) {
            break;
        }
    }
}

/// One family of one account: its `# HELP`/`# TYPE` header and its sample blocks.
#[derive(Debug, Clone)]
pub struct FamilyText {
    name: String,
    header: Block,
    blocks: Vec<Block>,
    series: usize,
}

impl FamilyText {
    /// A family from its header text and sample blocks; `series` is its number of samples.
    pub fn new(name: &str, header: Block, blocks: Vec<Block>, series: usize) -> Self {
        FamilyText {
            name: name.to_owned(),
            header,
            blocks,
            series,
        }
    }
}

/// One account's families, rendered.
#[derive(Debug, Default, Clone)]
pub struct AccountExposition {
    /// In the order rendered.
    families: Vec<FamilyText>,
}

impl AccountExposition {
    /// Renders `families` with the library's text encoder. Families without samples are
    /// skipped (the encoder rejects them).
    pub fn render(families: &[MetricFamily]) -> Result<Self, prometheus::Error> {
        let mut out = AccountExposition::default();
        out.push_families(families, &mut BlockWriter::new(None))?;
        Ok(out)
    }

    /// Renders `families` with the library's text encoder and appends them, one block per
    /// family. This is the general path; the phone-number families, which are nearly all of
    /// a large fleet's text, have a faster one (the phone-number collector's renderer).
    pub fn push_families(
        &mut self,
        families: &[MetricFamily],
        writer: &mut BlockWriter,
    ) -> Result<(), prometheus::Error> {
        let encoder = prometheus::TextEncoder::new();
        let mut text = String::new();
        for f in families.iter().filter(|f| !f.get_metric().is_empty()) {
            text.clear();
            encoder.encode_utf8(std::slice::from_ref(f), &mut text)?;
            let (header, samples) = split_header(&text);
            let samples = fix_infinities(samples);
            self.families.push(FamilyText {
                name: f.name().to_owned(),
                header: writer.block(header.as_bytes()),
                blocks: vec![writer.block(samples.as_bytes())],
                series: f.get_metric().len(),
            });
        }
        Ok(())
    }

    /// Appends a family rendered elsewhere.
    pub fn push(&mut self, family: FamilyText) {
        if family.series > 0 {
            self.families.push(family);
        }
    }

    /// Number of sample lines, for logs and the landing page.
    pub fn series(&self) -> usize {
        self.families.iter().map(|f| f.series).sum()
    }

    /// The rendered text, for tests and comparisons (allocates; /metrics never calls it).
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.families {
            for b in std::iter::once(&f.header).chain(&f.blocks) {
                out.extend_from_slice(&b.text);
            }
        }
        out
    }
}

/// Splits one encoded family into its `# HELP`/`# TYPE` lines and its sample lines.
pub fn split_header(text: &str) -> (&str, &str) {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with('#') {
            break;
        }
        end += line.len();
    }
    text.split_at(end)
}

/// The encoder prints infinities with Rust's `inf`; the text format spells them `+Inf`/`-Inf`.
/// The value is always the last token of a sample line, after any (escaped) label values.
fn fix_infinities(samples: &str) -> std::borrow::Cow<'_, str> {
    if !samples.contains("inf\n") {
        return samples.into();
    }
    let mut out = String::with_capacity(samples.len() + 8);
    for line in samples.split_inclusive('\n') {
        if let Some(rest) = line.strip_suffix(" -inf\n") {
            out.push_str(rest);
            out.push_str(" -Inf\n");
        } else if let Some(rest) = line.strip_suffix(" inf\n") {
            out.push_str(rest);
            out.push_str(" +Inf\n");
        } else {
            out.push_str(line);
        }
    }
    out.into()
}

/// Appends a sample value as the library's encoder prints it (`f64`'s `Display`), with the
/// text format's spelling of infinities (see [`fix_infinities`]).
pub fn push_value(out: &mut Vec<u8>, value: f64) {
    use std::io::Write as _;
    if value == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if value == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// A list of shared byte chunks that together form one body.
#[derive(Debug, Default, Clone)]
pub struct Chunks {
    parts: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    fn push(&mut self, b: &Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.parts.push(b.clone());
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// A contiguous copy (tests and tools; /metrics never copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out
    }
}

/// The bytes a scrape serves for the object families, plain and compressed.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Plain text, as shared chunks.
    pub text: Chunks,
    /// The same text as raw DEFLATE blocks, byte-aligned and without a final block, in one
    /// buffer, so that [`gzip_parts`] can put them behind the per-scrape self metrics.
    pub deflate: Chunks,
    /// CRC-32 state of `text`, combined per scrape with that of the self metrics.
    pub crc: crc32fast::Hasher,
}

/// The end of a DEFLATE stream: an empty final block with fixed Huffman codes (what zlib
/// writes for `Z_FINISH` right after a sync flush).
const DEFLATE_END: &[u8] = &[0x03, 0x00];

/// One gzip stream (RFC 1952) for `head` followed by `objects.text`, without recompressing
/// the objects: `head` goes first as DEFLATE *stored* blocks (byte-aligned, no final block;
/// the self metrics are a few KiB, so compressing them would save little on the wire and
/// cost a compressor per scrape), the cached compressed objects follow as further blocks
/// of the same DEFLATE stream, then an empty final block and the trailer, whose CRC is
/// combined from both parts. A single member, because not every client (curl, some
/// proxies) reads multi-member gzip.
///
/// Per scrape this allocates only for `head`; the object bytes are reference-counted.
pub fn gzip_parts(
    head: &[u8],
    objects: &Arc<Exposition>,
) -> (usize, impl Iterator<Item = Bytes> + Send + 'static) {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    const STORED_MAX: usize = 0xffff;
    let mut first =
        Vec::with_capacity(HEADER.len() + head.len() + 5 * (head.len() / STORED_MAX + 1));
    first.extend_from_slice(&HEADER);
    for piece in head.chunks(STORED_MAX) {
        // BFINAL=0, BTYPE=00 (stored), padded to the byte; then LEN and its complement.
        let len = piece.len() as u16;
        first.push(0);
        first.extend_from_slice(&len.to_le_bytes());
        first.extend_from_slice(&(!len).to_le_bytes());
        first.extend_from_slice(piece);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(head);
    crc.combine(&objects.crc);
    let size = (head.len() as u64 + objects.text.len() as u64) as u32;
    let mut trailer = Vec::with_capacity(DEFLATE_END.len() + 8);
    trailer.extend_from_slice(DEFLATE_END);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&size.to_le_bytes());
    let len = first.len() + objects.deflate.len() + trailer.len();
    let objects = objects.clone();
    let body = std::iter::once(Bytes::from(first))
        .chain((0..objects.deflate.parts.len()).map(move |i| objects.deflate.parts[i].clone()))
        .chain(std::iter::once(Bytes::from(trailer)));
    (len, body)
}

/// `head` followed by `objects.text`, as shared chunks.
pub fn plain_parts(
    head: Bytes,
    objects: &Arc<Exposition>,
) -> (usize, impl Iterator<Item = Bytes> + Send + 'static) {
    let len = head.len() + objects.text.len();
    let objects = objects.clone();
    let body = std::iter::once(head)
        .chain((0..objects.text.parts.len()).map(move |i| objects.text.parts[i].clone()));
    (len, body)
}

/// Every (account, collector)'s current rendering and the stitched result.
///
/// Each collector of each account publishes into its own slot, so a slow collector (one
/// health round can take many minutes) replaces its families without re-rendering anyone
/// else's. The family order and the `--metrics.allowlist`/`--metrics.denylist` filter are
/// injected ([`ExpositionStore::new`]): the store knows nothing about collectors, which sit
/// above it. A slot also holds what the collector learned for people ([`Facts`]), so the
/// landing page's fleet view comes from the same snapshot as `/metrics`.
#[derive(Debug, Default)]
pub struct ExpositionStore {
    /// Family names in exposition order; families not listed follow in order of first
    /// appearance.
    order: Vec<&'static str>,
    filter: FamilyFilter,
    slots: Mutex<BTreeMap<(String, String), Slot>>,
    current: ArcSwap<Exposition>,
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

    /// The exposition to serve now.
    pub fn current(&self) -> Arc<Exposition> {
        self.current.load_full()
    }

    /// Every account's numbers and templates as the current slots describe them, worst
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
        self.current
            .store(Arc::new(stitch(&self.order, &self.filter, slots)));
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lists the slots' blocks so that each family appears once, with one header, in `order`
/// (families not in it follow in order of first appearance). Only reference counts change:
/// no text is copied.
fn stitch(
    order: &[&'static str],
    filter: &FamilyFilter,
    slots: &BTreeMap<(String, String), Slot>,
) -> Exposition {
    let mut names: Vec<&str> = order.to_vec();
    for f in slots.values().flat_map(|s| &s.exposition.families) {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    let mut out = Exposition::default();
    // The compressed blocks are copied into one buffer (about 1/25 of the text): a gzip
    // scrape is then three writes, where a list of small blocks (~1 KiB each) cost hyper a
    // write per 16 of them and capped gzip scrapes far below a static file's rate.
    let mut deflate = Vec::with_capacity(
        slots
            .values()
            .flat_map(|s| &s.exposition.families)
            .flat_map(|f| std::iter::once(&f.header).chain(&f.blocks))
            .map(|b| b.deflate.len())
            .sum(),
    );
    let mut add = |b: &Block| {
        if !b.text.is_empty() {
            out.text.push(&b.text);
            deflate.extend_from_slice(&b.deflate);
            out.crc.combine(&b.crc);
        }
    };
    for name in names.into_iter().filter(|n| filter.keeps(n)) {
        let mut header_written = false;
        for slot in slots.values() {
            for f in slot.exposition.families.iter().filter(|f| f.name == name) {
                if !header_written {
                    add(&f.header);
                    header_written = true;
                }
                f.blocks.iter().for_each(&mut add);
            }
        }
    }
    deflate.shrink_to_fit();
    out.deflate.push(&Bytes::from(deflate));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::family::{FamilyDef, family, gauge};

    const DEF: FamilyDef = FamilyDef {
        name: "chatapp_phone_number_messaging_limit",
        help: "test",
    };

    fn account(phone: &str, value: f64) -> Arc<AccountExposition> {
        let mut f = family(&DEF, "note");
        f.mut_metric()
            .push(gauge(&[("phone_number", phone)], value));
        Arc::new(AccountExposition::render(&[f]).unwrap())
    }

    #[test]
    fn families_from_several_accounts_share_one_header() {
        let store = ExpositionStore::default();
        store.set("b", "c", Some(account("2", 1000.0)));
        store.set("a", "c", Some(account("1", f64::INFINITY)));
        let text = String::from_utf8(store.current().text.to_vec()).unwrap();
        assert_eq!(
            text,
            "# HELP chatapp_phone_number_messaging_limit test note\n\
             # TYPE chatapp_phone_number_messaging_limit gauge\n\
             chatapp_phone_number_messaging_limit{phone_number=\"1\"} +Inf\n\
             chatapp_phone_number_messaging_limit{phone_number=\"2\"} 1000\n"
        );
        store.set("a", "c", None);
        let text = String::from_utf8(store.current().text.to_vec()).unwrap();
        assert!(!text.contains("+Inf"));
    }

    #[test]
    fn values_are_printed_as_the_encoder_prints_them() {
        for v in [
            0.0,
            1.0,
            -0.0,
            250.0,
            1e21,
            1.5e-7,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut f = family(&DEF, "note");
            f.mut_metric().push(gauge(&[], v));
            let text = AccountExposition::render(&[f]).unwrap().to_text();
            let mut want = b"chatapp_phone_number_messaging_limit ".to_vec();
            push_value(&mut want, v);
            want.push(b'\n');
            assert!(text.ends_with(&want), "{v}");
        }
    }

    #[test]
    fn unchanged_blocks_are_reused_not_copied() {
        let first = account("1", 5.0);
        let mut writer = BlockWriter::new(Some(&first));
        let again = writer.block(&first.families[0].blocks[0].text);
        assert_eq!(writer.reused, 1);
        assert_eq!(
            again.text.as_ptr(),
            first.families[0].blocks[0].text.as_ptr()
        );
        writer.block(b"something else\n");
        assert_eq!(writer.compressed, 1);
    }

    #[test]
    fn gzip_parts_form_one_valid_member() {
        use std::io::Read;
        let store = ExpositionStore::default();
        store.set("a", "c", Some(account("1", 5.0)));
        store.set("b", "c", Some(account("2", 6.0)));
        let empty = Arc::new(Exposition::default());
        for cur in [store.current(), empty] {
            for head in [
                &b""[..],
                b"# self metrics\nchatapp_up 1\n",
                &[b'x'; 100_000][..],
            ] {
                let (len, parts) = gzip_parts(head, &cur);
                let gz: Vec<u8> = parts.flat_map(|b| b.to_vec()).collect();
                assert_eq!(gz.len(), len);
                // MultiGzDecoder would hide a second member; GzDecoder reads exactly one and
                // checks the CRC and length in the trailer.
                let mut dec = flate2::read::GzDecoder::new(&gz[..]);
                let mut out = Vec::new();
                dec.read_to_end(&mut out).unwrap();
                let mut want = head.to_vec();
                want.extend_from_slice(&cur.text.to_vec());
                assert_eq!(out, want);
            }
        }
    }
}
