//! Background collection: one task per account that runs its collectors on their schedules
//! and publishes what they render, so that /metrics never calls the API.
//!
//! An account's task runs two kinds of loop ([`crate::collect::Schedule`]): the refresh,
//! which runs every refresh collector (`phone_numbers`, `waba`) side by side and owns
//! `chatapp_up`; and one loop per collector with its own interval (the per-item ones),
//! which starts after the first refresh, never holds a refresh permit, and re-renders when
//! another collector of the account publishes. Both kinds share the bookkeeping of a run
//! (`loops`: back-off, staleness, logging once per change of error) and of a
//! collector (self metrics, landing page, publishing).
//!
//! Rules of the refresh (exporter-conventions.md §1):
//! - the first refresh runs at start; later ones every `interval` plus a little jitter, at a
//!   per-account phase so that many accounts do not all call at :00 (the second refresh at
//!   least half an interval after the first); a task never overlaps itself, and at most
//!   [`MAX_CONCURRENT_REFRESHES`] run at once across accounts;
//! - success replaces the account's data atomically (a number gone from the API is gone);
//! - failure sets `chatapp_up` to 0, counts the error and keeps the last good data until
//!   `max_staleness` has passed since the last success, then drops the account's object
//!   series (`chatapp_up` and the last-success timestamp stay);
//! - throttling and server errors back the account off exponentially (with jitter, capped,
//!   reset on success) instead of retrying: the quota is shared with production traffic
//!   (cams-api.md §7);
//! - a failure is logged at warn once per change of error code, not at every attempt.

//!
//! Files: `status` (the status board the landing page and readiness read), `run` (one
//! run of one collector and its bookkeeping), `loops` (the refresh loop, the collectors'
//! own loops, back-off and staleness), `failure` (error kinds, operator hints and their
//! one rendering), `pass` (`--once`: every collector of every account, one pass).

mod failure;
mod loops;
mod pace;
mod pass;
mod run;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::api::{ApiClient, ApiError, ClientOptions};
use crate::collect::REGISTRY;
use crate::collect::published::DiscoveryBoard;
use crate::config::{AccountSettings, Settings};
use crate::history::{self, History};
use crate::metrics::{EnumMode, ExpositionStore, SelfMetrics};
use crate::ratelimit::{KeyedLimits, Rates};

pub use failure::{Failure, RefreshError};
pub use loops::{backoff, run_account};
pub use pace::{Pace, Pacing, Stretch, plan};
pub use pass::{OnceReport, run_once};
pub use status::{AccountStatus, CollectorStatus, StatusBoard};

/// Refreshes running at the same time, across all accounts.
pub const MAX_CONCURRENT_REFRESHES: usize = 4;
/// Longest back-off after repeated throttling or server errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// A collector with a loop of its own drops its series after this many rounds without a
/// successful run.
pub const OWN_STALE_AFTER_ROUNDS: u32 = 3;

/// What outlives a reload: where every account's results go.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Rendered families and facts, for `/metrics`, the landing page and `--once`.
    pub store: Arc<ExpositionStore>,
    /// Self metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Per-account status for the landing page and readiness.
    pub status: Arc<StatusBoard>,
    /// Since when each number has its tracked states.
    pub history: Arc<History>,
    /// The customers each parent's discovery found, for the supervisor.
    pub discovered: Arc<DiscoveryBoard>,
}

impl Outputs {
    /// The outputs of a process running `settings`: the self metrics and the store filtered
    /// by `--metrics.allowlist`/`--metrics.denylist`, and the history of `--storage.path`
    /// (its file per shard) used as `use_history` says.
    pub fn new(
        settings: &Settings,
        use_history: impl FnOnce(PathBuf) -> history::Mode,
    ) -> Result<Self, prometheus::Error> {
        let metrics = Arc::new(
            SelfMetrics::new(settings.refresh_interval)?
                .with_filter(settings.metrics_filter.clone()),
        );
        metrics.set_shard(settings.shard, settings.total_shards);
        let store = Arc::new(ExpositionStore::new(
            crate::collect::family_order(),
            settings.metrics_filter.clone(),
        ));
        let file = history::file_in(
            &settings.storage_path,
            settings.shard,
            settings.total_shards,
        );
        let history = Arc::new(History::open(use_history(file), Some(metrics.clone())));
        Ok(Outputs {
            store,
            metrics,
            status: Arc::default(),
            history,
            discovered: Arc::default(),
        })
    }

