//! The exporter's own series about each account (`chatapp_up`, the collector and API call
//! series, `chatapp_account_info`, ...): kept as plain values per account and written
//! straight to text, sorted as the `prometheus` crate's encoder sorts them.
//!
//! They were `prometheus` crate vectors. At 1,000 accounts that is some 20,000 series, and
//! since some account refreshes between any two scrapes, every scrape gathered them all
//! into `proto` structures, sorted them and encoded them: 11% of the exporter's CPU, 8 MiB
//! of heap, and the largest per-account cost left (issue 31, bench/README.md "Many
//! accounts or one"). Here a scrape walks sorted maps and writes lines; the values are a
//! few words per series. The output is byte for byte what the encoder printed (the tests
//! below compare the two on the same changes).

use std::collections::BTreeMap;

use super::exposition::{push_header, push_label, push_value};

/// One account's series.
#[derive(Debug, Default)]
pub(super) struct AccountValues {
    /// `chatapp_account_info`'s labels after `account`, in name order (see [`INFO_LABELS`]).
    pub(super) info: Option<[String; 5]>,
    pub(super) up: Option<f64>,
    pub(super) last_success: Option<f64>,
    pub(super) refresh_duration: Option<f64>,
    pub(super) backoff: Option<f64>,
    pub(super) effective_interval: Option<f64>,
    pub(super) discovered: Option<f64>,
    /// `chatapp_api_requests_total` by operation.
    pub(super) requests: BTreeMap<String, u64>,
    /// `chatapp_api_request_errors_total` by (code, operation), the labels' name order.
    pub(super) errors: BTreeMap<(String, String), u64>,
    /// By collector.
    pub(super) collectors: BTreeMap<String, CollectorValues>,
}

/// One (account, collector)'s series.
#[derive(Debug, Default)]
pub(super) struct CollectorValues {
    pub(super) success: Option<f64>,
    pub(super) last_success: Option<f64>,
    pub(super) duration: Option<f64>,
    pub(super) round: Option<f64>,
    pub(super) interval: Option<f64>,
    pub(super) panics: Option<u64>,
}

/// `chatapp_account_info`'s labels after `account`, sorted by name as the encoder sorts
/// them.
pub(super) const INFO_LABELS: [&str; 5] = [
    "cust_space_id",
    "instance_id",
    "instance_name",
    "parent",
    "region_id",
];

/// Receives one series: its label values after `account`, and its value.
type Emit<'a> = &'a mut dyn FnMut(&[&str], f64);

/// One family of per-account series, as data.
pub(super) struct AccountFamily {
    pub(super) name: &'static str,
    help: &'static str,
    counter: bool,
    /// Label names after `account`, sorted.
    labels: &'static [&'static str],
    /// Gives each of an account's series: its further label values and its value.
    samples: fn(&AccountValues, Emit<'_>),
}

fn one(v: Option<f64>, emit: Emit<'_>) {
    if let Some(v) = v {
        emit(&[], v);
    }
}

fn per_collector(a: &AccountValues, emit: Emit<'_>, field: fn(&CollectorValues) -> Option<f64>) {
    for (name, c) in &a.collectors {
        if let Some(v) = field(c) {
            emit(&[name], v);
        }
    }
}

