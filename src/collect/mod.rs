//! The collectors: one file per CAMS operation, as node_exporter has one file per collector.
//!
//! Each file declares, as data at its top, its [`CollectorSpec`] (name, API operations,
//! default schedule) and its metric families, and turns the decoded response into families
//! with pure functions. The scheduler, the store, the simulator, the flags and the self
//! metrics learn about collectors only through [`REGISTRY`]: adding an operation is one new
//! file and one line there.
//!
//! Conventions (exporter-conventions.md §1): enums are StateSets (one series per known state,
//! 1 for the current one, extra states for values never seen before); descriptive text rides
//! on `*_info` series only; an empty field emits no series; no sample timestamps. The shared
//! vocabulary for this lives in [`crate::metrics::family`].

mod context;
pub mod demo;
pub mod discovery;
pub mod health;
pub mod phone_numbers;
pub mod published;
pub mod round;
mod settings;
pub mod templates;
pub mod usage;
pub mod waba;

/// The file a new collector starts from (`docs/collector-template.rs`), compiled with the
/// tests so that it keeps up with the interfaces it shows; never registered.
#[cfg(test)]
#[allow(dead_code)] // not registered, so nothing calls it
#[path = "../../docs/collector-template.rs"]
mod template;

use std::any::Any;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use crate::metrics::family::{
    FamilyDef, MAX_LABEL_CHARS, StateSetDef, UnknownValue, family, gauge, label_str, label_value,
    push_state_set,
};
pub use context::{ApiAccess, Ctx, Hooks, Inputs, RoundPlan};
pub use phone_numbers::TierLimits;
pub use settings::{AnySettings, Need, NoSettings, SettingsBlock, SettingsError};

use crate::api::ApiError;
use crate::api::model::Text;
use crate::metrics::EnumMode;
use crate::metrics::exposition::{AccountExposition, BlockWriter};
use crate::view::{Facts, Layout, ViewSpec};
use phone_numbers::PhoneNumber;
use waba::Waba;

/// Every collector, in exposition order. Adding an operation is one file and one line here.
pub static REGISTRY: &[&dyn DynCollector] = &[
    &phone_numbers::COLLECTOR,
    &waba::COLLECTOR,
    &health::COLLECTOR,
    &templates::COLLECTOR,
    &usage::COLLECTOR,
    &discovery::COLLECTOR,
];

/// The collectors of an account's objects ([`Role::Objects`]): those `--collector.<name>`
/// and `collectors.<name>` switch.
pub fn object_collectors() -> impl Iterator<Item = &'static dyn DynCollector> {
    REGISTRY
        .iter()
        .copied()
        .filter(|c| c.spec().role == Role::Objects)
}

/// The collector that finds accounts ([`Role::Discovery`]), run by accounts with `discover:`.
pub fn discovery_collector() -> &'static dyn DynCollector {
    &discovery::COLLECTOR
}

/// The registered collector called `name`.
pub fn find(name: &str) -> Option<&'static dyn DynCollector> {
    REGISTRY.iter().copied().find(|c| c.spec().name == name)
}

/// The registered API operation called `action`, with the collector that calls it.
pub fn operation(action: &str) -> Option<(&'static CollectorSpec, &'static Operation)> {
    REGISTRY.iter().find_map(|c| {
        let spec = c.spec();
        spec.operations
            .iter()
            .find(|o| o.action == action)
            .map(|o| (spec, o))
    })
}

/// Every object family in exposition order, for [`crate::metrics::ExpositionStore::new`].
pub fn family_order() -> Vec<&'static str> {
    all_families().map(|f| f.name).collect()
}

/// Every object family of every collector, in exposition order, then the "since" families
/// of their tracked columns.
pub fn all_families() -> impl Iterator<Item = &'static FamilyDef> {
    let own = REGISTRY
        .iter()
        .flat_map(|c| c.spec().families.iter().copied());
    own.chain(tracked().map(|t| &t.since))
}

/// Every collector's tracked columns, in registry order.
pub fn tracked() -> impl Iterator<Item = &'static Tracked> {
    REGISTRY.iter().flat_map(|c| c.spec().tracked.iter())
}

/// Every registered collector's columns, notes and tables, in registry order.
pub fn layout() -> Layout {
    Layout::of(REGISTRY.iter().map(|c| &c.spec().view))
}

/// What a collector is, as data.
#[derive(Debug)]
pub struct CollectorSpec {
    /// `phone_numbers`, `waba`, ...: the flag name (`--collector.<name>`) and the
    /// `collector` label.
    pub name: &'static str,
    /// One line for `--help` and the README.
    pub description: &'static str,
    /// The API operations it calls.
    pub operations: &'static [Operation],
    /// Its families, in exposition order.
    pub families: &'static [&'static FamilyDef],
    /// When it runs.
    pub schedule: Schedule,
    /// What it is for: an account's objects, or finding accounts.
    pub role: Role,
    /// On unless switched off (`--no-collector.<name>`).
    pub enabled_by_default: bool,
    /// The same under `--demo`, whose simulated fleet shows every collector.
    pub enabled_in_demo: bool,
    /// The collectors whose published results it reads ([`Inputs`]).
    pub needs: &'static [Need],
    /// What it shows people: its columns of the numbers table, its notes and tables.
    pub view: ViewSpec,
    /// Its columns whose changes are remembered across restarts ([`Tracked`]).
    pub tracked: &'static [Tracked],
}

