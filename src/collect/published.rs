//! What collectors publish for each other ([`super::Inputs`]): the interface between a
//! collector and the ones that build on its results, kept here so that a collector reads
//! another's results without naming it (only its [`super::Need`] does, as data).
//!
//! Each type is published by one collector after each successful run and read by the ones
//! that declare a need of it.

use crate::api::model::Text;

/// One number the phone-number list holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedNumber {
    /// The phone number (label form).
    pub phone: Text,
    /// Its `Status`.
    pub status: Option<Text>,
    /// Unique recipients per 24 hours of its tier (`None` when unmapped; infinite when
    /// unlimited).
    pub messaging_limit: Option<f64>,
}

impl ListedNumber {
    /// A number that can be asked about (a DELETED one has no health or usage).
    pub fn is_live(&self) -> bool {
        self.status.as_deref() != Some("DELETED")
    }
}

/// The numbers the API listed (deduplicated, as exported), sorted by number: published by
/// `phone_numbers`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberList {
    /// Sorted by `phone`.
    pub numbers: Vec<ListedNumber>,
}

impl NumberList {
    /// The number `phone`, if listed.
    pub fn get(&self, phone: &str) -> Option<&ListedNumber> {
        self.numbers
            .binary_search_by(|n| n.phone.as_str().cmp(phone))
            .ok()
            .map(|i| &self.numbers[i])
    }

    /// The numbers that can be asked about.
    pub fn live(&self) -> impl Iterator<Item = &ListedNumber> {
        self.numbers.iter().filter(|n| n.is_live())
    }
}

/// The WABA bound to the account: published by `waba`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundWaba {
    /// The WABA's `Id` (label form), if the answer had one.
    pub id: Option<Text>,
}

/// The account's marketing templates (code and language, label form), the ones Meta keeps
/// usage metrics for: published by `templates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketingTemplates {
    /// (code, language), sorted.
    pub templates: Vec<(Text, Text)>,
}
