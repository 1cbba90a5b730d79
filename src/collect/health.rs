//! `GetWhatsappHealthStatus` → whether each number and the WABA can send now, and the errors
//! Meta reports (cams-api.md §9).
//!
//! Quality rating and tier lag: a number whose payment method was removed, or whose WABA or
//! business got restricted, cannot send while its rating is still GREEN. Meta's health status
//! is the direct signal: `AVAILABLE`, `LIMITED` or `BLOCKED`, computed over the node and
//! everything above it (WABA, business, app), with Meta's error codes.
//!
//! The operation takes one node per call, so a round is one call per number that
//! `QueryChatappPhoneNumbers` listed (DELETED ones excepted) plus one for the WABA, read from
//! what the `phone_numbers` and `waba` collectors published. The API page allows 5 requests/s
//! per account, shared with production traffic: calls go at most 2/s per AccessKey by default
//! and are spread over the interval; a round that cannot fit takes longer instead of going
//! faster. A number keeps its last answer until it has had no successful call for three
//! rounds, and loses it at once when it leaves the number list.
//!
//! The response (SDK 5.3.1 `_get_whatsapp_health_status_response_body.py`) and the demo's
//! answers are at the end of the file.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::time::Duration;

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::demo::{DemoWorld, Reply, SimRequest, SimResponse, Space};
use super::phone_numbers::NumberList;
use super::round::Wake;
use super::waba::BoundWaba;
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, Need, NoSettings, Operation,
    Role, Schedule, StateSetDef, Tenant, Tracked, UnknownValue, label_str, label_value, non_empty,
};
use crate::api::model::{Text, lenient_bool, lenient_list, lenient_string, lenient_text};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Renderer, Rows, Series, Table};
use crate::metrics::{AccountExposition, EnumMode};
use crate::view::{
    Cell, Column, Facts, Note, NoteKind, NumberFacts, Severity, Value, Verdict, ViewSpec,
};

/// `GetWhatsappHealthStatus`: `NodeType` and the node's id; `CustSpaceId` but no `IsvCode`.
pub const OPERATION: Operation = Operation {
    action: "GetWhatsappHealthStatus",
    // Under half of the documented 5/s per account: production sending may check health
    // too, and Meta rate-limits the underlying call (cams-api.md §9).
    default_rate_limit: NonZeroU32::new(2),
    tenant: Tenant::Space,
    required: &["NodeType"],
    demo: demo_answer,
};

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "health",
    description: "whether each number and the WABA can send now, with Meta's errors (GetWhatsappHealthStatus)",
    operations: &[OPERATION],
    families: FAMILIES,
    schedule: Schedule::Own {
        interval: Duration::from_secs(10 * 60),
        demo_interval: Duration::from_secs(30),
    },
    role: Role::Objects,
    enabled_by_default: true,
    enabled_in_demo: true,
    needs: &[
        Need {
            collector: "phone_numbers",
            required: true,
            why: "the numbers to check",
        },
        Need {
            collector: "waba",
            required: false,
            why: "without it the WABA's own health is not checked",
        },
    ],
    view: VIEW,
    tracked: &[Tracked {
        column: &CAN_SEND,
        field: "can_send",
        since_column: crate::view::Column::json_number("can_send_since"),
        since: FamilyDef {
            name: "chatapp_phone_number_can_send_since_timestamp_seconds",
            help: "Unix time since which the number has had its current can-send state (GetWhatsappHealthStatus CanSendMessage), as the exporter observed it (kept across restarts in --storage.path); the first observation when the change was not seen.",
        },
    }],
};

/// `chatapp_phone_number_can_send`.
pub const PHONE_CAN_SEND: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_can_send",
        help: "Whether the number can send messages now, as Meta computes it over the number, its WABA, business and app (GetWhatsappHealthStatus NodeType=phone, Data.CanSendMessage); 1 for the current state, 0 for the others.",
    },
    field: "CanSendMessage",
    label: "state",
    known: &["AVAILABLE", "LIMITED", "BLOCKED"],
};

/// `chatapp_waba_can_send`.
pub const WABA_CAN_SEND: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_waba_can_send",
        help: "Whether the WABA can send messages now (GetWhatsappHealthStatus NodeType=waba, Data.CanSendMessage); 1 for the current state, 0 for the others.",
    },
    field: "CanSendMessage",
    label: "state",
    known: &["AVAILABLE", "LIMITED", "BLOCKED"],
};

