//! The cached exposition of all accounts' object families.
//!
//! Each successful refresh renders its account's families to text once
//! ([`AccountExposition::render`]), with the library's encoder doing all label escaping. The
//! store then stitches every account's pieces together family by family (a family's samples
//! must be contiguous in the text format), compresses the result once, and publishes both
//! through an [`ArcSwap`]: a scrape only loads a pointer and never waits on a refresh.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bytes::Bytes;
// Level 1 ("fast"): the exposition is repetitive text that compresses about tenfold even
// so, and it runs once per refresh.
use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress};
use prometheus::Encoder as _;
use prometheus::proto::MetricFamily;

/// One account's families, rendered.
#[derive(Debug, Default)]
pub struct AccountExposition {
    /// `(family name, "# HELP/# TYPE" header, sample lines)` in the order rendered.
    families: Vec<(String, String, String)>,
}

impl AccountExposition {
    /// Renders `families` with the library's text encoder. Families without samples are
    /// skipped (the encoder rejects them).
    pub fn render(families: &[MetricFamily]) -> Result<Self, prometheus::Error> {
        let encoder = prometheus::TextEncoder::new();
        let mut out = Vec::with_capacity(families.len());
        for f in families.iter().filter(|f| !f.get_metric().is_empty()) {
            let mut text = Vec::new();
            encoder.encode(std::slice::from_ref(f), &mut text)?;
            let text = String::from_utf8(text)
                .map_err(|e| prometheus::Error::Msg(format!("encoder wrote invalid UTF-8: {e}")))?;
            let split = header_len(&text);
            let (header, samples) = text.split_at(split);
            out.push((
                f.name().to_owned(),
                header.to_owned(),
                fix_infinities(samples),
            ));
        }
        Ok(AccountExposition { families: out })
    }

    /// Number of sample lines, for logs and the landing page.
    pub fn series(&self) -> usize {
        self.families
            .iter()
            .map(|(_, _, s)| s.lines().count())
            .sum()
    }
}

/// Length of the `# HELP` and `# TYPE` lines at the start of one encoded family.
fn header_len(text: &str) -> usize {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with('#') {
            break;
        }
        end += line.len();
    }
    end
}

/// The encoder prints infinities with Rust's `inf`; the text format spells them `+Inf`/`-Inf`.
/// The value is always the last token of a sample line, after any (escaped) label values.
fn fix_infinities(samples: &str) -> String {
    if !samples.contains("inf\n") {
        return samples.to_owned();
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
    out
}

/// The bytes a scrape serves for the object families, plain and compressed.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Plain text.
    pub text: Bytes,
    /// The same text as a complete raw DEFLATE stream (final block set), compressed once
    /// per refresh. [`gzip_parts`] puts it behind the per-scrape self metrics.
    pub deflate: Bytes,
    /// CRC-32 state of `text`, combined per scrape with that of the self metrics.
    pub crc: crc32fast::Hasher,
}

impl Exposition {
    fn new(text: Vec<u8>) -> Self {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        let mut enc =
            DeflateEncoder::new(Vec::with_capacity(text.len() / 8 + 64), Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&text);
        Exposition {
            deflate: Bytes::from(enc.finish().unwrap_or_default()),
            crc,
            text: Bytes::from(text),
        }
    }
}

