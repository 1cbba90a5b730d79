//! The vocabulary every collector shares: family and StateSet definitions as data, label
//! value hygiene, and the helpers that build `prometheus::proto` families from them.
//!
//! It lives in `metrics` so that the collect layer depends on metrics and never the other
//! way round (exporter-conventions.md §1: StateSets, `_info` series, bounded labels).

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// One object family: its name, HELP text and the API field it comes from.
#[derive(Debug)]
pub struct FamilyDef {
    /// Metric name.
    pub name: &'static str,
    /// HELP text without the refresh note, which [`family`] appends.
    pub help: &'static str,
}

/// A StateSet family: the label carrying the state and the states always emitted.
#[derive(Debug)]
pub struct StateSetDef {
    /// The family.
    pub family: FamilyDef,
    /// API field name, the `field` label of `chatapp_unknown_enum_values_total`.
    pub field: &'static str,
    /// Name of the state label (`status`, `rating`, `tier`).
    pub label: &'static str,
    /// Known states, emitted with 0 when not current.
    pub known: &'static [&'static str],
}

/// `--metrics.enum`: how many series a StateSet family has per object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EnumMode {
    /// Every known state, 1 for the current one and 0 for the others (the OpenMetrics
    /// StateSet): `== 0` and `absent` queries work, at a dozen series per field.
    #[default]
    All,
    /// Only the current state's series, value 1: one series per field. Rules written as
    /// `{state="X"} == 1` (as every shipped rule is) work the same in both modes.
    Current,
}

/// A value outside a StateSet's known states, reported to the caller so it can count it and
/// log it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownValue {
    /// API field name, e.g. `Status`.
    pub field: &'static str,
    /// The value as received (truncated like any label value).
    pub value: String,
}

/// Label values from the API are free text; cap them so one hostile field cannot make a
/// series megabytes long. 256 characters is far above any real name or enum value.
pub const MAX_LABEL_CHARS: usize = 256;

/// Trims and truncates an API string for use as a label value.
pub fn label_value(raw: &str) -> String {
    label_str(raw).to_owned()
}

/// [`label_value`] without the copy.
pub fn label_str(raw: &str) -> &str {
    let raw = raw.trim();
    match raw.char_indices().nth(MAX_LABEL_CHARS) {
        Some((i, _)) => &raw[..i],
        None => raw,
    }
}

/// A gauge sample with the given labels.
pub fn gauge(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut m = Metric::from_label(
        labels
            .iter()
            .map(|(n, v)| {
                let mut lp = LabelPair::default();
                lp.set_name((*n).to_owned());
                lp.set_value((*v).to_owned());
                lp
            })
            .collect(),
    );
    let mut g = Gauge::default();
    g.set_value(value);
    m.set_gauge(g);
    m
}

/// An empty gauge family for `def`; HELP says the data is cached and how often it refreshes,
/// as the exporter guide asks of exporters that do not fetch on scrape.
pub fn family(def: &FamilyDef, refresh_note: &str) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(def.name.to_owned());
    f.set_help(format!("{} {refresh_note}", def.help));
    f.set_field_type(MetricType::GAUGE);
    f
}

/// Appends the StateSet series for `value` to `out`: every known state (0 or 1) plus the
/// value itself when it is not known, or under [`EnumMode::Current`] the value's series
/// only. Returns the unknown value, if any.
pub fn push_state_set(
    out: &mut Vec<Metric>,
    def: &StateSetDef,
    base: &[(&str, &str)],
    value: Option<&str>,
    mode: EnumMode,
) -> Option<UnknownValue> {
    let value = value?;
    let value = label_value(value);
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(base.len() + 1);
    labels.extend_from_slice(base);
    labels.push((def.label, ""));
    let last = labels.len() - 1;
    for state in def.known {
        let current = *state == value;
        if current || mode == EnumMode::All {
            labels[last].1 = state;
            out.push(gauge(&labels, if current { 1.0 } else { 0.0 }));
        }
    }
    if def.known.contains(&value.as_str()) {
        return None;
    }
    labels[last].1 = &value;
    out.push(gauge(&labels, 1.0));
    Some(UnknownValue {
        field: def.field,
        value,
    })
}