/// `chatapp_health_error_info`.
pub const ERROR_INFO: FamilyDef = FamilyDef {
    name: "chatapp_health_error_info",
    help: "An error Meta reports on an entity of a health answer (GetWhatsappHealthStatus Data.Entities[].Errors: ErrorCode, ErrorDescription); always 1. Meta's PossibleSolution is shown on the landing page.",
};

/// Each number's can-send state.
const PHONES: Table<'static> = Table {
    labels: &["account", "phone_number"],
    series: &[Series::States(&PHONE_CAN_SEND)],
};

/// The WABA's can-send state.
const WABAS: Table<'static> = Table {
    labels: &["account", "waba_id"],
    series: &[Series::States(&WABA_CAN_SEND)],
};

/// Each distinct error Meta reports (every label identifies it).
const ERRORS: Table<'static> = Table {
    labels: &[
        "account",
        "entity_type",
        "entity_id",
        "error_code",
        "description",
    ],
    series: &[Series::Info(&ERROR_INFO, &[])],
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &render::families::<3>(&[PHONES, WABAS, ERRORS]);

/// Longest `description` label: Meta's descriptions are a sentence; a longer one is cut.
pub const MAX_DESCRIPTION_CHARS: usize = 160;
/// A node's answer is dropped after this many rounds without a successful call.
pub const STALE_AFTER_ROUNDS: u32 = 3;

/// The `health` collector.
#[derive(Debug)]
pub struct Health;

/// The registered instance.
pub const COLLECTOR: Health = Health;

/// The last answer for each node of one account.
#[derive(Debug, Default)]
pub struct HealthState {
    phones: BTreeMap<Text, Answer>,
    waba: Option<(Text, Answer)>,
}

#[derive(Debug)]
struct Answer {
    at: Instant,
    health: HealthStatus,
}

/// One node to ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Phone(Text),
    Waba(Text),
}

impl Collector for Health {
    type State = HealthState;
    type Settings = NoSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        state: &'a mut HealthState,
        _settings: &'a NoSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let mut inputs = ctx.inputs.subscribe();
        inputs.mark_unchanged();
        state.follow(ctx);
        let nodes = state.nodes(ctx);
        let mut round = ctx.round(&OPERATION, nodes.len());
        let mut list_changed = false;
        for node in &nodes {
            // A number that leaves the list while we wait loses its series at once, and
            // is not asked about.
            while round.wait(Some(&mut inputs)).await == Wake::Inputs {
                list_changed = true;
                if state.follow(ctx) {
                    ctx.publish_progress(render(ctx, state));
                }
            }
            if list_changed && !state.wants(ctx, node) {
                continue;
            }
            let (node_type, key, id) = match node {
                Node::Phone(p) => ("phone", "PhoneNumber", p),
                Node::Waba(w) => ("waba", "WabaId", w),
            };
            let params = [("NodeType", node_type), (key, id.as_str())];
            match ctx.call::<HealthStatusResponse>(&OPERATION, &params).await {
                Ok(r) => {
                    state.record(node, r.data);
                    if round.progress_due() {
                        ctx.publish_progress(render(ctx, state));
                    }
                }
                Err(e) => {
                    if round.failed(id, e) {
                        break;
                    }
                }
            }
        }
        state.expire(round.plan().round.max(ctx.interval) * STALE_AFTER_ROUNDS);
        round.finish(render(ctx, state))
    }

    fn inputs_changed(
        &self,
        state: &mut HealthState,
        _settings: &NoSettings,
        ctx: &Ctx<'_>,
    ) -> Option<Collected> {
        if !state.follow(ctx) {
            return None;
        }
        Some(render(ctx, state))
    }
}

impl HealthState {
    /// Drops the answers of numbers that left the published list (or were DELETED) and of
    /// a WABA that is no longer the bound one; true when anything was dropped. Without a
    /// published list (the first refresh failed) nothing is dropped.
    fn follow(&mut self, ctx: &Ctx<'_>) -> bool {
        let before = (self.phones.len(), self.waba.is_some());
        if let Some(list) = ctx.inputs.latest::<NumberList>() {
            let listed: BTreeSet<&str> = sendable(&list).collect();
            self.phones.retain(|p, _| listed.contains(p.as_str()));
        }
        if let Some(bound) = ctx.inputs.latest::<BoundWaba>()
            && self.waba.as_ref().map(|(id, _)| id) != bound.id.as_ref()
        {
            self.waba = None;
        }
        before != (self.phones.len(), self.waba.is_some())
    }

