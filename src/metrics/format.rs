//! Which text format a scrape gets: the Prometheus text format 0.0.4 or OpenMetrics 1.0.0,
//! chosen per request from its `Accept` header (RFC 9110 §12.5.1), and the `Content-Type`
//! that names the choice.
//!
//! What is offered: `text/plain; version=0.0.4` and `application/openmetrics-text` with
//! `version=1.0.0` or `0.0.1` (the same body: 0.0.1 is the name OpenMetrics had before 1.0,
//! and Prometheus parses both alike). Protobuf is not offered, and neither is `text/plain;
//! version=1.0.0` (the UTF-8 variant of the text format Prometheus 3 asks for); a header
//! that ranks them first gets the best of the rest. Every metric and label name here is
//! legacy-valid, so the body does not depend on the `escaping` scheme asked for; the scheme
//! is echoed in the `Content-Type` of an OpenMetrics answer, as Prometheus' own client does.
//!
//! The choice is a pure function of the header, made afresh per request: nothing is kept
//! between requests, so one scraper's format cannot leak into another's answer
//! (kube-state-metrics once served the format the previous request had negotiated).
//!
//! Parsing is tolerant and never fails: an entry that cannot be read is left out, and when
//! nothing offered is acceptable (or there is no header, or only `*/*`) the answer is 0.0.4,
//! the format every Prometheus since 2014 reads. Never 406: a scraper that asked for
//! something odd still gets metrics.

/// The bodies the exporter can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics text, version 1.0.0.
    OpenMetrics,
}

/// `escaping=` of an `Accept` entry, as Prometheus 3 sends it (`allow-utf-8`, or
/// `underscores` under legacy name validation) and as `prometheus/common`'s `model` package
/// names the schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// `allow-utf-8`: names are sent as they are.
    AllowUtf8,
    /// `underscores`: invalid characters become `_`.
    Underscores,
    /// `dots`: dots become `_dot_`, other invalid characters `_`.
    Dots,
    /// `values`: invalid names are sent as `U__` and code points.
    Values,
}

impl Escaping {
    fn parse(value: &str) -> Option<Self> {
        Some(match value.to_ascii_lowercase().as_str() {
            "allow-utf-8" => Escaping::AllowUtf8,
            "underscores" => Escaping::Underscores,
            "dots" => Escaping::Dots,
            "values" => Escaping::Values,
            _ => return None,
        })
    }
}

/// The OpenMetrics version a scraper asked for; the body is the same for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMetricsVersion {
    /// `1.0.0`, the published standard.
    V1_0_0,
    /// `0.0.1`, what Prometheus asked for before OpenMetrics 1.0 was published.
    V0_0_1,
}

/// The outcome of negotiation: the body and how its `Content-Type` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics, with the version and escaping scheme to name.
    OpenMetrics {
        /// The version asked for.
        version: OpenMetricsVersion,
        /// The scheme asked for, echoed; `None` when the entry named none we know.
        escaping: Option<Escaping>,
    },
}

/// The Prometheus text format's content type (version 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics 1.0.0's content type, as its spec ("Overall Structure") requires it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Negotiated {
    /// Which body to send.
    pub fn format(self) -> Format {
        match self {
            Negotiated::Text => Format::Text,
            Negotiated::OpenMetrics { .. } => Format::OpenMetrics,
        }
    }

    /// The `Content-Type` of the answer (static: nothing is allocated per scrape).
    pub fn content_type(self) -> &'static str {
        use Escaping::*;
        use OpenMetricsVersion::*;
        let Negotiated::OpenMetrics { version, escaping } = self else {
            return TEXT_CONTENT_TYPE;
        };
        macro_rules! ct {
            ($v:literal, $escaping:literal) => {
                concat!(
                    "application/openmetrics-text; version=",
                    $v,
                    "; charset=utf-8",
                    $escaping
                )
            };
        }
        macro_rules! om {
            ($v:literal) => {
                match escaping {
                    None => ct!($v, ""),
                    Some(AllowUtf8) => ct!($v, "; escaping=allow-utf-8"),
                    Some(Underscores) => ct!($v, "; escaping=underscores"),
                    Some(Dots) => ct!($v, "; escaping=dots"),
                    Some(Values) => ct!($v, "; escaping=values"),
                }
            };
        }
        match version {
            V1_0_0 => om!("1.0.0"),
            V0_0_1 => om!("0.0.1"),
        }
    }
}

