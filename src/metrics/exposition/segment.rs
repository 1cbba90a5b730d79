//! Segments: a family's samples from every (account, collector) slot, cut into runs of
//! neighbouring slots, so that a publish rebuilds only the run its slot sits in.
//!
//! A family's samples must be contiguous in the text format, and a scrape must send them in
//! slot order. Rebuilding the whole family (let alone the whole exposition) at every publish
//! made a publish cost grow with the number of accounts times their size (issue 31: 12.8% of
//! a core for 500 accounts of 20 numbers against 0.1% for one account of 10,000). Instead
//! each family keeps its slots' parts ([`Entry`]) in key order, in [`Segment`]s of at most
//! [`MAX_SEGMENT`] compressed bytes (a slot larger than that has a segment of its own). A
//! publish replaces its entry in the one segment that holds its key, rebuilds that segment
//! (a copy of at most `MAX_SEGMENT` plus the slot's own bytes), and splits or merges it with
//! a neighbour when it grew or shrank past the bounds: the work is in proportion to the
//! slot, whatever the number of slots.
//!
//! A segment's compressed blocks are copied into one buffer, as the whole exposition's used
//! to be: a scrape hands hyper a few large buffers instead of one small block per slot and
//! family (a write per 16 buffers capped gzip scrapes far below a static file's rate).
//! Its text stays a list of the slots' shared chunks (no copy of the text, which is ~25
//! times larger). Its CRC-32 is combined from its blocks' the first time a gzip scrape
//! needs it, not at every publish.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{AccountExposition, Block, FamilyText};

/// Most compressed bytes in a segment of several slots. A publish copies up to this much
/// per family it touches; a scrape sends about one buffer per this much.
pub(super) const MAX_SEGMENT: usize = 32 * 1024;
/// A segment below this is merged with a neighbour when both fit in [`MAX_SEGMENT`], so
/// that removals do not leave a trail of tiny segments.
const MIN_SEGMENT: usize = MAX_SEGMENT / 4;

/// An (account, collector) slot's key; shared by the slot map and every entry of the slot.
pub(super) type SlotKey = Arc<(String, String)>;

/// One slot's part of one family: the family's texts in the slot's rendering (nearly always
/// one; a rendering that repeats a family name contributes each, in its order).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) key: SlotKey,
    pub(super) exposition: Arc<AccountExposition>,
    /// Indices into `exposition.families`, in order.
    pub(super) parts: Vec<usize>,
    /// Compressed bytes of the parts' sample blocks.
    deflate_len: usize,
}

impl Entry {
    /// The part of `exposition` (published under `key`) that is family `parts`.
    pub(super) fn new(key: SlotKey, exposition: Arc<AccountExposition>, parts: Vec<usize>) -> Self {
        let mut entry = Entry {
            key,
            exposition,
            parts,
            deflate_len: 0,
        };
        entry.deflate_len = entry.blocks().map(|b| b.deflate.len()).sum();
        entry
    }

    /// The first of the family's texts in this slot (its header is the family's header when
    /// this slot comes first).
    pub(super) fn first(&self) -> &FamilyText {
        &self.exposition.families[self.parts[0]]
    }

    /// True when `other` shows the same bytes: the same header text and the very same
    /// sample blocks (a renderer that found nothing changed reuses the shared blocks).
    pub(super) fn same(&self, other: &Entry) -> bool {
        self.first().header.text == other.first().header.text
            && self.blocks().count() == other.blocks().count()
            && self.blocks().zip(other.blocks()).all(|(a, b)| a.is(b))
    }

    /// The sample blocks, in order.
    fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.parts
            .iter()
            .flat_map(|&i| &self.exposition.families[i].blocks)
            .filter(|b| !b.text.is_empty())
    }
}

/// Neighbouring slots' parts of one family, built into what a scrape sends. Immutable once
/// built: a publish makes a new one, and scrapes of an older exposition keep theirs.
#[derive(Debug)]
pub(super) struct Segment {
    entries: Vec<Entry>,
    /// The samples' text, as the slots' shared chunks.
    pub(super) text: Vec<Bytes>,
    /// Total length of `text`.
    pub(super) text_len: usize,
    /// The samples as raw DEFLATE blocks, copied into one buffer.
    pub(super) deflate: Bytes,
    crc: OnceLock<crc32fast::Hasher>,
}

