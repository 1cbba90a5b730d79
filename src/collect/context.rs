//! What a collector's run is given: the account, its signed and rate-limited API access,
//! the results other collectors of the account published, and a way to publish progress.
//!
//! The scheduler builds a [`Ctx`] for every run; collectors never see the scheduler, the
//! credential chain or the store.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::{Collected, Operation, Tenant};
use crate::api::model::ApiResponse;
use crate::api::{ApiClient, ApiError, Target};
use crate::credentials::Credentials;
use crate::metrics::{AccountExposition, EnumMode, SelfMetrics};
use crate::ratelimit::{KeyedLimits, Rates};

/// The API as one account's collectors reach it: every call is signed with the account's
/// credentials, waits for a token of its (AccessKey, operation) bucket and is counted in
/// `chatapp_api_requests_total` / `chatapp_api_request_errors_total`.
#[derive(Debug)]
pub struct ApiAccess<'a> {
    /// The shared HTTP client.
    pub client: &'a ApiClient,
    /// Endpoint and tenant of the account.
    pub target: &'a Target,
    /// The credentials resolved for this run.
    pub creds: &'a Credentials,
    /// The per-AccessKey token buckets.
    pub limits: &'a KeyedLimits,
    /// The credential source's redacted description: the bucket key, so that accounts
    /// sharing a key share its quota.
    pub limit_key: &'a str,
    /// Requests per second per operation.
    pub rates: &'a Rates,
    /// Where calls are counted.
    pub metrics: &'a SelfMetrics,
}

/// How the calls of one round are spread (see [`Ctx::plan_round`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundPlan {
    /// Time between two calls.
    pub spacing: Duration,
    /// How long the round takes: the interval, or longer when the calls cannot fit in it
    /// at the operation's rate.
    pub round: Duration,
}

impl RoundPlan {
    /// Spreads `calls` over `interval`, never closer together than one call per
    /// `1/per_second`.
    pub fn new(calls: usize, interval: Duration, per_second: NonZeroU32) -> Self {
        let calls = calls.max(1) as u32;
        let fastest = Duration::from_secs(1) / per_second.get();
        let spacing = (interval / calls).max(fastest);
        RoundPlan {
            spacing,
            round: spacing * calls,
        }
    }

    /// True when the round takes longer than `interval`.
    pub fn overruns(&self, interval: Duration) -> bool {
        self.round > interval
    }
}

/// What a run is given that no other run of the account shares: where its progress goes
/// and who hears of its planned round.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// Replaces the collector's served families mid-run (a long round shows its progress).
    pub publish: &'a (dyn Fn(Collected) + Send + Sync),
    /// Hears of a planned round at once (its length is a metric).
    pub on_plan: &'a (dyn Fn(RoundPlan) + Send + Sync),
}

impl Hooks<'static> {
    /// Hooks that do nothing.
    pub fn none() -> Self {
        Hooks {
            publish: &|_| {},
            on_plan: &|_| {},
        }
    }
}

