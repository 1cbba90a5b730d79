//! `--once`: every enabled collector of every account, one time, with the same bookkeeping
//! as the loops (self metrics, status board, store), so that what is printed afterwards is
//! what the landing page and /metrics would show.
//!
//! Collectors are not spread over their interval ([`crate::collect::Ctx::spread`]): their
//! calls go out at the operation's rate limit, and the run ends when the last one is done.

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::join_all;

use super::run::{AccountRun, Instance, own_round, refresh};
use super::{Failure, RefreshError, Shared, register};
use crate::config::AccountSettings;

/// What `--once` learned about each account, in configuration order.
#[derive(Debug, Clone)]
pub struct OnceReport {
    /// Each account's name and result: the collectors' summaries, or the first failure.
    pub accounts: Vec<(String, Result<String, Failure>)>,
}

impl OnceReport {
    /// True when every account succeeded.
    pub fn all_ok(&self) -> bool {
        self.accounts.iter().all(|(_, r)| r.is_ok())
    }
}

/// Runs every enabled collector of every account once: the refresh collectors side by
/// side, then those with their own schedule (they read what the refresh published), through
/// the same bodies as the daemon's loops. Accounts run concurrently, at most
/// [`super::MAX_CONCURRENT_REFRESHES`] at a time.
pub async fn run_once(shared: &Arc<Shared>, accounts: &[AccountSettings]) -> OnceReport {
    for account in accounts {
        register(shared, account);
    }
    let results = join_all(accounts.iter().map(|a| async {
        let _permit = shared.permits.acquire().await;
        (a.name.clone(), once_account(shared, a).await)
    }))
    .await;
    OnceReport { accounts: results }
}

async fn once_account(shared: &Shared, settings: &AccountSettings) -> Result<String, Failure> {
    let (account, mut refresh_group, mut own) = AccountRun::start(settings.clone(), true);
    let mut first_error: Option<Failure> = None;
    let mut summaries = Vec::new();
    let mut refresh_ok = false;
    if !refresh_group.is_empty() {
        let result = refresh(shared, &account, &mut refresh_group).await;
        refresh_ok = result.is_ok();
        note(&mut summaries, &mut first_error, &refresh_group, result);
    }
    for instance in &mut own {
        let (result, _) = own_round(shared, &account, instance).await;
        note(
            &mut summaries,
            &mut first_error,
            std::slice::from_ref(instance),
            result,
        );
    }
    let now = SystemTime::now();
    let result = match first_error {
        None => Ok(summaries.join(", ")),
        Some(f) => Err(f),
    };
    shared.status.update(&settings.name, |s| {
        s.last_attempt = Some(now);
        if result.is_ok() {
            s.last_success = Some(now);
        }
        s.last_result = Some(result.clone());
        s.serving_data = refresh_ok;
    });
    result
}

/// Adds one run's result to the account's; `instances` are the collectors it ran (for the
/// RAM hint).
fn note(
    summaries: &mut Vec<String>,
    first_error: &mut Option<Failure>,
    instances: &[Instance],
    result: Result<String, RefreshError>,
) {
    match result {
        Ok(s) if !s.is_empty() => summaries.push(s),
        Ok(_) => {}
        Err(e) => {
            first_error.get_or_insert_with(|| {
                let actions: Vec<&str> = instances.iter().flat_map(Instance::actions).collect();
                Failure::new(&e, &actions)
            });
        }
    }
}
