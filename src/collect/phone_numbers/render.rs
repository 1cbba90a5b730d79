//! The phone-number families through the shared renderer ([`crate::metrics::render`]):
//! byte for byte what `AccountExposition::render(&convert(..).0)` produces, without building
//! a `prometheus::proto::Metric` with owned label strings for each of the ~40 series of each
//! number (686 ms → 45 ms for 10,000 numbers when it was introduced; see bench/README.md).
//!
//! It walks the same [`COLUMNS`] table as the reference conversion, so a family added there
//! is rendered here too: each number is one row of [`TABLE`], its cells read from the
//! columns' fields.

use super::{COLUMNS, Column, PhoneNumber, Report, TABLE, TierLimits, Value, dedupe};
use crate::collect::{label_text, non_empty};
use crate::metrics::EnumMode;
use crate::metrics::exposition::{AccountExposition, BlockWriter};
use crate::metrics::render::{Cell, Renderer};

/// Number of families, one per column.
const N: usize = COLUMNS.len();

/// Renders one account's numbers; see the module docs. Families without series are left
/// out, as the encoder path does.
pub fn render(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Report) {
    let (by_number, mut report) = dedupe(numbers);
    let mut out = Renderer::new(writer, refresh_note, mode);
    // The `_info` columns' label values of the current number (buffers reused).
    let mut labels: [Vec<&str>; N] = Default::default();
    out.table(&TABLE, |rows| {
        for (phone, n) in &by_number {
            for (column, values) in COLUMNS.iter().zip(&mut labels) {
                if let Value::Labels(fields) = column.value {
                    values.clear();
                    values.extend(fields.iter().map(|f| label_text(f(n))));
                }
            }
            let cells: [Cell<'_>; N] =
                std::array::from_fn(|c| cell(&COLUMNS[c], n, tiers, &labels[c]));
            rows.row(&[account, phone], &cells);
        }
    });
    let (exposition, unknown) = out.finish();
    report.unknown.extend(unknown);
    (exposition, report)
}

/// What `column` gets from number `n`; `labels` are an `_info` column's values.
fn cell<'a>(
    column: &Column,
    n: &'a PhoneNumber,
    tiers: &TierLimits,
    labels: &'a [&'a str],
) -> Cell<'a> {
    match column.value {
        Value::Labels(_) => Cell::Info(labels),
        Value::State(field) => Cell::state(non_empty(field(n))),
        Value::Gauge(value) => Cell::value(value(n, tiers)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::model::Text;
    use crate::collect::phone_numbers::convert;

    fn n(phone: Option<&str>, f: impl FnOnce(&mut PhoneNumber)) -> PhoneNumber {
        let mut p = PhoneNumber {
            phone_number: phone.map(Text::from),
            verified_name: Some("Name".into()),
            status: Some("CONNECTED".into()),
            quality_rating: Some("GREEN".into()),
            messaging_limit_tier: Some("TIER_1K".into()),
            code_verification_status: Some("VERIFIED".into()),
            name_status: Some("Approval".into()),
            new_name_status: None,
            status_callback_url: true,
            up_callback_url: false,
            is_official: Some("N".into()),
        };
        f(&mut p);
        p
    }

    /// A fleet with every awkward input the conversion handles, plus enough plain numbers
    /// to span several blocks.
    fn fleet() -> Vec<PhoneNumber> {
        let mut v = vec![
            n(Some("1"), |p| {
                p.verified_name = Some("Quote \"q\" back\\slash\nnew line 🎉 } 1\n".into())
            }),
            n(Some("1"), |p| p.verified_name = Some("duplicate".into())),
            n(None, |_| {}),
            n(Some("   "), |_| {}),
            n(Some("  2  "), |p| {
                p.status = Some("SUSPENDED \"x\"\\".into());
                p.quality_rating = Some("PURPLE".into());
                p.messaging_limit_tier = Some("TIER_42".into());
                p.name_status = Some("AVAILABLE_WITHOUT_REVIEW".into());
                p.new_name_status = Some("Pending_Review".into());
                p.up_callback_url = true;
            }),
            n(Some("3"), |p| {
                p.verified_name = Some("x".repeat(300).into());
                p.status = None;
                p.quality_rating = Some("  ".into());
                p.messaging_limit_tier = Some("UNLIMITED".into());
                p.is_official = None;
            }),
            n(Some("4"), |p| p.messaging_limit_tier = Some("NEG".into())),
            n(Some("5"), |p| p.messaging_limit_tier = Some("BIG".into())),
            n(Some("6"), |p| p.messaging_limit_tier = Some("NAN".into())),
            n(Some("7"), |p| {
                p.messaging_limit_tier = Some("NEGZERO".into())
            }),
        ];
        for i in 0..1500 {
            v.push(n(
                Some(&format!("65{:09}", i * 7919 % 1_000_000_000)),
                |p| {
                    p.quality_rating = Some(["GREEN", "YELLOW", "RED"][i % 3].into());
                    p.status_callback_url = i % 2 == 0;
                },
            ));
        }
        v
    }

    const NOTE: &str = "note \\ with\nnewline";

    fn tiers() -> TierLimits {
        TierLimits::with_overrides(&BTreeMap::from([
            ("NEG".to_owned(), f64::NEG_INFINITY),
            ("BIG".to_owned(), 1e21),
            ("NAN".to_owned(), f64::NAN),
            ("NEGZERO".to_owned(), -0.0),
        ]))
    }

    /// Equality with the first differing line on failure, not megabytes of bytes.
    fn same_text(got: &[u8], want: &[u8]) {
        let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
        if let Some((g, w)) = got.lines().zip(want.lines()).find(|(g, w)| g != w) {
            panic!("first difference:\n got: {g:?}\nwant: {w:?}");
        }
        assert_eq!(got.lines().count(), want.lines().count());
        assert!(got == want);
    }

    fn old_path(account: &str, numbers: &[PhoneNumber]) -> (Vec<u8>, Report) {
        let (families, report) = convert(account, numbers, &tiers(), NOTE, EnumMode::All);
        let text = AccountExposition::render(&families).unwrap().to_text();
        (text, report)
    }

    #[test]
    fn fast_render_is_byte_for_byte_the_encoder_path() {
        let numbers = fleet();
        for account in ["shop-a", "we\"ird\\acc\nount"] {
            let (want, want_report) = old_path(account, &numbers);
            let mut writer = BlockWriter::new(None);
            let (got, report) = render(
                account,
                &numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut writer,
            );
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
            assert_eq!(
                got.series(),
                want.iter().filter(|b| **b == b'\n').count() - 20,
                "10 families, 2 header lines each"
            );
            assert!(writer.compressed > 30, "several blocks per family");
        }
        let empty = render(
            "a",
            &[],
            &tiers(),
            "n",
            EnumMode::All,
            &mut BlockWriter::new(None),
        );
        assert!(empty.0.to_text().is_empty());
    }

    #[test]
    fn current_mode_keeps_only_the_current_states_byte_for_byte() {
        let numbers = fleet();
        let (families, _) = convert("a", &numbers, &tiers(), NOTE, EnumMode::Current);
        let want = AccountExposition::render(&families).unwrap().to_text();
        let (got, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::Current,
            &mut BlockWriter::new(None),
        );
        same_text(&got.to_text(), &want);
        let text = String::from_utf8(want).unwrap();
        let status = |line: &&str| line.starts_with("chatapp_phone_number_status{");
        let statuses: Vec<&str> = text.lines().filter(status).collect();
        // One series per number with a status (number 3 has none), each the current one.
        assert_eq!(statuses.len(), 1500 + 6, "{}", statuses.len());
        assert!(statuses.iter().all(|l| l.ends_with("} 1")));
        assert!(text.contains(r#"status="SUSPENDED \"x\"\\"} 1"#));
        let (all, _) = old_path("a", &numbers);
        assert!(all.len() > 3 * text.len() / 2, "all mode is much larger");
    }

    #[test]
    fn a_changed_number_recompresses_only_its_blocks() {
        let mut numbers = fleet();
        let (first, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::All,
            &mut BlockWriter::new(None),
        );
        let mut writer = BlockWriter::new(Some(&first));
        let (same, _) = render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer);
        assert_eq!(same.to_text(), first.to_text());
        assert_eq!(writer.compressed, 0);

        numbers[700].quality_rating = Some("RED".into());
        numbers.push(n(Some("65999999999"), |_| {}));
        let mut writer = BlockWriter::new(Some(&same));
        let (changed, _) = render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer);
        same_text(&changed.to_text(), &old_path("a", &numbers).0);
        assert!(
            writer.compressed <= 2 * 10 && writer.reused > 10 * writer.compressed,
            "{writer:?}"
        );
    }

    #[test]
    fn fast_render_matches_on_the_api_fixtures() {
        for name in ["full", "seed"] {
            let path = format!(
                "{}/tests/fixtures/api/query-chatapp-phone-numbers.{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let body = std::fs::read(&path).unwrap();
            let r: crate::collect::phone_numbers::PhoneNumbersResponse =
                serde_json::from_slice(&body).unwrap();
            let (want, want_report) = old_path("shop", &r.phone_numbers);
            let (got, report) = render(
                "shop",
                &r.phone_numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut BlockWriter::new(None),
            );
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
        }
    }
}
