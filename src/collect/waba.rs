//! `QueryChatappBindWaba` → `chatapp_waba_info` and `chatapp_waba_account_review_status`.

use prometheus::proto::MetricFamily;

use super::{FamilyDef, StateSetDef, UnknownValue, family, gauge, label_value, push_state_set};
use crate::api::model::{Text, Waba};

/// `chatapp_waba_info`.
pub const INFO: FamilyDef = FamilyDef {
    name: "chatapp_waba_info",
    help: "WhatsApp Business Account bound to the account (QueryChatappBindWaba Data: Id, Name, BusinessId, BusinessName, Currency, MessageTemplateNamespace); always 1.",
};

/// `chatapp_waba_account_review_status` (values from the SDK model comments).
pub const REVIEW_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_waba_account_review_status",
        help: "Meta's review decision for the WABA (QueryChatappBindWaba AccountReviewStatus); 1 for the current state, 0 for the others. Only APPROVED WABAs can send.",
    },
    field: "AccountReviewStatus",
    label: "status",
    known: &["PENDING", "APPROVED", "REJECTED", "DISABLED"],
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &[&INFO, &REVIEW_STATUS.family];

/// Converts the bound WABA. A WABA without an `Id` yields nothing: every series needs it.
pub fn convert(
    account: &str,
    waba: &Waba,
    refresh_note: &str,
    unknown: &mut Vec<UnknownValue>,
) -> Vec<MetricFamily> {
    let Some(id) = super::non_empty(&waba.id).map(label_value) else {
        return Vec::new();
    };
    let text = |v: &Option<Text>| v.as_deref().map(label_value).unwrap_or_default();
    let (name, business_id, business_name, currency, namespace) = (
        text(&waba.name),
        text(&waba.business_id),
        text(&waba.business_name),
        text(&waba.currency),
        text(&waba.message_template_namespace),
    );

    let mut info = family(&INFO, refresh_note);
    info.mut_metric().push(gauge(
        &[
            ("account", account),
            ("waba_id", &id),
            ("waba_name", &name),
            ("business_id", &business_id),
            ("business_name", &business_name),
            ("currency", &currency),
            ("message_template_namespace", &namespace),
        ],
        1.0,
    ));

    let mut review = family(&REVIEW_STATUS.family, refresh_note);
    let status = super::non_empty(&waba.account_review_status);
    unknown.extend(push_state_set(
        review.mut_metric(),
        &REVIEW_STATUS,
        &[("account", account), ("waba_id", &id)],
        status,
    ));
    vec![info, review]
}
