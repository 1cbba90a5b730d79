//! The `--demo` fleet: two fictional accounts whose numbers change over time, so that the
//! dashboard and the alerts have something real to show without credentials or network.
//!
//! - `demo-retail` (WABA approved): a steady GREEN number; "Acme Sales", whose quality drifts
//!   GREEN → YELLOW → RED → GREEN over six minutes (its tier drops while RED); a FLAGGED RED
//!   number; a RESTRICTED one; and a PENDING one whose `NameStatus` is a value the exporter
//!   does not know yet. `--demo.extra-numbers` adds generated numbers here, for load tests.
//! - `demo-travel` (an ISV sub-customer, WABA in review): two numbers; every fifth
//!   phone-number or WABA request to this account is throttled (`Throttling.User`), as a busy
//!   shared quota would.
//!
//! Templates: demo-retail has six, in every audit state; the marketing template
//! `spring_sale` is RED for the first two minutes of every six, then GREEN, then YELLOW;
//! `flash_deal` was rejected with a reason. demo-travel has 120 approved ones (three list
//! pages of 50).
//!
//! Health (`GetWhatsappHealthStatus`): "Acme Promo" is BLOCKED by a payment-method error,
//! "Acme Sales" is LIMITED while its quality is RED, the other retail numbers and the retail
//! WABA are AVAILABLE; demo-travel's business is not verified yet, so its WABA and numbers
//! are LIMITED.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Backend, SimKey, SimRequest, SimResponse, StreamedBody, request_id};
use crate::api::client::{
    OP_BIND_WABA, OP_HEALTH_STATUS, OP_LIST_TEMPLATES, OP_PHONE_NUMBERS, OP_TEMPLATE_DETAIL,
};

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

    /// Quality and tier of "Acme Sales" `elapsed` into the demo.
    fn sales_quality(elapsed: Duration) -> (&'static str, &'static str) {
        match elapsed.as_secs() % CYCLE.as_secs() {
            0..90 => ("GREEN", "TIER_10K"),
            90..180 => ("YELLOW", "TIER_10K"),
            180..300 => ("RED", "TIER_2K"),
            _ => ("GREEN", "TIER_10K"),
        }
    }

    /// The scripted numbers of `demo-retail`.
    fn retail_numbers(elapsed: Duration) -> Vec<NumberJson> {
        let (sales_quality, sales_tier) = Self::sales_quality(elapsed);
        let numbers = vec![
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
        numbers
    }

    /// Generated number `i` of `--demo.extra-numbers`.
    fn extra_number(i: usize) -> NumberJson {
        const STATUSES: [&str; 4] = ["CONNECTED", "CONNECTED", "CONNECTED", "FLAGGED"];
        const QUALITIES: [&str; 3] = ["GREEN", "GREEN", "YELLOW"];
        const TIERS: [&str; 4] = ["TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"];
        number(
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
        )
    }

    fn travel_numbers() -> Vec<NumberJson> {
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

/// One demo template.
struct DemoTemplate {
    code: String,
    language: &'static str,
    name: String,
    category: &'static str,
    audit: &'static str,
    reason: &'static str,
    quality: &'static str,
}

/// One number as the API sends it. Serialized straight from this struct, and generated
/// numbers one at a time while serializing, not through a `serde_json::Value` tree: with
/// `--demo.extra-numbers 10000` a tree of maps would cost the process some 20 MB at every
/// refresh, which the exporter's memory figures would wrongly include.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NumberJson {
    phone_number: String,
    verified_name: String,
    status: &'static str,
    quality_rating: &'static str,
    messaging_limit_tier: &'static str,
    code_verification_status: &'static str,
    name_status: &'static str,
    new_name_status: &'static str,
    is_official: &'static str,
    status_callback_url: String,
    up_callback_url: String,
    status_queue: &'static str,
    up_queue: &'static str,
}

/// Numbers serialized per chunk of the streamed body.
const NUMBERS_PER_CHUNK: usize = 256;

/// Counts what a serializer writes.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `QueryChatappPhoneNumbers` success body: the scripted numbers followed by `extra`
/// generated ones, produced (and generated) a chunk at a time while it is sent. Its length
/// comes from a first pass that only counts bytes.
fn numbers_body(scripted: Vec<NumberJson>, extra: usize) -> StreamedBody {
    let head = format!(
        r#"{{"RequestId":"{}","Code":"OK","Message":"SUCCESS","Success":true,"PhoneNumbers":["#,
        request_id()
    )
    .into_bytes();
    let total = scripted.len() + extra;
    let scripted = std::sync::Arc::new(scripted);
    // Appends number `i` (preceded by a comma unless first) to `out`. Serializing a plain
    // struct cannot fail, and neither can writing to a Vec or a counter.
    let write = {
        let scripted = scripted.clone();
        move |i: usize, out: &mut dyn std::io::Write| {
            if i > 0 {
                let _ = out.write_all(b",");
            }
            let _ = match scripted.get(i) {
                Some(n) => serde_json::to_writer(out, n),
                None => serde_json::to_writer(out, &DemoFleet::extra_number(i - scripted.len())),
            };
        }
    };
    let mut counter = Counter(head.len() + 2);
    for i in 0..total {
        write(i, &mut counter);
    }
    let mut next = 0;
    let body = std::iter::once(head).chain(std::iter::from_fn(move || {
        if next > total {
            return None;
        }
        let mut chunk = Vec::with_capacity(NUMBERS_PER_CHUNK * 512);
        let end = (next + NUMBERS_PER_CHUNK).min(total);
        for i in next..end {
            write(i, &mut chunk);
        }
        if end == total {
            chunk.extend_from_slice(b"]}");
            next = total + 1;
        } else {
            next = end;
        }
        Some(chunk)
    }));
    StreamedBody {
        len: counter.0,
        chunks: Box::new(body),
    }
}

#[allow(clippy::too_many_arguments)]
fn number(
    phone: &str,
    name: &str,
    status: &'static str,
    quality: &'static str,
    tier: &'static str,
    code: &'static str,
    name_status: &'static str,
    new_name_status: &'static str,
    official: &'static str,
    callbacks: bool,
) -> NumberJson {
    let url = |kind: &str| {
        if callbacks {
            format!("https://hooks.example.com/{kind}?token=demo-{phone}")
        } else {
            String::new()
        }
    };
    NumberJson {
        phone_number: phone.to_owned(),
        verified_name: name.to_owned(),
        status,
        quality_rating: quality,
        messaging_limit_tier: tier,
        code_verification_status: code,
        name_status,
        new_name_status,
        is_official: official,
        status_callback_url: url("status"),
        up_callback_url: url("inbound"),
        status_queue: "Alicom-Queue-0000-ChatAppStatus",
        up_queue: "Alicom-Queue-0000-ChatAppInbound",
    }
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

impl DemoFleet {
    fn is_travel(request: &SimRequest) -> bool {
        request.param("CustSpaceId") == Some(TRAVEL_SPACE)
    }

    /// Counts a phone-number or WABA request to `demo-travel`; true when it is to be
    /// throttled. The other operations have quotas of their own (cams-api.md §7, §9).
    fn throttle_travel(&self, request: &SimRequest) -> bool {
        Self::is_travel(request)
            && matches!(request.action.as_str(), OP_PHONE_NUMBERS | OP_BIND_WABA)
            && (self.travel_requests.fetch_add(1, Ordering::Relaxed) + 1) % 5 == 0
    }

    /// The templates of the account the request is about: (code, language, name, category,
    /// audit status, reason, quality).
    fn templates(&self, travel: bool) -> Vec<DemoTemplate> {
        if travel {
            return (0..120)
                .map(|i| DemoTemplate {
                    code: format!("booking_confirmation_{i:03}"),
                    language: if i % 2 == 0 { "en" } else { "zh_CN" },
                    name: format!("Booking confirmation {i}"),
                    category: "UTILITY",
                    audit: "pass",
                    reason: "",
                    quality: "GREEN",
                })
                .collect();
        }
        let spring = match self.started.elapsed().as_secs() % CYCLE.as_secs() {
            0..120 => "RED",
            120..240 => "GREEN",
            _ => "YELLOW",
        };
        let t = |code: &str, language, category, audit, reason, quality| DemoTemplate {
            code: code.to_owned(),
            language,
            name: code.replace('_', " "),
            category,
            audit,
            reason,
            quality,
        };
        vec![
            t("spring_sale", "en", "MARKETING", "pass", "", spring),
            t("order_update", "en", "UTILITY", "pass", "", "GREEN"),
            t("login_code", "en", "AUTHENTICATION", "pass", "", "GREEN"),
            t(
                "flash_deal",
                "en",
                "MARKETING",
                "fail",
                "Promotional content is not allowed in a utility template.",
                "UNKNOWN",
            ),
            t(
                "new_arrivals",
                "zh_CN",
                "MARKETING",
                "auditing",
                "",
                "UNKNOWN",
            ),
            t("holiday_notice", "en", "UTILITY", "unaudit", "", "UNKNOWN"),
        ]
    }

    /// A `ListChatappTemplate` page, read from the SDK's `Page={"Index":N,"Size":M}`.
    fn list_templates(&self, request: &SimRequest) -> SimResponse {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Page {
            index: usize,
            size: usize,
        }
        let page = request
            .param("Page")
            .and_then(|p| serde_json::from_str::<Page>(p).ok())
            .filter(|p| p.index >= 1 && (1..=100).contains(&p.size));
        let Some(page) = page else {
            return SimResponse::error(
                400,
                "InvalidParameter.Page",
                "The Page parameter is invalid.",
            );
        };
        let all = if request
            .param("TemplateType")
            .is_none_or(|t| t == "WHATSAPP")
        {
            self.templates(Self::is_travel(request))
        } else {
            Vec::new()
        };
        let items: Vec<Value> = all
            .iter()
            .enumerate()
            .skip((page.index - 1) * page.size)
            .take(page.size)
            .map(|(i, t)| {
                json!({
                    "TemplateCode": t.code,
                    "TemplateName": t.name,
                    "Language": t.language,
                    "Category": t.category,
                    "TemplateType": "WHATSAPP",
                    "AuditStatus": t.audit,
                    "Reason": t.reason,
                    "LastUpdateTime": 1_764_547_200_000u64 + i as u64 * 3_600_000,
                })
            })
            .collect();
        SimResponse::ok(json!({
            "RequestId": request_id(),
            "Code": "OK",
            "Message": "SUCCESS",
            "Success": true,
            "Total": all.len(),
            "ListTemplate": items,
        }))
    }

    /// A `GetChatappTemplateDetail` answer.
    fn template_detail(&self, request: &SimRequest) -> SimResponse {
        let found = self
            .templates(Self::is_travel(request))
            .into_iter()
            .find(|t| {
                Some(t.code.as_str()) == request.param("TemplateCode")
                    && Some(t.language) == request.param("Language")
            });
        let Some(t) = found else {
            return SimResponse::error(
                400,
                "InvalidParameter",
                "The specified template does not exist.",
            );
        };
        SimResponse::ok(json!({
            "RequestId": request_id(),
            "Code": "OK",
            "Message": "SUCCESS",
            "Success": true,
            "Data": {
                "TemplateCode": t.code,
                "Language": t.language,
                "Name": t.name,
                "Category": t.category,
                "TemplateType": "WHATSAPP",
                "AuditStatus": t.audit,
                "Reason": t.reason,
                "QualityScore": t.quality,
                "Components": [{"Type": "BODY", "Text": "Hello {{1}}"}],
            },
        }))
    }

    /// A `GetWhatsappHealthStatus` answer for the node the request names.
    fn health(&self, request: &SimRequest) -> SimResponse {
        let travel = Self::is_travel(request);
        let unverified = || {
            json!({
                "EntityType": "BUSINESS",
                "BusinessId": "120393988393993002",
                "CanSendMessage": "LIMITED",
                "Errors": [{
                    "ErrorCode": "141010",
                    "ErrorDescription": "The business has not passed business verification.",
                    "PossibleSolution": "Complete business verification in Meta Business Manager.",
                }],
            })
        };
        let (can_send, entities) = match (
            request.param("NodeType"),
            request.param("PhoneNumber"),
            request.param("WabaId"),
        ) {
            (Some("phone"), Some(phone), _) if travel => (
                "LIMITED",
                vec![
                    json!({"EntityType": "PHONE_NUMBER", "PhoneNumber": phone, "CanSendMessage": "AVAILABLE"}),
                    unverified(),
                ],
            ),
            (Some("phone"), Some(phone @ "6580000003"), _) => (
                "BLOCKED",
                vec![json!({
                    "EntityType": "PHONE_NUMBER",
                    "PhoneNumber": phone,
                    "CanSendMessage": "BLOCKED",
                    "Errors": [{
                        "ErrorCode": "141006",
                        "ErrorDescription": "There is an error with the payment method.",
                        "PossibleSolution": "Go to WhatsApp Manager and add a new payment method to the account.",
                    }],
                })],
            ),
            (Some("phone"), Some(phone @ "6580000002"), _)
                if Self::sales_quality(self.started.elapsed()).0 == "RED" =>
            {
                (
                    "LIMITED",
                    vec![json!({
                        "EntityType": "PHONE_NUMBER",
                        "PhoneNumber": phone,
                        "CanSendMessage": "LIMITED",
                        "Errors": [{
                            "ErrorCode": "131049",
                            "ErrorDescription": "Messages are limited because the number's quality rating is low.",
                            "PossibleSolution": "Reduce the messages recipients block or report; the limit lifts when quality recovers.",
                        }],
                    })],
                )
            }
            (Some("phone"), Some(phone), _) => (
                "AVAILABLE",
                vec![
                    json!({"EntityType": "PHONE_NUMBER", "PhoneNumber": phone, "CanSendMessage": "AVAILABLE"}),
                ],
            ),
            (Some("waba"), _, Some(waba)) if travel => (
                "LIMITED",
                vec![
                    json!({"EntityType": "WABA", "WabaId": waba, "CanSendMessage": "AVAILABLE"}),
                    unverified(),
                ],
            ),
            (Some("waba"), _, Some(waba)) => (
                "AVAILABLE",
                vec![json!({"EntityType": "WABA", "WabaId": waba, "CanSendMessage": "AVAILABLE"})],
            ),
            _ => {
                return SimResponse::error(
                    400,
                    "InvalidParameter",
                    "The specified NodeType and node id do not match.",
                );
            }
        };
        SimResponse::ok(json!({
            "RequestId": request_id(),
            "Code": "OK",
            "Message": "SUCCESS",
            "Success": true,
            "Data": {"CanSendMessage": can_send, "Entities": entities},
        }))
    }
}

/// [`Backend::respond_streamed`] answers every successful `QueryChatappPhoneNumbers`.
fn unreachable_streamed() -> SimResponse {
    SimResponse::error(500, "InternalError", "demo backend: unexpected path")
}

impl Backend for DemoFleet {
    fn respond_streamed(&self, request: &SimRequest) -> Option<StreamedBody> {
        if request.action != OP_PHONE_NUMBERS || self.throttle_travel(request) {
            // `respond` answers; a throttled travel request is answered there without
            // being counted twice.
            return None;
        }
        Some(if Self::is_travel(request) {
            numbers_body(Self::travel_numbers(), 0)
        } else {
            numbers_body(
                Self::retail_numbers(self.started.elapsed()),
                self.extra_numbers,
            )
        })
    }

    fn respond(&self, request: &SimRequest) -> SimResponse {
        let travel = Self::is_travel(request);
        // Phone-number requests were counted in `respond_streamed`; only those it
        // declined (throttled ones) come here.
        let throttled = if request.action == OP_PHONE_NUMBERS {
            travel
        } else {
            self.throttle_travel(request)
        };
        if throttled {
            return SimResponse::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
        }
        match (request.action.as_str(), travel) {
            (OP_PHONE_NUMBERS, _) => unreachable_streamed(),
            (OP_HEALTH_STATUS, _) => self.health(request),
            (OP_LIST_TEMPLATES, _) => self.list_templates(request),
            (OP_TEMPLATE_DETAIL, _) => self.template_detail(request),
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
