//! `QueryChatappPhoneNumbers` → the `chatapp_phone_number_*` families.
//!
//! Known states are the union of the Alibaba guide, the SDK model comments and Meta's names
//! (cams-api.md §5). The sources disagree, so every set is open: a value outside it becomes an
//! extra state and is reported as [`UnknownValue`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use prometheus::proto::MetricFamily;

use super::{
    FamilyDef, StateSetDef, UnknownValue, family, gauge, label_value, non_empty, push_state_set,
};
use crate::api::model::PhoneNumber;

/// `chatapp_phone_number_info`.
pub const INFO: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_info",
    help: "WhatsApp sending number (QueryChatappPhoneNumbers PhoneNumber, VerifiedName, IsOfficial); always 1. Join on account and phone_number for the display name.",
};

/// `chatapp_phone_number_status`.
pub const STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_status",
        help: "Operational state of the number (QueryChatappPhoneNumbers Status); 1 for the current state, 0 for the others.",
    },
    field: "Status",
    label: "status",
    known: &[
        "CONNECTED",
        "PENDING",
        "FLAGGED",
        "RATE_LIMITED",
        "RESTRICTED",
        "OFFLINE",
        "PAUSED",
        "DISCONNECTED",
        "UNVERIFIED",
        "BANNED",
        "MIGRATED",
        "DELETED",
        "UNKNOWN",
    ],
};

/// `chatapp_phone_number_quality_rating`.
pub const QUALITY_RATING: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_quality_rating",
        help: "Message quality over the last 7 days (QueryChatappPhoneNumbers QualityRating); 1 for the current rating, 0 for the others. RED for long gets the number FLAGGED.",
    },
    field: "QualityRating",
    label: "rating",
    known: &["GREEN", "YELLOW", "RED", "UNKNOWN"],
};

/// `chatapp_phone_number_messaging_limit_tier`: the raw tier string, both vocabularies.
pub const MESSAGING_LIMIT_TIER: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_messaging_limit_tier",
        help: "Messaging limit tier as sent by the API (QueryChatappPhoneNumbers MessagingLimitTier); 1 for the current tier, 0 for the others.",
    },
    field: "MessagingLimitTier",
    label: "tier",
    known: &[
        "TIER_10",
        "TIER_50",
        "TIER_1000",
        "UNLIMITED",
        "TIER_250",
        "TIER_1K",
        "TIER_2K",
        "TIER_10K",
        "TIER_100K",
        "TIER_UNLIMITED",
        "TIER_NOT_SET",
    ],
};

/// `chatapp_phone_number_messaging_limit`.
pub const MESSAGING_LIMIT: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_messaging_limit",
    help: "Unique recipients per 24h allowed by the messaging limit tier (QueryChatappPhoneNumbers MessagingLimitTier mapped by the tier_limits table; +Inf when unlimited; absent for unmapped tiers).",
};

/// `chatapp_phone_number_code_verification_status`.
pub const CODE_VERIFICATION_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_code_verification_status",
        help: "Two-step verification state (QueryChatappPhoneNumbers CodeVerificationStatus); 1 for the current state, 0 for the others.",
    },
    field: "CodeVerificationStatus",
    label: "status",
    known: &[
        "VERIFIED",
        "NOT_VERIFIED",
        "REJECTED",
        "REVOKED",
        "MORE_INFORMATION_REQUESTED",
        "EXPIRED",
    ],
};

/// `chatapp_phone_number_name_status` (the guide's mixed-case values).
pub const NAME_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_name_status",
        help: "Review state of the display name (QueryChatappPhoneNumbers NameStatus); 1 for the current state, 0 for the others.",
    },
    field: "NameStatus",
    label: "status",
    known: &["Approval", "Pending_Review", "Rejected"],
};

/// `chatapp_phone_number_new_name_status`; no series while the field is empty.
pub const NEW_NAME_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_new_name_status",
        help: "Review state of a requested display-name change (QueryChatappPhoneNumbers NewNameStatus); 1 for the current state, 0 for the others; absent while no change is pending.",
    },
    field: "NewNameStatus",
    label: "status",
    known: &["Approval", "Pending_Review", "Rejected"],
};

/// `chatapp_phone_number_status_callback_configured`.
pub const STATUS_CALLBACK: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_status_callback_configured",
    help: "1 if a delivery-status callback URL is set (QueryChatappPhoneNumbers StatusCallbackUrl; the URL itself is never exported).",
};

/// `chatapp_phone_number_inbound_callback_configured`.
pub const INBOUND_CALLBACK: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_inbound_callback_configured",
    help: "1 if an inbound-message callback URL is set (QueryChatappPhoneNumbers UpCallbackUrl; the URL itself is never exported).",
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &[
    &INFO,
    &STATUS.family,
    &QUALITY_RATING.family,
    &MESSAGING_LIMIT_TIER.family,
    &MESSAGING_LIMIT,
    &CODE_VERIFICATION_STATUS.family,
    &NAME_STATUS.family,
    &NEW_NAME_STATUS.family,
    &STATUS_CALLBACK,
    &INBOUND_CALLBACK,
];

