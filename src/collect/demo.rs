//! Simulated answers: the vocabulary in which each collector gives the simulator its answers
//! (a verified request in, a JSON document or a streamed body out), and the demo world those
//! answers read.
//!
//! Every [`super::Operation`] names its [`Responder`], so the simulator ([`crate::sim`])
//! dispatches an action to the collector that declares it and never holds a list of actions
//! of its own: adding a collector adds its demo answers beside it. The answers of different
//! collectors agree because they read one [`DemoWorld`]: the same numbers, whose quality and
//! tier move on the same clock, for every collector's answers alike.
//!
//! The world has two fictional accounts:
//! - `demo-retail` (no `CustSpaceId`): a steady GREEN number; "Acme Sales", whose quality
//!   drifts GREEN → YELLOW → RED → GREEN over [`CYCLE`] (its tier drops while RED); a FLAGGED
//!   RED number; a RESTRICTED one; and a PENDING one whose `NameStatus` is a value the
//!   exporter does not know yet. `--demo.extra-numbers` adds generated numbers here.
//! - `demo-travel` ([`TRAVEL_SPACE`]), an ISV sub-customer whose WABA is still in review.
//! - the customers of the ISV parent `demo-isv`, which `ListInstance` lists: `shop-bloom`
//!   (one GREEN and one YELLOW number), `shop-corner` (listed only from two minutes into
//!   each [`CYCLE`]: a customer onboarded), `trial-dash` (listed only for the first four
//!   minutes: a customer leaving) and `test-sandbox` (which the demo's `exclude:` leaves
//!   out); `--demo.extra-accounts` adds generated customers of 20 numbers each.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

/// Length of the quality cycle of "Acme Sales" (and of everything else that moves).
pub const CYCLE: Duration = Duration::from_secs(360);
/// `CustSpaceId` of the `demo-travel` account.
pub const TRAVEL_SPACE: &str = "2934000001";

/// A request that passed the simulator's signature checks.
#[derive(Debug, Clone)]
pub struct SimRequest {
    /// HTTP method.
    pub method: String,
    /// The `Action` parameter.
    pub action: String,
    /// All parameters except `Signature`: under v1 the whole signed query (common
    /// parameters included); under V3 the query (and a form body's parameters), which holds
    /// only the operation's own.
    pub params: BTreeMap<String, String>,
    /// Which signature was verified: `"v1"` (RPC HMAC-SHA1 in the query) or `"v3"`
    /// (`ACS3-HMAC-SHA256` in the `Authorization` header).
    pub signature: &'static str,
}

impl SimRequest {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// An answer: status, JSON body and an optional delay before it is sent.
#[derive(Debug, Clone)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes (usually JSON).
    pub body: Vec<u8>,
    /// Wait this long before answering (to simulate a hung server).
    pub delay: Duration,
}