    /// The nodes of one round: every listed number that can still send, then the WABA.
    fn nodes(&self, ctx: &Ctx<'_>) -> Vec<Node> {
        let mut nodes: Vec<Node> = match ctx.inputs.latest::<NumberList>() {
            Some(list) => sendable(&list).map(|p| Node::Phone(p.into())).collect(),
            None => Vec::new(),
        };
        if let Some(id) = ctx.inputs.latest::<BoundWaba>().and_then(|b| b.id.clone()) {
            nodes.push(Node::Waba(id));
        }
        nodes
    }

    /// True when `node` is still one to ask about (the list is sorted by number).
    fn wants(&self, ctx: &Ctx<'_>, node: &Node) -> bool {
        match node {
            Node::Phone(p) => ctx
                .inputs
                .latest::<NumberList>()
                .is_none_or(|list| list.get(p).is_some_and(|n| n.is_live())),
            Node::Waba(w) => ctx
                .inputs
                .latest::<BoundWaba>()
                .is_none_or(|b| b.id.as_ref() == Some(w)),
        }
    }

    fn record(&mut self, node: &Node, health: HealthStatus) {
        let answer = Answer {
            at: Instant::now(),
            health,
        };
        match node {
            Node::Phone(p) => {
                self.phones.insert(p.clone(), answer);
            }
            Node::Waba(w) => self.waba = Some((w.clone(), answer)),
        }
    }

    /// Drops answers older than `max_age`.
    fn expire(&mut self, max_age: Duration) {
        let now = Instant::now();
        self.phones.retain(|_, a| now - a.at <= max_age);
        if self
            .waba
            .as_ref()
            .is_some_and(|(_, a)| now - a.at > max_age)
        {
            self.waba = None;
        }
    }
}

/// The listed numbers a health call makes sense for (a DELETED number has no health).
fn sendable(list: &NumberList) -> impl Iterator<Item = &str> {
    list.live().map(|n| n.phone.as_str())
}

/// Renders the state, with a summary of how many numbers are in each state.
fn render(ctx: &Ctx<'_>, state: &HealthState) -> Collected {
    let mut writer = BlockWriter::new(ctx.previous.as_deref());
    let (exposition, unknown, details) =
        convert(ctx.account, state, &ctx.note, ctx.enum_mode, &mut writer);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in state.phones.values() {
        let s = non_empty(&a.health.can_send_message).unwrap_or("no answer");
        *counts.entry(label_value(s)).or_default() += 1;
    }
    let summary = if counts.is_empty() {
        "no numbers checked yet".to_owned()
    } else {
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        format!("numbers: {}", parts.join(", "))
    };
    Collected {
        exposition,
        unknown,
        summary,
        details,
        facts: facts(state),
        published: None,
    }
}

/// `chatapp_phone_number_can_send`'s state, as a column of the numbers table.
pub static CAN_SEND: Column = Column::text("can_send", "Can send", Some("CAN SEND"));

/// Meta's errors on a number, with its suggested fix, under the number.
pub static META_SAYS: NoteKind = NoteKind {
    key: "problems",
    lead: "What Meta says",
    in_fleet: true,
};

/// What the collector shows people.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[&CAN_SEND],
    notes: &[&META_SAYS],
    tables: &[],
    term_columns: &[],
};