/// A column of the numbers table whose value changes are remembered, with the family that
/// says since when a number has its current value (`crate::history`).
#[derive(Debug)]
pub struct Tracked {
    /// The column (its cells are the values).
    pub column: &'static crate::view::Column,
    /// The field's name in the list of changes (`status`, `quality`, ...).
    pub field: &'static str,
    /// `chatapp_phone_number_<field>_since_timestamp_seconds`.
    pub since: FamilyDef,
    /// Since when, in the `--once` JSON document (Unix seconds; not a page column).
    pub since_column: crate::view::Column,
}

/// When a collector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// In the account's refresh, every `--refresh.interval`, side by side with the other
    /// refresh collectors; their combined result is `chatapp_up`, and the refresh's back-off
    /// and `--refresh.max-staleness` apply.
    Refresh,
    /// In a loop of its own (`--collector.<name>.interval`), with its own back-off and a
    /// staleness limit of three rounds, outside the refresh concurrency limit. It starts
    /// after the account's first refresh, whose results it may read.
    Own {
        /// Default interval.
        interval: Duration,
        /// Default interval under `--demo`, so that the simulated fleet visibly moves.
        demo_interval: Duration,
    },
}

/// What a collector is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It reports an account's objects (numbers, WABA, templates, ...): switched with
    /// `--collector.<name>` and `collectors.<name>`, run for every account.
    Objects,
    /// It finds accounts: configured by an account's `discover:` block, which makes the
    /// account a parent that runs this collector and no other (its `collectors:` are its
    /// children's). It has no flag and no `collectors.<name>` block.
    Discovery,
}

/// An API operation a collector calls.
#[derive(Debug)]
pub struct Operation {
    /// The action name (also the `operation` label and the RAM action `cams:<action>`).
    pub action: &'static str,
    /// Default requests per second per AccessKey; `None` for `--api.rate-limit`.
    /// `rate_limits:` in the configuration file overrides either.
    pub default_rate_limit: Option<NonZeroU32>,
    /// Which tenant parameters the operation takes.
    pub tenant: Tenant,
    /// Parameters the gateway rejects a request without (`MissingParameter`); the
    /// simulator checks them.
    pub required: &'static [&'static str],
    /// The simulator's answers to it ([`demo`]).
    pub demo: demo::Responder,
}

/// The tenant parameters of an operation (cams-api.md §1, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    /// `CustSpaceId` and `IsvCode` when the account has them.
    SpaceAndIsvCode,
    /// `CustSpaceId` only (the operation has no `IsvCode`).
    Space,
    /// Neither: the operation is about the caller itself (`ListInstance`).
    None,
}

/// What one run produced.
#[derive(Debug, Default)]
pub struct Collected {
    /// The collector's families for the account, rendered.
    pub exposition: AccountExposition,
    /// Values outside known states, to be counted and logged once.
    pub unknown: Vec<UnknownValue>,
    /// One line for the landing page, e.g. `7 numbers`.
    pub summary: String,
    /// Lines worth a person's attention (Meta's suggested fixes, ...), for the landing page.
    pub details: Vec<String>,
    /// What the run learned, in words, for the fleet view and `--once`.
    pub facts: Facts,
    /// The typed result that other collectors of the account may read ([`Inputs`]).
    pub published: Option<Arc<dyn Any + Send + Sync>>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The families could not be rendered (a bug, not bad input).
    #[error("cannot render metrics: {0}")]
    Render(#[from] prometheus::Error),
    /// The scheduler broke a promise it makes the collectors (a bug, not bad input).
    #[error("internal error: {0}")]
    Bug(&'static str),
}

impl CollectError {
    /// The bounded `code` for logs and the landing page.
    pub fn code_label(&self) -> String {
        match self {
            CollectError::Api(e) => e.code_label(),
            CollectError::Render(_) | CollectError::Bug(_) => "render".into(),
        }
    }

    /// What the failure means for the schedule.
    pub fn kind(&self) -> crate::api::ErrorKind {
        match self {
            CollectError::Api(e) => e.kind(),
            CollectError::Render(_) | CollectError::Bug(_) => crate::api::ErrorKind::Decode,
        }
    }

    /// The API's `RequestId`, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            CollectError::Api(e) => e.request_id(),
            CollectError::Render(_) | CollectError::Bug(_) => None,
        }
    }
}

