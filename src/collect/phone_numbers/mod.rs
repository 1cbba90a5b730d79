//! `QueryChatappPhoneNumbers` → the `chatapp_phone_number_*` families.
//!
//! Known states are the union of the Alibaba guide, the SDK model comments and Meta's names
//! (cams-api.md §5). The sources disagree, so every set is open: a value outside it becomes an
//! extra state and is reported as [`UnknownValue`].

//!
//! Here: the operation, the collector and the deduplication both renderers share. Beside
//! it: `model` (the response DTOs), `families` (the families as data, one table row each),
//! `tiers` (the configurable tier → limit table), `convert` (the reference conversion into
//! `prometheus::proto` families, the oracle in tests), `render` (the numbers through the
//! shared renderer, straight to text) and `demo` (the simulator's answer).

mod convert;
mod demo;
mod families;
mod model;
mod render;
mod tiers;
mod view;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use serde::Deserialize;

use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, Operation, Role, Schedule,
    SettingsBlock, SettingsError, Tenant, Tracked, UnknownValue, label_str, non_empty,
};
use crate::api::model::Text;
use crate::metrics::exposition::BlockWriter;

pub use convert::convert;
pub use families::*;
pub use model::{PhoneNumber, PhoneNumbersResponse};
pub use render::render;
pub use tiers::{TierLimits, lower_tier};
pub use view::{MESSAGING_LIMIT, QUALITY, STATUS, TIER, VERIFIED_NAME, facts, verdict};

/// `QueryChatappPhoneNumbers`: no parameters beyond the tenant's (no `Status` filter: we
/// want every number; cams-api.md §1).
pub const OPERATION: Operation = Operation {
    action: "QueryChatappPhoneNumbers",
    default_rate_limit: None,
    tenant: Tenant::SpaceAndIsvCode,
    required: &[],
    demo: demo::respond,
};

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "phone_numbers",
    description: "every number's status, quality rating and messaging limit (QueryChatappPhoneNumbers)",
    operations: &[OPERATION],
    families: FAMILIES,
    schedule: Schedule::Refresh,
    role: Role::Objects,
    enabled_by_default: true,
    enabled_in_demo: true,
    needs: &[],
    view: view::VIEW,
    tracked: &[
        Tracked {
            column: &view::STATUS,
            field: "status",
            since_column: crate::view::Column::json_number("status_since"),
            since: FamilyDef {
                name: "chatapp_phone_number_status_since_timestamp_seconds",
                help: "Unix time since which the number has had its current Status, as the exporter observed it (kept across restarts in --storage.path); the first observation when the change was not seen.",
            },
        },
        Tracked {
            column: &view::QUALITY,
            field: "quality",
            since_column: crate::view::Column::json_number("quality_since"),
            since: FamilyDef {
                name: "chatapp_phone_number_quality_rating_since_timestamp_seconds",
                help: "Unix time since which the number has had its current QualityRating, as the exporter observed it (kept across restarts in --storage.path); the first observation when the change was not seen.",
            },
        },
        Tracked {
            column: &view::TIER,
            field: "tier",
            since_column: crate::view::Column::json_number("tier_since"),
            since: FamilyDef {
                name: "chatapp_phone_number_messaging_limit_tier_since_timestamp_seconds",
                help: "Unix time since which the number has had its current MessagingLimitTier, as the exporter observed it (kept across restarts in --storage.path); the first observation when the change was not seen.",
            },
        },
    ],
};

/// `collectors.phone_numbers:` beyond `enabled`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumbersSettings {
    /// Overrides of the tier → recipients table (YAML `.inf` for unlimited). The top-level
    /// `tier_limits:` key of the file is an alias of this one, kept for older files.
    #[serde(default)]
    pub tier_limits: TierLimits,
}

impl SettingsBlock for PhoneNumbersSettings {
    fn check(&self) -> Result<(), SettingsError> {
        self.tier_limits.check()
    }
}

/// The `phone_numbers` collector.
#[derive(Debug)]
pub struct PhoneNumbers;

/// The registered instance.
pub const COLLECTOR: PhoneNumbers = PhoneNumbers;

pub use super::published::{ListedNumber, NumberList};

/// What this collector publishes for the others: the exported numbers of `numbers`
/// (deduplicated, sorted), with their status and messaging limit.
pub fn number_list(numbers: &[PhoneNumber], tiers: &TierLimits) -> NumberList {
    NumberList {
        numbers: dedupe(numbers)
            .0
            .into_iter()
            .map(|(phone, n)| ListedNumber {
                phone: Text::from(phone),
                status: non_empty(&n.status).map(Text::from),
                messaging_limit: non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t)),
            })
            .collect(),
    }
}

impl Collector for PhoneNumbers {
    type State = ();
    type Settings = PhoneNumbersSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        settings: &'a PhoneNumbersSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let tiers = &settings.tier_limits;
        let response: PhoneNumbersResponse = ctx.call(&OPERATION, &[]).await?;
        let numbers = &response.phone_numbers;
        // Render straight to text, reusing the blocks of the current rendering that come
        // out unchanged (see `metrics::exposition`): most of a large fleet's text is then
        // neither copied nor compressed again.
        let mut writer = BlockWriter::new(ctx.previous.as_deref());
        let (exposition, report) = render(
            ctx.account,
            numbers,
            tiers,
            &ctx.note,
            ctx.enum_mode,
            &mut writer,
        );
        tracing::debug!(
            blocks_reused = writer.reused,
            blocks_compressed = writer.compressed,
            "rendered"
        );
        if report.duplicates > 0 || report.missing_number > 0 {
            tracing::warn!(
                duplicates = report.duplicates,
                without_phone_number = report.missing_number,
                "API returned entries that cannot be exported; kept the first of each number"
            );
        }
        Ok(Collected {
            exposition,
            summary: match report.numbers {
                1 => "1 number".to_owned(),
                n => format!("{n} numbers"),
            },
            unknown: report.unknown,
            details: Vec::new(),
            facts: facts(numbers, tiers),
            published: Some(Arc::new(number_list(numbers, tiers))),
        })
    }
}

/// What a conversion noticed besides the families, for logging.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Distinct numbers exported.
    pub numbers: usize,
    /// Entries dropped because their `PhoneNumber` repeated an earlier entry.
    pub duplicates: usize,
    /// Entries dropped because they had no `PhoneNumber`.
    pub missing_number: usize,
    /// Values outside the known states.
    pub unknown: Vec<UnknownValue>,
}

/// The numbers to export, by phone number (as a label value): entries without a number are
/// dropped and a repeated number keeps its first entry, since two series with the same labels
/// would make the whole exposition invalid. Both renderers use this, so they agree.
fn dedupe(numbers: &[PhoneNumber]) -> (BTreeMap<&str, &PhoneNumber>, Report) {
    let mut report = Report::default();
    let mut by_number: BTreeMap<&str, &PhoneNumber> = BTreeMap::new();
    for n in numbers {
        match non_empty(&n.phone_number) {
            None => report.missing_number += 1,
            Some(p) => match by_number.entry(label_str(p)) {
                Entry::Vacant(e) => {
                    e.insert(n);
                }
                Entry::Occupied(_) => report.duplicates += 1,
            },
        }
    }
    report.numbers = by_number.len();
    (by_number, report)
}
