//! What the phone-number list shows people: the numbers table's name, status, quality, tier
//! and messaging-limit columns, and its verdict on each number (worst first on every
//! surface).

use compact_str::CompactString;

use super::{PhoneNumber, TierLimits, dedupe};
use crate::collect::{label_str, non_empty};
use crate::view::{
    Cell, Column, Facts, NumberFacts, Severity, Surface, Value, Verdict, ViewSpec, show_plain,
};

/// `VerifiedName`.
pub static VERIFIED_NAME: Column =
    Column::text("verified_name", "Verified name", Some("VERIFIED NAME"));

/// `Status`.
pub static STATUS: Column = Column::text("status", "Status", Some("STATUS"));

/// `QualityRating`.
pub static QUALITY: Column = Column::text("quality", "Quality", Some("QUALITY"));

/// `MessagingLimitTier` as sent; the terminal leaves out the `TIER_` prefix, to give the
/// room to names.
pub static TIER: Column = Column {
    key: "tier",
    title: "Tier",
    term: Some("TIER"),
    numeric: false,
    show: show_tier,
    page: true,
};

/// Unique recipients per 24 hours of the tier; not in the terminal (the tier says it, and
/// the JSON document has both).
pub static MESSAGING_LIMIT: Column = Column {
    key: "messaging_limit",
    title: "Messaging limit (24 h)",
    term: None,
    numeric: true,
    show: show_limit,
    page: true,
};

/// The columns, in order.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[&VERIFIED_NAME, &STATUS, &QUALITY, &TIER, &MESSAGING_LIMIT],
    notes: &[],
    tables: &[],
    term_columns: &[],
};

fn show_tier(v: &Value, surface: Surface) -> String {
    let text = show_plain(v, surface);
    match surface {
        Surface::Terminal => text.strip_prefix("TIER_").unwrap_or(&text).to_owned(),
        Surface::Html => text,
    }
}

/// Recipients per 24 hours, or `unlimited`.
fn show_limit(v: &Value, surface: Surface) -> String {
    match v {
        Value::Number(n) if n.is_finite() => format!("{n:.0}"),
        Value::Number(_) => "unlimited".into(),
        Value::Text(_) | Value::Of { .. } => show_plain(v, surface),
    }
}

/// The statuses that cap or stop sending (the alert ChatAppPhoneNumberRestricted's list).
const SENDING_CAPPED: &[&str] = &[
    "FLAGGED",
    "RESTRICTED",
    "RATE_LIMITED",
    "DISCONNECTED",
    "OFFLINE",
    "PAUSED",
];

/// How bad a number's status and quality are, and the word that says it.
pub fn verdict(status: Option<&str>, quality: Option<&str>) -> Verdict {
    let (severity, word) = match (status, quality) {
        (Some(s @ "BANNED"), _) => (Severity::Blocked, s),
        (Some(s), _) if SENDING_CAPPED.contains(&s) => (Severity::Flagged, s),
        (_, Some("RED")) => (Severity::Red, "RED"),
        (_, Some("YELLOW")) => (Severity::Yellow, "YELLOW"),
        _ => (Severity::Ok, "OK"),
    };
    Verdict {
        severity,
        word: CompactString::new(word),
    }
}

/// The exported numbers in words, for the landing page and `--once`. Pure.
pub fn facts(numbers: &[PhoneNumber], tiers: &TierLimits) -> Facts {
    let numbers = dedupe(numbers)
        .0
        .into_iter()
        .map(|(phone, n)| {
            let text = |v| non_empty(v).map(|t| Value::Text(CompactString::new(label_str(t))));
            let status = non_empty(&n.status).map(label_str);
            let quality = non_empty(&n.quality_rating).map(label_str);
            let limit = non_empty(&n.messaging_limit_tier)
                .and_then(|t| tiers.get(t))
                .map(Value::Number);
            let cells = [
                (&VERIFIED_NAME, text(&n.verified_name)),
                (&STATUS, text(&n.status)),
                (&QUALITY, text(&n.quality_rating)),
                (&TIER, text(&n.messaging_limit_tier)),
                (&MESSAGING_LIMIT, limit),
            ]
            .into_iter()
            .filter_map(|(column, value)| {
                Some(Cell {
                    column,
                    value: value?,
                })
            })
            .collect();
            NumberFacts {
                phone_number: CompactString::new(phone),
                verdict: Some(verdict(status, quality)),
                cells,
                notes: Vec::new(),
            }
        })
        .collect();
    Facts {
        numbers,
        tables: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_in_the_documented_order() {
        let word = |s, q| {
            let v = verdict(s, q);
            (v.severity, v.word.to_string())
        };
        assert_eq!(
            word(Some("BANNED"), Some("GREEN")),
            (Severity::Blocked, "BANNED".into())
        );
        assert_eq!(
            word(Some("RESTRICTED"), Some("RED")),
            (Severity::Flagged, "RESTRICTED".into())
        );
        assert_eq!(
            word(Some("CONNECTED"), Some("RED")),
            (Severity::Red, "RED".into())
        );
        assert_eq!(
            word(None, Some("YELLOW")),
            (Severity::Yellow, "YELLOW".into())
        );
        assert_eq!(
            word(Some("PENDING"), Some("UNKNOWN")),
            (Severity::Ok, "OK".into())
        );
    }

    #[test]
    fn the_terminal_shows_the_tier_without_its_prefix_and_the_page_unlimited() {
        let tier = Value::text("TIER_10K");
        assert_eq!((TIER.show)(&tier, Surface::Terminal), "10K");
        assert_eq!((TIER.show)(&tier, Surface::Html), "TIER_10K");
        assert_eq!(
            (MESSAGING_LIMIT.show)(&Value::Number(f64::INFINITY), Surface::Html),
            "unlimited"
        );
        assert_eq!(
            (MESSAGING_LIMIT.show)(&Value::Number(1000.0), Surface::Html),
            "1000"
        );
    }
}