/// One collector. `State` is what it keeps between runs for one account (a per-number
/// collector's last answers, for example); `Settings` is its block of the
/// configuration file ([`SettingsBlock`]).
pub trait Collector: Sync + 'static {
    /// Kept between runs, per account.
    type State: Default + Send + 'static;
    /// Its own settings (`collectors.<name>` beyond `enabled` and `interval`).
    type Settings: SettingsBlock;

    /// The collector as data.
    fn spec(&self) -> &'static CollectorSpec;

    /// One run (for a per-entity collector, one whole round).
    fn run<'a>(
        &'a self,
        state: &'a mut Self::State,
        settings: &'a Self::Settings,
        ctx: &'a Ctx<'a>,
    ) -> impl Future<Output = Result<Collected, CollectError>> + Send + 'a;

    /// Called between runs when another collector of the account published; returns a new
    /// rendering when the collector's output depends on what changed (a number gone from
    /// the phone-number list takes its per-number series with it at once). No API calls.
    fn inputs_changed(
        &self,
        _state: &mut Self::State,
        _settings: &Self::Settings,
        _ctx: &Ctx<'_>,
    ) -> Option<Collected> {
        None
    }
}

/// [`Collector`] with its state and settings types erased, so that the registry can hold
/// every collector.
pub trait DynCollector: Sync {
    /// See [`Collector::spec`].
    fn spec(&self) -> &'static CollectorSpec;
    /// A fresh state for one account.
    fn new_state(&self) -> Box<dyn Any + Send>;
    /// Decodes and checks the collector's block of the configuration file (without
    /// `enabled` and `interval`); an empty block gives the defaults.
    fn settings(&self, block: serde_yaml_ng::Mapping) -> Result<AnySettings, SettingsError>;
    /// See [`Collector::run`]; `state` comes from [`DynCollector::new_state`] and
    /// `settings` from [`DynCollector::settings`].
    fn run_dyn<'a>(
        &'a self,
        state: &'a mut (dyn Any + Send),
        settings: &'a AnySettings,
        ctx: &'a Ctx<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>>;
    /// See [`Collector::inputs_changed`].
    fn inputs_changed_dyn(
        &self,
        state: &mut (dyn Any + Send),
        settings: &AnySettings,
        ctx: &Ctx<'_>,
    ) -> Option<Collected>;
}

impl<C: Collector> DynCollector for C {
    fn spec(&self) -> &'static CollectorSpec {
        Collector::spec(self)
    }

    fn new_state(&self) -> Box<dyn Any + Send> {
        Box::new(C::State::default())
    }

    fn settings(&self, block: serde_yaml_ng::Mapping) -> Result<AnySettings, SettingsError> {
        settings::parse::<C::Settings>(block).map(AnySettings::new)
    }

    fn run_dyn<'a>(
        &'a self,
        state: &'a mut (dyn Any + Send),
        settings: &'a AnySettings,
        ctx: &'a Ctx<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        match (
            state.downcast_mut::<C::State>(),
            settings.get::<C::Settings>(),
        ) {
            (Some(state), Some(settings)) => Box::pin(self.run(state, settings, ctx)),
            // The scheduler only ever passes the state and settings this collector made.
            _ => Box::pin(async { Err(CollectError::Bug("collector state or settings mismatch")) }),
        }
    }

    fn inputs_changed_dyn(
        &self,
        state: &mut (dyn Any + Send),
        settings: &AnySettings,
        ctx: &Ctx<'_>,
    ) -> Option<Collected> {
        self.inputs_changed(
            state.downcast_mut::<C::State>()?,
            settings.get::<C::Settings>()?,
            ctx,
        )
    }
}

/// Renders one account's phone-number and WABA answers into one exposition, as the two
/// collectors do each into their own: the benchmarks and golden tests measure and compare
/// the refresh path through this. `previous` is an earlier rendering whose unchanged blocks
/// are reused. The report's `unknown` includes the WABA's.
pub fn render_account(
    account: &str,
    numbers: &[PhoneNumber],
    waba: &Waba,
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
    previous: Option<&AccountExposition>,
) -> Result<(AccountExposition, phone_numbers::Report), prometheus::Error> {
    let mut writer = BlockWriter::new(previous);
    let (mut exposition, mut report) =
        phone_numbers::render(account, numbers, tiers, refresh_note, mode, &mut writer);
    let (waba, unknown) = waba::render(account, waba, refresh_note, mode, &mut writer);
    exposition.append(waba);
    report.unknown.extend(unknown);
    Ok((exposition, report))
}

/// Free text for the landing page or a description label: control characters become
/// spaces, and text longer than `max` characters is cut with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// An optional API field as a label value: trimmed and capped ([`label_str`]), empty when
/// absent.
pub fn label_text(v: &Option<Text>) -> &str {
    v.as_deref().map(label_str).unwrap_or("")
}

/// Returns the non-empty, trimmed value of an optional API field.
pub fn non_empty(v: &Option<Text>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