/// What the exporter offers, in its order of preference when one entry (a wildcard) accepts
/// several: 0.0.4 first, so `*/*` and `text/*` keep today's answer.
const OFFERS: [Offer; 3] = [Offer::Text, Offer::OpenMetrics1, Offer::OpenMetrics001];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    Text,
    OpenMetrics1,
    OpenMetrics001,
}

impl Offer {
    fn media_type(self) -> (&'static str, &'static str) {
        match self {
            Offer::Text => ("text", "plain"),
            Offer::OpenMetrics1 | Offer::OpenMetrics001 => ("application", "openmetrics-text"),
        }
    }

    /// The `version` parameter values that name this offer.
    fn version(self) -> &'static str {
        match self {
            Offer::Text => "0.0.4",
            Offer::OpenMetrics1 => "1.0.0",
            Offer::OpenMetrics001 => "0.0.1",
        }
    }
}

/// One media range of an `Accept` header.
#[derive(Debug, Default)]
struct Entry<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    escaping: Option<&'a str>,
    /// q-value in thousandths (RFC 9110 allows three decimals), so ranking is exact.
    q: u16,
}

impl Entry<'_> {
    /// How specifically this entry names `offer` (RFC 9110 §12.5.1: the most specific
    /// range that matches decides an offer's q-value), or `None` when it does not match.
    fn specificity(&self, offer: Offer) -> Option<u8> {
        let (kind, subtype) = offer.media_type();
        if self.kind == "*" {
            return (self.subtype == "*").then_some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        if !self.subtype.eq_ignore_ascii_case(subtype) {
            return None;
        }
        match self.version {
            None => Some(2),
            Some(v) if v.eq_ignore_ascii_case(offer.version()) => Some(3),
            Some(_) => None,
        }
    }
}

/// Chooses the format for a request with these `Accept` header values (all of them, in
/// order; none when the request had no `Accept`).
///
/// Each offer gets the q-value of the most specific entry that matches it (0 when none
/// does); the offer with the highest q-value wins, ties going to the one whose deciding
/// entry comes first in the header, then to the order of `OFFERS`. An offer at q=0 is
/// refused, so when every offer is refused the answer is 0.0.4 anyway (see the module
/// docs).
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a [u8]>) -> Negotiated {
    use std::cmp::Reverse;
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for value in accept {
        // A header value that is not UTF-8 (obs-text) cannot name a media type we offer.
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        entries.extend(split_unquoted(value, ',').filter_map(parse_entry));
    }
    let best = OFFERS
        .into_iter()
        .enumerate()
        .filter_map(|(preference, offer)| {
            let (index, entry) = entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.specificity(offer).map(|s| (s, i, e)))
                // The most specific entry; among equally specific ones the first.
                .max_by_key(|(s, i, _)| (*s, Reverse(*i)))
                .map(|(_, i, e)| (i, e))?;
            (entry.q > 0).then_some((offer, index, entry.q, preference))
        })
        .max_by_key(|(_, index, q, preference)| (*q, Reverse(*index), Reverse(*preference)));
    match best {
        None | Some((Offer::Text, ..)) => Negotiated::Text,
        Some((offer, index, ..)) => Negotiated::OpenMetrics {
            version: if offer == Offer::OpenMetrics001 {
                OpenMetricsVersion::V0_0_1
            } else {
                OpenMetricsVersion::V1_0_0
            },
            escaping: entries
                .get(index)
                .and_then(|e| e.escaping)
                .and_then(Escaping::parse),
        },
    }
}

/// Reads one media range (`type/subtype;param=value;q=0.5`); `None` when it is not one.
fn parse_entry(raw: &str) -> Option<Entry<'_>> {
    let mut parts = split_unquoted(raw, ';');
    let media = parts.next()?.trim();
    let (kind, subtype) = media.split_once('/')?;
    let (kind, subtype) = (kind.trim(), subtype.trim());
    if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut entry = Entry {
        kind,
        subtype,
        q: 1000,
        ..Entry::default()
    };
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue; // `;;` or a bare word: nothing to read
        };
        let value = unquote(value.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "q" => entry.q = parse_q(value)?,
            "version" => entry.version = Some(value),
            "escaping" => entry.escaping = Some(value),
            _ => {}
        }
    }
    Some(entry)
}

