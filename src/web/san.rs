//! Reads the Subject Alternative Names of a DER certificate, for `client_allowed_sans`.
//!
//! The DER itself is read by x509-parser (and its asn1-rs): every tag, length and bound
//! check, the Extension structure and the GeneralNames decoding. Only the path to the
//! extensions is walked here (Certificate → tbsCertificate → `[3]` extensions), because
//! it must stay as lenient as the old walker was: this runs after rustls has accepted the
//! certificate, and a full parse would add a second, stricter opinion about fields that
//! `client_allowed_sans` does not look at. Only the four name kinds exporter-toolkit
//! compares are returned, formatted as Go's `crypto/x509` does: DNS names, e-mail
//! addresses and URIs as written, IP addresses in their canonical text form. Malformed
//! input gives `None`, never a panic (fuzzed by `fuzz/fuzz_targets/san.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};
use x509_parser::extensions::{GeneralName, SubjectAlternativeName, X509ExtensionParser};
use x509_parser::nom::Parser as _;
use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;

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

/// The contents of a universal, constructed SEQUENCE at the start of `input`.
fn sequence(input: &[u8]) -> Option<&[u8]> {
    let (_, any) = Any::from_der(input).ok()?;
    let h = &any.header;
    (h.class() == Class::Universal && h.is_constructed() && h.tag() == Tag::Sequence)
        .then_some(any.data)
}

/// The SAN entries of a DER certificate; `Some(vec![])` when it has no SAN extension and
/// `None` when the certificate cannot be read.
pub fn subject_alt_names(cert_der: &[u8]) -> Option<Vec<SanEntry>> {
    let cert = sequence(cert_der)?;
    let mut tbs = sequence(cert)?;
    while !tbs.is_empty() {
        let (rest, field) = Any::from_der(tbs).ok()?;
        tbs = rest;
        let h = &field.header;
        if h.class() == Class::ContextSpecific && h.is_constructed() && h.tag() == Tag(3) {
            let mut exts = sequence(field.data)?;
            // Other extensions are not decoded (deep parsing off): a malformed one that
            // rustls tolerated must not hide the SANs.
            let mut parser = X509ExtensionParser::new().with_deep_parse_extensions(false);
            while !exts.is_empty() {
                let (rest, ext) = parser.parse(exts).ok()?;
                exts = rest;
                if ext.oid != OID_X509_EXT_SUBJECT_ALT_NAME {
                    continue;
                }
                let (_, san) = SubjectAlternativeName::from_der(ext.value).ok()?;
                return Some(san.general_names.iter().filter_map(entry).collect());
            }
            return Some(Vec::new());
        }
    }
    Some(Vec::new())
}

/// The entry for one GeneralName, if it is a kind the toolkit compares.
fn entry(name: &GeneralName<'_>) -> Option<SanEntry> {
    Some(match name {
        GeneralName::DNSName(s) => SanEntry::Dns((*s).to_owned()),
        GeneralName::RFC822Name(s) => SanEntry::Email((*s).to_owned()),
        GeneralName::URI(s) => SanEntry::Uri((*s).to_owned()),
        GeneralName::IPAddress(b) => {
            if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                SanEntry::Ip(IpAddr::V4(Ipv4Addr::from(v4)))
            } else {
                SanEntry::Ip(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?)))
            }
        }
        // otherName, x400Address, directoryName, ediPartyName, registeredID: not compared
        // by the toolkit either; `Invalid` (e.g. a DNS name that is not text) cannot match.
        _ => return None,
    })
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
