//! What collectors publish for each other ([`super::Inputs`]): the interface between a
//! collector and the ones that build on its results, kept here so that a collector reads
//! another's results without naming it (only its [`super::Need`] does, as data).
//!
//! Each type is published by one collector after each successful run and read by the ones
//! that declare a need of it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

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

/// One ISV sub-customer a parent account found (`ListInstance`), its texts in label form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundInstance {
    /// `CustSpaceId`: checked to be an ID (it names the account and goes into requests).
    pub cust_space_id: String,
    /// `InstanceId`; empty when absent.
    pub instance_id: String,
    /// `InstanceName`; empty when absent.
    pub instance_name: String,
    /// `State`; empty when absent.
    pub state: String,
}

/// The sub-customers a parent keeps after its `include`/`exclude` patterns, one per
/// `CustSpaceId`, sorted by it: published by `discovery`, and read by the supervisor, which
/// makes each an account (`crate::discovery`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Sorted by `cust_space_id`, without repeats.
    pub instances: Vec<FoundInstance>,
}

/// What each parent's discovery found in its last good round: filled by the scheduler from
/// the published [`Discovered`], read by the supervisor (`crate::discovery`). A failed round
/// publishes nothing, so the last good round's customers stay.
#[derive(Debug)]
pub struct DiscoveryBoard {
    found: Mutex<BTreeMap<String, Arc<Discovered>>>,
    /// Bumped when a parent's customers change.
    changed: watch::Sender<u64>,
}

impl Default for DiscoveryBoard {
    fn default() -> Self {
        DiscoveryBoard {
            found: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl DiscoveryBoard {
    /// Records a parent's round; wakes the subscribers when its customers changed.
    pub fn publish(&self, parent: &str, found: Arc<Discovered>) {
        let mut all = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        if all.get(parent).is_some_and(|old| **old == *found) {
            return;
        }
        all.insert(parent.to_owned(), found);
        drop(all);
        self.changed.send_modify(|g| *g += 1);
    }

    /// Forgets the parents not in `parents` (removed by a reload).
    pub fn retain(&self, parents: &[&str]) {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|p, _| parents.contains(&p.as_str()));
    }

    /// What every parent found.
    pub fn snapshot(&self) -> BTreeMap<String, Arc<Discovered>> {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A receiver that sees a change whenever a parent's customers change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