/// One gzip stream (RFC 1952) for `head` followed by `objects.text`, as three chunks, without
/// recompressing the objects: `head` is deflated with a sync flush (byte-aligned, no final
/// block), the cached stream follows as further blocks of the same DEFLATE stream, and the
/// trailer's CRC is combined from both parts. A single member, because not every client
/// (curl, some proxies) reads multi-member gzip.
pub fn gzip_parts(head: &[u8], objects: &Exposition) -> [Bytes; 3] {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut first = Vec::with_capacity(HEADER.len() + head.len() / 4 + 64);
    first.extend_from_slice(&HEADER);
    let mut compress = Compress::new(Compression::fast(), false);
    let mut input = head;
    loop {
        first.reserve(input.len() / 2 + 64);
        let before_in = compress.total_in();
        let status = compress.compress_vec(input, &mut first, FlushCompress::Sync);
        input = &input[(compress.total_in() - before_in) as usize..];
        // Done when all input is consumed and the flush fitted (spare capacity left).
        if status.is_err() || (input.is_empty() && first.len() < first.capacity()) {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(head);
    crc.combine(&objects.crc);
    let size = (head.len() as u64 + objects.text.len() as u64) as u32;
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&size.to_le_bytes());
    [
        Bytes::from(first),
        objects.deflate.clone(),
        Bytes::from(trailer),
    ]
}

/// All accounts' current renderings and the stitched result.
#[derive(Debug, Default)]
pub struct ExpositionStore {
    accounts: Mutex<BTreeMap<String, Arc<AccountExposition>>>,
    current: ArcSwap<Exposition>,
}

impl ExpositionStore {
    /// Replaces (`Some`) or drops (`None`) one account's families and republishes.
    pub fn set(&self, account: &str, rendered: Option<Arc<AccountExposition>>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        match rendered {
            Some(r) => {
                accounts.insert(account.to_owned(), r);
            }
            None => {
                accounts.remove(account);
            }
        }
        // Publishing under the lock keeps two concurrent refreshes from publishing out of
        // order; scrapes never take this lock.
        self.current
            .store(Arc::new(Exposition::new(stitch(&accounts))));
    }

    /// Drops every account not in `keep` (after a reload removed some).
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        let names: Vec<String> = {
            let accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
            accounts.keys().filter(|a| !keep(a)).cloned().collect()
        };
        for name in names {
            self.set(&name, None);
        }
    }

    /// The exposition to serve now.
    pub fn current(&self) -> Arc<Exposition> {
        self.current.load_full()
    }
}

/// Concatenates the accounts' families so that each family appears once, with one header,
/// in the catalogue's order (families not in the catalogue follow, by name).
fn stitch(accounts: &BTreeMap<String, Arc<AccountExposition>>) -> Vec<u8> {
    let capacity = accounts
        .values()
        .flat_map(|a| a.families.iter())
        .map(|(_, h, s)| h.len() + s.len())
        .sum();
    let mut out = Vec::with_capacity(capacity);
    let mut order: Vec<&str> = crate::collect::all_families().map(|d| d.name).collect();
    let mut extra: Vec<&str> = accounts
        .values()
        .flat_map(|a| a.families.iter().map(|(n, _, _)| n.as_str()))
        .filter(|n| !order.contains(n))
        .collect();
    extra.sort_unstable();
    extra.dedup();
    order.extend(extra);
    for name in order {
        let mut header_written = false;
        for account in accounts.values() {
            for (n, header, samples) in &account.families {
                if n != name {
                    continue;
                }
                if !header_written {
                    out.extend_from_slice(header.as_bytes());
                    header_written = true;
                }
                out.extend_from_slice(samples.as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{FamilyDef, family, gauge};

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
        store.set("b", Some(account("2", 1000.0)));
        store.set("a", Some(account("1", f64::INFINITY)));
        let text = String::from_utf8(store.current().text.to_vec()).unwrap();
        assert_eq!(
            text,
            "# HELP chatapp_phone_number_messaging_limit test note\n\
             # TYPE chatapp_phone_number_messaging_limit gauge\n\
             chatapp_phone_number_messaging_limit{phone_number=\"1\"} +Inf\n\
             chatapp_phone_number_messaging_limit{phone_number=\"2\"} 1000\n"
        );
        store.set("a", None);
        let text = String::from_utf8(store.current().text.to_vec()).unwrap();
        assert!(!text.contains("+Inf"));
    }

    #[test]
    fn gzip_parts_form_one_valid_member() {
        use std::io::Read;
        let store = ExpositionStore::default();
        store.set("a", Some(account("1", 5.0)));
        let cur = store.current();
        for head in [
            &b""[..],
            b"# self metrics\nchatapp_up 1\n",
            &[b'x'; 100_000][..],
        ] {
            let gz: Vec<u8> = gzip_parts(head, &cur).concat();
            // MultiGzDecoder would hide a second member; GzDecoder reads exactly one and
            // checks the CRC and length in the trailer.
            let mut dec = flate2::read::GzDecoder::new(&gz[..]);
            let mut out = Vec::new();
            dec.read_to_end(&mut out).unwrap();
            let mut want = head.to_vec();
            want.extend_from_slice(&cur.text);
            assert_eq!(out, want);
        }
    }
}
