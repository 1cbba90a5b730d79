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
use flate2::Compression;
use flate2::write::GzEncoder;
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

/// The bytes a scrape serves for the object families, plain and gzip-compressed.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Plain text.
    pub text: Bytes,
    /// The same text as one gzip member; a scrape can prepend another member for the self
    /// metrics, since concatenated gzip members form a valid stream (RFC 1952 §2.2).
    pub gzip: Bytes,
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
        let text = stitch(&accounts);
        // Publishing under the lock keeps two concurrent refreshes from publishing out of
        // order; scrapes never take this lock.
        self.current.store(Arc::new(Exposition {
            gzip: gzip(&text),
            text: Bytes::from(text),
        }));
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

/// gzip at a fast level: the exposition is repetitive text, so level 1 already compresses
/// it about tenfold, and it runs once per refresh, not per scrape.
pub fn gzip(data: &[u8]) -> Bytes {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 8 + 64), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
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
    fn gzip_round_trips() {
        use std::io::Read;
        let store = ExpositionStore::default();
        store.set("a", Some(account("1", 5.0)));
        let cur = store.current();
        let mut dec = flate2::read::GzDecoder::new(&cur.gzip[..]);
        let mut s = Vec::new();
        dec.read_to_end(&mut s).unwrap();
        assert_eq!(s, cur.text.to_vec());
    }
}
