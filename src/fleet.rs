//! What a person sees of the fleet: each number's state in words, worst first, for the
//! landing page and `--once`.
//!
//! Collectors describe what they learned as [`Facts`] beside their metric families (the
//! phone-number list gives names, status, quality and tier; the health collector can-send
//! and Meta's errors; the templates collector the templates that need attention). The store
//! keeps them in the same slot as the families, so the view is built from the same snapshot
//! as `/metrics`, once per change, and never by calling the API. This module is a leaf: plain
//! data, merging and ordering.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::Serialize;

/// What one collector learned about one account, for people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Numbers (each collector fills the fields it knows).
    pub numbers: Vec<NumberFacts>,
    /// Templates that are not approved or not GREEN.
    pub templates: Vec<TemplateFacts>,
}

/// What is known of one number. Fields a collector does not know stay `None`.
///
/// The store keeps one per number and collector for as long as it serves them, so the
/// short words (a phone number, CONNECTED, GREEN, TIER_10K, most verified names) are
/// [`CompactString`]s held inline (up to 24 bytes) rather than `String`s, which cost up to
/// six small heap allocations per number.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NumberFacts {
    /// The phone number, as the `phone_number` label.
    pub phone_number: CompactString,
    /// `VerifiedName`.
    pub verified_name: Option<CompactString>,
    /// `Status` (CONNECTED, FLAGGED, ...).
    pub status: Option<CompactString>,
    /// `QualityRating` (GREEN, YELLOW, RED).
    pub quality: Option<CompactString>,
    /// `MessagingLimitTier` as sent.
    pub tier: Option<CompactString>,
    /// Unique recipients per 24 h for the tier (`None` when unmapped; infinite when unlimited).
    pub messaging_limit: Option<f64>,
    /// `CanSendMessage` of the health status (AVAILABLE, LIMITED, BLOCKED).
    pub can_send: Option<CompactString>,
    /// Meta's errors for the number: description and suggested fix.
    pub problems: Vec<String>,
}

/// A template that needs attention.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TemplateFacts {
    /// `TemplateCode`.
    pub template_code: String,
    /// `Language`.
    pub language: String,
    /// `TemplateName`.
    pub name: Option<String>,
    /// `AuditStatus` (pass, fail, auditing, ...).
    pub audit_status: Option<String>,
    /// Quality score (GREEN, YELLOW, RED, UNKNOWN).
    pub quality: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// How bad a number's state is, worst last (so `max` is the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to see.
    Ok,
    /// Quality YELLOW: a warning from Meta.
    Yellow,
    /// Health says sending is LIMITED.
    Limited,
    /// Quality RED: FLAGGED follows if it stays.
    Red,
    /// FLAGGED, RESTRICTED or another state that caps or stops sending.
    Flagged,
    /// Cannot send at all: health BLOCKED, or the number is BANNED.
    Blocked,
}

impl Severity {
    /// The word for the marker column and the `data-severity` attribute.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Yellow => "yellow",
            Severity::Limited => "limited",
            Severity::Red => "red",
            Severity::Flagged => "flagged",
            Severity::Blocked => "blocked",
        }
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

impl NumberFacts {
    /// The worst thing about the number, and the word that says it (`BLOCKED`, `FLAGGED`,
    /// `RED`...): the marker shown beside its colour.
    pub fn severity(&self) -> (Severity, String) {
        let can_send = self.can_send.as_deref();
        let status = self.status.as_deref();
        let quality = self.quality.as_deref();
        if can_send == Some("BLOCKED") {
            return (Severity::Blocked, "BLOCKED".into());
        }
        if let Some(s) = status.filter(|s| *s == "BANNED") {
            return (Severity::Blocked, s.into());
        }
        if let Some(s) = status.filter(|s| SENDING_CAPPED.contains(s)) {
            return (Severity::Flagged, s.into());
        }
        if quality == Some("RED") {
            return (Severity::Red, "RED".into());
        }
        if can_send == Some("LIMITED") {
            return (Severity::Limited, "LIMITED".into());
        }
        if quality == Some("YELLOW") {
            return (Severity::Yellow, "YELLOW".into());
        }
        (Severity::Ok, "OK".into())
    }

    /// Adds what `other` knows and `self` does not.
    fn merge(&mut self, other: &NumberFacts) {
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.verified_name, &other.verified_name);
        fill(&mut self.status, &other.status);
        fill(&mut self.quality, &other.quality);
        fill(&mut self.tier, &other.tier);
        fill(&mut self.messaging_limit, &other.messaging_limit);
        fill(&mut self.can_send, &other.can_send);
        self.problems.extend(other.problems.iter().cloned());
    }
}

/// One number of the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumberRow {
    /// The `account` label.
    pub account: String,
    /// How bad it is.
    pub severity: Severity,
    /// The word for it (`BLOCKED`, `FLAGGED`, `RED`, ..., `OK`).
    pub marker: String,
    /// What is known.
    #[serde(flatten)]
    pub facts: NumberFacts,
}

/// One template of the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRow {
    /// The `account` label.
    pub account: String,
    /// What is known.
    #[serde(flatten)]
    pub facts: TemplateFacts,
}

/// Every number and every template needing attention, worst first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fleet {
    /// Worst first, then by account and number.
    pub numbers: Vec<NumberRow>,
    /// Rejected first, then by account, code and language.
    pub templates: Vec<TemplateRow>,
}

