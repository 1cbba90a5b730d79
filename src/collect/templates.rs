//! `ListChatappTemplate` and `GetChatappTemplateDetail` → every message template's review
//! state and Meta's quality score (cams-api.md §10).
//!
//! Meta rates each template from its recipients' reactions; a RED template is paused and
//! the campaigns that use it fail, and low-quality templates drag the number's own rating
//! down. A run lists every WhatsApp template of the account, 50 per page, with the `Page`
//! parameter as the official SDK sends it (one query parameter holding
//! `{"Index":N,"Size":M}`), then asks for the detail (which carries `QualityScore`) of the
//! templates that need it, paced at 2/s per AccessKey by default and spread over the
//! interval. While every detail takes at most half of what the interval allows at that rate,
//! every template's detail is read each run; a larger catalogue reuses the detail of a
//! template whose `LastUpdateTime` and audit status are unchanged for up to
//! [`REUSE_ROUNDS`] runs, staggered by a hash of its identity, so it costs about `N/6`
//! detail calls per run instead of `N`.
//!
//! Off by default: an ISV can have thousands of templates, and the user opts in.
//!
//! The responses (SDK `_list_chatapp_template_response_body.py`,
//! `_get_chatapp_template_detail_response_body.py`) and the demo's answers are at the end of
//! the file.

use std::collections::BTreeMap;
use std::hash::Hasher as _;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::demo::{DemoWorld, Reply, SimRequest, SimResponse, Space};
use super::published::MarketingTemplates;
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, NoSettings, Operation, Role,
    Schedule, StateSetDef, Tenant, UnknownValue, label_text, label_value, non_empty,
};
use crate::api::ErrorKind;
use crate::api::model::{Text, lenient_bool, lenient_string, lenient_text};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Cell, Renderer, Series, Table};
use crate::metrics::{AccountExposition, EnumMode};
use crate::view::{Column, Facts, Row, TableDef, TableRows, Value, ViewSpec};

/// `ListChatappTemplate`, filtered to WhatsApp templates, paged with `Page`.
pub const LIST: Operation = Operation {
    action: "ListChatappTemplate",
    // Its quota is not documented; like the other list operations, `--api.rate-limit`.
    default_rate_limit: None,
    tenant: Tenant::SpaceAndIsvCode,
    required: &["Page"],
    demo: demo_list,
};

/// `GetChatappTemplateDetail` (quota 150/s, but production sending reads details too).
pub const DETAIL: Operation = Operation {
    action: "GetChatappTemplateDetail",
    default_rate_limit: NonZeroU32::new(2),
    tenant: Tenant::SpaceAndIsvCode,
    required: &["TemplateCode", "Language"],
    demo: demo_detail,
};

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "templates",
    description: "every message template's review state and quality score (ListChatappTemplate, GetChatappTemplateDetail)",
    operations: &[LIST, DETAIL],
    families: FAMILIES,
    schedule: Schedule::Own {
        interval: Duration::from_secs(30 * 60),
        demo_interval: Duration::from_secs(60),
    },
    role: Role::Objects,
    enabled_by_default: false,
    enabled_in_demo: true,
    needs: &[],
    view: VIEW,
    tracked: &[],
};

/// Templates per list page (the SDK's default is 10; 50 costs a fifth of the calls).
pub const PAGE_SIZE: u32 = 50;
/// The SDK's default page size, used when the API refuses [`PAGE_SIZE`].
pub const FALLBACK_PAGE_SIZE: u32 = 10;
/// Most pages read in one run (a hostile `Total` cannot make a run endless): 50,000
/// templates at the default size.
pub const MAX_PAGES: u32 = 1000;
/// An unchanged template's detail is reused for at most this many runs.
pub const REUSE_ROUNDS: u64 = 6;

/// `chatapp_template_info`.
pub const INFO: FamilyDef = FamilyDef {
    name: "chatapp_template_info",
    help: "WhatsApp message template (ListChatappTemplate TemplateCode, Language, TemplateName, Category, TemplateType); always 1.",
};

