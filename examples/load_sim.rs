//! A load stand-in for `bench/accounts.sh`: the exporter's signature-checking simulator
//! (`chatapp_exporter::sim`) on loopback, answering `QueryChatappPhoneNumbers` with generated
//! numbers for any `CustSpaceId` and `QueryChatappBindWaba` with an approved WABA.
//!
//! ```text
//! cargo run --example load_sim -- NUMBERS [SPACE=NUMBERS ...]
//! ```
//!
//! Every `CustSpaceId` gets `NUMBERS` numbers, except those named with their own count
//! (`one=20000`). It prints its endpoint (`http://127.0.0.1:<port>`) on the first line of
//! standard output and serves until killed. The answers never change, so what the exporter
//! does with them is its steady state; each space's body is generated once and kept. The
//! AccessKey it accepts is [`KEY_ID`] with the secret [`SECRET`] (fictional).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use chatapp_exporter::sim::{Backend, SimKey, SimRequest, SimResponse, Simulator};
use serde_json::json;

/// The AccessKey ID the stand-in accepts.
const KEY_ID: &str = "LTAI5tLoadBenchKey0001";
/// Its secret.
const SECRET: &str = "load-bench-secret";

/// Numbers per `CustSpaceId`, and each space's answer once generated.
struct Fleet {
    numbers: usize,
    sized: HashMap<String, usize>,
    bodies: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Fleet {
    /// The phone-number list of `space`, as the API sends it.
    fn numbers_body(&self, space: &str) -> Arc<Vec<u8>> {
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bodies.get(space) {
            return b.clone();
        }
        const STATUSES: [&str; 4] = ["CONNECTED", "CONNECTED", "CONNECTED", "FLAGGED"];
        const QUALITIES: [&str; 3] = ["GREEN", "GREEN", "YELLOW"];
        const TIERS: [&str; 4] = ["TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];
        let count = self.sized.get(space).copied().unwrap_or(self.numbers);
        // Distinct numbers across spaces: the space's hash picks a range.
        let base = space
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) + u64::from(b))
            % 90_000;
        let numbers: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                json!({
                    "PhoneNumber": format!("65{:05}{:05}", base, i),
                    "VerifiedName": format!("Sender {space} {i}"),
                    "Status": STATUSES[i % STATUSES.len()],
                    "QualityRating": QUALITIES[i % QUALITIES.len()],
                    "MessagingLimitTier": TIERS[i % TIERS.len()],
                    "CodeVerificationStatus": "VERIFIED",
                    "NameStatus": "Approval",
                    "IsOfficial": "N",
                    "StatusCallbackUrl": if i % 2 == 0 { "https://hooks.example.com/status" } else { "" },
                    "UpCallbackUrl": "",
                })
            })
            .collect();
        let body = Arc::new(
            json!({
                "RequestId": "load-bench",
                "Code": "OK",
                "Message": "SUCCESS",
                "Success": true,
                "PhoneNumbers": numbers,
            })
            .to_string()
            .into_bytes(),
        );
        bodies.insert(space.to_owned(), body.clone());
        body
    }
}

impl Backend for Fleet {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        let space = request.param("CustSpaceId").unwrap_or("");
        match request.action.as_str() {
            "QueryChatappPhoneNumbers" => {
                SimResponse::raw(200, (*self.numbers_body(space)).clone())
            }
            "QueryChatappBindWaba" => SimResponse::success(json!({
                "Data": {
                    "Id": format!("waba-{space}"),
                    "Name": format!("WABA {space}"),
                    "AccountReviewStatus": "APPROVED",
                    "Currency": "USD",
                },
            })),
            _ => SimResponse::error(404, "InvalidApi.NotFound", "not in the load stand-in"),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let numbers = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: load_sim NUMBERS [SPACE=NUMBERS ...]");
    let sized = args
        .map(|a| {
            let (space, n) = a.split_once('=').expect("SPACE=NUMBERS");
            (space.to_owned(), n.parse().expect("a count"))
        })
        .collect();
    let fleet = Arc::new(Fleet {
        numbers,
        sized,
        bodies: Mutex::default(),
    });
    let keys = HashMap::from([(
        KEY_ID.to_owned(),
        SimKey {
            secret: SECRET.to_owned(),
            security_token: None,
        },
    )]);
    let sim = Simulator::start(fleet, keys)
        .await
        .expect("binds 127.0.0.1:0");
    println!("{}", sim.endpoint());
    std::io::stdout().flush().expect("stdout");
    std::future::pending::<()>().await;
}