/// One run's view of the world. Built with [`Ctx::new`] and the `with_*` methods; the
/// scheduler builds every context in one place.
pub struct Ctx<'a> {
    /// The `account` label.
    pub account: &'a str,
    /// The collector's interval for this account.
    pub interval: Duration,
    /// The HELP suffix saying how often the families are refreshed.
    pub note: String,
    /// The collector's current rendering for the account, whose unchanged blocks a
    /// renderer may reuse.
    pub previous: Option<Arc<AccountExposition>>,
    /// What the account's other collectors published last.
    pub inputs: &'a Inputs,
    /// `--metrics.enum`.
    pub enum_mode: EnumMode,
    /// False for a one-shot run (`--once`): a round's calls go at the rate limit instead
    /// of being spread over the interval.
    pub spread: bool,
    api: Option<&'a ApiAccess<'a>>,
    hooks: Hooks<'a>,
    plan: Mutex<Option<RoundPlan>>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("account", &self.account)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    /// A context for `account`'s collector running every `interval`, reading `inputs`:
    /// without API access (as [`super::Collector::inputs_changed`] gets it), without a
    /// previous rendering, spread over the interval, every state exported.
    pub fn new(account: &'a str, interval: Duration, inputs: &'a Inputs) -> Self {
        Ctx {
            account,
            interval,
            note: format!(
                "Refreshed every {} in the background.",
                humantime::format_duration(interval)
            ),
            previous: None,
            inputs,
            enum_mode: EnumMode::All,
            spread: true,
            api: None,
            hooks: Hooks::none(),
            plan: Mutex::new(None),
        }
    }

    /// The same with API access.
    pub fn with_api(mut self, api: &'a ApiAccess<'a>) -> Self {
        self.api = Some(api);
        self
    }

    /// The same with its progress and planned rounds reported to `hooks`.
    pub fn with_hooks(mut self, hooks: Hooks<'a>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The same with the collector's current rendering, whose blocks may be reused.
    pub fn with_previous(mut self, previous: Option<Arc<AccountExposition>>) -> Self {
        self.previous = previous;
        self
    }

    /// The same with `--metrics.enum` and whether rounds are spread over the interval.
    pub fn with_mode(mut self, enum_mode: EnumMode, spread: bool) -> Self {
        self.enum_mode = enum_mode;
        self.spread = spread;
        self
    }

    /// Calls `op` with its own `params`, after a token of the (AccessKey, operation) bucket,
    /// adding the account's tenant parameters as the operation takes them.
    pub async fn call<T: ApiResponse>(
        &self,
        op: &Operation,
        params: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let Some(api) = self.api else {
            return Err(ApiError::Internal("no API access in this context"));
        };
        let bucket = format!("{}|{}", api.limit_key, op.action);
        api.limits.acquire_at(&bucket, self.rate(op)).await;
        api.metrics.api_request(self.account, op.action);
        let stripped;
        let target = match op.tenant {
            Tenant::SpaceAndIsvCode => api.target,
            Tenant::Space => {
                stripped = Target {
                    isv_code: None,
                    ..api.target.clone()
                };
                &stripped
            }
            Tenant::None => {
                stripped = Target {
                    isv_code: None,
                    cust_space_id: None,
                    ..api.target.clone()
                };
                &stripped
            }
        };
        let result = api.client.call(op.action, target, api.creds, params).await;
        self.finish(op, result)
    }

    fn finish<T>(&self, op: &Operation, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let (Err(e), Some(api)) = (&result, self.api) {
            api.metrics.api_error(self.account, op.action, e);
        }
        result
    }

    /// Requests per second allowed for `op`.
    pub fn rate(&self, op: &Operation) -> NonZeroU32 {
        match self.api {
            Some(api) => api.rates.get(op.action, op.default_rate_limit),
            None => op
                .default_rate_limit
                .unwrap_or(crate::ratelimit::DEFAULT_RATE),
        }
    }

    /// The account's `CustSpaceId`, if any.
    pub fn cust_space_id(&self) -> Option<&str> {
        self.api.and_then(|a| a.target.cust_space_id.as_deref())
    }

    /// Plans a round of `calls` calls of `op` spread over the interval, and records it
    /// (`chatapp_collector_round_seconds`; the scheduler warns once when it overruns).
    pub fn plan_round(&self, op: &Operation, calls: usize) -> RoundPlan {
        self.plan_round_over(op, calls, self.interval)
    }

    /// [`Ctx::plan_round`] spread over `over` instead of the whole interval (a run of
    /// several rounds, one per operation, shares the interval).
    pub fn plan_round_over(&self, op: &Operation, calls: usize, over: Duration) -> RoundPlan {
        let over = if self.spread { over } else { Duration::ZERO };
        let plan = RoundPlan::new(calls, over, self.rate(op));
        *self.plan.lock().unwrap_or_else(PoisonError::into_inner) = Some(plan);
        (self.hooks.on_plan)(plan);
        plan
    }

    /// The round planned in this run, if any.
    pub fn planned_round(&self) -> Option<RoundPlan> {
        *self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `collected`'s families (and shows its details) now, before the run ends: a
    /// long round shows its progress, and a failed one what it did learn.
    pub fn publish_progress(&self, collected: Collected) {
        (self.hooks.publish)(collected);
    }
}

/// The latest typed result each collector of one account published, for the collectors
/// that build on it (a per-number collector reads the number list). A collector never calls
/// another one's operation itself.
#[derive(Debug)]
pub struct Inputs {
    slots: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    changed: watch::Sender<u64>,
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            slots: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Inputs {
    /// Replaces the published value of its type and wakes the subscribers.
    pub fn publish(&self, value: Arc<dyn Any + Send + Sync>) {
        let id = Any::type_id(&*value);
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, value);
        self.changed.send_modify(|g| *g += 1);
    }

    /// The latest published `T`, if any.
    pub fn latest<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let value = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&TypeId::of::<T>())
            .cloned()?;
        value.downcast::<T>().ok()
    }

    /// A receiver that sees every publication.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_spread_over_the_interval_or_take_longer_at_the_rate() {
        let two = NonZeroU32::new(2).unwrap();
        let p = RoundPlan::new(6, Duration::from_secs(30), two);
        assert_eq!(p.spacing, Duration::from_secs(5));
        assert!(!p.overruns(Duration::from_secs(30)));
        // 2,000 numbers and a WABA at 2/s cannot fit in 10 minutes: 1,000.5 s.
        let p = RoundPlan::new(2001, Duration::from_secs(600), two);
        assert_eq!(p.spacing, Duration::from_millis(500));
        assert_eq!(p.round, Duration::from_millis(1_000_500));
        assert!(p.overruns(Duration::from_secs(600)));
    }

    #[test]
    fn inputs_are_typed_and_notify() {
        let inputs = Inputs::default();
        let mut rx = inputs.subscribe();
        assert!(inputs.latest::<String>().is_none());
        inputs.publish(Arc::new(String::from("numbers")));
        inputs.publish(Arc::new(7u32));
        assert!(rx.has_changed().unwrap());
        assert_eq!(*inputs.latest::<String>().unwrap(), "numbers");
        assert_eq!(*inputs.latest::<u32>().unwrap(), 7);
        rx.mark_unchanged();
        inputs.publish(Arc::new(8u32));
        assert_eq!(*inputs.latest::<u32>().unwrap(), 8);
        assert!(rx.has_changed().unwrap());
    }
}
