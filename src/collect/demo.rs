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
}

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
}

impl DemoWorld {
    /// The world `elapsed` into the demo, with `extra_numbers` generated numbers in
    /// `demo-retail`.
    pub fn new(elapsed: Duration, extra_numbers: usize) -> Self {
        DemoWorld {
            elapsed,
            extra_numbers,
        }
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
        if request.param("CustSpaceId") == Some(TRAVEL_SPACE) {
            Space::Travel
        } else {
            Space::Retail
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
        }
    }

    /// How many generated numbers follow the scripted ones in `space`.
    pub fn extra_numbers(&self, space: Space) -> usize {
        match space {
            Space::Retail => self.extra_numbers,
            Space::Travel => 0,
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
}
