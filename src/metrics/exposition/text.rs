//! The text format's spelling (exposition format 0.0.4): escaping, headers and values.
//!
//! The hot path writes these by hand; the `prometheus` crate's `TextEncoder` stays the
//! oracle, and the property tests below check every function here against it byte for byte.
//! The rules, from the format and from the encoder's `escape_string`: a label value escapes
//! `\`, `"` and line feed; HELP text escapes `\` and line feed only; nothing else is touched
//! (other control characters and any Unicode pass through as they are).

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
pub(super) fn fix_infinities(samples: &str) -> std::borrow::Cow<'_, str> {
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
/// text format's spelling of infinities (see `fix_infinities`).
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

/// Appends `value` escaped for use between the quotes of a label value.
pub fn push_label_value(out: &mut Vec<u8>, value: &str) {
    push_escaped(out, value, true);
}

/// Appends `name="value"` (the value escaped).
pub fn push_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    push_label_value(out, value);
    out.push(b'"');
}

/// Appends a gauge family's `# HELP` (escaped; left out when empty, as the encoder does) and
/// `# TYPE` lines.
pub fn push_gauge_header(out: &mut Vec<u8>, name: &str, help: &str) {
    push_header(out, name, help, "gauge");
}

/// [`push_gauge_header`] for a family of type `kind` (`gauge`, `counter`).
pub fn push_header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str) {
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        push_escaped(out, help, false);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

/// Copies `s` with `\` → `\\`, line feed → `\n` and, when `quote`, `"` → `\"`: the runs
/// between those bytes are copied whole (the three are ASCII, so they never occur inside a
/// multi-byte character).
fn push_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::metrics::AccountExposition;
    use crate::metrics::family::{FamilyDef, family, gauge};

    /// What the library's encoder writes for one gauge sample with `labels` under `help`.
    fn oracle(help: &str, labels: &[(&str, &str)], value: f64) -> String {
        let mut f = prometheus::proto::MetricFamily::default();
        f.set_name("x".to_owned());
        f.set_help(help.to_owned());
        f.set_field_type(prometheus::proto::MetricType::GAUGE);
        f.mut_metric().push(gauge(labels, value));
        prometheus::TextEncoder::new()
            .encode_to_string(&[f])
            .unwrap()
    }

    /// The same, written with this module's functions.
    fn by_hand(help: &str, labels: &[(&str, &str)], value: f64) -> String {
        let mut out = Vec::new();
        push_gauge_header(&mut out, "x", help);
        out.push(b'x');
        for (i, (name, v)) in labels.iter().enumerate() {
            out.push(if i == 0 { b'{' } else { b',' });
            push_label(&mut out, name, v);
        }
        if !labels.is_empty() {
            out.push(b'}');
        }
        out.push(b' ');
        push_value(&mut out, value);
        out.push(b'\n');
        String::from_utf8(out).unwrap()
    }

    /// Strings rich in what needs escaping: quotes, backslashes, line feeds, other control
    /// characters, braces and multi-byte characters, besides any Unicode.
    fn awkward() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just('\r'),
                    Just('\t'),
                    Just('}'),
                    Just('='),
                    Just('é'),
                    Just('🎉'),
                    any::<char>(),
                ],
                0..24
            )
            .prop_map(|c| c.into_iter().collect()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn label_values_and_help_are_escaped_as_the_encoder_escapes_them(
            help in awkward(),
            a in awkward(),
            b in awkward(),
        ) {
            let labels = [("account", a.as_str()), ("phone_number", b.as_str())];
            prop_assert_eq!(by_hand(&help, &labels, 1.0), oracle(&help, &labels, 1.0));
            prop_assert_eq!(by_hand(&help, &[], 0.0), oracle(&help, &[], 0.0));
        }
    }

    #[test]
    fn escaping_examples() {
        let mut out = Vec::new();
        push_label_value(&mut out, "a\"b\\c\nd\re🎉");
        assert_eq!(out, "a\\\"b\\\\c\\nd\re🎉".as_bytes());
        let mut out = Vec::new();
        push_gauge_header(&mut out, "m", "say \"hi\"\\\n");
        assert_eq!(out, b"# HELP m say \"hi\"\\\\\\n\n# TYPE m gauge\n");
    }

    const DEF: FamilyDef = FamilyDef {
        name: "chatapp_phone_number_messaging_limit",
        help: "test",
    };

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
}
