//! `QueryChatappBindWaba` → `chatapp_waba_info` and `chatapp_waba_account_review_status`.
//!
//! The response (SDK `_query_chatapp_bind_waba_response_body.py`, cams-api.md §4) and the
//! demo's answer are at the end of the file.

use std::sync::Arc;

use prometheus::proto::MetricFamily;
use serde::Deserialize;
use serde_json::json;

use super::demo::{DemoWorld, Reply, SimRequest, SimResponse, Space};
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, NoSettings, Operation, Role,
    Schedule, StateSetDef, Tenant, UnknownValue, family, gauge, label_str, label_text, label_value,
    non_empty, push_state_set,
};
use crate::api::model::{Text, lenient_bool, lenient_string, lenient_text};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Cell, Renderer, Series, Table};
use crate::metrics::{AccountExposition, EnumMode};
use crate::view::ViewSpec;

/// `QueryChatappBindWaba`: the tenant's parameters only.
pub const OPERATION: Operation = Operation {
    action: "QueryChatappBindWaba",
    default_rate_limit: None,
    tenant: Tenant::SpaceAndIsvCode,
    required: &[],
    demo: demo_answer,
};

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "waba",
    description: "the bound WhatsApp Business Account and its review status (QueryChatappBindWaba)",
    operations: &[OPERATION],
    families: FAMILIES,
    schedule: Schedule::Refresh,
    role: Role::Objects,
    enabled_by_default: true,
    enabled_in_demo: true,
    needs: &[],
    view: ViewSpec::NONE,
    tracked: &[],
};

/// The `waba` collector.
#[derive(Debug)]
pub struct BindWaba;

/// The registered instance.
pub const COLLECTOR: BindWaba = BindWaba;

pub use super::published::BoundWaba;

impl Collector for BindWaba {
    type State = ();
    type Settings = NoSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        _settings: &'a NoSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let response: BindWabaResponse = ctx.call(&OPERATION, &[]).await?;
        let (exposition, unknown) = render(
            ctx.account,
            &response.data,
            &ctx.note,
            ctx.enum_mode,
            &mut BlockWriter::new(ctx.previous.as_deref()),
        );
        let id = super::non_empty(&response.data.id).map(|id| Text::from(label_value(id)));
        Ok(Collected {
            exposition,
            unknown,
            // The account's line on the landing page counts numbers; the WABA shows in
            // the collectors table.
            summary: String::new(),
            details: Vec::new(),
            facts: Default::default(),
            published: Some(Arc::new(BoundWaba { id })),
        })
    }
}

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

/// The WABA's families.
const WABA: Table<'static> = Table {
    labels: &["account", "waba_id"],
    series: &[
        Series::Info(
            &INFO,
            &[
                "waba_name",
                "business_id",
                "business_name",
                "currency",
                "message_template_namespace",
            ],
        ),
        Series::States(&REVIEW_STATUS),
    ],
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &render::families::<2>(&[WABA]);

/// Renders the bound WABA (what the collector serves; [`convert`] is the reference). A WABA
/// without an `Id` yields nothing: every series needs it.
pub fn render(
    account: &str,
    waba: &Waba,
    refresh_note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Vec<UnknownValue>) {
    let mut out = Renderer::new(writer, refresh_note, mode);
    if let Some(id) = non_empty(&waba.id).map(label_str) {
        let info = [
            label_text(&waba.name),
            label_text(&waba.business_id),
            label_text(&waba.business_name),
            label_text(&waba.currency),
            label_text(&waba.message_template_namespace),
        ];
        let status = non_empty(&waba.account_review_status);
        out.table(&WABA, |rows| {
            rows.row(&[account, id], &[Cell::Info(&info), Cell::state(status)]);
        });
    }
    out.finish()
}

/// Converts the bound WABA into `prometheus::proto` families for the library's encoder:
/// the reference [`render`] is tested against, and what the fuzz target exercises. A WABA
/// without an `Id` yields nothing.
pub fn convert(
    account: &str,
    waba: &Waba,
    refresh_note: &str,
    mode: EnumMode,
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
        mode,
    ));
    vec![info, review]
}

crate::api_response! {
    /// `QueryChatappBindWaba` response body.
    pub struct BindWabaResponse {
        /// The WABA bound to the account (or to `CustSpaceId`). Required on success.
        pub data: Waba,
    }
}

/// The WhatsApp Business Account bound to the instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Waba {
    /// WABA ID assigned by Meta.
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: Option<Text>,
    /// Registered business name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub name: Option<Text>,
    /// Billing currency, e.g. `USD`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub currency: Option<Text>,
    /// Meta's review decision: `APPROVED`, `PENDING`, `REJECTED`, `DISABLED`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub account_review_status: Option<Text>,
    /// Namespace for message templates.
    #[serde(default, deserialize_with = "lenient_text")]
    pub message_template_namespace: Option<Text>,
    /// Business platform ID.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_id: Option<Text>,
    /// Business platform name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_name: Option<Text>,
}

/// The demo's answer: demo-retail's WABA is approved, demo-travel's still in review, each
/// ISV customer's approved.
fn demo_answer(world: &DemoWorld, request: &SimRequest) -> Reply {
    let (id, name, business, review) = match world.space(request) {
        Space::Retail => (
            "20393988393993001".to_owned(),
            "Acme Retail".to_owned(),
            "Acme Ltd".to_owned(),
            "APPROVED",
        ),
        Space::Travel => (
            "20393988393993002".to_owned(),
            "Globetrotter Travel".to_owned(),
            "Globetrotter Pte".to_owned(),
            "PENDING",
        ),
        Space::Customer(i) => {
            let name = world.customer_name(i);
            (
                format!("2039398839{:07}", 1000 + i),
                name.clone(),
                format!("{name} Ltd"),
                "APPROVED",
            )
        }
    };
    SimResponse::success(json!({
        "Data": {
            "Id": id,
            "Name": name,
            "BusinessId": format!("1{id}"),
            "BusinessName": business,
            "Currency": "USD",
            "AccountReviewStatus": review,
            "MessageTemplateNamespace": format!("ns_{id}"),
        }
    }))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_byte_for_byte_the_encoder_path() {
        let hostile = Waba {
            id: Some("  20393988393993001 ".into()),
            name: Some("Quote \"q\" back\\slash\nline 🎉".into()),
            currency: None,
            account_review_status: Some("IN_APPEAL".into()),
            message_template_namespace: Some("x".repeat(300).into()),
            business_id: Some("   ".into()),
            business_name: Some("Acme".into()),
        };
        let plain = Waba {
            account_review_status: Some("APPROVED".into()),
            ..hostile.clone()
        };
        let no_id = Waba {
            id: Some(" ".into()),
            ..plain.clone()
        };
        for waba in [hostile, plain, no_id, Waba::default()] {
            for mode in [EnumMode::All, EnumMode::Current] {
                let mut want_unknown = Vec::new();
                let families = convert("a\"b", &waba, "note", mode, &mut want_unknown);
                let want = AccountExposition::render(&families).unwrap().to_text();
                let (got, unknown) =
                    render("a\"b", &waba, "note", mode, &mut BlockWriter::new(None));
                assert_eq!(String::from_utf8(got.to_text()), String::from_utf8(want));
                assert_eq!(unknown, want_unknown);
            }
        }
    }
}
