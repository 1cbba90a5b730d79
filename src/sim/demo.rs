//! The `--demo` fleet: two fictional accounts whose numbers change over time, so that the
//! dashboard and the alerts have something real to show without credentials or network.
//!
//! - `demo-retail` (WABA approved): a steady GREEN number; "Acme Sales", whose quality drifts
//!   GREEN → YELLOW → RED → GREEN over six minutes (its tier drops while RED); a FLAGGED RED
//!   number; a RESTRICTED one; and a PENDING one whose `NameStatus` is a value the exporter
//!   does not know yet. `--demo.extra-numbers` adds generated numbers here, for load tests.
//! - `demo-travel` (an ISV sub-customer, WABA in review): two healthy numbers; every fifth
//!   request to this account is throttled (`Throttling.User`), as a busy shared quota would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Backend, SimKey, SimRequest, SimResponse, request_id};
use crate::api::client::{OP_BIND_WABA, OP_PHONE_NUMBERS};

/// The demo's AccessKey ID (fictional).
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tDemoKeyNotReal01";
/// The demo's AccessKey secret (fictional; only the simulator knows it).
pub const DEMO_ACCESS_KEY_SECRET: &str = "demo-secret-not-a-real-key";
/// The first demo account (no `CustSpaceId`).
pub const RETAIL: &str = "demo-retail";
/// The second demo account, an ISV sub-customer.
pub const TRAVEL: &str = "demo-travel";
/// `CustSpaceId` of [`TRAVEL`].
pub const TRAVEL_SPACE: &str = "2934000001";
/// Length of the quality cycle of "Acme Sales".
pub const CYCLE: Duration = Duration::from_secs(360);

/// The simulated fleet.
#[derive(Debug)]
pub struct DemoFleet {
    started: Instant,
    extra_numbers: usize,
    travel_requests: AtomicU64,
}

impl DemoFleet {
    /// A fleet starting now, with `extra_numbers` generated numbers in `demo-retail`.
    pub fn new(extra_numbers: usize) -> Self {
        DemoFleet {
            started: Instant::now(),
            extra_numbers,
            travel_requests: AtomicU64::new(0),
        }
    }

    /// The keys the simulator accepts.
    pub fn keys() -> HashMap<String, SimKey> {
        HashMap::from([(
            DEMO_ACCESS_KEY_ID.to_owned(),
            SimKey {
                secret: DEMO_ACCESS_KEY_SECRET.to_owned(),
                security_token: None,
            },
        )])
    }