/// `chatapp_template_audit_status`.
pub const AUDIT_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_template_audit_status",
        help: "Review state of the template (ListChatappTemplate AuditStatus: pass approved, fail rejected, auditing under review, unaudit review suspended); 1 for the current state, 0 for the others. The rejection reason is on the landing page.",
    },
    field: "AuditStatus",
    label: "status",
    known: &["pass", "fail", "auditing", "unaudit"],
};

/// `chatapp_template_quality_score`.
pub const QUALITY_SCORE: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_template_quality_score",
        help: "Meta's quality score of the template (GetChatappTemplateDetail QualityScore); 1 for the current score, 0 for the others. A RED template is paused by Meta.",
    },
    field: "QualityScore",
    label: "score",
    known: &["GREEN", "YELLOW", "RED", "UNKNOWN"],
};

/// `chatapp_template_last_update_timestamp_seconds`.
pub const LAST_UPDATE: FamilyDef = FamilyDef {
    name: "chatapp_template_last_update_timestamp_seconds",
    help: "Unix time of the template's last change (ListChatappTemplate LastUpdateTime); absent when the API gives none.",
};

/// `chatapp_templates`.
pub const COUNT: FamilyDef = FamilyDef {
    name: "chatapp_templates",
    help: "WhatsApp templates the account's ListChatappTemplate listed.",
};

/// Each template's families.
const TEMPLATES: Table<'static> = Table {
    labels: &["account", "template_code", "language"],
    series: &[
        Series::Info(&INFO, &["template_name", "category", "template_type"]),
        Series::States(&AUDIT_STATUS),
        Series::States(&QUALITY_SCORE),
        Series::Gauge(&LAST_UPDATE),
    ],
};

/// The account's count.
const ACCOUNT: Table<'static> = Table {
    labels: &["account"],
    series: &[Series::Gauge(&COUNT)],
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &render::families::<5>(&[TEMPLATES, ACCOUNT]);

/// The `templates` collector.
#[derive(Debug)]
pub struct Templates;

/// The registered instance.
pub const COLLECTOR: Templates = Templates;

/// A template's identity: (code, language), as label values.
type Key = (Text, Text);

/// What the collector keeps for one account between runs.
#[derive(Debug, Default)]
pub struct TemplatesState {
    /// Runs so far (for the staggered reuse of details).
    runs: u64,
    /// The last successful list, by identity.
    listed: BTreeMap<Key, TemplateItem>,
    /// Each template's last detail.
    details: BTreeMap<Key, Detail>,
}

#[derive(Debug, Clone)]
struct Detail {
    quality: Option<Text>,
    /// The list's `LastUpdateTime` and `AuditStatus` when the detail was read: when either
    /// changes, the detail is read again.
    seen_update: Option<Text>,
    seen_audit: Option<Text>,
}

/// What one run cost, for logs and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCost {
    /// List pages read.
    pub pages: u32,
    /// Detail calls made.
    pub details: usize,
}

impl Collector for Templates {
    type State = TemplatesState;
    type Settings = NoSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        state: &'a mut TemplatesState,
        _settings: &'a NoSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        run(state, ctx).await.map(|(c, _)| c)
    }
}

/// One run; also returns what it cost.
pub async fn run(
    state: &mut TemplatesState,
    ctx: &Ctx<'_>,
) -> Result<(Collected, RunCost), CollectError> {
    let mut cost = RunCost::default();
    // The list first: a failure keeps the last good data (the scheduler's staleness limit
    // applies), and a template gone from a complete list is gone from /metrics.
    let listed = list_all(ctx, &mut cost).await?;
    state.runs += 1;
    state.listed = listed;
    state.details.retain(|k, _| state.listed.contains_key(k));
    // The marketing templates, for the collectors that read their usage: known as soon as
    // the list is, whatever the details do.
    let marketing = state
        .listed
        .iter()
        .filter(|(_, item)| non_empty(&item.category) == Some("MARKETING"))
        .map(|(key, _)| key.clone())
        .collect();
    ctx.inputs.publish(std::sync::Arc::new(MarketingTemplates {
        templates: marketing,
    }));

    let wanted = wanted_details(ctx, state);
    let mut round = ctx.round(&DETAIL, wanted.len());
    for key in &wanted {
        round.wait(None).await;
        let params = [
            ("TemplateCode", key.0.as_str()),
            ("Language", key.1.as_str()),
            ("TemplateType", "WHATSAPP"),
        ];
        cost.details += 1;
        match ctx.call::<TemplateDetailResponse>(&DETAIL, &params).await {
            Ok(r) => {
                let item = &state.listed[key];
                state.details.insert(
                    key.clone(),
                    Detail {
                        quality: non_empty(&r.data.quality_score).map(Text::from),
                        seen_update: item.last_update_time.clone(),
                        seen_audit: item.audit_status.clone(),
                    },
                );
                if round.progress_due() {
                    ctx.publish_progress(render(ctx, state));
                }
            }
            // A detail that fails keeps the template's list data and its last detail.
            Err(e) => {
                if round.failed(&key.0, e) {
                    break;
                }
            }
        }
    }
    tracing::debug!(pages = cost.pages, details = cost.details, "templates run");
    round.finish(render(ctx, state)).map(|c| (c, cost))
}