/// Each answered number's can-send state, its verdict (BLOCKED, LIMITED) and Meta's errors
/// with their fixes, in words. Pure.
fn facts(state: &HealthState) -> Facts {
    let numbers = state
        .phones
        .iter()
        .map(|(phone, a)| {
            let can_send = non_empty(&a.health.can_send_message).map(label_str);
            let verdict = match can_send {
                Some(w @ "BLOCKED") => Some((Severity::Blocked, w)),
                Some(w @ "LIMITED") => Some((Severity::Limited, w)),
                _ => None,
            };
            NumberFacts {
                phone_number: CompactString::new(phone),
                verdict: verdict.map(|(severity, word)| Verdict {
                    severity,
                    word: CompactString::new(word),
                }),
                cells: can_send
                    .map(|c| Cell {
                        column: &CAN_SEND,
                        value: Value::text(c),
                    })
                    .into_iter()
                    .collect(),
                notes: a
                    .health
                    .entities
                    .iter()
                    .flat_map(|e| &e.errors)
                    .map(|e| {
                        let code = non_empty(&e.error_code).unwrap_or("error");
                        let description = non_empty(&e.error_description).unwrap_or("");
                        let fix = non_empty(&e.possible_solution)
                            .map(|s| format!(" Fix: {}", shorten(s)))
                            .unwrap_or_default();
                        Note {
                            kind: &META_SAYS,
                            text: format!("{code}: {}{fix}", shorten(description)),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Facts {
        numbers,
        tables: Vec::new(),
    }
}

/// Renders the kept answers, and lists each error with Meta's suggested fix for the
/// landing page. Pure.
fn convert(
    account: &str,
    state: &HealthState,
    note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Vec<UnknownValue>, Vec<String>) {
    let mut out = Renderer::new(writer, note, mode);
    out.table(&PHONES, |rows| {
        for (number, a) in &state.phones {
            let can_send = non_empty(&a.health.can_send_message);
            rows.row(&[account, number], &[render::Cell::state(can_send)]);
        }
    });
    if let Some((id, a)) = &state.waba {
        out.table(&WABAS, |rows| {
            let can_send = non_empty(&a.health.can_send_message);
            rows.row(&[account, id], &[render::Cell::state(can_send)]);
        });
    }
    let answers = state
        .phones
        .values()
        .chain(state.waba.as_ref().map(|(_, a)| a));
    let mut details = Vec::new();
    out.table(&ERRORS, |rows| errors(account, answers, rows, &mut details));
    let (exposition, unknown) = out.finish();
    (exposition, unknown, details)
}

/// One series per distinct error of `answers` (the same business-level error can come in
/// every number's answer and the WABA's: duplicate label sets would make the exposition
/// invalid), and its line with Meta's fix in `details`.
fn errors<'a>(
    account: &str,
    answers: impl Iterator<Item = &'a Answer>,
    rows: &mut Rows<'_, '_>,
    details: &mut Vec<String>,
) {
    let mut seen: BTreeSet<[String; 4]> = BTreeSet::new();
    for entity in answers.flat_map(|a| &a.health.entities) {
        let entity_type = non_empty(&entity.entity_type).unwrap_or("");
        let entity_id = [
            &entity.phone_number,
            &entity.waba_id,
            &entity.business_id,
            &entity.template_code,
        ]
        .into_iter()
        .find_map(non_empty)
        .unwrap_or("");
        for e in &entity.errors {
            let code = non_empty(&e.error_code).unwrap_or("");
            let description = shorten(non_empty(&e.error_description).unwrap_or(""));
            let labels = [
                label_value(entity_type),
                label_value(entity_id),
                label_value(code),
                description,
            ];
            if seen.contains(&labels) {
                continue;
            }
            rows.row(
                &[account, &labels[0], &labels[1], &labels[2], &labels[3]],
                &[render::Cell::Info(&[])],
            );
            let fix = non_empty(&e.possible_solution)
                .map(|s| format!(" Fix: {}", shorten(s)))
                .unwrap_or_default();
            details.push(format!(
                "{} {} error {}: {}{fix}",
                labels[0], labels[1], labels[2], labels[3]
            ));
            seen.insert(labels);
        }
    }
}

fn shorten(s: &str) -> String {
    super::shorten(s, MAX_DESCRIPTION_CHARS)
}

crate::api_response! {
    /// `GetWhatsappHealthStatus` response body (cams-api.md §9; SDK 5.3.1 model).
    pub struct HealthStatusResponse {
        /// The node's health. Required on success: an answer without it says nothing about
        /// whether the number can send, and must not read as "no errors".
        pub data: HealthStatus,
    }
}

/// Whether a node (phone number, WABA) can send now, as Meta computes it over the node and
/// the nodes above it (business, app).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthStatus {
    /// Overall `AVAILABLE`, `LIMITED` or `BLOCKED` (an open set).
    #[serde(default, deserialize_with = "lenient_text")]
    pub can_send_message: Option<Text>,
    /// The nodes Meta evaluated, each with its own state and errors; may be empty.
    #[serde(default, deserialize_with = "lenient_list")]
    pub entities: Vec<HealthEntity>,
}

/// One node of a health answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntity {
    /// `PHONE_NUMBER`, `WABA`, `BUSINESS`, `APP`, `MESSAGE_TEMPLATE` (an open set).
    #[serde(default, deserialize_with = "lenient_text")]
    pub entity_type: Option<Text>,
    /// This node's own state.
    #[serde(default, deserialize_with = "lenient_text")]
    pub can_send_message: Option<Text>,
    /// Set on `PHONE_NUMBER` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub phone_number: Option<Text>,
    /// Set on `WABA` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub waba_id: Option<Text>,
    /// Set on `BUSINESS` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_id: Option<Text>,
    /// Set on `MESSAGE_TEMPLATE` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_code: Option<Text>,
    /// Meta's errors on this node.
    #[serde(default, deserialize_with = "lenient_list")]
    pub errors: Vec<HealthError>,
}

/// One error Meta reports on a node (Meta Graph error codes, e.g. `141006`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthError {
    /// Meta's error code.
    #[serde(default, deserialize_with = "lenient_text")]
    pub error_code: Option<Text>,
    /// What is wrong, in Meta's words.
    #[serde(default, deserialize_with = "lenient_text")]
    pub error_description: Option<Text>,
    /// What to do about it, in Meta's words (free text: never a label).
    #[serde(default, deserialize_with = "lenient_text")]
    pub possible_solution: Option<Text>,
}

/// The demo's answers: "Acme Promo" is BLOCKED by a payment-method error, "Acme Sales" is
/// LIMITED while its quality is RED, the other retail numbers and the retail WABA are
/// AVAILABLE, as are the ISV customers' (by the same rules); demo-travel's business is not
/// verified yet, so its WABA and numbers are LIMITED.
fn demo_answer(world: &DemoWorld, request: &SimRequest) -> Reply {
    let space = world.space(request);
    let node = |kind: &str, key: &str, id: &str, can_send: &str, errors: serde_json::Value| json!({"EntityType": kind, key: id, "CanSendMessage": can_send, "Errors": errors});
    let error = |code: &str, description: &str, fix: &str| json!([{"ErrorCode": code, "ErrorDescription": description, "PossibleSolution": fix}]);
    let unverified = || {
        node(
            "BUSINESS",
            "BusinessId",
            "120393988393993002",
            "LIMITED",
            error(
                "141010",
                "The business has not passed business verification.",
                "Complete business verification in Meta Business Manager.",
            ),
        )
    };
    let (can_send, entities) = match (space, request.param("NodeType")) {
        (Space::Travel, Some("phone")) => match request.param("PhoneNumber") {
            Some(p) => (
                "LIMITED",
                vec![
                    node("PHONE_NUMBER", "PhoneNumber", p, "AVAILABLE", json!([])),
                    unverified(),
                ],
            ),
            None => return missing("PhoneNumber"),
        },
        (Space::Travel, Some("waba")) => match request.param("WabaId") {
            Some(w) => (
                "LIMITED",
                vec![
                    node("WABA", "WabaId", w, "AVAILABLE", json!([])),
                    unverified(),
                ],
            ),
            None => return missing("WabaId"),
        },
        (Space::Retail | Space::Customer(_), Some("phone")) => {
            let Some(number) = request
                .param("PhoneNumber")
                .and_then(|p| world.number(space, p))
            else {
                return SimResponse::invalid("The specified NodeType and node id do not match.")
                    .into();
            };
            let (can_send, errors) = if number.phone == "6580000003" {
                (
                    "BLOCKED",
                    error(
                        "141006",
                        "There is an error with the payment method.",
                        "Go to WhatsApp Manager and add a new payment method to the account.",
                    ),
                )
            } else if number.quality == "RED" && number.status == "CONNECTED" {
                (
                    "LIMITED",
                    error(
                        "131049",
                        "Messages are limited because the number's quality rating is low.",
                        "Reduce the messages recipients block or report; the limit lifts when quality recovers.",
                    ),
                )
            } else {
                ("AVAILABLE", json!([]))
            };
            (
                can_send,
                vec![node(
                    "PHONE_NUMBER",
                    "PhoneNumber",
                    &number.phone,
                    can_send,
                    errors,
                )],
            )
        }
        (Space::Retail | Space::Customer(_), Some("waba")) => match request.param("WabaId") {
            Some(w) => (
                "AVAILABLE",
                vec![node("WABA", "WabaId", w, "AVAILABLE", json!([]))],
            ),
            None => return missing("WabaId"),
        },
        _ => {
            return SimResponse::invalid("The specified NodeType and node id do not match.").into();
        }
    };
    SimResponse::success(json!({"Data": {"CanSendMessage": can_send, "Entities": entities}})).into()
}

fn missing(parameter: &str) -> Reply {
    SimResponse::error(
        400,
        "MissingParameter",
        &format!(
            "The input parameter \"{parameter}\" that is mandatory for processing this request is not supplied."
        ),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(can_send: &str, errors: &[(&str, &str, &str)]) -> Answer {
        Answer {
            at: Instant::now(),
            health: HealthStatus {
                can_send_message: Some(can_send.into()),
                entities: vec![HealthEntity {
                    entity_type: Some("BUSINESS".into()),
                    business_id: Some("77".into()),
                    errors: errors
                        .iter()
                        .map(|(code, d, fix)| HealthError {
                            error_code: Some((*code).into()),
                            error_description: Some((*d).into()),
                            possible_solution: Some((*fix).into()),
                        })
                        .collect(),
                    ..Default::default()
                }],
            },
        }
    }

    fn text(exposition: &AccountExposition) -> String {
        String::from_utf8(exposition.to_text()).unwrap()
    }

    #[test]
    fn states_unknown_values_and_shared_errors_once() {
        let mut state = HealthState::default();
        let err = [(
            "141010",
            "Business not verified\nyet",
            "Verify the business.",
        )];
        state.phones.insert("1".into(), answer("BLOCKED", &err));
        state
            .phones
            .insert("2".into(), answer("PAUSED_BY_META", &err));
        state.waba = Some(("w".into(), answer("LIMITED", &err)));
        let (exposition, unknown, details) = convert(
            "a",
            &state,
            "note",
            EnumMode::All,
            &mut BlockWriter::new(None),
        );
        let text = text(&exposition);
        assert!(text.contains(
            r#"chatapp_phone_number_can_send{account="a",phone_number="1",state="BLOCKED"} 1"#
        ));
        assert!(text.contains(
            r#"chatapp_phone_number_can_send{account="a",phone_number="1",state="AVAILABLE"} 0"#
        ));
        assert!(text.contains(r#"chatapp_phone_number_can_send{account="a",phone_number="2",state="PAUSED_BY_META"} 1"#));
        assert!(
            text.contains(r#"chatapp_waba_can_send{account="a",waba_id="w",state="LIMITED"} 1"#)
        );
        assert_eq!(
            text.matches("chatapp_health_error_info{").count(),
            1,
            "{text}"
        );
        assert!(text.contains(r#"description="Business not verified yet""#));
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].field, "CanSendMessage");
        assert_eq!(
            details,
            ["BUSINESS 77 error 141010: Business not verified yet Fix: Verify the business."]
        );
    }

    #[test]
    fn long_descriptions_are_cut() {
        let long = "x".repeat(500);
        let got = shorten(&long);
        assert_eq!(got.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(got.ends_with('…'));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_expire_after_three_rounds() {
        let mut state = HealthState::default();
        state.phones.insert("1".into(), answer("AVAILABLE", &[]));
        tokio::time::advance(Duration::from_secs(29 * 60)).await;
        state.phones.insert("2".into(), answer("AVAILABLE", &[]));
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        state.expire(Duration::from_secs(30 * 60));
        assert_eq!(
            state.phones.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["2"]
        );
    }

    #[test]
    fn health_answers_decode_leniently_but_need_data() {
        let body = r#"{"Code":"OK","Data":{"CanSendMessage":"BLOCKED","Entities":[
            {"EntityType":"PHONE_NUMBER","PhoneNumber":6580000003,"CanSendMessage":"BLOCKED",
             "Errors":[{"ErrorCode":141006,"ErrorDescription":"payment","PossibleSolution":"add one"},"odd",null]},
            "not an entity", 7,
            {"EntityType":"WABA","WabaId":"1","Errors":null}]}}"#;
        let r: HealthStatusResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.data.can_send_message.as_deref(), Some("BLOCKED"));
        assert_eq!(r.data.entities.len(), 2);
        let e = &r.data.entities[0];
        assert_eq!(e.phone_number.as_deref(), Some("6580000003"));
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].error_code.as_deref(), Some("141006"));
        assert!(r.data.entities[1].errors.is_empty());
        let r: HealthStatusResponse =
            serde_json::from_str(r#"{"Code":"OK","Data":{"Entities":{"x":1}}}"#).unwrap();
        assert!(r.data.entities.is_empty() && r.data.can_send_message.is_none());
        assert!(serde_json::from_str::<HealthStatusResponse>(r#"{"Code":"OK"}"#).is_err());
    }
}