/// Maps a raw tier string to unique recipients per 24 hours.
///
/// Defaults follow the Alibaba product page for its vocabulary (TIER_10 = 1K, TIER_50 = 10K,
/// TIER_1000 = 100K, UNLIMITED) and Meta's names for the other. The SDK says TIER_50 means
/// 50, the guide 10,000: the table is overridable (`tier_limits:` in the config file), and the
/// raw string is always exported beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLimits(BTreeMap<String, f64>);

impl Default for TierLimits {
    fn default() -> Self {
        let table = [
            ("TIER_10", 1_000.0),
            ("TIER_50", 10_000.0),
            ("TIER_1000", 100_000.0),
            ("UNLIMITED", f64::INFINITY),
            ("TIER_250", 250.0),
            ("TIER_1K", 1_000.0),
            ("TIER_2K", 2_000.0),
            ("TIER_10K", 10_000.0),
            ("TIER_100K", 100_000.0),
            ("TIER_UNLIMITED", f64::INFINITY),
        ];
        TierLimits(table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl TierLimits {
    /// The defaults with `overrides` applied on top.
    pub fn with_overrides(overrides: &BTreeMap<String, f64>) -> Self {
        let mut t = TierLimits::default();
        t.0.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        t
    }

    /// The limit for `tier`, if mapped.
    pub fn get(&self, tier: &str) -> Option<f64> {
        self.0.get(tier).copied()
    }

    /// The whole table, for documentation and `--config.check`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
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

/// Converts one account's numbers into families (sorted by phone number; families without
/// series are left out). Duplicate entries keep the first occurrence: two series with the
/// same labels would make the whole exposition invalid.
pub fn convert(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
) -> (Vec<MetricFamily>, Report) {
    let mut report = Report::default();
    let mut by_number: BTreeMap<String, &PhoneNumber> = BTreeMap::new();
    for n in numbers {
        match non_empty(&n.phone_number) {
            None => report.missing_number += 1,
            Some(p) => match by_number.entry(label_value(p)) {
                Entry::Vacant(e) => {
                    e.insert(n);
                }
                Entry::Occupied(_) => report.duplicates += 1,
            },
        }
    }
    report.numbers = by_number.len();

    let [
        mut info,
        mut status,
        mut quality,
        mut tier,
        mut limit,
        mut code,
        mut name,
        mut new_name,
        mut status_cb,
        mut inbound_cb,
    ] = [
        &INFO,
        &STATUS.family,
        &QUALITY_RATING.family,
        &MESSAGING_LIMIT_TIER.family,
        &MESSAGING_LIMIT,
        &CODE_VERIFICATION_STATUS.family,
        &NAME_STATUS.family,
        &NEW_NAME_STATUS.family,
        &STATUS_CALLBACK,
        &INBOUND_CALLBACK,
    ]
    .map(|d| family(d, refresh_note));
    for (phone, n) in &by_number {
        let base = [("account", account), ("phone_number", phone.as_str())];
        let verified_name = n
            .verified_name
            .as_deref()
            .map(label_value)
            .unwrap_or_default();
        let is_official = n
            .is_official
            .as_deref()
            .map(label_value)
            .unwrap_or_default();
        info.mut_metric().push(gauge(
            &[
                base[0],
                base[1],
                ("verified_name", &verified_name),
                ("is_official", &is_official),
            ],
            1.0,
        ));
        let mut state_set = |fam: &mut MetricFamily, def: &StateSetDef, v: &Option<String>| {
            report
                .unknown
                .extend(push_state_set(fam.mut_metric(), def, &base, non_empty(v)));
        };
        state_set(&mut status, &STATUS, &n.status);
        state_set(&mut quality, &QUALITY_RATING, &n.quality_rating);
        state_set(&mut tier, &MESSAGING_LIMIT_TIER, &n.messaging_limit_tier);
        state_set(
            &mut code,
            &CODE_VERIFICATION_STATUS,
            &n.code_verification_status,
        );
        state_set(&mut name, &NAME_STATUS, &n.name_status);
        state_set(&mut new_name, &NEW_NAME_STATUS, &n.new_name_status);
        if let Some(l) = non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t)) {
            limit.mut_metric().push(gauge(&base, l));
        }
        let configured = |v: &Option<String>| if non_empty(v).is_some() { 1.0 } else { 0.0 };
        status_cb
            .mut_metric()
            .push(gauge(&base, configured(&n.status_callback_url)));
        inbound_cb
            .mut_metric()
            .push(gauge(&base, configured(&n.up_callback_url)));
    }
    let mut fams = vec![
        info, status, quality, tier, limit, code, name, new_name, status_cb, inbound_cb,
    ];
    fams.retain(|f| !f.get_metric().is_empty());
    (fams, report)
}