    fn retail_numbers(&self, elapsed: Duration) -> Vec<Value> {
        let phase = elapsed.as_secs() % CYCLE.as_secs();
        let (sales_quality, sales_tier) = match phase {
            0..90 => ("GREEN", "TIER_10K"),
            90..180 => ("YELLOW", "TIER_10K"),
            180..300 => ("RED", "TIER_2K"),
            _ => ("GREEN", "TIER_10K"),
        };
        let mut numbers = vec![
            number(
                "6580000001",
                "Acme Support",
                "CONNECTED",
                "GREEN",
                "TIER_10K",
                "VERIFIED",
                "Approval",
                "",
                "N",
                true,
            ),
            number(
                "6580000002",
                "Acme Sales",
                "CONNECTED",
                sales_quality,
                sales_tier,
                "VERIFIED",
                "Approval",
                "",
                "N",
                true,
            ),
            number(
                "6580000003",
                "Acme Promo 🎉",
                "FLAGGED",
                "RED",
                "TIER_1K",
                "VERIFIED",
                "Approval",
                "",
                "N",
                true,
            ),
            number(
                "6580000004",
                "Acme \"Night\" Desk",
                "RESTRICTED",
                "YELLOW",
                "TIER_250",
                "VERIFIED",
                "Approval",
                "",
                "N",
                false,
            ),
            number(
                "6580000005",
                "Acme Legacy",
                "PENDING",
                "UNKNOWN",
                "TIER_250",
                "NOT_VERIFIED",
                "AVAILABLE_WITHOUT_REVIEW",
                "Pending_Review",
                "N",
                false,
            ),
        ];
        const STATUSES: [&str; 4] = ["CONNECTED", "CONNECTED", "CONNECTED", "FLAGGED"];
        const QUALITIES: [&str; 3] = ["GREEN", "GREEN", "YELLOW"];
        const TIERS: [&str; 4] = ["TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];
        for i in 0..self.extra_numbers {
            numbers.push(number(
                &format!("65{:09}", 100_000_000 + i),
                &format!("Generated Sender {i}"),
                STATUSES[i % STATUSES.len()],
                QUALITIES[i % QUALITIES.len()],
                TIERS[i % TIERS.len()],
                "VERIFIED",
                "Approval",
                "",
                "N",
                i % 2 == 0,
            ));
        }
        numbers
    }

    fn travel_numbers() -> Vec<Value> {
        vec![
            number(
                "6590000001",
                "Globetrotter",
                "CONNECTED",
                "GREEN",
                "TIER_UNLIMITED",
                "VERIFIED",
                "Approval",
                "",
                "Y",
                true,
            ),
            number(
                "6590000002",
                "Globetrotter Alerts",
                "CONNECTED",
                "GREEN",
                "TIER_1K",
                "VERIFIED",
                "Approval",
                "",
                "N",
                true,
            ),
        ]
    }
}

#[allow(clippy::too_many_arguments)]
fn number(
    phone: &str,
    name: &str,
    status: &str,
    quality: &str,
    tier: &str,
    code: &str,
    name_status: &str,
    new_name_status: &str,
    official: &str,
    callbacks: bool,
) -> Value {
    let url = |kind: &str| {
        if callbacks {
            format!("https://hooks.example.com/{kind}?token=demo-{phone}")
        } else {
            String::new()
        }
    };
    json!({
        "PhoneNumber": phone,
        "VerifiedName": name,
        "Status": status,
        "QualityRating": quality,
        "MessagingLimitTier": tier,
        "CodeVerificationStatus": code,
        "NameStatus": name_status,
        "NewNameStatus": new_name_status,
        "IsOfficial": official,
        "StatusCallbackUrl": url("status"),
        "UpCallbackUrl": url("inbound"),
        "StatusQueue": "Alicom-Queue-0000-ChatAppStatus",
        "UpQueue": "Alicom-Queue-0000-ChatAppInbound",
    })
}

fn waba(id: &str, name: &str, business: &str, review: &str) -> Value {
    json!({
        "RequestId": request_id(),
        "Code": "OK",
        "Message": "SUCCESS",
        "Success": true,
        "Data": {
            "Id": id,
            "Name": name,
            "BusinessId": format!("1{id}"),
            "BusinessName": business,
            "Currency": "USD",
            "AccountReviewStatus": review,
            "MessageTemplateNamespace": format!("ns_{id}"),
        }
    })
}

impl Backend for DemoFleet {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        let travel = request.param("CustSpaceId") == Some(TRAVEL_SPACE);
        if travel && (self.travel_requests.fetch_add(1, Ordering::Relaxed) + 1) % 5 == 0 {
            return SimResponse::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
        }
        match (request.action.as_str(), travel) {
            (OP_PHONE_NUMBERS, false) => SimResponse::ok(json!({
                "RequestId": request_id(), "Code": "OK", "Message": "SUCCESS", "Success": true,
                "PhoneNumbers": self.retail_numbers(self.started.elapsed()),
            })),
            (OP_PHONE_NUMBERS, true) => SimResponse::ok(json!({
                "RequestId": request_id(), "Code": "OK", "Message": "SUCCESS", "Success": true,
                "PhoneNumbers": Self::travel_numbers(),
            })),
            (OP_BIND_WABA, false) => SimResponse::ok(waba(
                "20393988393993001",
                "Acme Retail",
                "Acme Ltd",
                "APPROVED",
            )),
            (OP_BIND_WABA, true) => SimResponse::ok(waba(
                "20393988393993002",
                "Globetrotter Travel",
                "Globetrotter Pte",
                "PENDING",
            )),
            _ => SimResponse::error(
                404,
                "InvalidApi.NotFound",
                "Specified api is not found, please check your url and method.",
            ),
        }
    }
}