impl Fleet {
    /// Merges the collectors' facts of every account (`parts` in any order; for one
    /// account, earlier parts win a field both know) and sorts worst first.
    pub fn build<'a>(parts: impl IntoIterator<Item = (&'a str, &'a Facts)>) -> Fleet {
        let mut numbers: BTreeMap<(&str, &str), NumberFacts> = BTreeMap::new();
        let mut templates = Vec::new();
        for (account, facts) in parts {
            for n in &facts.numbers {
                numbers
                    .entry((account, n.phone_number.as_str()))
                    .and_modify(|mine| mine.merge(n))
                    .or_insert_with(|| n.clone());
            }
            templates.extend(facts.templates.iter().map(|t| TemplateRow {
                account: account.to_owned(),
                facts: t.clone(),
            }));
        }
        let mut numbers: Vec<NumberRow> = numbers
            .into_iter()
            .map(|((account, _), facts)| {
                let (severity, marker) = facts.severity();
                NumberRow {
                    account: account.to_owned(),
                    severity,
                    marker,
                    facts,
                }
            })
            .collect();
        // Stable: within a severity, the map's (account, number) order stays.
        numbers.sort_by_key(|r| Reverse(r.severity));
        templates.sort_by(|a, b| {
            let rejected = |t: &TemplateRow| t.facts.audit_status.as_deref() != Some("fail");
            (
                rejected(a),
                &a.account,
                &a.facts.template_code,
                &a.facts.language,
            )
                .cmp(&(
                    rejected(b),
                    &b.account,
                    &b.facts.template_code,
                    &b.facts.language,
                ))
        });
        Fleet { numbers, templates }
    }

    /// How many numbers have each severity, worst first, leaving out the empty ones.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        counts(&self.numbers)
    }
}

/// How many of `rows` have each severity, worst first, leaving out the empty ones.
pub fn counts<'a>(rows: impl IntoIterator<Item = &'a NumberRow>) -> Vec<(Severity, usize)> {
    let mut counts: BTreeMap<Reverse<Severity>, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(Reverse(r.severity)).or_default() += 1;
    }
    counts.into_iter().map(|(Reverse(s), n)| (s, n)).collect()
}

/// [`counts`] in words, as the landing page and `--once` print them: `1 blocked, 3 ok`.
pub fn describe(counts: &[(Severity, usize)]) -> String {
    let words: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.word()))
        .collect();
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(phone: &str, f: impl FnOnce(&mut NumberFacts)) -> NumberFacts {
        let mut n = NumberFacts {
            phone_number: phone.into(),
            status: Some("CONNECTED".into()),
            quality: Some("GREEN".into()),
            ..Default::default()
        };
        f(&mut n);
        n
    }

    #[test]
    fn worst_first_in_the_documented_order() {
        let list = Facts {
            numbers: vec![
                number("1", |_| {}),
                number("2", |n| n.quality = Some("YELLOW".into())),
                number("3", |n| n.quality = Some("RED".into())),
                number("4", |n| n.status = Some("FLAGGED".into())),
                number("5", |n| n.status = Some("RESTRICTED".into())),
                number("6", |_| {}),
                number("7", |n| n.quality = Some("RED".into())),
            ],
            templates: vec![],
        };
        let health = Facts {
            numbers: vec![
                NumberFacts {
                    phone_number: "6".into(),
                    can_send: Some("BLOCKED".into()),
                    problems: vec!["business not verified".into()],
                    ..Default::default()
                },
                NumberFacts {
                    phone_number: "1".into(),
                    can_send: Some("LIMITED".into()),
                    // Health never knows the status: the list's value stays.
                    status: None,
                    ..Default::default()
                },
            ],
            templates: vec![],
        };
        let fleet = Fleet::build([("a", &list), ("a", &health)]);
        let order: Vec<(&str, &str)> = fleet
            .numbers
            .iter()
            .map(|r| (r.facts.phone_number.as_str(), r.marker.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("6", "BLOCKED"),
                ("4", "FLAGGED"),
                ("5", "RESTRICTED"),
                ("3", "RED"),
                ("7", "RED"),
                ("1", "LIMITED"),
                ("2", "YELLOW"),
            ]
        );
        let six = &fleet.numbers[0].facts;
        assert_eq!(six.status.as_deref(), Some("CONNECTED"));
        assert_eq!(six.problems, ["business not verified"]);
        assert_eq!(fleet.numbers[5].facts.status.as_deref(), Some("CONNECTED"));
        assert_eq!(
            fleet.counts(),
            [
                (Severity::Blocked, 1),
                (Severity::Flagged, 2),
                (Severity::Red, 2),
                (Severity::Limited, 1),
                (Severity::Yellow, 1)
            ]
        );
    }

    #[test]
    fn the_same_number_in_two_accounts_is_two_rows_and_rejected_templates_come_first() {
        let a = Facts {
            numbers: vec![number("1", |_| {})],
            templates: vec![
                TemplateFacts {
                    template_code: "b".into(),
                    quality: Some("RED".into()),
                    ..Default::default()
                },
                TemplateFacts {
                    template_code: "z".into(),
                    audit_status: Some("fail".into()),
                    ..Default::default()
                },
            ],
        };
        let fleet = Fleet::build([("x", &a), ("w", &a)]);
        assert_eq!(fleet.numbers.len(), 2);
        assert_eq!(fleet.numbers[0].account, "w");
        let codes: Vec<(&str, &str)> = fleet
            .templates
            .iter()
            .map(|t| (t.account.as_str(), t.facts.template_code.as_str()))
            .collect();
        assert_eq!(codes, [("w", "z"), ("x", "z"), ("w", "b"), ("x", "b")]);
    }
}