/// The templates whose detail this run reads, most urgent first: every one while they take
/// at most half of what the interval allows at the rate; beyond that, unchanged ones are
/// reused (staggered) to keep a large catalogue within its quota. Templates never read
/// come first, then marketing ones (the ones Meta pauses for quality most), so that what
/// matters shows first in a long round.
fn wanted_details(ctx: &Ctx<'_>, state: &TemplatesState) -> Vec<Key> {
    let capacity = ctx.interval.as_secs_f64() * f64::from(ctx.rate(&DETAIL).get()) / 2.0;
    let reuse = state.listed.len() as f64 > capacity;
    let mut wanted: Vec<(&Key, &TemplateItem)> = state
        .listed
        .iter()
        .filter(|(key, item)| !reuse || needs_detail(state, key, item))
        .collect();
    wanted.sort_by_key(|(key, item)| {
        (
            state.details.contains_key(*key),
            non_empty(&item.category) != Some("MARKETING"),
        )
    });
    wanted.into_iter().map(|(key, _)| key.clone()).collect()
}

/// Reads every page. Stops at `Total`, at a short or empty page, or at [`MAX_PAGES`].
async fn list_all(
    ctx: &Ctx<'_>,
    cost: &mut RunCost,
) -> Result<BTreeMap<Key, TemplateItem>, CollectError> {
    let mut size = PAGE_SIZE;
    let mut listed = BTreeMap::new();
    let mut index = 1;
    loop {
        let page = format!(r#"{{"Index":{index},"Size":{size}}}"#);
        let params = [("Page", page.as_str()), ("TemplateType", "WHATSAPP")];
        cost.pages += 1;
        let response = match ctx.call::<TemplateListResponse>(&LIST, &params).await {
            // The SDK documents no maximum page size; if the gateway refuses ours, the
            // SDK's default is taken (once, on the first page).
            Err(e) if index == 1 && size == PAGE_SIZE && refuses_page_size(&e) => {
                tracing::info!(error = %e, "page size {PAGE_SIZE} refused; listing templates {FALLBACK_PAGE_SIZE} at a time");
                size = FALLBACK_PAGE_SIZE;
                continue;
            }
            r => r?,
        };
        let count = response.list_template.len();
        // A page holds at most what was asked for: a server that sends more is not trusted
        // with the catalogue's size (the rest of the page is dropped).
        for item in response.list_template.into_iter().take(size as usize) {
            if non_empty(&item.template_type).is_some_and(|t| !t.eq_ignore_ascii_case("WHATSAPP")) {
                continue;
            }
            let (Some(code), Some(language)) =
                (non_empty(&item.template_code), non_empty(&item.language))
            else {
                continue;
            };
            let key = (
                Text::from(label_value(code)),
                Text::from(label_value(language)),
            );
            // A template repeated across pages (the list changed while paging) keeps its
            // first entry: two series with the same labels would break the exposition.
            listed.entry(key).or_insert(item);
        }
        let total: Option<u64> = response
            .total
            .as_deref()
            .and_then(|t| t.trim().parse().ok());
        let read = u64::from(index) * u64::from(size);
        if count < size as usize || total.is_none_or(|t| read >= t) {
            break;
        }
        if index >= MAX_PAGES {
            tracing::warn!(
                pages = index,
                total,
                "stopped listing templates at the page limit"
            );
            break;
        }
        index += 1;
    }
    Ok(listed)
}

fn refuses_page_size(e: &crate::api::ApiError) -> bool {
    e.kind() == ErrorKind::Client && {
        let code = e.code_label();
        code.contains("Page") || code.starts_with("InvalidParameter")
    }
}

/// True when the template's detail must be read this run: never read, changed since, or
/// due (every [`REUSE_ROUNDS`] runs, at a phase from a hash of its identity).
fn needs_detail(state: &TemplatesState, key: &Key, item: &TemplateItem) -> bool {
    let Some(d) = state.details.get(key) else {
        return true;
    };
    if d.seen_update != item.last_update_time || d.seen_audit != item.audit_status {
        return true;
    }
    let mut h = fnv::FnvHasher::default();
    h.write(key.0.as_bytes());
    h.write(&[0]);
    h.write(key.1.as_bytes());
    (state.runs + h.finish()).is_multiple_of(REUSE_ROUNDS)
}

fn render(ctx: &Ctx<'_>, state: &TemplatesState) -> Collected {
    let mut writer = BlockWriter::new(ctx.previous.as_deref());
    let (exposition, unknown) = convert(ctx.account, state, &ctx.note, ctx.enum_mode, &mut writer);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in state.listed.values() {
        *counts
            .entry(non_empty(&item.audit_status).unwrap_or("unknown"))
            .or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    Collected {
        exposition,
        unknown,
        summary: format!("{} templates ({})", state.listed.len(), parts.join(", ")),
        details: details(state),
        facts: facts(state),
        published: None,
    }
}

/// `TemplateCode`.
pub static CODE: Column = Column::text("template_code", "Template", Some("TEMPLATE"));
/// `Language`.
pub static LANGUAGE: Column = Column::text("language", "Language", Some("LANGUAGE"));
/// `TemplateName`.
pub static NAME: Column = Column::text("name", "Name", Some("NAME"));
/// `AuditStatus`.
pub static AUDIT: Column = Column::text("audit_status", "Audit status", Some("AUDIT"));
/// `QualityScore`.
pub static QUALITY: Column = Column::text("quality", "Quality", Some("QUALITY"));
/// Why a template was rejected.
pub static REASON: Column = Column::text("reason", "Reason", Some("REASON"));

/// The templates that need a person: rejected first.
pub static NEEDING_ATTENTION: TableDef = TableDef {
    key: "templates",
    title: "Templates needing attention",
    columns: &[&CODE, &LANGUAGE, &NAME, &AUDIT, &QUALITY, &REASON],
    more: "more templates not shown",
};

/// What the collector shows people.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[],
    notes: &[],
    tables: &[&NEEDING_ATTENTION],
    term_columns: &[],
};

/// The templates that need a person: not approved (`pass`), or scored YELLOW or RED;
/// rejected ones first. Pure.
fn facts(state: &TemplatesState) -> Facts {
    let text = |v: &Option<Text>| non_empty(v).map(|t| Value::text(label_value(t)));
    let rows = state
        .listed
        .iter()
        .filter_map(|((code, language), item)| {
            let quality = state
                .details
                .get(&(code.clone(), language.clone()))
                .and_then(|d| d.quality.as_deref())
                .map(label_value);
            let audit = non_empty(&item.audit_status).map(label_value);
            let rejected = audit.as_deref() == Some("fail");
            let fine = audit.as_deref() == Some("pass")
                && !matches!(quality.as_deref(), Some("RED" | "YELLOW"));
            (!fine).then(|| Row {
                rank: u8::from(!rejected),
                cells: vec![
                    Some(Value::text(code)),
                    Some(Value::text(language)),
                    text(&item.template_name),
                    audit.map(Value::text),
                    quality.map(Value::text),
                    rejected.then(|| {
                        text(&item.reason).unwrap_or_else(|| Value::text("no reason given"))
                    }),
                ],
            })
        })
        .collect();
    Facts {
        numbers: Vec::new(),
        tables: vec![TableRows {
            table: &NEEDING_ATTENTION,
            rows,
        }],
    }
}

/// Renders the listed templates and their details. Pure.
fn convert(
    account: &str,
    state: &TemplatesState,
    note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Vec<UnknownValue>) {
    let mut out = Renderer::new(writer, note, mode);
    out.table(&TEMPLATES, |rows| {
        for ((code, language), item) in &state.listed {
            let info = [
                label_text(&item.template_name),
                label_text(&item.category),
                label_text(&item.template_type),
            ];
            rows.row(
                &[account, code, language],
                &[
                    Cell::Info(&info),
                    Cell::state(non_empty(&item.audit_status)),
                    Cell::state(quality(state, code, language)),
                    Cell::value(non_empty(&item.last_update_time).and_then(parse_time)),
                ],
            );
        }
    });
    if !state.listed.is_empty() || state.runs > 0 {
        out.table(&ACCOUNT, |rows| {
            rows.row(&[account], &[Cell::Value(state.listed.len() as f64)]);
        });
    }
    out.finish()
}

/// The template's quality score from its last detail, if any.
fn quality<'a>(state: &'a TemplatesState, code: &Text, language: &Text) -> Option<&'a str> {
    state
        .details
        .get(&(code.clone(), language.clone()))
        .and_then(|d| d.quality.as_deref())
}

