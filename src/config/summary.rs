//! The one-screen summary `--config.check` prints: where every value and secret comes
//! from, never a secret.

use std::fmt::Write as _;

use super::{AccountSettings, CollectorSettings, Settings};
use crate::collect::REGISTRY;
use crate::metrics::EnumMode;

impl Settings {
    /// The one-screen summary printed by `--config.check`: never a secret, only where
    /// secrets come from.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "configuration OK");
        if let Some(p) = &self.config_file {
            let _ = writeln!(s, "  config file:      {}", p.display());
        }
        let _ = writeln!(s, "  listen address:   {}", self.listen_address);
        let _ = writeln!(s, "  telemetry path:   {}", self.telemetry_path);
        let _ = writeln!(
            s,
            "  refresh interval: {}",
            humantime::format_duration(self.refresh_interval)
        );
        let _ = writeln!(
            s,
            "  max staleness:    {}",
            humantime::format_duration(self.max_staleness)
        );
        let _ = writeln!(
            s,
            "  api timeout:      {}",
            humantime::format_duration(self.api_timeout)
        );
        let _ = writeln!(
            s,
            "  api rate limit:   {}/s per AccessKey and API",
            self.api_rate_limit
        );
        for c in REGISTRY {
            for op in c.spec().operations {
                let rate = self.rates.get(op.action, op.default_rate_limit);
                if rate != self.api_rate_limit {
                    let _ = writeln!(s, "    {}: {rate}/s", op.action);
                }
            }
        }
        if self.enum_mode != EnumMode::All {
            let _ = writeln!(
                s,
                "  metrics enum:     current (only the current state's series)"
            );
        }
        if !self.metrics_filter.is_empty() {
            let _ = writeln!(s, "  metrics filter:   {}", self.metrics_filter.describe());
        }
        if self.total_shards > 1 {
            let _ = writeln!(
                s,
                "  shard:            {} of {} ({} accounts belong to other shards)",
                self.shard, self.total_shards, self.other_shards_accounts
            );
        }
        let _ = writeln!(s, "  accounts ({}):", self.accounts.len());
        for (i, a) in self.accounts.iter().enumerate() {
            if i < FULL_ACCOUNTS {
                describe_account(&mut s, a);
            } else {
                // Beyond the first few, one line each: a file of 1,000 accounts stays
                // readable (and grep finds any one).
                let _ = writeln!(
                    s,
                    "    - {}{}: {}",
                    a.name,
                    a.cust_space_id
                        .as_deref()
                        .map(|c| format!(" (cust_space_id {c})"))
                        .unwrap_or_default(),
                    describe_collectors(&a.collectors)
                );
            }
        }
        s
    }
}

/// Accounts `--config.check` describes in full; the others get one line each.
const FULL_ACCOUNTS: usize = 20;

/// One account of `--config.check`, in full.
fn describe_account(s: &mut String, a: &AccountSettings) {
    let _ = writeln!(s, "    - {}", a.name);
    let _ = writeln!(s, "        endpoint:      {}", a.endpoint);
    if let Some(c) = &a.cust_space_id {
        let _ = writeln!(s, "        cust_space_id: {c}");
    }
    if let Some(p) = &a.isv_code_file {
        let _ = writeln!(s, "        isv code:      from {}", p.display());
    }
    let _ = writeln!(s, "        credentials:   {}", a.credentials.describe());
    let _ = writeln!(
        s,
        "        collectors:    {}",
        describe_collectors(&a.collectors)
    );
    if let Some(children) = &a.children {
        if let Some(d) = a.collectors.first() {
            let _ = writeln!(s, "        discover:      {:?}", d.settings);
        }
        let _ = writeln!(
            s,
            "        customers:     each an account <name>/<CustSpaceId> with {} (--config.check --discover lists them)",
            describe_collectors(children)
        );
    }
}

/// `phone_numbers, waba (every 1m), <collector> (every 10m)`, or `none`.
pub fn describe_collectors(collectors: &[CollectorSettings]) -> String {
    if collectors.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < collectors.len() {
        // Consecutive collectors with the same interval share one "(every ...)".
        let mut j = i;
        while j + 1 < collectors.len() && collectors[j + 1].interval == collectors[i].interval {
            j += 1;
        }
        let names: Vec<&str> = collectors[i..=j].iter().map(|c| c.name).collect();
        parts.push(format!(
            "{} (every {})",
            names.join(", "),
            humantime::format_duration(collectors[i].interval)
        ));
        i = j + 1;
    }
    parts.join(", ")
}
