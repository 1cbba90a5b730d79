//! OpenMetrics 1.0.0 text from the Prometheus 0.0.4 text the exporter already renders.
//!
//! The two formats differ, for what this exporter exposes, only in the metadata lines and in
//! the end marker (OpenMetrics 1.0, "Text format"), so the sample lines, nearly all of the
//! bytes, are served as they are in both:
//!
//! - A counter's MetricFamily is named without `_total` in `# TYPE`/`# HELP`; its samples
//!   keep the suffix ("Counter: The MetricPoint's Total Value Sample MetricName MUST have the
//!   suffix `_total`"). A counter whose name lacks the suffix is typed `unknown` instead,
//!   which keeps its sample name valid. No `_created` samples are added.
//! - A gauge named `*_info` becomes type `info`, named without the suffix; its samples keep
//!   `_info` ("Info: The Sample MetricName ... MUST have the suffix `_info`. The Sample value
//!   MUST always be 1"). Every `*_info` family of this exporter is 1 by construction
//!   (exporter-conventions.md §1, the info pattern).
//! - `# UNIT` where the family name ends in `_<unit>` ("Unit ... MUST be a suffix of the
//!   MetricFamily name separated by an underscore"), for the base units of the Prometheus
//!   naming guide; never for `info` ("MUST have an empty Unit string").
//! - Metadata in the order TYPE, UNIT, HELP ("The ordering SHOULD be TYPE, UNIT, HELP");
//!   HELP escapes `"` as well as `\` and line feed (the ABNF's `escaped-string`; 0.0.4
//!   escapes only the latter two). Other `#` lines are dropped ("you MUST NOT expose lines
//!   beginning with a #" besides metadata and EOF).
//! - `untyped` is `unknown`; StateSets stay gauges with their label names (renaming the
//!   state label after the family, as an OpenMetrics `stateset` requires, would break every
//!   query written against the 0.0.4 names).
//! - The exposition ends with `# EOF` ("Expositions MUST end with EOF and SHOULD end with
//!   `EOF\n`"): [`eof`].

use std::sync::LazyLock;

use super::{Block, BlockWriter};

/// Units written as `# UNIT` when a family name ends in `_<unit>`: the base units of the
/// Prometheus naming guide (prometheus.io/docs/practices/naming, "Base units").
const UNITS: &[&str] = &[
    "seconds", "bytes", "meters", "grams", "joules", "volts", "amperes", "celsius", "ratio",
];

/// `# EOF` and its compressed form, the last block of every OpenMetrics exposition.
pub fn eof() -> &'static Block {
    static EOF: LazyLock<Block> = LazyLock::new(|| BlockWriter::new(None).block(b"# EOF\n"));
    &EOF
}

/// Rewrites the metadata of `text`, whole families in the 0.0.4 text format (each family's
/// `# HELP`/`# TYPE` lines before its samples, as the `prometheus` crate's encoder and
/// `push_gauge_header` write them), for OpenMetrics 1.0.0; sample lines are copied as they
/// are. Adds no `# EOF`. Input that is not 0.0.4 text is not rejected: a metadata line this
/// cannot read is dropped.
pub fn convert(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let mut pending = Metadata::default();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let Some(comment) = line.strip_prefix(b"#") else {
            pending.flush(&mut out);
            out.extend_from_slice(line);
            continue;
        };
        let comment = comment.strip_suffix(b"\n").unwrap_or(comment);
        let mut words = comment.trim_ascii_start().splitn(3, |&b| b == b' ');
        let (Some(keyword), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let rest = words.next().unwrap_or_default();
        if name.is_empty() || !matches!(keyword, b"HELP" | b"TYPE") {
            continue;
        }
        if pending.name != Some(name) {
            pending.flush(&mut out);
            pending.name = Some(name);
        }
        match keyword {
            b"HELP" => pending.help = Some(rest),
            _ => pending.kind = Some(rest.trim_ascii()),
        }
    }
    pending.flush(&mut out);
    out
}

