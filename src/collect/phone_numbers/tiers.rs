//! The messaging-limit tier → unique recipients per 24 hours table: defaults from the
//! sources, overridable from the config file (`collectors.phone_numbers.tier_limits`, or
//! the top-level `tier_limits:` alias), since they disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::collect::SettingsError;

/// Maps a raw tier string to unique recipients per 24 hours.
///
/// Defaults follow the Alibaba product page for its vocabulary (TIER_10 = 1K, TIER_50 = 10K,
/// TIER_1000 = 100K, UNLIMITED) and Meta's names for the other. The SDK says TIER_50 means
/// 50, the guide 10,000: the table is overridable (`tier_limits:` in the config file), and the
/// raw string is always exported beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLimits(BTreeMap<String, f64>);

impl Default for TierLimits {
    fn default() -> Self {
        let table = [
            ("TIER_10", 1_000.0),
            ("TIER_50", 10_000.0),
            ("TIER_1000", 100_000.0),
            ("UNLIMITED", f64::INFINITY),
            ("TIER_250", 250.0),
            ("TIER_1K", 1_000.0),
            ("TIER_2K", 2_000.0),
            ("TIER_10K", 10_000.0),
            ("TIER_100K", 100_000.0),
            ("TIER_UNLIMITED", f64::INFINITY),
        ];
        TierLimits(table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl TierLimits {
    /// The defaults with `overrides` applied on top.
    pub fn with_overrides(overrides: &BTreeMap<String, f64>) -> Self {
        let mut t = TierLimits::default();
        t.0.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        t
    }

    /// The limit for `tier`, if mapped.
    pub fn get(&self, tier: &str) -> Option<f64> {
        self.0.get(tier).copied()
    }

    /// Every limit is a non-negative number (or infinite).
    pub fn check(&self) -> Result<(), SettingsError> {
        match self.0.iter().find(|(_, v)| v.is_nan() || **v < 0.0) {
            Some((tier, _)) => Err(SettingsError::new(
                format!("tier_limits.{tier}"),
                "must be a non-negative number (.inf for unlimited)",
            )),
            None => Ok(()),
        }
    }
}

/// Reads the overrides (a map of tier to recipients) and applies them to the defaults.
impl<'de> Deserialize<'de> for TierLimits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let overrides = BTreeMap::<String, f64>::deserialize(d)?;
        Ok(TierLimits::with_overrides(&overrides))
    }
}

/// Meta's tiers from the lowest, in both vocabularies: a FLAGGED number whose quality does
/// not recover within 7 days goes back to CONNECTED one tier lower.
const LADDERS: [&[&str]; 2] = [
    &[
        "TIER_250",
        "TIER_1K",
        "TIER_2K",
        "TIER_10K",
        "TIER_100K",
        "TIER_UNLIMITED",
    ],
    &["TIER_10", "TIER_50", "TIER_1000", "UNLIMITED"],
];

/// The tier below `tier` (`None` for the lowest or an unknown tier).
pub fn lower_tier(tier: &str) -> Option<&'static str> {
    LADDERS.iter().find_map(|ladder| {
        let i = ladder.iter().position(|t| *t == tier)?;
        i.checked_sub(1).map(|below| ladder[below])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_below_in_either_vocabulary() {
        assert_eq!(lower_tier("TIER_10K"), Some("TIER_2K"));
        assert_eq!(lower_tier("TIER_1K"), Some("TIER_250"));
        assert_eq!(lower_tier("TIER_250"), None);
        assert_eq!(lower_tier("TIER_1000"), Some("TIER_50"));
        assert_eq!(lower_tier("TIER_NOT_SET"), None);
    }
}