/// The rejected templates with their reason and the non-GREEN ones, for the landing page.
/// Pure.
fn details(state: &TemplatesState) -> Vec<String> {
    let mut details = Vec::new();
    for ((code, language), item) in &state.listed {
        if non_empty(&item.audit_status) == Some("fail") {
            let reason = non_empty(&item.reason).unwrap_or("no reason given");
            details.push(format!(
                "template {code} ({language}) rejected: {}",
                shorten(reason)
            ));
        } else if let Some(s) =
            quality(state, code, language).filter(|s| *s == "RED" || *s == "YELLOW")
        {
            details.push(format!("template {code} ({language}) quality {s}"));
        }
    }
    details
}

/// `LastUpdateTime` as Unix seconds: milliseconds or seconds since the epoch, or an
/// RFC 3339 / `YYYY-MM-DD HH:MM:SS` date-time (taken as UTC; the docs give no example).
pub fn parse_time(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<u64>() {
        // Seconds since 1970 stay below 10^11 until the year 5138.
        return Some(if n >= 100_000_000_000 {
            n as f64 / 1000.0
        } else {
            n as f64
        });
    }
    let t = humantime::parse_rfc3339_weak(raw).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

fn shorten(s: &str) -> String {
    super::shorten(s, 300)
}

impl TemplatesState {
    /// Templates listed by the last successful run.
    pub fn listed(&self) -> usize {
        self.listed.len()
    }
}

crate::api_response! {
    /// `ListChatappTemplate` response body (cams-api.md §10).
    pub struct TemplateListResponse {
        /// Templates in all pages, as text (a number in the SDK model).
        #[serde(default, deserialize_with = "lenient_text")]
        pub total: Option<Text>,
        /// This page. Required: an `OK` answer without it must not read as "no templates".
        pub list_template: Vec<TemplateItem>,
    }
}

/// One template of a list page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateItem {
    /// Template code (with `Language`, the template's identity).
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_code: Option<Text>,
    /// Display name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_name: Option<Text>,
    /// Language, e.g. `en`, `zh_CN`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub language: Option<Text>,
    /// `UTILITY`, `MARKETING`, `AUTHENTICATION`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub category: Option<Text>,
    /// `WHATSAPP` or `VIBER`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_type: Option<Text>,
    /// `pass`, `fail`, `auditing`, `unaudit`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub audit_status: Option<Text>,
    /// Why a template was rejected; free text, never a label.
    #[serde(default, deserialize_with = "lenient_text")]
    pub reason: Option<Text>,
    /// Last change: milliseconds since the epoch, or a date-time (the docs give no example).
    #[serde(default, deserialize_with = "lenient_text")]
    pub last_update_time: Option<Text>,
}