/// A q-value in thousandths: `0` to `1` with up to three decimals (RFC 9110 §12.4.2),
/// read leniently (more decimals, values above 1 capped at 1). Anything else leaves the
/// whole entry out rather than guessing its rank.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if int.trim_start_matches('0').len() > 1 {
        return Some(1000);
    }
    let whole = u16::from(int.bytes().last().unwrap_or(b'0') - b'0');
    let mut milli = whole * 1000;
    for (digit, scale) in frac.bytes().zip([100u16, 10, 1]) {
        milli += u16::from(digit - b'0') * scale;
    }
    Some(milli.min(1000))
}

/// RFC 9110 `token` characters, plus the `*` wildcard.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `"value"` without its quotes (a quoted-string's escapes are left as they are: no value
/// we compare contains one).
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Splits at `sep` outside double quotes, so a quoted parameter may hold `,` or `;`.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    rest = Some(&s[i + c.len_utf8()..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pick(accept: &str) -> Negotiated {
        negotiate([accept.as_bytes()])
    }

    const OM: Negotiated = Negotiated::OpenMetrics {
        version: OpenMetricsVersion::V1_0_0,
        escaping: None,
    };

    /// Prometheus 3's default (from its scrape code), with UTF-8 names allowed.
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// Prometheus 2's default (2.42 included).
    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_3_gets_openmetrics_with_its_escaping_echoed() {
        let n = pick(PROMETHEUS_3);
        assert_eq!(
            n,
            Negotiated::OpenMetrics {
                version: OpenMetricsVersion::V1_0_0,
                escaping: Some(Escaping::AllowUtf8)
            }
        );
        assert_eq!(
            n.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
        // Under legacy name validation Prometheus 3 asks for underscores.
        let legacy = PROMETHEUS_3.replace("allow-utf-8", "underscores");
        assert_eq!(
            pick(&legacy).content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
        );
    }

    #[test]
    fn prometheus_2_gets_openmetrics_1_0_0() {
        assert_eq!(pick(PROMETHEUS_2), OM);
        assert_eq!(pick(PROMETHEUS_2).content_type(), OPENMETRICS_CONTENT_TYPE);
        assert_eq!(pick(PROMETHEUS_2).format(), Format::OpenMetrics);
    }

    #[test]
    fn a_protobuf_first_header_gets_openmetrics_not_0_0_4() {
        // Prometheus 3 with native histograms on: protobuf first at q=0.6.
        let header = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(pick(header).format(), Format::OpenMetrics);
        // Protobuf alone at q=1 before the rest, as older Prometheus 2 sent it.
        let header = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5";
        assert_eq!(pick(header), OM);
    }

    #[test]
    fn plain_text_missing_or_any_gets_0_0_4() {
        for header in [
            "text/plain",
            "text/plain;version=0.0.4",
            "*/*",
            "text/*",
            "*/*;q=0.1",
            "text/plain;version=1.0.0;q=0.9,*/*;q=0.1",
        ] {
            let n = pick(header);
            assert_eq!(n, Negotiated::Text, "{header}");
            assert_eq!(n.content_type(), TEXT_CONTENT_TYPE);
        }
        assert_eq!(negotiate([]), Negotiated::Text);
        assert_eq!(negotiate([&b""[..]]), Negotiated::Text);
    }

    #[test]
    fn garbage_gets_0_0_4() {
        for header in [
            "garbage",
            ";;;,,,",
            "/",
            "*/plain",
            "application/openmetrics-text;q=banana",
            "application/openmetrics-text;version=9.9.9",
            "application/openmetrics-text;q=-1",
            "\"application/openmetrics-text\"",
            "application/openmetrics-text ; version = 2.0.0",
            "text/html, image/png",
            "application/json;q=1,text/html;q=0.9",
        ] {
            assert_eq!(pick(header), Negotiated::Text, "{header}");
        }
        assert_eq!(negotiate([&[0xff, 0xfe, b'/', 0x80][..]]), Negotiated::Text);
    }

    #[test]
    fn parsing_is_tolerant() {
        for header in [
            "application/openmetrics-text",
            "Application/OpenMetrics-Text; Version=1.0.0",
            " application/openmetrics-text ; version = \"1.0.0\" ; q = 1 ",
            "text/plain;q=0.5, application/openmetrics-text",
            "text/plain;q=0.5,application/openmetrics-text;q=0.501",
            "application/openmetrics-text;q=2",
            "application/*, text/plain;q=0.9",
            "application/openmetrics-text;foo=\"a,b;c\";version=1.0.0",
        ] {
            assert_eq!(pick(header).format(), Format::OpenMetrics, "{header}");
        }
        // Equal q-values: the entry named first wins.
        assert_eq!(
            pick("application/openmetrics-text,text/plain").format(),
            Format::OpenMetrics
        );
        assert_eq!(
            pick("text/plain,application/openmetrics-text").format(),
            Format::Text
        );
        // Past three decimals a q-value is cut, so these two tie too.
        assert_eq!(
            pick("text/plain;q=0.5,application/openmetrics-text;q=0.5001").format(),
            Format::Text
        );
        // Several header lines count as one list.
        assert_eq!(
            negotiate([
                &b"text/plain;q=0.2"[..],
                b"application/openmetrics-text;q=0.3"
            ])
            .format(),
            Format::OpenMetrics
        );
    }

    #[test]
    fn q_zero_refuses_and_the_most_specific_entry_decides() {
        // 0.0.4 refused outright: the wildcard's OpenMetrics wins.
        assert_eq!(
            pick("text/plain;version=0.0.4;q=0,*/*;q=0.5").format(),
            Format::OpenMetrics
        );
        // OpenMetrics refused: the wildcard gives 0.0.4.
        assert_eq!(
            pick("application/openmetrics-text;q=0,*/*").format(),
            Format::Text
        );
        // Everything refused: 0.0.4 all the same (never 406).
        assert_eq!(pick("*/*;q=0"), Negotiated::Text);
    }

    #[test]
    fn openmetrics_0_0_1_alone_is_named_as_asked() {
        let n = pick("application/openmetrics-text;version=0.0.1,text/plain;q=0.5");
        assert_eq!(
            n,
            Negotiated::OpenMetrics {
                version: OpenMetricsVersion::V0_0_1,
                escaping: None
            }
        );
        assert_eq!(
            n.content_type(),
            "application/openmetrics-text; version=0.0.1; charset=utf-8"
        );
    }

    #[test]
    fn unknown_escaping_is_not_echoed() {
        let n = pick("application/openmetrics-text;version=1.0.0;escaping=rot13");
        assert_eq!(n, OM);
        for (scheme, want) in [
            ("dots", Escaping::Dots),
            ("values", Escaping::Values),
            ("Underscores", Escaping::Underscores),
        ] {
            let n = pick(&format!("application/openmetrics-text;escaping={scheme}"));
            assert_eq!(
                n,
                Negotiated::OpenMetrics {
                    version: OpenMetricsVersion::V1_0_0,
                    escaping: Some(want)
                }
            );
            assert!(
                n.content_type()
                    .ends_with(&format!("; escaping={}", scheme.to_lowercase()))
            );
        }
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.6"), Some(600));
        assert_eq!(parse_q("0.75"), Some(750));
        assert_eq!(parse_q("0.1234"), Some(123));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("000.5"), Some(500));
        assert_eq!(parse_q("10"), Some(1000));
        assert_eq!(parse_q(".5"), None);
        assert_eq!(parse_q("0.5x"), None);
        assert_eq!(parse_q(""), None);
        assert_eq!(parse_q("NaN"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any header, including ones built from the pieces that matter: no panic, and the
        /// answer is one of the offers with a content type that names it.
        #[test]
        fn any_header_gets_an_answer(
            raw in proptest::collection::vec(any::<u8>(), 0..200),
            pieces in proptest::collection::vec(prop_oneof![
                Just("application/openmetrics-text"), Just("text/plain"), Just("*/*"),
                Just("application/*"), Just(";version=1.0.0"), Just(";version=0.0.1"),
                Just(";version=0.0.4"), Just(";q=0"), Just(";q=0.5"), Just(";q=1"), Just(";q="),
                Just(";escaping=allow-utf-8"), Just(","), Just(";"), Just("\""), Just("="),
                Just(" "), Just("\\"), Just("é"),
            ], 0..24),
        ) {
            let built: String = pieces.concat();
            for header in [&raw[..], built.as_bytes()] {
                let n = negotiate([header]);
                let ct = n.content_type();
                match n.format() {
                    Format::Text => prop_assert_eq!(ct, TEXT_CONTENT_TYPE),
                    Format::OpenMetrics => {
                        prop_assert!(ct.starts_with("application/openmetrics-text; version="));
                    }
                }
            }
        }
    }
}