/// Every per-account family, sorted by name (the encoder's family order).
pub(super) static FAMILIES: [AccountFamily; 15] = [
    AccountFamily {
        name: "chatapp_account_info",
        help: "Configured or discovered account: its ISV sub-customer space, the API region, and for a discovered account its parent and instance; always 1.",
        counter: false,
        labels: &INFO_LABELS,
        samples: |a, emit| {
            if let Some(info) = &a.info {
                let values: [&str; 5] = std::array::from_fn(|i| info[i].as_str());
                emit(&values, 1.0);
            }
        },
    },
    AccountFamily {
        name: "chatapp_api_request_errors_total",
        help: "CAMS API requests that failed, by API action and Alibaba error code (or timeout, connect, decode, http_4xx, http_5xx, ...).",
        counter: true,
        labels: &["code", "operation"],
        samples: |a, emit| {
            for ((code, op), n) in &a.errors {
                emit(&[code, op], *n as f64);
            }
        },
    },
    AccountFamily {
        name: "chatapp_api_requests_total",
        help: "CAMS API requests sent, by API action.",
        counter: true,
        labels: &["operation"],
        samples: |a, emit| {
            for (op, n) in &a.requests {
                emit(&[op], *n as f64);
            }
        },
    },
    AccountFamily {
        name: "chatapp_collector_duration_seconds",
        help: "Wall time of the collector's last run for the account (a paced round takes about its interval).",
        counter: false,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.duration),
    },
    AccountFamily {
        name: "chatapp_collector_interval_seconds",
        help: "Configured interval between runs of the collector for the account.",
        counter: false,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.interval),
    },
    AccountFamily {
        name: "chatapp_collector_last_success_timestamp_seconds",
        help: "Unix time of the collector's last successful run for the account.",
        counter: false,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.last_success),
    },
    AccountFamily {
        name: "chatapp_collector_panics_total",
        help: "Runs of the collector for the account that panicked (a bug: the log has the message); the collector starts over with back-off.",
        counter: true,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.panics.map(|n| n as f64)),
    },
    AccountFamily {
        name: "chatapp_collector_round_seconds",
        help: "How long one round of the collector takes for the account: its interval, or longer when its calls cannot fit in the interval at the operation's rate limit.",
        counter: false,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.round),
    },
    AccountFamily {
        name: "chatapp_collector_success",
        help: "1 if the collector's last run for the account succeeded, 0 if it failed.",
        counter: false,
        labels: &["collector"],
        samples: |a, emit| per_collector(a, emit, |c| c.success),
    },
    AccountFamily {
        name: "chatapp_discovered_accounts",
        help: "Customers the parent account's last good discovery round found that this shard monitors (after discover: include/exclude).",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.discovered, emit),
    },
    AccountFamily {
        name: "chatapp_last_refresh_success_timestamp_seconds",
        help: "Unix time of the account's last successful refresh.",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.last_success, emit),
    },
    AccountFamily {
        name: "chatapp_refresh_backoff_seconds",
        help: "Extra delay added to the account's next refresh after throttling or server errors; 0 when healthy.",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.backoff, emit),
    },
    AccountFamily {
        name: "chatapp_refresh_duration_seconds",
        help: "Wall time of the account's last refresh attempt (all API calls and conversion).",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.refresh_duration, emit),
    },
    AccountFamily {
        name: "chatapp_refresh_effective_interval_seconds",
        help: "Interval the account's refresh is planned at: --refresh.interval, or longer when the accounts sharing its AccessKey cannot all refresh within it at the rate limit.",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.effective_interval, emit),
    },
    AccountFamily {
        name: "chatapp_up",
        help: "1 if the last refresh of the account succeeded, 0 if it failed.",
        counter: false,
        labels: &[],
        samples: |a, emit| one(a.up, emit),
    },
];

impl AccountFamily {
    /// Appends the family (its header, then every account's series in account order), or
    /// nothing when no account has a series of it.
    pub(super) fn encode(&self, accounts: &BTreeMap<String, AccountValues>, out: &mut Vec<u8>) {
        let start = out.len();
        push_header(
            out,
            self.name,
            self.help,
            if self.counter { "counter" } else { "gauge" },
        );
        let header_end = out.len();
        for (account, values) in accounts {
            (self.samples)(values, &mut |labels, value| {
                out.extend_from_slice(self.name.as_bytes());
                out.push(b'{');
                push_label(out, "account", account);
                for (name, v) in self.labels.iter().zip(labels) {
                    out.push(b',');
                    push_label(out, name, v);
                }
                out.extend_from_slice(b"} ");
                push_value(out, value);
                out.push(b'\n');
            });
        }
        if out.len() == header_end {
            out.truncate(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_by_name_as_the_encoder_sorts_them() {
        let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for f in &FAMILIES {
            let mut labels = f.labels.to_vec();
            labels.sort_unstable();
            assert_eq!(labels, f.labels, "{}: labels in name order", f.name);
            assert!(f.labels.iter().all(|l| *l > "account"), "{}", f.name);
        }
    }
}