crate::api_response! {
    /// `GetChatappTemplateDetail` response body (cams-api.md §10).
    pub struct TemplateDetailResponse {
        /// The template. Required on success.
        pub data: TemplateDetail,
    }
}

/// What the exporter reads of a template's detail (the body, buttons... are skipped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateDetail {
    /// Meta's quality score: `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub quality_score: Option<Text>,
    /// The audit status at the time of the detail call.
    #[serde(default, deserialize_with = "lenient_text")]
    pub audit_status: Option<Text>,
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

/// The demo's templates: demo-retail has six, in every audit state; the marketing template
/// `spring_sale` is RED for the first two minutes of every cycle, then GREEN, then YELLOW;
/// `flash_deal` was rejected with a reason. demo-travel has 120 approved ones (three list
/// pages of 50). Each ISV customer has two approved GREEN ones.
fn demo_templates(world: &DemoWorld, space: Space) -> Vec<DemoTemplate> {
    if let Space::Customer(_) = space {
        let t = |code: &str, category| DemoTemplate {
            code: code.to_owned(),
            language: "en",
            name: code.replace('_', " "),
            category,
            audit: "pass",
            reason: "",
            quality: "GREEN",
        };
        return vec![
            t("order_update", "UTILITY"),
            t("welcome_offer", "MARKETING"),
        ];
    }
    if space == Space::Travel {
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
    let spring = match world.phase() {
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
fn demo_list(world: &DemoWorld, request: &SimRequest) -> Reply {
    #[derive(Deserialize)]
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
        )
        .into();
    };
    let all = if request
        .param("TemplateType")
        .is_none_or(|t| t == "WHATSAPP")
    {
        demo_templates(world, world.space(request))
    } else {
        Vec::new()
    };
    let items: Vec<serde_json::Value> = all
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
    SimResponse::success(json!({"Total": all.len(), "ListTemplate": items})).into()
}

/// A `GetChatappTemplateDetail` answer.
fn demo_detail(world: &DemoWorld, request: &SimRequest) -> Reply {
    let found = demo_templates(world, world.space(request))
        .into_iter()
        .find(|t| {
            Some(t.code.as_str()) == request.param("TemplateCode")
                && Some(t.language) == request.param("Language")
        });
    let Some(t) = found else {
        return SimResponse::invalid("The specified template does not exist.").into();
    };
    SimResponse::success(json!({
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
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_update_times_in_every_shape() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000.0));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14 22:13:20"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(parse_time("yesterday"), None);
    }

    fn item(code: &str, update: &str, audit: &str) -> TemplateItem {
        TemplateItem {
            template_code: Some(code.into()),
            language: Some("en".into()),
            last_update_time: Some(update.into()),
            audit_status: Some(audit.into()),
            ..Default::default()
        }
    }

    #[test]
    fn unchanged_details_are_reused_for_at_most_six_runs_and_staggered() {
        let mut state = TemplatesState::default();
        let keys: Vec<Key> = (0..600)
            .map(|i| (Text::from(format!("t{i}")), Text::from("en")))
            .collect();
        for k in &keys {
            state.listed.insert(k.clone(), item(&k.0, "1", "pass"));
            state.details.insert(
                k.clone(),
                Detail {
                    quality: Some("GREEN".into()),
                    seen_update: Some("1".into()),
                    seen_audit: Some("pass".into()),
                },
            );
        }
        let mut due_per_run = Vec::new();
        let mut due_runs: BTreeMap<&Key, Vec<u64>> = BTreeMap::new();
        for run in 1..=12 {
            state.runs = run;
            let due: Vec<&Key> = keys
                .iter()
                .filter(|k| needs_detail(&state, k, &state.listed[*k]))
                .collect();
            due_per_run.push(due.len());
            for k in due {
                due_runs.entry(k).or_default().push(run);
            }
        }
        // About a sixth each run, never all at once.
        assert!(
            due_per_run.iter().all(|n| (50..=150).contains(n)),
            "{due_per_run:?}"
        );
        // Every template exactly every sixth run.
        assert!(due_runs.values().all(|r| r.len() == 2 && r[1] - r[0] == 6));
        // A change of LastUpdateTime or AuditStatus is read at once.
        state.runs = 1;
        let k = keys.iter().find(|k| !due_runs[*k].contains(&1)).unwrap();
        assert!(!needs_detail(&state, k, &item(&k.0, "1", "pass")));
        assert!(needs_detail(&state, k, &item(&k.0, "2", "pass")));
        assert!(needs_detail(&state, k, &item(&k.0, "1", "fail")));
    }
}