impl SimResponse {
    /// A 200 with a JSON body.
    pub fn ok(body: serde_json::Value) -> Self {
        SimResponse {
            status: 200,
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 with the success envelope (`RequestId`, `Code`, `Message`, `Success`) around
    /// `fields`, as every CAMS operation answers.
    pub fn success(fields: serde_json::Value) -> Self {
        let mut body = json!({
            "RequestId": request_id(),
            "Code": "OK",
            "Message": "SUCCESS",
            "Success": true,
        });
        if let (Some(body), serde_json::Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        SimResponse::ok(body)
    }

    /// An Alibaba error document with the given status and code.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        SimResponse {
            status,
            body: json!({
                "RequestId": request_id(),
                "HostId": "cams.ap-southeast-1.aliyuncs.com",
                "Code": code,
                "Message": message,
                "Recommend": format!("https://api.aliyun.com/troubleshoot?q={code}&product=cams"),
            })
            .to_string()
            .into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// `InvalidParameter` with `message`, as the gateway rejects a bad value.
    pub fn invalid(message: &str) -> Self {
        SimResponse::error(400, "InvalidParameter", message)
    }

    /// Any status and raw body.
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Self {
        SimResponse {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A 200 body of `len` bytes, as chunks produced while it is sent: a large fleet's body then
/// never sits whole in memory beside the exporter's own copy (the demo runs in the exporter's
/// process, and its memory figures would include the simulator's).
pub struct StreamedBody {
    /// Total length of the chunks (sent as Content-Length).
    pub len: usize,
    /// The chunks, produced on demand.
    pub chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
}

impl std::fmt::Debug for StreamedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedBody")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// What the simulator sends back.
#[derive(Debug)]
pub enum Reply {
    /// A whole answer.
    Response(SimResponse),
    /// A 200 whose JSON body is produced while it is sent.
    Streamed(StreamedBody),
}

impl From<SimResponse> for Reply {
    fn from(r: SimResponse) -> Self {
        Reply::Response(r)
    }
}

/// A collector's demo answers to one of its operations.
pub type Responder = fn(&DemoWorld, &SimRequest) -> Reply;

/// A random request ID in Alibaba's format.
pub fn request_id() -> String {
    let h = format!("{:032X}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Which demo account a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// `demo-retail`: no `CustSpaceId`.
    Retail,
    /// `demo-travel`: [`TRAVEL_SPACE`].
    Travel,
    /// A customer of `demo-isv`: its index in [`DemoWorld::customers`].
    Customer(usize),
}

/// A sub-customer of the ISV parent, as `ListInstance` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoInstance {
    /// `CustSpaceId`.
    pub cust_space_id: String,
    /// `InstanceId`.
    pub instance_id: String,
    /// `InstanceName`.
    pub name: String,
}

/// The scripted customers of `demo-isv`: name, `CustSpaceId`, and the part of the cycle
/// (in seconds) in which `ListInstance` lists them.
const CUSTOMERS: [(&str, &str, std::ops::Range<u64>); 4] = [
    ("shop-bloom", "2934000101", 0..360),
    ("shop-corner", "2934000102", 120..360),
    ("trial-dash", "2934000103", 0..240),
    ("test-sandbox", "2934000104", 0..360),
];
/// Generated customer `i` has the `CustSpaceId` `GENERATED_SPACE_BASE + i`.
const GENERATED_SPACE_BASE: u64 = 2_935_000_000;
/// Numbers of each generated customer.
pub const GENERATED_CUSTOMER_NUMBERS: usize = 20;

/// One demo number, as the API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoNumber {
    /// `PhoneNumber`.
    pub phone: String,
    /// `VerifiedName`.
    pub name: String,
    /// `Status`.
    pub status: &'static str,
    /// `QualityRating`.
    pub quality: &'static str,
    /// `MessagingLimitTier`.
    pub tier: &'static str,
    /// `CodeVerificationStatus`.
    pub code_verification: &'static str,
    /// `NameStatus`.
    pub name_status: &'static str,
    /// `NewNameStatus`.
    pub new_name_status: &'static str,
    /// `IsOfficial`.
    pub official: &'static str,
    /// Whether callback URLs are set.
    pub callbacks: bool,
}

/// The demo world at one moment: what every collector's demo answers read.
#[derive(Debug, Clone, Copy)]
pub struct DemoWorld {
    elapsed: Duration,
    extra_numbers: usize,
    extra_accounts: usize,
}

impl DemoWorld {
    /// The world `elapsed` into the demo, with `extra_numbers` generated numbers in
    /// `demo-retail`.
    pub fn new(elapsed: Duration, extra_numbers: usize) -> Self {
        DemoWorld {
            elapsed,
            extra_numbers,
            extra_accounts: 0,
        }
    }

    /// The same world with `n` generated customers of `demo-isv`.
    #[must_use]
    pub fn with_extra_accounts(mut self, n: usize) -> Self {
        self.extra_accounts = n;
        self
    }

    /// Every customer of `demo-isv`, listed now or not: the scripted ones, then the
    /// generated ones.
    pub fn customers(&self) -> impl Iterator<Item = DemoInstance> + '_ {
        let scripted = CUSTOMERS.iter().map(|(name, space, _)| DemoInstance {
            cust_space_id: (*space).to_owned(),
            instance_id: format!("cams-{space}"),
            name: (*name).to_owned(),
        });
        let generated = (0..self.extra_accounts).map(|i| {
            let space = GENERATED_SPACE_BASE + i as u64;
            DemoInstance {
                cust_space_id: space.to_string(),
                instance_id: format!("cams-{space}"),
                name: format!("customer-{i:04}"),
            }
        });
        scripted.chain(generated)
    }

    /// The customers `ListInstance` lists now, in a stable order.
    pub fn instances(&self) -> Vec<DemoInstance> {
        let phase = self.phase();
        self.customers()
            .enumerate()
            .filter(|(i, _)| {
                CUSTOMERS
                    .get(*i)
                    .is_none_or(|(_, _, when)| when.contains(&phase))
            })
            .map(|(_, c)| c)
            .collect()
    }

    /// Time since the demo started.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Seconds into the current [`CYCLE`].
    pub fn phase(&self) -> u64 {
        self.elapsed.as_secs() % CYCLE.as_secs()
    }

    /// The account `request` is about, from its `CustSpaceId`.
    pub fn space(&self, request: &SimRequest) -> Space {
        let Some(space) = request.param("CustSpaceId") else {
            return Space::Retail;
        };
        if space == TRAVEL_SPACE {
            return Space::Travel;
        }
        if let Some(i) = CUSTOMERS.iter().position(|(_, s, _)| *s == space) {
            return Space::Customer(i);
        }
        match space
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_sub(GENERATED_SPACE_BASE))
        {
            Some(i) if (i as usize) < self.extra_accounts => {
                Space::Customer(CUSTOMERS.len() + i as usize)
            }
            _ => Space::Retail,
        }
    }

    /// The `InstanceName` of a customer.
    pub fn customer_name(&self, i: usize) -> String {
        match CUSTOMERS.get(i) {
            Some((name, _, _)) => (*name).to_owned(),
            None => format!("customer-{:04}", i - CUSTOMERS.len()),
        }
    }

    /// Quality and tier of "Acme Sales" now.
    pub fn sales_quality(&self) -> (&'static str, &'static str) {
        match self.phase() {
            0..90 => ("GREEN", "TIER_10K"),
            90..180 => ("YELLOW", "TIER_10K"),
            180..300 => ("RED", "TIER_2K"),
            _ => ("GREEN", "TIER_10K"),
        }
    }

    /// The scripted numbers of `space`; `demo-retail` also has
    /// [`DemoWorld::extra_numbers`] generated ones after them ([`DemoWorld::extra_number`]).
    pub fn numbers(&self, space: Space) -> Vec<DemoNumber> {
        match space {
            Space::Retail => self.retail_numbers(),
            Space::Travel => travel_numbers(),
            Space::Customer(i) => self.customer_numbers(i),
        }
    }

    /// How many generated numbers follow the scripted ones in `space`.
    pub fn extra_numbers(&self, space: Space) -> usize {
        match space {
            Space::Retail => self.extra_numbers,
            Space::Travel | Space::Customer(_) => 0,
        }
    }

    /// The number `phone` of `space`, scripted or generated.
    pub fn number(&self, space: Space, phone: &str) -> Option<DemoNumber> {
        if let Some(n) = self.numbers(space).into_iter().find(|n| n.phone == phone) {
            return Some(n);
        }
        let i: usize = phone.strip_prefix("65")?.parse().ok()?;
        let i = i.checked_sub(EXTRA_BASE)?;
        (i < self.extra_numbers(space)).then(|| extra_number(i))
    }

    /// A customer's numbers: `66`, the customer's index on seven digits, the number's on
    /// two. `shop-bloom`'s second number is YELLOW.
    fn customer_numbers(&self, i: usize) -> Vec<DemoNumber> {
        let name = self.customer_name(i);
        let count = match i {
            0 => 2,
            _ if i < CUSTOMERS.len() => 1,
            _ => GENERATED_CUSTOMER_NUMBERS,
        };
        (0..count)
            .map(|j| {
                let quality = if i == 0 && j == 1 { "YELLOW" } else { "GREEN" };
                scripted(
                    &format!("66{i:07}{j:02}"),
                    &format!("{name} sender {j}"),
                    "CONNECTED",
                    quality,
                    if j % 2 == 0 { "TIER_1K" } else { "TIER_10K" },
                )
            })
            .collect()
    }

    fn retail_numbers(&self) -> Vec<DemoNumber> {
        let (sales_quality, sales_tier) = self.sales_quality();
        vec![
            scripted(
                "6580000001",
                "Acme Support",
                "CONNECTED",
                "GREEN",
                "TIER_10K",
            ),
            scripted(
                "6580000002",
                "Acme Sales",
                "CONNECTED",
                sales_quality,
                sales_tier,
            ),
            scripted("6580000003", "Acme Promo 🎉", "FLAGGED", "RED", "TIER_1K"),
            DemoNumber {
                callbacks: false,
                ..scripted(
                    "6580000004",
                    "Acme \"Night\" Desk",
                    "RESTRICTED",
                    "YELLOW",
                    "TIER_250",
                )
            },
            DemoNumber {
                code_verification: "NOT_VERIFIED",
                name_status: "AVAILABLE_WITHOUT_REVIEW",
                new_name_status: "Pending_Review",
                callbacks: false,
                ..scripted(
                    "6580000005",
                    "Acme Legacy",
                    "PENDING",
                    "UNKNOWN",
                    "TIER_250",
                )
            },
        ]
    }
}

/// Generated numbers are `65` followed by `EXTRA_BASE + i` on nine digits.
const EXTRA_BASE: usize = 100_000_000;

/// Generated number `i` of `--demo.extra-numbers`.
pub fn extra_number(i: usize) -> DemoNumber {
    const STATUSES: [&str; 4] = ["CONNECTED", "CONNECTED", "CONNECTED", "FLAGGED"];
    const QUALITIES: [&str; 3] = ["GREEN", "GREEN", "YELLOW"];
    const TIERS: [&str; 4] = ["TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];
    DemoNumber {
        callbacks: i.is_multiple_of(2),
        ..scripted(
            &format!("65{:09}", EXTRA_BASE + i),
            &format!("Generated Sender {i}"),
            STATUSES[i % STATUSES.len()],
            QUALITIES[i % QUALITIES.len()],
            TIERS[i % TIERS.len()],
        )
    }
}

fn travel_numbers() -> Vec<DemoNumber> {
    vec![
        DemoNumber {
            official: "Y",
            ..scripted(
                "6590000001",
                "Globetrotter",
                "CONNECTED",
                "GREEN",
                "TIER_UNLIMITED",
            )
        },
        scripted(
            "6590000002",
            "Globetrotter Alerts",
            "CONNECTED",
            "GREEN",
            "TIER_1K",
        ),
    ]
}

/// A verified, approved number with callbacks, in the given state.
fn scripted(
    phone: &str,
    name: &str,
    status: &'static str,
    quality: &'static str,
    tier: &'static str,
) -> DemoNumber {
    DemoNumber {
        phone: phone.to_owned(),
        name: name.to_owned(),
        status,
        quality,
        tier,
        code_verification: "VERIFIED",
        name_status: "Approval",
        new_name_status: "",
        official: "N",
        callbacks: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_sales_cycles_and_generated_numbers_are_found_by_phone() {
        let at = |s| DemoWorld::new(Duration::from_secs(s), 3);
        assert_eq!(at(0).sales_quality(), ("GREEN", "TIER_10K"));
        assert_eq!(at(200).sales_quality(), ("RED", "TIER_2K"));
        assert_eq!(at(360 + 200).sales_quality(), ("RED", "TIER_2K"));
        let w = at(200);
        assert_eq!(
            w.number(Space::Retail, "6580000002").unwrap().quality,
            "RED"
        );
        assert_eq!(
            w.number(Space::Retail, "65100000002"),
            Some(extra_number(2))
        );
        assert_eq!(w.number(Space::Retail, "65100000003"), None);
        assert_eq!(w.number(Space::Travel, "65100000000"), None);
    }

    #[test]
    fn customers_come_and_go_with_the_cycle_and_answer_by_their_space() {
        let listed = |s| -> Vec<String> {
            DemoWorld::new(Duration::from_secs(s), 0)
                .with_extra_accounts(2)
                .instances()
                .into_iter()
                .map(|i| i.name)
                .collect()
        };
        let always = [
            "shop-bloom",
            "test-sandbox",
            "customer-0000",
            "customer-0001",
        ];
        assert_eq!(
            listed(60),
            ["shop-bloom", "trial-dash", always[1], always[2], always[3]]
        );
        assert_eq!(
            listed(200),
            [
                "shop-bloom",
                "shop-corner",
                "trial-dash",
                always[1],
                always[2],
                always[3]
            ]
        );
        assert_eq!(
            listed(300),
            ["shop-bloom", "shop-corner", always[1], always[2], always[3]]
        );
        let world = DemoWorld::new(Duration::ZERO, 0).with_extra_accounts(2);
        let request = |space: &str| SimRequest {
            method: "POST".into(),
            action: "QueryChatappPhoneNumbers".into(),
            params: BTreeMap::from([("CustSpaceId".to_owned(), space.to_owned())]),
            signature: "v1",
        };
        assert_eq!(world.space(&request("2934000102")), Space::Customer(1));
        assert_eq!(world.space(&request("2935000001")), Space::Customer(5));
        assert_eq!(
            world.space(&request("2935000002")),
            Space::Retail,
            "beyond the generated"
        );
        assert_eq!(
            world.numbers(Space::Customer(5)).len(),
            GENERATED_CUSTOMER_NUMBERS
        );
        assert_eq!(world.numbers(Space::Customer(0))[1].quality, "YELLOW");
        let phone = &world.numbers(Space::Customer(5))[3].phone;
        assert!(world.number(Space::Customer(5), phone).is_some());
        assert!(world.number(Space::Customer(4), phone).is_none());
    }
}
