//! Pacing the refreshes of the accounts that share an AccessKey.
//!
//! All accounts under one key share one token bucket per API (`--api.rate-limit`, 5/s by
//! default; cams-api.md §7). When they cannot all refresh within `--refresh.interval` at that
//! rate (500 customers, one call of each refresh operation each, take 100 s at 5/s), asking
//! anyway queues every refresh on the bucket in no particular order, and the unlucky ones
//! wait round after round. Instead each account's refresh is planned here: the accounts under
//! a key refresh at the interval the bucket allows (`n / rate` with 5% room, or
//! `--refresh.interval` when that is longer), spread evenly over it in a stable order, so the
//! calls go out at the limit one account after another and every account gets its turn. The
//! first refreshes after start, or of accounts a discovery round added, come in the same
//! order one `1/rate` apart, not in a burst.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::collect::{self, Schedule};
use crate::config::AccountSettings;
use crate::ratelimit::Rates;

/// Room left in the bucket: a planned round takes 5% longer than the calls need, so the
/// refreshes' jitter and a retried call do not make them queue.
const ROOM: f64 = 1.05;

/// When one account refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Between its refreshes: `--refresh.interval`, or longer when its key's accounts do not
    /// fit in it at the rate limit.
    pub interval: Duration,
    /// Its offset in the interval, so that the accounts under a key are spread evenly.
    pub phase: Duration,
    /// Between two first refreshes of accounts started together under its key.
    pub spacing: Duration,
}

/// The accounts under one key that do not fit in `--refresh.interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    /// The key, as the credential source describes itself (no secret).
    pub key: String,
    /// Accounts refreshing under it.
    pub accounts: usize,
    /// The refresh operation with the lowest rate, and that rate per second.
    pub operation: &'static str,
    /// Requests per second.
    pub rate: u32,
    /// The interval they refresh at instead.
    pub interval: Duration,
}

impl Stretch {
    /// One sentence for the log and the landing page.
    pub fn describe(&self, configured: Duration) -> String {
        format!(
            "{} accounts under {} cannot all refresh every {} at {}/s ({}): each refreshes every {} instead",
            self.accounts,
            self.key,
            humantime::format_duration(configured),
            self.rate,
            self.operation,
            humantime::format_duration(Duration::from_secs(self.interval.as_secs()))
        )
    }
}

/// The plan every refresh loop reads at each turn: it changes when accounts come or go
/// (a reload, a discovery round) without restarting anyone.
#[derive(Debug, Default)]
pub struct Pacing {
    paces: Mutex<HashMap<String, Pace>>,
}

impl Pacing {
    /// Replaces the plan.
    pub fn set(&self, paces: HashMap<String, Pace>) {
        *self.paces.lock().unwrap_or_else(PoisonError::into_inner) = paces;
    }

    /// The pace of `account`; `fallback` for an account not planned (yet).
    pub fn get(&self, account: &str, fallback: Duration) -> Pace {
        self.paces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .copied()
            .unwrap_or(Pace {
                interval: fallback,
                phase: Duration::ZERO,
                spacing: Duration::ZERO,
            })
    }
}

