//! Shared by the benches: API bodies generated from a template of one number, varied per
//! number the way real fleets vary (status, rating, tier, callbacks).

#![allow(dead_code)]

use std::sync::Arc;

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{self, TierLimits};
use chatapp_exporter::metrics::ExpositionStore;

/// The HELP suffix of the default interval.
pub const NOTE: &str = "Refreshed every 1m in the background.";

const TEMPLATE: &str = r#"{"PhoneNumber":"{PHONE}","VerifiedName":"Sender {I} Ltd","Status":"{STATUS}","QualityRating":"{QUALITY}","MessagingLimitTier":"{TIER}","CodeVerificationStatus":"VERIFIED","NameStatus":"Approval","NewNameStatus":"","IsOfficial":"N","StatusCallbackUrl":"{CB}","UpCallbackUrl":"{CB}","StatusQueue":"Alicom-Queue-0000-ChatAppStatus","UpQueue":"Alicom-Queue-0000-ChatAppInbound"}"#;

pub const WABA: &str = r#"{"RequestId":"r","Code":"OK","Message":"SUCCESS","Success":true,"Data":{"Id":"20393988393993001","Name":"Acme Retail","BusinessId":"120393988393993001","BusinessName":"Acme Ltd","Currency":"USD","AccountReviewStatus":"APPROVED","MessageTemplateNamespace":"ns_1"}}"#;

/// A `QueryChatappPhoneNumbers` success body with `n` numbers.
pub fn body(n: usize) -> Vec<u8> {
    const STATUSES: [&str; 4] = ["CONNECTED", "CONNECTED", "CONNECTED", "FLAGGED"];
    const QUALITIES: [&str; 3] = ["GREEN", "GREEN", "YELLOW"];
    const TIERS: [&str; 4] = ["TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];
    let mut out = String::from(
        r#"{"RequestId":"6E2E5B3B-0000-4000-8000-000000000000","Code":"OK","Message":"SUCCESS","Success":true,"PhoneNumbers":["#,
    );
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let phone = format!("65{:09}", 100_000_000 + i);
        let cb = if i % 2 == 0 {
            format!("https://hooks.example.com/cb?token=t-{phone}")
        } else {
            String::new()
        };
        out.push_str(
            &TEMPLATE
                .replace("{PHONE}", &phone)
                .replace("{I}", &i.to_string())
                .replace("{STATUS}", STATUSES[i % 4])
                .replace("{QUALITY}", QUALITIES[i % 3])
                .replace("{TIER}", TIERS[i % 4])
                .replace("{CB}", &cb),
        );
    }
    out.push_str("]}");
    out.into_bytes()
}

/// What the scheduler does after both API calls returned: decode, convert, render, publish.
pub fn refresh(store: &ExpositionStore, numbers: &[u8], bound: &[u8], tiers: &TierLimits) {
    let numbers: PhoneNumbersResponse = interpret(200, numbers, "", "").unwrap();
    let bound: BindWabaResponse = interpret(200, bound, "", "").unwrap();
    publish(store, &numbers, &bound, tiers);
}

/// The second half of [`refresh`]: render the decoded answers (reusing the account's
/// unchanged blocks) and publish them.
pub fn publish(
    store: &ExpositionStore,
    numbers: &PhoneNumbersResponse,
    bound: &BindWabaResponse,
    tiers: &TierLimits,
) {
    let previous = store.get("shop-a", "phone_numbers");
    let (exposition, _report) = collect::render_account(
        "shop-a",
        &numbers.phone_numbers,
        &bound.data,
        tiers,
        NOTE,
        chatapp_exporter::metrics::EnumMode::All,
        previous.as_deref(),
    )
    .unwrap();
    drop(previous);
    store.set("shop-a", "phone_numbers", Some(Arc::new(exposition)));
}
