//! The reference conversion: the numbers into `prometheus::proto` families, one `Metric`
//! with owned labels per series, for the library's encoder to write. Too slow for a large
//! fleet's refresh (see `render`), it is the oracle the fast renderer is tested against, and
//! what the fuzz target and the proto benchmark exercise.

use prometheus::proto::MetricFamily;

use super::PhoneNumber;
use super::{COLUMNS, Report, TierLimits, Value, dedupe};
use crate::collect::{family, gauge, label_value, non_empty, push_state_set};
use crate::metrics::EnumMode;
use crate::metrics::render::Series;

/// Converts one account's numbers into families (sorted by phone number; families without
/// series are left out). Duplicate entries keep the first occurrence: two series with the
/// same labels would make the whole exposition invalid.
pub fn convert(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
) -> (Vec<MetricFamily>, Report) {
    let (by_number, mut report) = dedupe(numbers);
    let mut families: Vec<MetricFamily> = COLUMNS
        .iter()
        .map(|c| family(c.family(), refresh_note))
        .collect();
    for (phone, n) in &by_number {
        let base = [("account", account), ("phone_number", *phone)];
        for (fam, column) in families.iter_mut().zip(COLUMNS) {
            let out = fam.mut_metric();
            match (&column.series, &column.value) {
                (Series::Info(_, labels), Value::Labels(fields)) => {
                    let values: Vec<String> = fields
                        .iter()
                        .map(|field| field(n).as_deref().map(label_value).unwrap_or_default())
                        .collect();
                    let mut all = base.to_vec();
                    all.extend(
                        labels
                            .iter()
                            .copied()
                            .zip(values.iter().map(String::as_str)),
                    );
                    out.push(gauge(&all, 1.0));
                }
                (Series::States(def), Value::State(field)) => {
                    report.unknown.extend(push_state_set(
                        out,
                        def,
                        &base,
                        non_empty(field(n)),
                        mode,
                    ));
                }
                (_, Value::Gauge(value)) => {
                    if let Some(v) = value(n, tiers) {
                        out.push(gauge(&base, v));
                    }
                }
                // A column whose value does not fit its shape; the tests show none.
                _ => {}
            }
        }
    }
    families.retain(|f| !f.get_metric().is_empty());
    (families, report)
}