    /// Empty outputs around `metrics`, with a history kept in memory (tests, benches).
    pub fn in_memory(metrics: Arc<SelfMetrics>) -> Self {
        Outputs {
            store: Arc::default(),
            metrics,
            status: Arc::default(),
            history: Arc::default(),
            discovered: Arc::default(),
        }
    }
}

/// What every account task shares.
#[derive(Debug)]
pub struct Shared {
    /// The API client (one connection pool).
    pub client: ApiClient,
    /// Self metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Where rendered data goes.
    pub store: Arc<ExpositionStore>,
    /// Per-account status for the landing page and readiness.
    pub status: Arc<StatusBoard>,
    /// Since when each number has its tracked states.
    pub history: Arc<History>,
    /// Where the parents' discovery rounds go.
    pub discovered: Arc<DiscoveryBoard>,
    /// Interval between refreshes.
    pub interval: Duration,
    /// How long last good data is served after failures.
    pub max_staleness: Duration,
    /// Bounds concurrent refreshes.
    pub permits: Semaphore,
    /// Per-AccessKey token buckets.
    pub limits: KeyedLimits,
    /// Requests per second per operation.
    pub rates: Rates,
    /// When each account refreshes (set by the supervisor).
    pub pacing: Pacing,
    /// `--metrics.enum`.
    pub enum_mode: EnumMode,
}

impl Shared {
    /// Builds the shared state for `settings` around the long-lived outputs.
    pub fn new(settings: &Settings, outputs: &Outputs) -> Result<Arc<Self>, ApiError> {
        let Outputs {
            store,
            metrics,
            status,
            history,
            discovered,
        } = outputs.clone();
        Ok(Arc::new(Shared {
            client: ApiClient::new(ClientOptions {
                timeout: settings.api_timeout,
                max_body_bytes: settings.api_max_body_bytes,
            })?,
            metrics,
            store,
            status,
            history,
            discovered,
            interval: settings.refresh_interval,
            max_staleness: settings.max_staleness,
            permits: Semaphore::new(MAX_CONCURRENT_REFRESHES),
            limits: KeyedLimits::new(settings.api_rate_limit),
            rates: settings.rates.clone(),
            pacing: Pacing::default(),
            enum_mode: settings.enum_mode,
        }))
    }
}

/// Registers `account` (status board, `chatapp_account_info`, zeroed request counters, its
/// collectors' intervals) and starts its loops, the first refresh `first` from now; they end
/// when `stop` flips to true.
pub fn spawn_account(
    shared: &Arc<Shared>,
    account: &AccountSettings,
    first: Duration,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    register(shared, account);
    tokio::spawn(run_account(shared.clone(), account.clone(), first, stop))
}

/// Makes `account` known to the status board and the self metrics before its first run.
fn register(shared: &Shared, account: &AccountSettings) {
    shared.status.register(account);
    let operations: Vec<&str> = REGISTRY
        .iter()
        .filter(|c| account.collectors.iter().any(|s| s.name == c.spec().name))
        .flat_map(|c| c.spec().operations.iter().map(|o| o.action))
        .collect();
    let origin = account.origin.clone().unwrap_or_default();
    shared.metrics.add_account(
        &crate::metrics::self_metrics::AccountInfo {
            account: &account.name,
            cust_space_id: account.cust_space_id.as_deref().unwrap_or(""),
            region_id: &account.region_id(),
            parent: &origin.parent,
            instance_id: &origin.instance_id,
            instance_name: &origin.instance_name,
        },
        &operations,
    );
    for c in &account.collectors {
        shared
            .metrics
            .add_collector(&account.name, c.name, c.interval);
    }
}
