//! `--metrics.allowlist` / `--metrics.denylist`: which metric families are exposed, as
//! kube-state-metrics' `--metric-allowlist`/`--metric-denylist` offer (exporter-conventions.md,
//! cardinality). The filter is applied where the exposition is rendered (the store's stitch
//! at each change, the self-metrics encoding), never by parsing a scrape.
//!
//! The shipped alert rules are compiled in, so that a filter that would silently break one
//! of them is caught at start: a self metric a rule needs cannot be denied (the rules would
//! stop evaluating, not fire), an object family only warns (trimming e.g. the phone-number
//! status is a legitimate choice whose alerts the operator then gives up).

use regex::Regex;
use serde::Deserialize;

/// The shipped alerting and recording rules (deploy/prometheus/alerts.yml).
pub const SHIPPED_RULES: &str = include_str!("../../deploy/prometheus/alerts.yml");

/// Which families are exposed: those matching an allowlist pattern (every family when the
/// allowlist is empty) and no denylist pattern. Patterns are anchored at both ends, like
/// Prometheus relabelling regexes.
#[derive(Debug, Clone, Default)]
pub struct FamilyFilter {
    allow: Vec<Regex>,
    deny: Vec<Regex>,
}

/// A pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("--metrics.{list} pattern {pattern:?} is not a valid regular expression: {source}")]
pub struct PatternError {
    /// `allowlist` or `denylist`.
    pub list: &'static str,
    /// The pattern as given.
    pub pattern: String,
    /// Why.
    #[source]
    pub source: regex::Error,
}

impl FamilyFilter {
    /// Compiles the patterns.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, PatternError> {
        let compile = |list: &'static str, patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    Regex::new(&format!("^(?:{p})$")).map_err(|source| PatternError {
                        list,
                        pattern: p.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(FamilyFilter {
            allow: compile("allowlist", allow)?,
            deny: compile("denylist", deny)?,
        })
    }

    /// True when the family `name` is exposed.
    pub fn keeps(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.is_match(name)))
            && !self.deny.iter().any(|r| r.is_match(name))
    }

    /// `allow A, B; deny C`, for `--config.check`.
    pub fn describe(&self) -> String {
        let list = |rs: &[Regex]| {
            rs.iter()
                .map(|r| {
                    let p = r.as_str();
                    p.strip_prefix("^(?:")
                        .and_then(|p| p.strip_suffix(")$"))
                        .unwrap_or(p)
                        .to_owned()
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.allow.is_empty() {
            parts.push(format!("allow {}", list(&self.allow)));
        }
        if !self.deny.is_empty() {
            parts.push(format!("deny {}", list(&self.deny)));
        }
        parts.join("; ")
    }

    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Every (rule name, family) where a shipped rule reads a `chatapp_*` family this filter
    /// drops, in the rules' order.
    pub fn breaks_shipped_rules(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (rule, families) in rule_families(SHIPPED_RULES) {
            for family in families {
                if !self.keeps(&family) && !out.contains(&(rule.clone(), family.clone())) {
                    out.push((rule.clone(), family));
                }
            }
        }
        out
    }
}

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
}

/// Each rule's name with the `chatapp_*` metric names its expression reads (recording rules'
/// outputs, which contain colons, are not exporter metrics and are left out).
fn rule_families(text: &str) -> Vec<(String, Vec<String>)> {
    // The file is compiled in and checked by a test; a broken one means no rule is known.
    let Ok(file) = serde_yaml_ng::from_str::<RuleFile>(text) else {
        return Vec::new();
    };
    file.groups
        .into_iter()
        .flat_map(|g| g.rules)
        .map(|r| {
            let name = r.alert.or(r.record).unwrap_or_default();
            let families = r
                .expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .filter(|t| t.starts_with("chatapp_") && !t.contains(':'))
                .map(str::to_owned)
                .collect();
            (name, families)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_then_deny_anchored() {
        let f = FamilyFilter::new(
            &["chatapp_phone_number_.*".into(), "chatapp_up".into()],
            &[".*_code_verification_status".into()],
        )
        .unwrap();
        assert!(f.keeps("chatapp_phone_number_status"));
        assert!(f.keeps("chatapp_up"));
        assert!(!f.keeps("chatapp_up_total"), "anchored");
        assert!(!f.keeps("chatapp_phone_number_code_verification_status"));
        assert!(!f.keeps("chatapp_waba_info"));
        assert!(FamilyFilter::default().keeps("anything"));
        let e = FamilyFilter::new(&[], &["(".into()]).unwrap_err();
        assert!(e.to_string().contains("--metrics.denylist pattern \"(\""));
    }

    #[test]
    fn the_shipped_rules_are_read() {
        let rules = rule_families(SHIPPED_RULES);
        assert!(rules.len() > 20, "{}", rules.len());
        let up = rules
            .iter()
            .find(|(name, _)| name == "ChatAppRefreshFailing")
            .expect("ChatAppRefreshFailing");
        assert_eq!(up.1, ["chatapp_up"]);
        let f = FamilyFilter::new(&[], &["chatapp_up".into()]).unwrap();
        assert!(
            f.breaks_shipped_rules()
                .contains(&("ChatAppRefreshFailing".into(), "chatapp_up".into()))
        );
        assert!(FamilyFilter::default().breaks_shipped_rules().is_empty());
    }
}