/// The metadata lines of one family, read before any of them is written (0.0.4 puts HELP
/// before TYPE, and the name OpenMetrics wants in HELP depends on the type).
#[derive(Debug, Default)]
struct Metadata<'a> {
    name: Option<&'a [u8]>,
    help: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

impl Metadata<'_> {
    fn flush(&mut self, out: &mut Vec<u8>) {
        let Some(name) = self.name.take() else {
            return;
        };
        let help = self.help.take();
        let (family, kind) = match self.kind.take().unwrap_or_default() {
            b"counter" => match name.strip_suffix(b"_total") {
                Some(family) if !family.is_empty() => (family, "counter"),
                _ => (name, "unknown"),
            },
            b"gauge" => match name.strip_suffix(b"_info") {
                Some(family) if !family.is_empty() => (family, "info"),
                _ => (name, "gauge"),
            },
            b"histogram" => (name, "histogram"),
            b"summary" => (name, "summary"),
            _ => (name, "unknown"),
        };
        push_line(out, b"TYPE", family, kind.as_bytes());
        if kind != "info"
            && let Some(unit) = UNITS.iter().find(|u| {
                family
                    .strip_suffix(u.as_bytes())
                    .is_some_and(|f| f.len() > 1 && f.ends_with(b"_"))
            })
        {
            push_line(out, b"UNIT", family, unit.as_bytes());
        }
        if let Some(help) = help.filter(|h| !h.is_empty()) {
            // 0.0.4 HELP has `\` and line feed escaped and never a bare `"`'s escape, so
            // adding `\"` is the whole difference.
            let mut escaped = Vec::with_capacity(help.len() + 8);
            for &b in help {
                if b == b'"' {
                    escaped.push(b'\\');
                }
                escaped.push(b);
            }
            push_line(out, b"HELP", family, &escaped);
        }
    }
}

