//! The set of running account refresh tasks, and applying a new configuration to it.
//!
//! On reload (SIGHUP or `POST /-/reload`) only what changed is touched: a removed account's
//! task stops and its series disappear (objects, `chatapp_up`, counters, info); an added
//! account starts refreshing; an account whose settings changed is restarted; the others keep
//! running undisturbed. A change of the global refresh or API settings restarts every task
//! with the new values. Object data already served is kept until the restarted task's first
//! success replaces it, so a reload never blanks the dashboards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::api::ApiError;
use crate::config::{AccountSettings, Settings};
use crate::metrics::{ExpositionStore, SelfMetrics};
use crate::scheduler::{self, Shared, StatusBoard};

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
    shared: Arc<Shared>,
    global: String,
    tasks: BTreeMap<String, Running>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("accounts", &self.tasks.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The settings every task shares; a change restarts all of them.
fn global_fingerprint(s: &Settings) -> String {
    format!(
        "{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        s.refresh_interval,
        s.max_staleness,
        s.api_timeout,
        s.api_max_body_bytes,
        s.api_rate_limit,
        s.rates,
        s.tier_limits
    )
}

/// One account's settings, without secrets (credentials are described, not printed).
fn account_fingerprint(a: &AccountSettings) -> String {
    format!(
        "{}|{:?}|{:?}|{}|{:?}|{}",
        a.endpoint,
        a.cust_space_id,
        a.isv_code_file,
        a.credentials.describe(),
        a.collectors,
        a.signature_version
    )
}

impl Supervisor {
    /// Starts a task per account in `settings`.
    pub fn start(
        settings: &Settings,
        store: Arc<ExpositionStore>,
        metrics: Arc<SelfMetrics>,
        status: Arc<StatusBoard>,
    ) -> Result<Self, ApiError> {
        let shared = Shared::new(settings, store.clone(), metrics.clone(), status.clone())?;
        metrics.set_shard(settings.shard, settings.total_shards);
        let mut sup = Supervisor {
            store,
            metrics,
            status,
            shared,
            global: global_fingerprint(settings),
            tasks: BTreeMap::new(),
        };
        sup.spawn_initial(settings);
        Ok(sup)
    }

    /// Applies a new configuration; see the module documentation.
    pub async fn apply(&mut self, settings: &Settings) -> Result<(), ApiError> {
        let global = global_fingerprint(settings);
        let restart_all = global != self.global;
        if restart_all {
            self.shared = Shared::new(
                settings,
                self.store.clone(),
                self.metrics.clone(),
                self.status.clone(),
            )?;
            self.global = global;
            self.metrics.set_refresh_interval(settings.refresh_interval);
        }
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
            info!(account = %name, "account removed by reload");
        }
        self.spawn_changed(settings, restart_all).await;
        Ok(())
    }

    async fn spawn_changed(&mut self, settings: &Settings, all: bool) {
        let n = settings.accounts.len().max(1) as u32;
        for (i, account) in settings.accounts.iter().enumerate() {
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
            self.spawn(account, self.shared.interval * i as u32 / n, fingerprint);
        }
    }

    /// Starts every account of a first configuration.
    fn spawn_initial(&mut self, settings: &Settings) {
        let n = settings.accounts.len().max(1) as u32;
        for (i, account) in settings.accounts.iter().enumerate() {
            let phase = self.shared.interval * i as u32 / n;
            self.spawn(account, phase, account_fingerprint(account));
        }
    }

    fn spawn(
        &mut self,
        account: &AccountSettings,
        phase: std::time::Duration,
        fingerprint: String,
    ) {
        let (stop, stop_rx) = watch::channel(false);
        let handle = scheduler::spawn_account(&self.shared, account, phase, stop_rx);
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
