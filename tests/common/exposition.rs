//! A strict little parser for the Prometheus text exposition format (version 0.0.4), enough
//! to assert on series: it unescapes label values and fails on any line it does not
//! understand, so a malformed exposition fails the test that scraped it.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, or "".
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }

    fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.name == name
            && labels
                .iter()
                .all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// A parsed exposition.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The raw text.
    pub text: String,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: family name → type.
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    /// Parses `text`; panics with the offending line on anything malformed, on a sample
    /// without a preceding `# TYPE`, or on a family whose samples are not contiguous.
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        let mut finished: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').unwrap_or_else(|| bad(line));
                assert!(
                    types.insert(name.to_owned(), ty.to_owned()).is_none(),
                    "family {name} has two TYPE lines"
                );
                continue;
            }
            if line.starts_with("# HELP ") || line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line);
            let family = family_of(&sample.name, &types)
                .unwrap_or_else(|| panic!("sample without # TYPE: {line}"));
            if current.as_deref() != Some(family.as_str()) {
                assert!(
                    !finished.contains(&family),
                    "samples of {family} are not contiguous (again at: {line})"
                );
                if let Some(c) = current.take() {
                    finished.push(c);
                }
                current = Some(family);
            }
            samples.push(sample);
        }
        let mut seen = std::collections::HashSet::new();
        for s in &samples {
            assert!(
                seen.insert((s.name.clone(), s.labels.clone())),
                "duplicate series {} {:?}",
                s.name,
                s.labels
            );
        }
        Scrape {
            text: text.to_owned(),
            samples,
            types,
        }
    }

    /// Samples named `name` whose labels include `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.matches(name, labels))
            .collect()
    }

    /// The value of the one sample named `name` whose labels include `labels`; `None` when
    /// there is none; panics when several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(
            found.len() <= 1,
            "{name} {labels:?} matches {} series: {found:?}",
            found.len()
        );
        found.first().map(|s| s.value)
    }

    /// The current state of a StateSet: the `label` value of the series with value 1.
    pub fn state(&self, name: &str, label: &str, labels: &[(&str, &str)]) -> Option<String> {
        let ones: Vec<&Sample> = self
            .find(name, labels)
            .into_iter()
            .filter(|s| s.value == 1.0)
            .collect();
        assert!(
            ones.len() <= 1,
            "StateSet {name} {labels:?} has {} current states",
            ones.len()
        );
        ones.first().map(|s| s.label(label).to_owned())
    }

    /// How many object series (`chatapp_phone_number_*`, `chatapp_waba_*`) `account` has.
    pub fn object_series(&self, account: &str) -> usize {
        self.samples
            .iter()
            .filter(|s| {
                (s.name.starts_with("chatapp_phone_number_") || s.name.starts_with("chatapp_waba_"))
                    && s.label("account") == account
            })
            .count()
    }

    /// The error counter for `account` and `code`, summed over operations.
    pub fn errors(&self, account: &str, code: &str) -> f64 {
        self.find(
            "chatapp_api_request_errors_total",
            &[("account", account), ("code", code)],
        )
        .iter()
        .map(|s| s.value)
        .sum()
    }

    /// `chatapp_up{account}`.
    pub fn up(&self, account: &str) -> Option<f64> {
        self.value("chatapp_up", &[("account", account)])
    }
}

fn bad(line: &str) -> ! {
    panic!("malformed exposition line: {line:?}")
}

/// The family a sample belongs to (histogram/summary suffixes are not used here, but
/// `process_*` families are plain too).
fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.contains_key(*base))
        .map(str::to_owned)
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| bad(line));
    let name = &line[..name_end];
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid_name {
        bad(line);
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // label name
            let start = match chars.peek() {
                Some((i, _)) => *i,
                None => bad(line),
            };
            let mut end = start;
            let mut closed_empty = false;
            while let Some(&(i, c)) = chars.peek() {
                if c == '=' {
                    end = i;
                    break;
                }
                if c == '}' && i == start {
                    closed_empty = true;
                    break;
                }
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    bad(line);
                }
                chars.next();
            }
            if closed_empty {
                chars.next();
                rest = &after[start + 1..];
                break;
            }
            let label = &after[start..end];
            chars.next(); // '='
            if chars.next().map(|(_, c)| c) != Some('"') {
                bad(line);
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        _ => bad(line),
                    },
                    Some((_, '"')) => break,
                    Some((_, '\n')) => bad(line),
                    Some((_, c)) => value.push(c),
                    None => bad(line),
                }
            }
            assert!(
                labels.insert(label.to_owned(), value).is_none(),
                "label {label} twice: {line}"
            );
            match chars.next() {
                Some((_, ',')) => {
                    if let Some(&(i, '}')) = chars.peek() {
                        rest = &after[i + 1..];
                        break;
                    }
                }
                Some((i, '}')) => {
                    rest = &after[i + 1..];
                    break;
                }
                _ => bad(line),
            }
        }
    }
    let value_text = rest.strip_prefix(' ').unwrap_or_else(|| bad(line));
    assert!(
        !value_text.contains(' '),
        "sample has a timestamp or trailing text (the exporter sends none): {line}"
    );
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| bad(line)),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_infinities() {
        let s = Scrape::parse("# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\",b=\"\"} +Inf\nm 2\n");
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.samples[0].label("a"), "x\"y\\z\nw");
        assert_eq!(s.samples[0].value, f64::INFINITY);
        assert_eq!(s.value("m", &[("b", "")]), Some(f64::INFINITY));
    }

    #[test]
    #[should_panic(expected = "malformed")]
    fn rejects_unescaped_quote() {
        Scrape::parse("# TYPE m gauge\nm{a=\"x\"y\"} 1\n");
    }

    #[test]
    #[should_panic(expected = "not contiguous")]
    fn rejects_split_family() {
        Scrape::parse("# TYPE m gauge\n# TYPE n gauge\nm 1\nn 1\nm{a=\"b\"} 1\n");
    }
}
