//! The cached exposition of all accounts' object families.
//!
//! Each successful refresh renders its account's families to text once (through the shared
//! table-driven renderer, [`crate::metrics::render`], whose escaping in `text` is
//! property-tested against the library's encoder; the encoder path, [`AccountExposition::render`],
//! stays as the reference), as a list of [`Block`]s per family: a block is a run of
//! sample lines plus its own raw DEFLATE stream and CRC-32, compressed once when the block is
//! first seen. The store keeps every account's blocks family by family (a family's samples
//! must be contiguous in the text format) in segments of neighbouring accounts, so that a
//! publish rebuilds only its own segments, and publishes the families as a layout through an
//! [`ArcSwap`](arc_swap::ArcSwap): a scrape only loads a pointer, never waits on a refresh,
//! and writes the shared chunks as they are (no stitched copy of the whole text exists).
//!
//! Why blocks: at 10,000 numbers the text is about 44 MB. A refresh must build the new text
//! while the old one is still being served, which would double that at every refresh. A
//! [`BlockWriter`] instead looks each freshly rendered block up among the previous
//! rendering's blocks (by CRC-32 and length, then compared byte for byte) and reuses the
//! old shared bytes and their compressed form when nothing changed, so a refresh only
//! allocates and compresses the blocks that did change, and the store rebuilds nothing for
//! a family whose blocks are all the ones it already serves.
//!
//! Here: [`AccountExposition`], one account's rendered families. Beside it: `block` (blocks
//! and their reuse), `text` (the format's escaping, headers and values), `segment` (a
//! family's slots in runs a publish rebuilds one at a time), `store` (the slots, the
//! families and the layout a scrape reads, in both formats), `body` (what a scrape sends,
//! assembled from the layout, and its gzip framing) and [`openmetrics`] (the OpenMetrics
//! headers made from the 0.0.4 ones, and `# EOF`).

mod block;
mod body;
pub mod openmetrics;
mod segment;
mod store;
mod text;

use prometheus::proto::MetricFamily;

