//! The phone-number families as data: one definition per family and one [`Column`] per
//! family saying what shape its series have and how they come from a number. Both
//! renderers (the shared table-driven one, through [`TABLE`], and the reference conversion)
//! are driven by [`COLUMNS`], so adding a family is one definition and one row.

use super::PhoneNumber;
use super::TierLimits;
use crate::api::model::Text;
use crate::collect::{FamilyDef, StateSetDef, non_empty};
use crate::metrics::render::{Series, Table};

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

/// A number's optional text field.
pub type Field = fn(&PhoneNumber) -> &Option<Text>;

/// One family: its shape, for the shared renderer, and where its values come from. Every
/// series carries the number's identifying labels, `account` and `phone_number`, first.
#[derive(Debug)]
pub struct Column {
    /// The family and the shape of its series.
    pub series: Series,
    /// Where the values come from (of the kind `series` takes).
    pub value: Value,
}

/// Where a family's values come from.
#[derive(Debug)]
pub enum Value {
    /// An `_info` family's further labels ([`Series::Info`]), each read from a field, in
    /// order (an absent field gives an empty value).
    Labels(&'static [Field]),
    /// A StateSet's current state (no series when the field is absent or blank).
    State(Field),
    /// A gauge (no series when the value is `None`).
    Gauge(fn(&PhoneNumber, &TierLimits) -> Option<f64>),
}

impl Column {
    /// The family the column fills.
    pub const fn family(&self) -> &'static FamilyDef {
        self.series.family()
    }
}

/// 1 when set, 0 when not.
fn flag(set: bool) -> Option<f64> {
    Some(if set { 1.0 } else { 0.0 })
}

/// A StateSet over a field.
const fn states(def: &'static StateSetDef, field: Field) -> Column {
    Column {
        series: Series::States(def),
        value: Value::State(field),
    }
}

/// A gauge.
const fn gauge(
    def: &'static FamilyDef,
    value: fn(&PhoneNumber, &TierLimits) -> Option<f64>,
) -> Column {
    Column {
        series: Series::Gauge(def),
        value: Value::Gauge(value),
    }
}

/// The families in exposition order, with where each value comes from.
pub const COLUMNS: &[Column] = &[
    Column {
        series: Series::Info(&INFO, &["verified_name", "is_official"]),
        value: Value::Labels(&[|n| &n.verified_name, |n| &n.is_official]),
    },
    states(&STATUS, |n| &n.status),
    states(&QUALITY_RATING, |n| &n.quality_rating),
    states(&MESSAGING_LIMIT_TIER, |n| &n.messaging_limit_tier),
    gauge(&MESSAGING_LIMIT, |n, tiers| {
        non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t))
    }),
    states(&CODE_VERIFICATION_STATUS, |n| &n.code_verification_status),
    states(&NAME_STATUS, |n| &n.name_status),
    states(&NEW_NAME_STATUS, |n| &n.new_name_status),
    gauge(&STATUS_CALLBACK, |n, _| flag(n.status_callback_url)),
    gauge(&INBOUND_CALLBACK, |n, _| flag(n.up_callback_url)),
];

/// The shapes of [`COLUMNS`], in order.
const SERIES: [Series; COLUMNS.len()] = {
    let mut out = [COLUMNS[0].series; COLUMNS.len()];
    let mut i = 0;
    while i < COLUMNS.len() {
        out[i] = COLUMNS[i].series;
        i += 1;
    }
    out
};

/// [`COLUMNS`] as the shared renderer's table.
pub const TABLE: Table<'static> = Table {
    labels: &["account", "phone_number"],
    series: &SERIES,
};

/// The families of [`COLUMNS`], in order, for the collector's spec.
pub const FAMILIES: &[&FamilyDef] =
    &crate::metrics::render::families::<{ COLUMNS.len() }>(&[TABLE]);