impl Segment {
    fn build(entries: Vec<Entry>) -> Arc<Segment> {
        let compressed = entries.iter().map(|e| e.deflate_len).sum();
        let mut deflate = Vec::with_capacity(compressed);
        let mut text = Vec::new();
        let mut text_len = 0;
        for b in entries.iter().flat_map(Entry::blocks) {
            deflate.extend_from_slice(&b.deflate);
            text_len += b.text.len();
            text.push(b.text.clone());
        }
        Arc::new(Segment {
            entries,
            text,
            text_len,
            deflate: Bytes::from(deflate),
            crc: OnceLock::new(),
        })
    }

    /// CRC-32 state of the text, combined from the blocks' once.
    pub(super) fn crc(&self) -> &crc32fast::Hasher {
        self.crc.get_or_init(|| {
            let mut crc = crc32fast::Hasher::new();
            for b in self.entries.iter().flat_map(Entry::blocks) {
                crc.combine(&b.crc);
            }
            crc
        })
    }

    fn first_key(&self) -> &SlotKey {
        &self.entries[0].key
    }

    fn deflate_len(&self) -> usize {
        self.deflate.len()
    }
}

/// One family's segments, in slot order; never an empty segment.
#[derive(Debug, Default)]
pub(super) struct Segments {
    segments: Vec<Arc<Segment>>,
}