pub use block::{Block, BlockWriter};
pub use body::{Chunks, Exposition, Text, gzip_parts, plain_parts};
pub use store::ExpositionStore;
use text::fix_infinities;
pub use text::{
    push_gauge_header, push_header, push_label, push_label_value, push_value, split_header,
};

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
    /// family: the reference the shared renderer ([`crate::metrics::render`]) is tested
    /// against; the collectors render through that one.
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

    /// Appends another rendering's families.
    pub fn append(&mut self, other: AccountExposition) {
        self.families.extend(other.families);
    }

    /// True when `other` is made of the very same sample blocks (a renderer that found
    /// nothing changed reuses every block of the previous rendering) under the same header
    /// texts: it shows the same bytes.
    pub fn same_blocks(&self, other: &AccountExposition) -> bool {
        self.families.len() == other.families.len()
            && self.families.iter().zip(&other.families).all(|(a, b)| {
                a.name == b.name
                    && a.header.text == b.header.text
                    && a.blocks.len() == b.blocks.len()
                    && a.blocks.iter().zip(&b.blocks).all(|(x, y)| x.is(y))
            })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Format;
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
        let openmetrics = store.current_in(Format::OpenMetrics);
        for cur in [store.current(), openmetrics, empty] {
            for head in [
                &b""[..],
                b"# self metrics\nchatapp_up 1\n",
                &[b'x'; 100_000][..],
            ] {
                let (len, parts) = gzip_parts(&BlockWriter::new(None).block(head), &cur);
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

    const INFO: FamilyDef = FamilyDef {
        name: "chatapp_phone_number_info",
        help: "A \"number\"; always 1.",
    };

    fn with_info(phone: &str) -> Arc<AccountExposition> {
        let mut info = family(&INFO, "note");
        info.mut_metric()
            .push(gauge(&[("phone_number", phone)], 1.0));
        let mut limit = family(&DEF, "note");
        limit
            .mut_metric()
            .push(gauge(&[("phone_number", phone)], f64::INFINITY));
        Arc::new(AccountExposition::render(&[info, limit]).unwrap())
    }

    fn text_of(e: &Exposition) -> String {
        String::from_utf8(e.text.to_vec()).unwrap()
    }

    #[test]
    fn openmetrics_is_the_same_samples_under_its_own_headers_and_eof() {
        let store = ExpositionStore::default();
        // Before anything is published: the empty MetricSet, which still needs its EOF.
        assert_eq!(text_of(&store.current_in(Format::OpenMetrics)), "# EOF\n");
        assert!(store.current().text.is_empty());

        store.set("a", "c", Some(with_info("1")));
        store.set("b", "c", Some(with_info("2")));
        assert_eq!(
            text_of(&store.current_in(Format::Text)),
            "# HELP chatapp_phone_number_info A \"number\"; always 1. note\n\
             # TYPE chatapp_phone_number_info gauge\n\
             chatapp_phone_number_info{phone_number=\"1\"} 1\n\
             chatapp_phone_number_info{phone_number=\"2\"} 1\n\
             # HELP chatapp_phone_number_messaging_limit test note\n\
             # TYPE chatapp_phone_number_messaging_limit gauge\n\
             chatapp_phone_number_messaging_limit{phone_number=\"1\"} +Inf\n\
             chatapp_phone_number_messaging_limit{phone_number=\"2\"} +Inf\n"
        );
        assert_eq!(
            text_of(&store.current_in(Format::OpenMetrics)),
            "# TYPE chatapp_phone_number info\n\
             # HELP chatapp_phone_number A \\\"number\\\"; always 1. note\n\
             chatapp_phone_number_info{phone_number=\"1\"} 1\n\
             chatapp_phone_number_info{phone_number=\"2\"} 1\n\
             # TYPE chatapp_phone_number_messaging_limit gauge\n\
             # HELP chatapp_phone_number_messaging_limit test note\n\
             chatapp_phone_number_messaging_limit{phone_number=\"1\"} +Inf\n\
             chatapp_phone_number_messaging_limit{phone_number=\"2\"} +Inf\n\
             # EOF\n"
        );
        // The sample chunks are the same shared bytes in both formats.
        let (text, om) = (store.current(), store.current_in(Format::OpenMetrics));
        let second = |e: &Exposition| e.text.chunks().nth(1).unwrap().as_ptr();
        assert_eq!(second(&text), second(&om));

        // Dropping every account leaves only the EOF.
        store.set("a", "c", None);
        store.set("b", "c", None);
        assert_eq!(text_of(&store.current_in(Format::OpenMetrics)), "# EOF\n");
    }

    #[test]
    fn openmetrics_headers_are_converted_once_and_kept_while_used() {
        let store = ExpositionStore::default();
        store.set("a", "c", Some(with_info("1")));
        let first = |store: &ExpositionStore| {
            let om = store.current_in(Format::OpenMetrics);
            om.text.chunks().next().unwrap().clone()
        };
        let header = first(&store);
        assert!(header.starts_with(b"# TYPE chatapp_phone_number info\n"));
        // Another publish with the same HELP: the same header block, not a new conversion.
        store.set("b", "c", Some(with_info("2")));
        store.set("a", "c", Some(with_info("3")));
        let again = first(&store);
        assert_eq!(header.as_ptr(), again.as_ptr());
        assert_eq!(store.openmetrics_header_count(), 2, "one per family in use");
        store.set("a", "c", None);
        store.set("b", "c", None);
        assert_eq!(
            store.openmetrics_header_count(),
            0,
            "unused headers are dropped"
        );
    }

    #[test]
    fn the_filter_applies_to_both_formats() {
        let store = ExpositionStore::new(
            Vec::new(),
            crate::metrics::FamilyFilter::new(&[], &["chatapp_phone_number_info".to_owned()])
                .unwrap(),
        );
        store.set("a", "c", Some(with_info("1")));
        for format in [Format::Text, Format::OpenMetrics] {
            let text = text_of(&store.current_in(format));
            assert!(!text.contains("chatapp_phone_number_info"), "{text}");
            assert!(
                text.contains("chatapp_phone_number_messaging_limit{"),
                "{text}"
            );
        }
    }
}