fn push_line(out: &mut Vec<u8>, keyword: &[u8], name: &[u8], value: &[u8]) {
    out.extend_from_slice(b"# ");
    out.extend_from_slice(keyword);
    out.push(b' ');
    out.extend_from_slice(name);
    out.push(b' ');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn om(text: &str) -> String {
        String::from_utf8(convert(text.as_bytes())).unwrap()
    }

    #[test]
    fn counters_lose_total_in_the_metadata_only() {
        assert_eq!(
            om(
                "# HELP chatapp_api_requests_total CAMS API requests sent.\n\
                # TYPE chatapp_api_requests_total counter\n\
                chatapp_api_requests_total{account=\"a\",operation=\"Op\"} 3\n"
            ),
            "# TYPE chatapp_api_requests counter\n\
             # HELP chatapp_api_requests CAMS API requests sent.\n\
             chatapp_api_requests_total{account=\"a\",operation=\"Op\"} 3\n"
        );
    }

    #[test]
    fn counters_with_a_unit_name_it() {
        assert_eq!(
            om(
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
                # TYPE process_cpu_seconds_total counter\n\
                process_cpu_seconds_total 0.25\n"
            ),
            "# TYPE process_cpu_seconds counter\n\
             # UNIT process_cpu_seconds seconds\n\
             # HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n\
             process_cpu_seconds_total 0.25\n"
        );
    }

    #[test]
    fn info_gauges_become_info_without_the_suffix() {
        assert_eq!(
            om("# HELP chatapp_build_info Build information; always 1.\n\
                # TYPE chatapp_build_info gauge\n\
                chatapp_build_info{version=\"1\"} 1\n"),
            "# TYPE chatapp_build info\n\
             # HELP chatapp_build Build information; always 1.\n\
             chatapp_build_info{version=\"1\"} 1\n"
        );
    }

    #[test]
    fn gauges_stay_and_get_a_unit_only_where_the_name_ends_in_it() {
        let text = "# HELP chatapp_phone_number_status Status.\n\
                    # TYPE chatapp_phone_number_status gauge\n\
                    chatapp_phone_number_status{status=\"CONNECTED\"} 1\n\
                    # HELP chatapp_last_refresh_success_timestamp_seconds Unix time.\n\
                    # TYPE chatapp_last_refresh_success_timestamp_seconds gauge\n\
                    chatapp_last_refresh_success_timestamp_seconds{account=\"a\"} 1700000000\n\
                    # HELP process_resident_memory_bytes RSS.\n\
                    # TYPE process_resident_memory_bytes gauge\n\
                    process_resident_memory_bytes 1e+07\n\
                    # TYPE seconds gauge\n\
                    seconds 1\n\
                    # TYPE x_milliseconds gauge\n\
                    x_milliseconds 1\n";
        assert_eq!(
            om(text),
            "# TYPE chatapp_phone_number_status gauge\n\
             # HELP chatapp_phone_number_status Status.\n\
             chatapp_phone_number_status{status=\"CONNECTED\"} 1\n\
             # TYPE chatapp_last_refresh_success_timestamp_seconds gauge\n\
             # UNIT chatapp_last_refresh_success_timestamp_seconds seconds\n\
             # HELP chatapp_last_refresh_success_timestamp_seconds Unix time.\n\
             chatapp_last_refresh_success_timestamp_seconds{account=\"a\"} 1700000000\n\
             # TYPE process_resident_memory_bytes gauge\n\
             # UNIT process_resident_memory_bytes bytes\n\
             # HELP process_resident_memory_bytes RSS.\n\
             process_resident_memory_bytes 1e+07\n\
             # TYPE seconds gauge\n\
             seconds 1\n\
             # TYPE x_milliseconds gauge\n\
             x_milliseconds 1\n"
        );
    }

    #[test]
    fn help_escapes_quotes_too() {
        // 0.0.4: `\` and line feed escaped, `"` bare. OpenMetrics: all three escaped.
        assert_eq!(
            om("# HELP m say \"hi\"\\\\ \\n\n# TYPE m gauge\n"),
            "# TYPE m gauge\n# HELP m say \\\"hi\\\"\\\\ \\n\n"
        );
    }

    #[test]
    fn odd_input_is_mapped_not_rejected() {
        assert_eq!(
            om(
                "# TYPE u untyped\nu 1\n# TYPE c counter\nc 2\n# TYPE _total counter\n_total 1\n\
                # a comment\n# HELP\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n\
                # TYPE _info gauge\n_info 1\n# HELP lonely no type\nlonely 1\n"
            ),
            "# TYPE u unknown\nu 1\n# TYPE c unknown\nc 2\n# TYPE _total unknown\n_total 1\n\
             # TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n\
             # TYPE _info gauge\n_info 1\n# TYPE lonely unknown\n# HELP lonely no type\nlonely 1\n"
        );
        assert!(convert(b"").is_empty());
        assert_eq!(om("# TYPE m gauge"), "# TYPE m gauge\n");
        // Bytes that are not UTF-8 pass through (the caller's text is UTF-8 in practice).
        assert_eq!(convert(b"x{a=\"\xff\"} 1\n"), b"x{a=\"\xff\"} 1\n");
    }

    #[test]
    fn an_empty_help_is_left_out() {
        assert_eq!(
            om("# HELP m \n# TYPE m gauge\nm 1\n"),
            "# TYPE m gauge\nm 1\n"
        );
    }

    #[test]
    fn the_eof_block_is_the_end_marker_compressed() {
        use std::io::Read as _;
        let eof = eof();
        assert_eq!(&eof.text[..], b"# EOF\n");
        let mut stream = eof.deflate.to_vec();
        stream.extend_from_slice(&[0x03, 0x00]);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&stream[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"# EOF\n");
    }
}
