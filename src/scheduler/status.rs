//! The status board: the last known state of every account and collector, for the landing
//! page, `--once` and readiness. Only the loops write it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::Failure;
use crate::collect::Schedule;
use crate::config::{AccountSettings, CollectorSettings};

/// The last known state of one account, as the landing page shows it.
#[derive(Debug, Clone, Default)]
pub struct AccountStatus {
    /// API endpoint.
    pub endpoint: String,
    /// `CustSpaceId`, if any.
    pub cust_space_id: Option<String>,
    /// When the last refresh attempt finished.
    pub last_attempt: Option<SystemTime>,
    /// When the last successful refresh finished.
    pub last_success: Option<SystemTime>,
    /// The same on the monotonic clock: where a restarted account's staleness deadline
    /// counts from (the wall clock can jump).
    pub last_success_at: Option<Instant>,
    /// `Ok(summary)` (e.g. `7 numbers`) or the failure of the last attempt.
    pub last_result: Option<Result<String, Failure>>,
    /// Whether object series are currently served for the account.
    pub serving_data: bool,
    /// False when no refresh collector is enabled (readiness then does not wait for one).
    pub refreshes: bool,
    /// Each enabled collector, in registry order.
    pub collectors: Vec<(&'static str, CollectorStatus)>,
}

/// The last known state of one collector of one account.
#[derive(Debug, Clone, Default)]
pub struct CollectorStatus {
    /// Its interval.
    pub interval: Duration,
    /// When its last run finished.
    pub last_attempt: Option<SystemTime>,
    /// When its last successful run finished.
    pub last_success: Option<SystemTime>,
    /// The same on the monotonic clock (see [`AccountStatus::last_success_at`]).
    pub last_success_at: Option<Instant>,
    /// `Ok(summary)` or the failure of the last run.
    pub last_result: Option<Result<String, Failure>>,
    /// Lines for a person: Meta's errors and suggested fixes.
    pub details: Vec<String>,
    /// Set when a round takes longer than the interval at the operation's rate limit.
    pub note: Option<String>,
}

/// Per-account status, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct StatusBoard {
    accounts: Mutex<BTreeMap<String, AccountStatus>>,
    /// Lines about the whole process for the top of the landing page (the refresh
    /// interval stretched by the rate limit, ...).
    notes: Mutex<Vec<String>>,
}

impl StatusBoard {
    /// Adds an account, or updates its configuration while keeping its history (reload).
    pub fn register(&self, account: &AccountSettings) {
        let mut accounts = self.lock();
        let status = accounts.entry(account.name.clone()).or_default();
        status.endpoint = account.endpoint.clone();
        status.cust_space_id = account.cust_space_id.clone();
        status.refreshes = account
            .collectors
            .iter()
            .any(|c| schedule_of(c) == Some(Schedule::Refresh));
        let old = std::mem::take(&mut status.collectors);
        status.collectors = account
            .collectors
            .iter()
            .map(|c| {
                let mut s = old
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                s.interval = c.interval;
                (c.name, s)
            })
            .collect();
    }

    /// Forgets an account.
    pub fn remove(&self, account: &str) {
        self.lock().remove(account);
    }

    /// A copy of every account's status, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, AccountStatus)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Replaces the lines about the whole process.
    pub fn set_notes(&self, notes: Vec<String>) {
        *self.notes.lock().unwrap_or_else(PoisonError::into_inner) = notes;
    }

    /// The lines about the whole process.
    pub fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A copy of one account's status.
    pub fn snapshot_of(&self, account: &str) -> Option<AccountStatus> {
        self.lock().get(account).cloned()
    }

    /// True once every account has had its first refresh attempt, whatever the result.
    pub fn ready(&self) -> bool {
        self.lock()
            .values()
            .all(|s| !s.refreshes || s.last_attempt.is_some())
    }

    pub(super) fn update(&self, account: &str, f: impl FnOnce(&mut AccountStatus)) {
        if let Some(s) = self.lock().get_mut(account) {
            f(s);
        }
    }

    pub(super) fn update_collector(
        &self,
        account: &str,
        collector: &str,
        f: impl FnOnce(&mut CollectorStatus),
    ) {
        self.update(account, |s| {
            if let Some((_, c)) = s.collectors.iter_mut().find(|(n, _)| *n == collector) {
                f(c);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AccountStatus>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) fn schedule_of(c: &CollectorSettings) -> Option<Schedule> {
    crate::collect::find(c.name).map(|c| c.spec().schedule)
}