/// The accounts under one key, and the slowest refresh operation among them with its rate.
type Group<'a> = (Vec<&'a str>, Option<(&'static str, u32)>);

/// Plans every account's refresh, in the order given (stable across plans, so a phase moves
/// only when accounts before it come or go). Pure.
pub fn plan(
    accounts: &[AccountSettings],
    interval: Duration,
    rates: &Rates,
) -> (HashMap<String, Pace>, Vec<Stretch>) {
    // Accounts with a refresh, by key, with the slowest refresh operation among them.
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for a in accounts {
        let slowest = slowest_refresh_operation(a, rates);
        let Some(slowest) = slowest else {
            continue;
        };
        let (names, rate) = groups.entry(a.credentials.describe()).or_default();
        names.push(&a.name);
        if rate.is_none_or(|(_, r)| slowest.1 < r) {
            *rate = Some(slowest);
        }
    }
    let mut paces = HashMap::new();
    let mut stretched = Vec::new();
    for (key, (names, rate)) in groups {
        let Some((operation, rate)) = rate else {
            continue;
        };
        let n = names.len();
        let needed = Duration::from_secs_f64(n as f64 / f64::from(rate) * ROOM);
        let effective = interval.max(needed);
        if effective > interval {
            stretched.push(Stretch {
                key,
                accounts: n,
                operation,
                rate,
                interval: effective,
            });
        }
        let spacing = Duration::from_secs_f64(ROOM / f64::from(rate));
        for (i, name) in names.into_iter().enumerate() {
            let pace = Pace {
                interval: effective,
                phase: effective.mul_f64(i as f64 / n as f64),
                spacing,
            };
            paces.insert(name.to_owned(), pace);
        }
    }
    (paces, stretched)
}

/// The refresh operation of `account` with the lowest rate, if it has a refresh.
fn slowest_refresh_operation(a: &AccountSettings, rates: &Rates) -> Option<(&'static str, u32)> {
    a.collectors
        .iter()
        .filter_map(|c| collect::find(c.name))
        .filter(|c| c.spec().schedule == Schedule::Refresh)
        .flat_map(|c| c.spec().operations.iter())
        .map(|op| (op.action, rates.get(op.action, op.default_rate_limit).get()))
        .min_by_key(|(_, rate)| *rate)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use clap::Parser as _;

    use super::*;

    fn accounts(n: usize, key: &str) -> Vec<AccountSettings> {
        let cli = crate::cli::Cli::try_parse_from(["x"]).unwrap();
        let env = |k: &str| match k {
            crate::credentials::ENV_ACCESS_KEY_ID => Some(key.to_owned()),
            crate::credentials::ENV_ACCESS_KEY_SECRET => Some("unused".into()),
            _ => None,
        };
        let s = crate::config::resolve(&cli, Default::default(), &env).unwrap();
        (0..n)
            .map(|i| AccountSettings {
                name: format!("{key}-{i:03}"),
                ..s.accounts[0].clone()
            })
            .collect()
    }

    fn rates(per_second: u32) -> Rates {
        Rates {
            default: NonZeroU32::new(per_second).unwrap(),
            overrides: Default::default(),
        }
    }

    #[test]
    fn accounts_that_fit_keep_the_interval_spread_over_it() {
        let minute = Duration::from_secs(60);
        let (paces, stretched) = plan(&accounts(30, "LTAI5tKeyOne"), minute, &rates(5));
        assert!(stretched.is_empty());
        assert_eq!(paces["LTAI5tKeyOne-000"].phase, Duration::ZERO);
        assert_eq!(paces["LTAI5tKeyOne-015"].phase, Duration::from_secs(30));
        assert!(paces.values().all(|p| p.interval == minute));
        assert_eq!(
            paces["LTAI5tKeyOne-001"].spacing,
            Duration::from_millis(210)
        );
    }

    #[test]
    fn a_key_whose_accounts_do_not_fit_stretches_its_interval_and_no_other() {
        let minute = Duration::from_secs(60);
        let mut all = accounts(500, "LTAI5tBusyAAA");
        all.extend(accounts(10, "LTAI5tQuietBBB"));
        let (paces, stretched) = plan(&all, minute, &rates(5));
        // 500 accounts at 5/s: 100 s of calls, 105 s with room.
        let busy = paces["LTAI5tBusyAAA-000"].interval;
        assert_eq!(busy, Duration::from_secs(105));
        assert_eq!(paces["LTAI5tQuietBBB-000"].interval, minute);
        assert_eq!(stretched.len(), 1);
        assert_eq!(stretched[0].accounts, 500);
        let line = stretched[0].describe(minute);
        assert!(
            line.contains("500 accounts under") && line.contains("every 1m 45s instead"),
            "{line}"
        );
        // Spread evenly: consecutive accounts 0.21 s apart, i.e. exactly at 5/s with room.
        let gap = paces["LTAI5tBusyAAA-001"].phase - paces["LTAI5tBusyAAA-000"].phase;
        assert_eq!(gap, Duration::from_millis(210));
    }

    #[test]
    fn the_slowest_refresh_operation_sets_the_pace_and_accounts_without_a_refresh_have_none() {
        let mut all = accounts(100, "LTAI5tKeyTwo");
        let mut r = rates(5);
        r.overrides.insert(
            crate::collect::waba::OPERATION.action.to_owned(),
            NonZeroU32::new(1).unwrap(),
        );
        all[0].collectors.clear();
        let (paces, stretched) = plan(&all, Duration::from_secs(60), &r);
        assert!(!paces.contains_key("LTAI5tKeyTwo-000"));
        // 99 accounts at 1/s for QueryChatappBindWaba.
        assert_eq!(
            stretched[0].operation,
            crate::collect::waba::OPERATION.action
        );
        assert_eq!(paces["LTAI5tKeyTwo-001"].interval.as_secs(), 103);
    }
}
