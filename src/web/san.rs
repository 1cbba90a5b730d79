//! Reads the Subject Alternative Names of a DER certificate, for `client_allowed_sans`.
//!
//! A deliberately small DER walker: Certificate → tbsCertificate → extensions `[3]` →
//! the `subjectAltName` extension (OID 2.5.29.17) → GeneralNames. Only the four name kinds
//! that exporter-toolkit compares are returned, formatted as Go's `crypto/x509` does: DNS
//! names, e-mail addresses and URIs as written, IP addresses in their canonical text form.
//! Every read is bounds-checked; malformed input gives `None`, never a panic (fuzzed by
//! `fuzz/fuzz_targets/san.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// DER encoding of the OID 2.5.29.17 (id-ce-subjectAltName), without tag and length.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

const TAG_BOOLEAN: u8 = 0x01;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT` around the extensions in tbsCertificate.
const TAG_EXTENSIONS: u8 = 0xa3;
/// GeneralName choices (implicit, primitive).
const TAG_RFC822_NAME: u8 = 0x81;
const TAG_DNS_NAME: u8 = 0x82;
const TAG_URI: u8 = 0x86;
const TAG_IP_ADDRESS: u8 = 0x87;

/// One SAN entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanEntry {
    /// `dNSName`.
    Dns(String),
    /// `rfc822Name`.
    Email(String),
    /// `uniformResourceIdentifier`.
    Uri(String),
    /// `iPAddress`.
    Ip(IpAddr),
}

impl SanEntry {
    /// Whether this entry equals one of the configured `client_allowed_sans` strings, as the
    /// toolkit compares them (exact string match; IP addresses compared as addresses).
    pub fn matches(&self, allowed: &str) -> bool {
        match self {
            SanEntry::Dns(s) | SanEntry::Email(s) | SanEntry::Uri(s) => s == allowed,
            SanEntry::Ip(ip) => allowed.parse::<IpAddr>().is_ok_and(|a| a == *ip),
        }
    }
}

impl std::fmt::Display for SanEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SanEntry::Dns(s) => write!(f, "DNS:{s}"),
            SanEntry::Email(s) => write!(f, "email:{s}"),
            SanEntry::Uri(s) => write!(f, "URI:{s}"),
            SanEntry::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// One DER TLV: tag, contents, and the bytes after it.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // High-tag-number form never occurs on the path we walk.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        // 0x80 is the BER indefinite form (not DER); more than 4 length bytes is absurd here.
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest.get(n..)?)
    };
    let contents = rest.get(..len)?;
    Some((tag, contents, rest.get(len..)?))
}

/// Contents of a TLV that must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = read_tlv(input)?;
    (t == tag).then_some((contents, rest))
}

/// The SAN entries of a DER certificate; `Some(vec![])` when it has no SAN extension and
/// `None` when the certificate cannot be read.
pub fn subject_alt_names(cert_der: &[u8]) -> Option<Vec<SanEntry>> {
    let (cert, _) = expect(cert_der, TAG_SEQUENCE)?;
    let (mut tbs, _) = expect(cert, TAG_SEQUENCE)?;
    while !tbs.is_empty() {
        let (tag, contents, rest) = read_tlv(tbs)?;
        tbs = rest;
        if tag == TAG_EXTENSIONS {
            let (mut exts, _) = expect(contents, TAG_SEQUENCE)?;
            while !exts.is_empty() {
                let (ext, rest) = expect(exts, TAG_SEQUENCE)?;
                exts = rest;
                let (oid, mut ext) = expect(ext, TAG_OID)?;
                if oid != OID_SUBJECT_ALT_NAME {
                    continue;
                }
                if let Some((TAG_BOOLEAN, _, rest)) = read_tlv(ext) {
                    ext = rest;
                }
                let (value, _) = expect(ext, TAG_OCTET_STRING)?;
                return general_names(value);
            }
            return Some(Vec::new());
        }
    }
    Some(Vec::new())
}

fn general_names(value: &[u8]) -> Option<Vec<SanEntry>> {
    let (mut names, _) = expect(value, TAG_SEQUENCE)?;
    let mut out = Vec::new();
    while !names.is_empty() {
        let (tag, contents, rest) = read_tlv(names)?;
        names = rest;
        let text = || String::from_utf8_lossy(contents).into_owned();
        match tag {
            TAG_DNS_NAME => out.push(SanEntry::Dns(text())),
            TAG_RFC822_NAME => out.push(SanEntry::Email(text())),
            TAG_URI => out.push(SanEntry::Uri(text())),
            TAG_IP_ADDRESS => {
                if let Ok(v4) = <[u8; 4]>::try_from(contents) {
                    out.push(SanEntry::Ip(IpAddr::V4(Ipv4Addr::from(v4))));
                } else if let Ok(v6) = <[u8; 16]>::try_from(contents) {
                    out.push(SanEntry::Ip(IpAddr::V6(Ipv6Addr::from(v6))));
                }
            }
            // otherName, x400Address, directoryName, ediPartyName, registeredID: not
            // compared by the toolkit either.
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_not_panic() {
        assert_eq!(subject_alt_names(&[]), None);
        assert_eq!(subject_alt_names(&[0x30]), None);
        assert_eq!(
            subject_alt_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(subject_alt_names(&[0x30, 0x80, 0x00, 0x00]), None);
        assert_eq!(
            subject_alt_names(&[0x30, 0x02, 0x30, 0x00]),
            Some(Vec::new())
        );
    }

    #[test]
    fn ip_matches_by_value() {
        let e = SanEntry::Ip("::1".parse().unwrap());
        assert!(e.matches("0:0:0:0:0:0:0:1"));
        assert!(!e.matches("127.0.0.1"));
        assert!(SanEntry::Dns("a.example".into()).matches("a.example"));
        assert!(!SanEntry::Dns("a.example".into()).matches("A.example"));
    }
}