impl Segments {
    /// The segments, in order.
    pub(super) fn list(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    /// The first slot's part, if any slot has one.
    pub(super) fn first(&self) -> Option<&Entry> {
        self.segments.first().map(|s| &s.entries[0])
    }

    /// The part of `key`, if it has one.
    pub(super) fn get(&self, key: &SlotKey) -> Option<&Entry> {
        let entries = &self.segments.get(self.find(key))?.entries;
        let j = entries.binary_search_by(|e| e.key.cmp(key)).ok()?;
        Some(&entries[j])
    }

    /// Adds or replaces the part of `entry.key`.
    pub(super) fn upsert(&mut self, entry: Entry) {
        if self.segments.is_empty() {
            self.segments.push(Segment::build(vec![entry]));
            return;
        }
        let i = self.find(&entry.key);
        let mut entries = self.segments[i].entries.clone();
        match entries.binary_search_by(|e| e.key.cmp(&entry.key)) {
            Ok(j) => entries[j] = entry,
            Err(j) => entries.insert(j, entry),
        }
        self.rebuild(i, entries);
    }

    /// Drops the part of `key`; false when it had none.
    pub(super) fn remove(&mut self, key: &SlotKey) -> bool {
        if self.segments.is_empty() {
            return false;
        }
        let i = self.find(key);
        let Ok(j) = self.segments[i]
            .entries
            .binary_search_by(|e| e.key.cmp(key))
        else {
            return false;
        };
        let mut entries = self.segments[i].entries.clone();
        entries.remove(j);
        self.rebuild(i, entries);
        true
    }

    /// The segment where `key` belongs: the last one starting at or before it (the first one
    /// for a key before all).
    fn find(&self, key: &SlotKey) -> usize {
        self.segments
            .partition_point(|s| s.first_key() <= key)
            .saturating_sub(1)
    }

    /// Replaces segment `i` by segments of `entries`: merged with a neighbour when small,
    /// split when large.
    fn rebuild(&mut self, i: usize, mut entries: Vec<Entry>) {
        let mut range = i..i + 1;
        let size: usize = entries.iter().map(|e| e.deflate_len).sum();
        if size < MIN_SEGMENT {
            let fits = |s: &Arc<Segment>| size + s.deflate_len() <= MAX_SEGMENT;
            if let Some(next) = self.segments.get(i + 1).filter(|s| fits(s)) {
                entries.extend(next.entries.iter().cloned());
                range.end += 1;
            } else if let Some(prev) = i
                .checked_sub(1)
                .map(|p| &self.segments[p])
                .filter(|s| fits(s))
            {
                let mut merged = prev.entries.clone();
                merged.append(&mut entries);
                entries = merged;
                range.start -= 1;
            }
        }
        self.segments
            .splice(range, split(entries).map(Segment::build));
    }
}

/// Cuts `entries` into runs of at most [`MAX_SEGMENT`] compressed bytes (a larger entry is a
/// run of its own).
fn split(entries: Vec<Entry>) -> impl Iterator<Item = Vec<Entry>> {
    let mut runs: Vec<Vec<Entry>> = Vec::new();
    let mut size = 0;
    for e in entries {
        match runs.last_mut() {
            Some(run) if size + e.deflate_len <= MAX_SEGMENT => {
                size += e.deflate_len;
                run.push(e);
            }
            _ => {
                size = e.deflate_len;
                runs.push(vec![e]);
            }
        }
    }
    runs.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::BlockWriter;

    /// A slot whose one family has one block of `size` bytes of incompressible-ish text.
    fn entry(account: &str, size: usize, seed: u8) -> Entry {
        let mut writer = BlockWriter::new(None);
        let mut text = Vec::with_capacity(size);
        let mut x: u32 = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
        while text.len() + 1 < size {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            text.push(b'a' + (x % 26) as u8);
        }
        text.push(b'\n');
        let family = FamilyText::new(
            "f",
            writer.block(b"# TYPE f gauge\n"),
            vec![writer.block(&text)],
            1,
        );
        let mut exposition = AccountExposition::default();
        exposition.push(family);
        Entry::new(
            Arc::new((account.to_owned(), "c".to_owned())),
            Arc::new(exposition),
            vec![0],
        )
    }

    fn accounts(s: &Segments) -> Vec<Vec<String>> {
        s.list()
            .iter()
            .map(|seg| seg.entries.iter().map(|e| e.key.0.clone()).collect())
            .collect()
    }

    fn text(s: &Segments) -> Vec<u8> {
        s.list()
            .iter()
            .flat_map(|seg| seg.text.iter().flat_map(|b| b.to_vec()))
            .collect()
    }

    #[test]
    fn slots_stay_in_key_order_and_segments_within_bounds() {
        let mut s = Segments::default();
        // 200 slots of ~1 KiB compressed, inserted out of order.
        for i in (0..200).rev().step_by(2).chain((0..200).step_by(2)) {
            s.upsert(entry(&format!("a{i:03}"), 1600, i as u8));
        }
        let all: Vec<String> = accounts(&s).concat();
        let want: Vec<String> = (0..200).map(|i| format!("a{i:03}")).collect();
        assert_eq!(all, want);
        assert!(s.list().len() > 3, "{}", s.list().len());
        for seg in s.list() {
            assert!(seg.deflate_len() <= MAX_SEGMENT);
            assert_eq!(seg.text_len, seg.text.iter().map(Bytes::len).sum::<usize>());
            let mut want = crc32fast::Hasher::new();
            want.update(&seg.text.concat());
            assert_eq!(seg.crc().clone().finalize(), want.finalize());
        }

        // Replacing one slot rebuilds its segment (and a small neighbour it merges with);
        // the others stay the same allocations.
        let before: Vec<*const Segment> = s.list().iter().map(Arc::as_ptr).collect();
        s.upsert(entry("a100", 1600, 7));
        let after: Vec<*const Segment> = s.list().iter().map(Arc::as_ptr).collect();
        let kept = after.iter().filter(|p| before.contains(p)).count();
        assert!(kept + 2 >= before.len(), "{kept} of {}", before.len());

        // Removing every slot but a few merges what is left into one segment.
        for i in 3..200 {
            s.remove(&Arc::new((format!("a{i:03}"), "c".to_owned())));
        }
        assert_eq!(accounts(&s), vec![vec!["a000", "a001", "a002"]]);
        for i in 0..3 {
            s.remove(&Arc::new((format!("a{i:03}"), "c".to_owned())));
        }
        assert!(s.list().is_empty() && s.first().is_none());
        s.remove(&Arc::new(("gone".to_owned(), "c".to_owned())));
    }

    #[test]
    fn a_large_slot_has_a_segment_of_its_own() {
        let mut s = Segments::default();
        s.upsert(entry("b", 200_000, 1));
        s.upsert(entry("a", 100, 2));
        s.upsert(entry("c", 100, 3));
        s.upsert(entry("d", 100, 4));
        assert_eq!(
            accounts(&s),
            vec![vec!["a"], vec!["b"], vec!["c", "d"]],
            "the small slots are not copied with the large one"
        );
        let want: Vec<u8> = ["a", "b", "c", "d"]
            .iter()
            .zip([2, 1, 3, 4])
            .flat_map(|(a, seed)| {
                let size = if *a == "b" { 200_000 } else { 100 };
                entry(a, size, seed).first().blocks[0].text.to_vec()
            })
            .collect();
        assert_eq!(text(&s), want);
    }
}
