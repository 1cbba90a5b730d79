//! The set of running account refresh tasks, and applying a new configuration to it.
//!
//! On reload (SIGHUP or `POST /-/reload`) only what changed is touched: a removed account's
//! task stops and its series disappear (objects, `chatapp_up`, counters, info); an added
//! account starts refreshing; an account whose settings changed is restarted; the others keep
//! running undisturbed. A change of the global refresh or API settings restarts every task
//! with the new values. Object data already served is kept until the restarted task's first
//! success replaces it, so a reload never blanks the dashboards.
//!
//! Discovered customers ([`crate::discovery`]) are applied the same way: when a parent's
//! discovery finds a different set, [`Supervisor::rediscover`] expands the running
//! configuration again and starts the new customers and stops the gone ones, touching no
//! other account.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::api::ApiError;
use crate::collect::published::DiscoveryBoard;
use crate::config::{AccountSettings, Settings};
use crate::discovery;
use crate::metrics::{ExpositionStore, SelfMetrics};
use crate::scheduler::{self, Outputs, Shared, StatusBoard};

struct Running {
    fingerprint: String,
    /// Its enabled collectors, whose series a reload that disables one must remove.
    collectors: Vec<&'static str>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Running {
    /// Stops the task at once (a refresh in flight is abandoned) and waits until it has
    /// ended, so that it can publish nothing afterwards.
    async fn stop_and_wait(self) {
        let _ = self.stop.send(true);
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// Owns the refresh tasks.
pub struct Supervisor {
    store: Arc<ExpositionStore>,
    metrics: Arc<SelfMetrics>,
    status: Arc<StatusBoard>,
    outputs: Outputs,
    shared: Arc<Shared>,
    global: String,
    tasks: BTreeMap<String, Running>,
    /// The configuration applied last, before expansion.
    config: Settings,
    discovered: Arc<DiscoveryBoard>,
    /// The parents of the last expansion, whose `chatapp_discovered_accounts` is set.
    parents: BTreeSet<String>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("accounts", &self.tasks.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The settings every task shares; a change restarts all of them.
///
/// Every field of [`Settings`] is named, without `..`: a field added to it does not compile
/// here until it is sorted into "the tasks read it" (fingerprinted) or "they do not", so no
/// new setting can be silently ignored by a reload.
fn global_fingerprint(s: &Settings) -> String {
    let Settings {
        refresh_interval,
        max_staleness,
        api_timeout,
        api_max_body_bytes,
        api_rate_limit,
        rates,
        enum_mode,
        // Folded into each account's settings, fingerprinted below.
        collectors: _,
        signature_version: _,
        accounts: _,
        // Not read by the tasks: the listener, the store's filter (fixed at start, from
        // flags), sharding (already applied to `accounts`) and where the file lives.
        listen_address: _,
        telemetry_path: _,
        metrics_filter: _,
        shard: _,
        total_shards: _,
        other_shards_accounts: _,
        config_file: _,
        storage_path: _,
    } = s;
    format!(
        "{refresh_interval:?}|{max_staleness:?}|{api_timeout:?}|{api_max_body_bytes}|\
         {api_rate_limit}|{rates:?}|{enum_mode:?}"
    )
}

/// One account's settings as a reload compares them: their derived `Debug`, so that every
/// field, present or future (a collector's interval or settings, say), counts, plus a digest
/// of the credential source's full identity: the `Debug` text masks AccessKey IDs, and a new
/// ID with the same masked form must restart the account too. No secret is in it: the
/// credential source prints as its description (files, role, profile), a static key's
/// secret as `[REDACTED]`, and the digest is one-way.
fn account_fingerprint(a: &AccountSettings) -> String {
    use sha2::Digest as _;
    let identity = sha2::Sha256::digest(a.credentials.identity().as_bytes());
    let hex: String = identity.iter().map(|b| format!("{b:02x}")).collect();
    format!("{a:?}|{hex}")
}

impl Supervisor {
    /// Starts a task per account in `settings`.
    pub fn start(settings: &Settings, outputs: Outputs) -> Result<Self, ApiError> {
        let shared = Shared::new(settings, &outputs)?;
        outputs
            .metrics
            .set_shard(settings.shard, settings.total_shards);
        let mut sup = Supervisor {
            store: outputs.store.clone(),
            metrics: outputs.metrics.clone(),
            status: outputs.status.clone(),
            discovered: outputs.discovered.clone(),
            outputs,
            shared,
            global: global_fingerprint(settings),
            tasks: BTreeMap::new(),
            config: settings.clone(),
            parents: BTreeSet::new(),
        };
        let (expanded, kept) = sup.expand(settings);
        sup.pace(&expanded);
        sup.count_discovered(kept);
        sup.spawn_initial(&expanded);
        Ok(sup)
    }

    /// The running configuration with every parent's discovered customers added, and how
    /// many each parent kept.
    fn expand(&mut self, settings: &Settings) -> (Settings, BTreeMap<String, usize>) {
        let parents: Vec<&str> = settings
            .accounts
            .iter()
            .filter(|a| a.children.is_some())
            .map(|a| a.name.as_str())
            .collect();
        self.discovered.retain(&parents);
        let (accounts, kept) = discovery::expand(settings, &self.discovered.snapshot());
        let settings = Settings {
            accounts,
            ..settings.clone()
        };
        (settings, kept)
    }

    /// `chatapp_discovered_accounts` per parent: what each kept. Set once the customers are
    /// planned ([`Supervisor::pace`]), so that a scrape that counts them also finds their
    /// effective interval.
    fn count_discovered(&mut self, kept: BTreeMap<String, usize>) {
        for (parent, n) in &kept {
            self.metrics.set_discovered(parent, *n);
        }
        for gone in self.parents.iter().filter(|p| !kept.contains_key(*p)) {
            self.metrics.remove_discovered(gone);
        }
        self.parents = kept.into_keys().collect();
    }

    /// Applies what the parents' discovery found last to the running configuration: new
    /// customers start, gone ones stop with their series, the others are not touched.
    pub async fn rediscover(&mut self) -> Result<(), ApiError> {
        let config = self.config.clone();
        self.apply(&config).await
    }

    /// Applies a new configuration; see the module documentation.
    pub async fn apply(&mut self, settings: &Settings) -> Result<(), ApiError> {
        self.config = settings.clone();
        let (settings, kept) = self.expand(settings);
        let settings = &settings;
        let global = global_fingerprint(settings);
        let restart_all = global != self.global;
        if restart_all {
            self.shared = Shared::new(settings, &self.outputs)?;
            self.global = global;
            self.metrics.set_refresh_interval(settings.refresh_interval);
        }
        self.pace(settings);
        self.count_discovered(kept);
        let keep: BTreeSet<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
        let removed: Vec<String> = self
            .tasks
            .keys()
            .filter(|n| !keep.contains(n.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(t) = self.tasks.remove(&name) {
                t.stop_and_wait().await;
            }
            // Only now: a task caught mid-refresh could otherwise publish after the
            // clearing and bring the removed account's series back.
            self.store.remove_account(&name);
            self.metrics.remove_account(&name);
            self.status.remove(&name);
            info!(account = %name, "account removed");
        }
        self.spawn_changed(settings, restart_all).await;
        Ok(())
    }

    /// Plans every account's refresh ([`scheduler::plan`]) for the running loops, and says
    /// once (log, landing page) when the accounts under a key do not fit in the interval.
    fn pace(&mut self, settings: &Settings) {
        let (paces, stretched) = scheduler::plan(
            &settings.accounts,
            settings.refresh_interval,
            &settings.rates,
        );
        for (account, pace) in &paces {
            self.metrics.set_effective_interval(account, pace.interval);
        }
        self.shared.pacing.set(paces);
        let notes: Vec<String> = stretched
            .iter()
            .map(|s| s.describe(settings.refresh_interval))
            .collect();
        // Said once: the notes already on the status board were logged when they appeared.
        let known = self.status.notes();
        for note in notes.iter().filter(|n| !known.contains(n)) {
            warn!(note = %note, "the rate limit stretches the refresh interval; raise rate_limits: only if production traffic leaves room, or split the accounts across keys or shards");
        }
        self.status.set_notes(notes);
    }

    /// The delay of the first refresh of each account started now: one account after
    /// another under each key, at the pace of its bucket ([`scheduler::Pace::spacing`]).
    fn first_refresh(
        &self,
        account: &AccountSettings,
        started: &mut BTreeMap<String, u32>,
    ) -> Duration {
        let pace = self.shared.pacing.get(&account.name, self.shared.interval);
        let k = started.entry(account.credentials.describe()).or_default();
        // Whole milliseconds: a limit of thousands per second needs no spacing.
        let first = Duration::from_millis((pace.spacing * *k).as_millis() as u64);
        *k += 1;
        first
    }

    async fn spawn_changed(&mut self, settings: &Settings, all: bool) {
        let mut started = BTreeMap::new();
        for account in &settings.accounts {
            let fingerprint = account_fingerprint(account);
            let unchanged = self
                .tasks
                .get(&account.name)
                .is_some_and(|t| t.fingerprint == fingerprint);
            if unchanged && !all {
                continue;
            }
            if let Some(old) = self.tasks.remove(&account.name) {
                // Stopped before its successor starts, so that the two never publish
                // out of order.
                let dropped: Vec<&str> = old
                    .collectors
                    .iter()
                    .copied()
                    .filter(|c| !account.collectors.iter().any(|n| n.name == *c))
                    .collect();
                old.stop_and_wait().await;
                // A collector switched off takes its series with it.
                for collector in dropped {
                    self.store.set(&account.name, collector, None);
                    self.metrics.remove_collector(&account.name, collector);
                    info!(account = %account.name, collector, "collector disabled by reload");
                }
                let reason = if unchanged {
                    "global refresh or API settings"
                } else {
                    "account settings"
                };
                info!(account = %account.name, reason, "settings changed; restarting the account's refresh");
            }
            let first = self.first_refresh(account, &mut started);
            self.spawn(account, first, fingerprint);
        }
    }

    /// Starts every account of a first configuration.
    fn spawn_initial(&mut self, settings: &Settings) {
        let mut started = BTreeMap::new();
        for account in &settings.accounts {
            let first = self.first_refresh(account, &mut started);
            self.spawn(account, first, account_fingerprint(account));
        }
    }

    fn spawn(&mut self, account: &AccountSettings, first: Duration, fingerprint: String) {
        let (stop, stop_rx) = watch::channel(false);
        let handle = scheduler::spawn_account(&self.shared, account, first, stop_rx);
        self.tasks.insert(
            account.name.clone(),
            Running {
                fingerprint,
                collectors: account.collectors.iter().map(|c| c.name).collect(),
                stop,
                handle,
            },
        );
    }

    /// Stops every task at once: a refresh still in flight is abandoned, since its result
    /// would not be served any more (shutdown must not wait on a hung API).
    pub async fn shutdown(self) {
        for (_, t) in self.tasks {
            t.stop_and_wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collect::phone_numbers::PhoneNumbersSettings;
    use crate::collect::{AnySettings, NoSettings, TierLimits};
    use crate::config::CollectorSettings;
    use crate::credentials::{CredentialSource, Credentials};

    fn account() -> AccountSettings {
        AccountSettings {
            name: "shop-a".into(),
            endpoint: "http://127.0.0.1:1".into(),
            cust_space_id: Some("cs".into()),
            isv_code_file: None,
            credentials: CredentialSource::Static(Credentials {
                access_key_id: "LTAI5tExampleKeyId".into(),
                access_key_secret: "s3cr3t-value".into(),
                security_token: None,
            }),
            collectors: vec![CollectorSettings {
                name: "waba",
                interval: Duration::from_secs(600),
                settings: AnySettings::new(NoSettings {}),
            }],
            signature_version: Default::default(),
            children: None,
            origin: None,
        }
    }

    #[test]
    fn any_account_setting_restarts_the_account_and_no_secret_is_kept() {
        let base = account_fingerprint(&account());
        assert_eq!(base, account_fingerprint(&account()));
        assert!(!base.contains("s3cr3t-value"), "{base}");
        // One change per field. The pattern names every field without `..`, so a field
        // added to `AccountSettings` does not compile here until it gets a change below.
        let AccountSettings {
            name: _,
            endpoint: _,
            cust_space_id: _,
            isv_code_file: _,
            credentials: _,
            collectors: _,
            signature_version: _,
            children: _,
            origin: _,
        } = account();
        type Change = (&'static str, fn(&mut AccountSettings));
        let changes: [Change; 12] = [
            ("name", |a| a.name = "shop-b".into()),
            ("endpoint", |a| a.endpoint = "http://127.0.0.1:2".into()),
            ("cust_space_id", |a| a.cust_space_id = None),
            ("isv_code_file", |a| {
                a.isv_code_file = Some("/run/secrets/isv".into())
            }),
            ("credentials: another key", |a| {
                a.credentials = CredentialSource::Static(Credentials {
                    access_key_id: "LTAI5tOtherKeyId00".into(),
                    access_key_secret: "s3cr3t-value".into(),
                    security_token: None,
                })
            }),
            (
                "credentials: an AccessKey ID with the same masked form",
                |a| {
                    a.credentials = CredentialSource::Static(Credentials {
                        access_key_id: "LTAI5tEXAMPLEKeyId".into(),
                        access_key_secret: "s3cr3t-value".into(),
                        security_token: None,
                    })
                },
            ),
            ("credentials: another source", |a| {
                a.credentials = CredentialSource::Files {
                    access_key_id: "LTAI5tExampleKeyId".into(),
                    access_key_secret_file: "/run/secrets/ak".into(),
                    security_token_file: None,
                }
            }),
            ("collectors: an interval", |a| {
                a.collectors[0].interval = Duration::from_secs(900)
            }),
            ("collectors: a setting", |a| {
                let tiers = [("TIER_50".to_owned(), 50.0)].into();
                a.collectors[0].settings = AnySettings::new(PhoneNumbersSettings {
                    tier_limits: TierLimits::with_overrides(&tiers),
                })
            }),
            ("signature_version", |a| {
                a.signature_version = crate::api::SignatureVersion::V3
            }),
            ("children: a parent's collectors", |a| {
                a.children = Some(Vec::new())
            }),
            ("origin: a renamed instance", |a| {
                a.origin = Some(crate::config::Origin {
                    parent: "isv".into(),
                    instance_id: "cams-1".into(),
                    instance_name: "renamed".into(),
                })
            }),
        ];
        for (field, change) in changes {
            let mut changed = account();
            change(&mut changed);
            let fingerprint = account_fingerprint(&changed);
            assert_ne!(
                fingerprint, base,
                "a changed {field} must restart the account"
            );
            assert!(!fingerprint.contains("s3cr3t-value"), "{fingerprint}");
        }
    }
}
