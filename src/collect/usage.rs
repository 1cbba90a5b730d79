//! `GetChatappPhoneNumberMetric` and `GetChatappTemplateMetric` → how many messages each
//! number and each marketing template sent, delivered (and, for templates, read and clicked)
//! in the 24 hours ending at the newest data CAMS has, against the number's messaging limit
//! (cams-api.md §13).
//!
//! What a sender controls, and what comes first, is volume and delivery: a number that sends
//! close to its 24-hour messaging limit is about to be RESTRICTED, and a delivery rate that
//! drops is usually the first sign of quality trouble. Meta's limit counts unique recipients
//! of business-initiated conversations, not messages, so messages sent are an upper bound of
//! what the limit counts.
//!
//! Both operations count only after the account switched the metrics on once
//! (`EnableWhatsappROIMetric`, a write operation the exporter never calls), and the data
//! lags by a day or more; an account without them answers `OK` with no data, which is a
//! success with no series and a hint for people. Each round asks for `HALF_HOUR` buckets over
//! [`UsageSettings::lookback`]; the **horizon** is the end of the newest bucket returned for
//! the account, and the window is the 24 hours ending there (exported as
//! `chatapp_usage_window_end_timestamp_seconds`). Numbers: one call for the whole account
//! without `PhoneNumber`, or, when the answer does not name its numbers (or is too large to
//! read), one call per listed number, paced. Templates: one call per marketing template and
//! language that `templates` listed (skipped with a note when it is off). Off by default: it
//! needs the switch above and two more RAM actions.
//!
//! The responses (SDK 5.3.1 `_get_chatapp_phone_number_metric_response_body.py`,
//! `_get_chatapp_template_metric_response_body.py`) and the demo's answers are at the end of
//! the file.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::json;

use super::demo::{DemoNumber, DemoWorld, Reply, SimRequest, SimResponse};
use super::published::{MarketingTemplates, NumberList};
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, Need, Operation, Role,
    Schedule, SettingsBlock, SettingsError, Tenant, label_value, non_empty,
};
use crate::api::ApiError;
use crate::api::model::{Text, lenient_bool, lenient_list, lenient_string, lenient_text};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Renderer, Series, Table};
use crate::metrics::{AccountExposition, EnumMode};
use crate::view::{
    Cell, Column, Facts, NumberFacts, Row, Severity, TableDef, TableRows, TermColumn, Value,
    Verdict, ViewSpec, show_against, show_plain, show_share,
};

/// `GetChatappPhoneNumberMetric`: `Start`, `End` (epoch ms, required), `Granularity`,
/// optional `PhoneNumber`. Quota 50/s on the API page (75/s on the quota page), shared with
/// whoever else reads it: 5/s per AccessKey by default.
pub const NUMBER_METRIC: Operation = Operation {
    action: "GetChatappPhoneNumberMetric",
    default_rate_limit: NonZeroU32::new(5),
    tenant: Tenant::SpaceAndIsvCode,
    required: &["Start", "End"],
    demo: demo_numbers,
};

/// `GetChatappTemplateMetric`: `TemplateCode` (required), `Language`, `Start`, `End`
/// (required), `Granularity`, `TemplateType`. Quota 50/s: 5/s per AccessKey by default.
pub const TEMPLATE_METRIC: Operation = Operation {
    action: "GetChatappTemplateMetric",
    default_rate_limit: NonZeroU32::new(5),
    tenant: Tenant::SpaceAndIsvCode,
    required: &["TemplateCode", "Start", "End"],
    demo: demo_templates,
};

/// `collectors.usage:` beyond `enabled` and `interval`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSettings {
    /// How far back each round asks for buckets: the 24-hour window plus the data's delay
    /// (at least a day after the switch, per the docs; undocumented afterwards).
    #[serde(default = "default_lookback", with = "humantime_serde")]
    pub lookback: Duration,
}

fn default_lookback() -> Duration {
    Duration::from_secs(72 * 3600)
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            lookback: default_lookback(),
        }
    }
}

impl SettingsBlock for UsageSettings {
    fn check(&self) -> Result<(), SettingsError> {
        let (min, max) = (WINDOW + BUCKET, Duration::from_secs(31 * 24 * 3600));
        if self.lookback < min || self.lookback > max {
            return Err(SettingsError::new(
                "lookback",
                "must cover the 24h window plus the data's delay: between 24h 30m and 31 days",
            ));
        }
        Ok(())
    }
}

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "usage",
    description: "messages each number and marketing template sent and delivered in the last 24 hours of data (GetChatappPhoneNumberMetric, GetChatappTemplateMetric)",
    operations: &[NUMBER_METRIC, TEMPLATE_METRIC],
    families: FAMILIES,
    schedule: Schedule::Own {
        interval: Duration::from_secs(30 * 60),
        demo_interval: Duration::from_secs(60),
    },
    role: Role::Objects,
    enabled_by_default: false,
    enabled_in_demo: true,
    needs: &[
        Need {
            collector: "phone_numbers",
            required: true,
            why: "the numbers and their messaging limits",
        },
        Need {
            collector: "templates",
            required: false,
            why: "without it the marketing templates' usage is not read",
        },
    ],
    view: VIEW,
    tracked: &[],
};

/// The length of the window.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The buckets asked for: `HALF_HOUR`.
pub const BUCKET: Duration = Duration::from_secs(30 * 60);
/// `chatapp_phone_number_messages_sent_24h`.
pub const NUMBER_SENT: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_messages_sent_24h",
    help: "Messages the number sent (GetChatappPhoneNumberMetric SentCount, HALF_HOUR buckets) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the data lags by a day or more. Meta's messaging limit counts unique recipients of business-initiated conversations, not messages: this is an upper bound of what the limit counts.",
};

/// `chatapp_phone_number_messages_delivered_24h`.
pub const NUMBER_DELIVERED: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_messages_delivered_24h",
    help: "Messages of the number delivered to the recipient's phone (GetChatappPhoneNumberMetric DeliveredCount, HALF_HOUR buckets) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the data lags by a day or more.",
};

/// `chatapp_template_messages_sent_24h`.
pub const TEMPLATE_SENT: FamilyDef = FamilyDef {
    name: "chatapp_template_messages_sent_24h",
    help: "Messages sent with the marketing template (GetChatappTemplateMetric SentCount) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the data lags by a day or more.",
};

/// `chatapp_template_messages_delivered_24h`.
pub const TEMPLATE_DELIVERED: FamilyDef = FamilyDef {
    name: "chatapp_template_messages_delivered_24h",
    help: "Messages of the marketing template delivered (GetChatappTemplateMetric DeliveredCount) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the data lags by a day or more.",
};

/// `chatapp_template_messages_read_24h`.
pub const TEMPLATE_READ: FamilyDef = FamilyDef {
    name: "chatapp_template_messages_read_24h",
    help: "Messages of the marketing template read (GetChatappTemplateMetric ReadCount) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the data lags by a day or more.",
};

/// `chatapp_template_button_clicks_24h`.
pub const BUTTON_CLICKS: FamilyDef = FamilyDef {
    name: "chatapp_template_button_clicks_24h",
    help: "Clicks on the marketing template's buttons by button type as the API spells it (GetChatappTemplateMetric Cliented[].Type, Count: url_button, quick_relpy_button, phone_number_button) in the 24 hours ending at the usage data horizon (chatapp_usage_window_end_timestamp_seconds); the button's text is on the landing page, never a label.",
};

/// `chatapp_usage_window_end_timestamp_seconds`.
pub const WINDOW_END: FamilyDef = FamilyDef {
    name: "chatapp_usage_window_end_timestamp_seconds",
    help: "The usage data horizon of the account: the end of the newest bucket CAMS returned (GetChatappPhoneNumberMetric, GetChatappTemplateMetric End), as Unix time; the *_24h usage families count the 24 hours before it.",
};

/// Each number's families.
const NUMBERS: Table<'static> = Table {
    labels: &["account", "phone_number"],
    series: &[
        Series::Gauge(&NUMBER_SENT),
        Series::Gauge(&NUMBER_DELIVERED),
    ],
};

/// Each marketing template's families.
const TEMPLATES: Table<'static> = Table {
    labels: &["account", "template_code", "language"],
    series: &[
        Series::Gauge(&TEMPLATE_SENT),
        Series::Gauge(&TEMPLATE_DELIVERED),
        Series::Gauge(&TEMPLATE_READ),
    ],
};

/// Each template's clicks by button type.
const CLICKS: Table<'static> = Table {
    labels: &["account", "template_code", "language", "button_type"],
    series: &[Series::Gauge(&BUTTON_CLICKS)],
};

/// The account's window.
const ACCOUNT: Table<'static> = Table {
    labels: &["account"],
    series: &[Series::Gauge(&WINDOW_END)],
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &render::families::<7>(&[NUMBERS, TEMPLATES, CLICKS, ACCOUNT]);

/// Sent in the window against the messaging limit, on each number's row.
pub static SENT: Column = Column {
    key: "sent_24h",
    title: "Sent 24 h / limit",
    term: None,
    numeric: true,
    show: show_against,
    page: true,
};

/// Delivered of sent in the window, on each number's row.
pub static DELIVERED: Column = Column {
    key: "delivered_24h",
    title: "Delivered",
    term: None,
    numeric: true,
    show: show_share,
    page: true,
};

/// Both in one terminal column: `90%/97%`, the share of the limit sent and the share
/// delivered (a count when the limit is unknown or unlimited).
pub static TERM_USAGE: TermColumn = TermColumn {
    header: "SENT/DLV",
    cell: |row| {
        let share = |v: &Value| match v {
            Value::Of { value, of } if *of > 0.0 => format!("{:.0}%", 100.0 * value / of),
            Value::Of { value, .. } | Value::Number(value) => format!("{value:.0}"),
            Value::Text(t) => t.to_string(),
        };
        let sent = row.value(&SENT)?;
        let delivered = row.value(&DELIVERED).map_or("-".into(), share);
        Some(format!("{}/{delivered}", share(sent)))
    },
};

/// A count in a template row.
const fn count(key: &'static str, title: &'static str, term: &'static str) -> Column {
    Column {
        key,
        title,
        term: Some(term),
        numeric: true,
        show: show_share,
        page: true,
    }
}

/// Template code, language, then the funnel.
pub static T_CODE: Column = Column::text("template_code", "Template", Some("TEMPLATE"));
/// The template's language.
pub static T_LANGUAGE: Column = Column::text("language", "Language", Some("LANGUAGE"));
/// Sent in the window.
pub static T_SENT: Column = Column {
    key: "sent_24h",
    title: "Sent",
    term: Some("SENT"),
    numeric: true,
    show: show_plain,
    page: true,
};
/// Delivered of sent.
pub static T_DELIVERED: Column = count("delivered_24h", "Delivered", "DELIVERED");
/// Read of delivered.
pub static T_READ: Column = count("read_24h", "Read", "READ");
/// Clicks of read.
pub static T_CLICKED: Column = count("clicks_24h", "Clicked", "CLICKED");
/// The buttons' texts and clicks (free text: here, never in a label).
pub static T_BUTTONS: Column = Column::text("buttons", "Buttons (clicks)", None);

/// The marketing templates' funnel.
pub static TEMPLATE_USAGE: TableDef = TableDef {
    key: "template_usage",
    title: "Marketing templates, last 24 hours of usage data",
    columns: &[
        &T_CODE,
        &T_LANGUAGE,
        &T_SENT,
        &T_DELIVERED,
        &T_READ,
        &T_CLICKED,
        &T_BUTTONS,
    ],
    more: "more templates not shown",
};

/// What the collector shows people.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[&SENT, &DELIVERED],
    notes: &[],
    tables: &[&TEMPLATE_USAGE],
    term_columns: &[&TERM_USAGE],
};

/// Share of the messaging limit from which a number's row says NEAR LIMIT (the alert
/// `ChatAppPhoneNumberNearMessagingLimit` fires at the same share).
pub const NEAR_LIMIT: f64 = 0.8;
/// Below this delivered share (with at least [`LOW_DELIVERY_MIN_SENT`] sent), a number's row
/// says LOW DELIVERY (as `ChatAppPhoneNumberDeliveryRateLow`).
pub const LOW_DELIVERY: f64 = 0.8;
/// Fewer messages sent than this say nothing about a delivery rate.
pub const LOW_DELIVERY_MIN_SENT: f64 = 100.0;
/// What people read when an account has no usage data at all.
pub const NOT_ENABLED: &str = "no usage data: it needs EnableWhatsappROIMetric switched on once (CAMS console or API) and appears a day later";

/// The `usage` collector.
#[derive(Debug)]
pub struct Usage;

/// The registered instance.
pub const COLLECTOR: Usage = Usage;

/// One bucket, as kept while a round sums: start and end in epoch milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    start: i64,
    end: i64,
    sent: u64,
    delivered: u64,
    read: u64,
}

/// What a round learned: each number's and each template's buckets, and the buttons.
#[derive(Debug, Default)]
struct Learned {
    numbers: BTreeMap<Text, Vec<Bucket>>,
    templates: BTreeMap<(Text, Text), TemplateBuckets>,
    /// Why the template part was skipped, if it was.
    templates_skipped: Option<&'static str>,
}

#[derive(Debug, Default)]
struct TemplateBuckets {
    buckets: Vec<Bucket>,
    /// (button type, button text, bucket end, clicks).
    clicks: Vec<(Text, Text, i64, u64)>,
}

impl Learned {
    /// The end of the newest bucket, if any.
    fn horizon(&self) -> Option<i64> {
        let numbers = self.numbers.values().flatten();
        let templates = self.templates.values().flat_map(|t| &t.buckets);
        numbers.chain(templates).map(|b| b.end).max()
    }
}

impl Collector for Usage {
    type State = ();
    type Settings = UsageSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        settings: &'a UsageSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let end = now_ms();
        let start = end - millis(settings.lookback);
        let span = [start.to_string(), end.to_string()];
        let mut learned = Learned::default();
        read_numbers(ctx, &span, &mut learned).await?;
        read_templates(ctx, &span, &mut learned).await?;
        collected(ctx, &learned)
    }
}

/// The common parameters of a metric call.
fn window_params(span: &[String; 2]) -> [(&'static str, &str); 3] {
    [
        ("Start", span[0].as_str()),
        ("End", span[1].as_str()),
        ("Granularity", "HALF_HOUR"),
    ]
}

/// The numbers' buckets: one call for the account, or one per number when its answer does
/// not name its numbers or is too large to read.
async fn read_numbers(
    ctx: &Ctx<'_>,
    span: &[String; 2],
    learned: &mut Learned,
) -> Result<(), CollectError> {
    let params = window_params(span);
    let mut round = ctx.round(&NUMBER_METRIC, 1);
    round.wait(None).await;
    match ctx
        .call::<NumberMetricResponse>(&NUMBER_METRIC, &params)
        .await
    {
        Ok(r) if r.data.iter().all(|m| non_empty(&m.phone_number).is_some()) => {
            for m in &r.data {
                add_number_bucket(learned, m, None);
            }
            return Ok(());
        }
        Ok(_) => tracing::debug!(
            "the account's usage answer does not name its numbers; asking per number"
        ),
        Err(ApiError::BodyTooLarge { .. }) => {
            tracing::info!(
                "the account's usage answer is too large to read at once; asking per number"
            )
        }
        Err(e) => return Err(e.into()),
    }
    let Some(list) = ctx.inputs.latest::<NumberList>() else {
        return Ok(());
    };
    let numbers: Vec<&Text> = list.live().map(|n| &n.phone).collect();
    let mut round = ctx.round_over(&NUMBER_METRIC, numbers.len(), ctx.interval / 2);
    for phone in numbers {
        round.wait(None).await;
        let mut with_number = params.to_vec();
        with_number.push(("PhoneNumber", phone.as_str()));
        match ctx
            .call::<NumberMetricResponse>(&NUMBER_METRIC, &with_number)
            .await
        {
            Ok(r) => {
                for m in &r.data {
                    add_number_bucket(learned, m, Some(phone));
                }
                // Keep only what can fall in the window: a round of 10,000 numbers must not
                // hold every bucket of the lookback.
                if let Some(h) = learned.horizon() {
                    let from = h - millis(WINDOW);
                    for buckets in learned.numbers.values_mut() {
                        buckets.retain(|b| b.end > from);
                    }
                }
            }
            Err(e) => {
                if round.failed(phone, e) {
                    break;
                }
            }
        }
    }
    round.finish(Collected::default()).map(drop)
}

/// Adds one bucket of the number answer; `asked` is the number a per-number call was about
/// (an entry without its own `PhoneNumber` is that number's).
fn add_number_bucket(learned: &mut Learned, m: &NumberMetric, asked: Option<&Text>) {
    let phone = match (non_empty(&m.phone_number), asked) {
        (Some(p), _) => Text::from(label_value(p)),
        (None, Some(p)) => p.clone(),
        (None, None) => return,
    };
    let (Some(start), Some(end)) = (ms(&m.start), ms(&m.end)) else {
        return;
    };
    learned.numbers.entry(phone).or_default().push(Bucket {
        start,
        end,
        sent: count_of(&m.sent_count),
        delivered: count_of(&m.delivered_count),
        read: 0,
    });
}

/// The marketing templates' buckets, one call per template and language, paced.
async fn read_templates(
    ctx: &Ctx<'_>,
    span: &[String; 2],
    learned: &mut Learned,
) -> Result<(), CollectError> {
    let Some(marketing) = ctx.inputs.latest::<MarketingTemplates>() else {
        learned.templates_skipped = Some(
            "template usage not read: the templates collector is off or has not listed the templates yet",
        );
        return Ok(());
    };
    let mut round = ctx.round_over(
        &TEMPLATE_METRIC,
        marketing.templates.len(),
        ctx.interval / 2,
    );
    for (code, language) in &marketing.templates {
        round.wait(None).await;
        let mut params = window_params(span).to_vec();
        params.extend([
            ("TemplateCode", code.as_str()),
            ("Language", language.as_str()),
            ("TemplateType", "WHATSAPP"),
        ]);
        match ctx
            .call::<TemplateMetricResponse>(&TEMPLATE_METRIC, &params)
            .await
        {
            Ok(r) => {
                let entry = learned
                    .templates
                    .entry((code.clone(), language.clone()))
                    .or_default();
                // An entry about another template (or language) than the one asked is not
                // this one's.
                let other = |v: &Option<Text>, asked: &Text| {
                    non_empty(v).is_some_and(|v| label_value(v) != asked.as_str())
                };
                for m in &r.data {
                    if !other(&m.template_code, code) && !other(&m.language, language) {
                        add_template_bucket(entry, m);
                    }
                }
            }
            Err(e) => {
                if round.failed(code, e) {
                    break;
                }
            }
        }
    }
    round.finish(Collected::default()).map(drop)
}

fn add_template_bucket(entry: &mut TemplateBuckets, m: &TemplateMetric) {
    let (Some(start), Some(end)) = (ms(&m.start), ms(&m.end)) else {
        return;
    };
    entry.buckets.push(Bucket {
        start,
        end,
        sent: count_of(&m.sent_count),
        delivered: count_of(&m.delivered_count),
        read: count_of(&m.read_count),
    });
    for c in &m.cliented {
        if let Some(kind) = non_empty(&c.kind) {
            let text = non_empty(&c.button_content)
                .map(label_value)
                .unwrap_or_default();
            entry.clicks.push((
                label_value(kind).into(),
                text.into(),
                end,
                count_of(&c.count),
            ));
        }
    }
}

/// The sums of the window ending at the horizon: per number (sent, delivered) and per
/// template (sent, delivered, read, clicks by type, clicks by button text).
#[derive(Debug, Default, PartialEq)]
struct Window {
    horizon: i64,
    numbers: BTreeMap<Text, (u64, u64)>,
    templates: BTreeMap<(Text, Text), TemplateSums>,
}

#[derive(Debug, Default, PartialEq)]
struct TemplateSums {
    sent: u64,
    delivered: u64,
    read: u64,
    clicks_by_type: BTreeMap<Text, u64>,
    clicks_by_button: BTreeMap<Text, u64>,
}

/// Sums the buckets that lie in the 24 hours ending at the horizon. Pure.
fn window(learned: &Learned) -> Option<Window> {
    let horizon = learned.horizon()?;
    let from = horizon - millis(WINDOW);
    let inside = |b: &&Bucket| b.start >= from && b.end <= horizon;
    let mut w = Window {
        horizon,
        ..Default::default()
    };
    for (phone, buckets) in &learned.numbers {
        let (sent, delivered) = buckets
            .iter()
            .filter(inside)
            .fold((0, 0), |(s, d), b| (s + b.sent, d + b.delivered));
        w.numbers.insert(phone.clone(), (sent, delivered));
    }
    for (key, t) in &learned.templates {
        if t.buckets.is_empty() {
            continue;
        }
        let mut sums = TemplateSums::default();
        for b in t.buckets.iter().filter(inside) {
            sums.sent += b.sent;
            sums.delivered += b.delivered;
            sums.read += b.read;
        }
        for (kind, text, end, n) in &t.clicks {
            if *end > from && *end <= horizon {
                *sums.clicks_by_type.entry(kind.clone()).or_default() += n;
                *sums.clicks_by_button.entry(text.clone()).or_default() += n;
            }
        }
        w.templates.insert(key.clone(), sums);
    }
    Some(w)
}

/// The round's families, facts and words for people.
fn collected(ctx: &Ctx<'_>, learned: &Learned) -> Result<Collected, CollectError> {
    let limits = ctx.inputs.latest::<NumberList>();
    let limit = |phone: &str| {
        limits
            .as_ref()
            .and_then(|l| l.get(phone))
            .and_then(|n| n.messaging_limit)
    };
    let mut details: Vec<String> = learned
        .templates_skipped
        .iter()
        .map(|s| s.to_string())
        .collect();
    let Some(w) = window(learned) else {
        details.push(NOT_ENABLED.to_owned());
        return Ok(Collected {
            summary: NOT_ENABLED.to_owned(),
            details,
            ..Default::default()
        });
    };
    let mut writer = BlockWriter::new(ctx.previous.as_deref());
    let exposition = convert(ctx.account, &w, &ctx.note, &mut writer);
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "usage to {}: {}, {}",
        humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_millis(w.horizon.max(0) as u64)
        ),
        plural(w.numbers.len(), "number"),
        plural(w.templates.len(), "template"),
    );
    Ok(Collected {
        exposition,
        summary,
        details,
        facts: facts(&w, &limit),
        ..Default::default()
    })
}

/// The window, rendered. Pure.
fn convert(account: &str, w: &Window, note: &str, writer: &mut BlockWriter) -> AccountExposition {
    use render::Cell::Value;
    // Usage has no StateSets: the enum mode does not matter.
    let mut out = Renderer::new(writer, note, EnumMode::All);
    out.table(&NUMBERS, |rows| {
        for (phone, (sent, delivered)) in &w.numbers {
            rows.row(
                &[account, phone],
                &[Value(*sent as f64), Value(*delivered as f64)],
            );
        }
    });
    out.table(&TEMPLATES, |rows| {
        for ((code, language), t) in &w.templates {
            rows.row(
                &[account, code, language],
                &[
                    Value(t.sent as f64),
                    Value(t.delivered as f64),
                    Value(t.read as f64),
                ],
            );
        }
    });
    out.table(&CLICKS, |rows| {
        for ((code, language), t) in &w.templates {
            for (kind, n) in &t.clicks_by_type {
                rows.row(&[account, code, language, kind], &[Value(*n as f64)]);
            }
        }
    });
    out.table(&ACCOUNT, |rows| {
        rows.row(&[account], &[Value(w.horizon as f64 / 1000.0)]);
    });
    out.finish().0
}

/// Each number's sent (against its limit) and delivered share, with a verdict when it is
/// near its limit or delivers poorly; each template's funnel. Pure.
fn facts(w: &Window, limit: &dyn Fn(&str) -> Option<f64>) -> Facts {
    let numbers = w
        .numbers
        .iter()
        .map(|(phone, (sent, delivered))| {
            let (sent, delivered) = (*sent as f64, *delivered as f64);
            let limit = limit(phone).filter(|l| l.is_finite() && *l > 0.0);
            let near = limit.is_some_and(|l| sent / l > NEAR_LIMIT);
            let poor = sent >= LOW_DELIVERY_MIN_SENT && delivered / sent < LOW_DELIVERY;
            let verdict = match (near, poor) {
                (true, _) => Some("NEAR LIMIT"),
                (false, true) => Some("LOW DELIVERY"),
                _ => None,
            };
            NumberFacts {
                phone_number: CompactString::new(phone),
                verdict: verdict.map(|word| Verdict {
                    severity: Severity::Yellow,
                    word: word.into(),
                }),
                cells: vec![
                    Cell {
                        column: &SENT,
                        value: match limit {
                            Some(of) => Value::Of { value: sent, of },
                            None => Value::Number(sent),
                        },
                    },
                    Cell {
                        column: &DELIVERED,
                        value: Value::Of {
                            value: delivered,
                            of: sent,
                        },
                    },
                ],
                notes: Vec::new(),
            }
        })
        .collect();
    let rows = w
        .templates
        .iter()
        .map(|((code, language), t)| {
            let clicked: u64 = t.clicks_by_type.values().sum();
            let buttons: Vec<String> = t
                .clicks_by_button
                .iter()
                .map(|(text, n)| {
                    format!("{}: {n}", if text.is_empty() { "(no text)" } else { text })
                })
                .collect();
            let of = |value: u64, of: u64| {
                Some(Value::Of {
                    value: value as f64,
                    of: of as f64,
                })
            };
            Row {
                rank: 0,
                cells: vec![
                    Some(Value::text(code)),
                    Some(Value::text(language)),
                    Some(Value::Number(t.sent as f64)),
                    of(t.delivered, t.sent),
                    of(t.read, t.delivered),
                    of(clicked, t.read),
                    (!buttons.is_empty()).then(|| Value::text(buttons.join(", "))),
                ],
            }
        })
        .collect();
    Facts {
        numbers,
        tables: vec![TableRows {
            table: &TEMPLATE_USAGE,
            rows,
        }],
    }
}

fn now_ms() -> i64 {
    millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An epoch-milliseconds field.
fn ms(v: &Option<Text>) -> Option<i64> {
    non_empty(v)?.parse().ok()
}

/// A count field (`188` or `188.0`); anything that is not a finite non-negative number
/// counts 0.
fn count_of(v: &Option<Text>) -> u64 {
    non_empty(v)
        .and_then(|c| c.parse::<f64>().ok())
        .filter(|c| c.is_finite() && *c >= 0.0)
        .map_or(0, |c| c.round() as u64)
}

crate::api_response! {
    /// `GetChatappPhoneNumberMetric` response body.
    pub struct NumberMetricResponse {
        /// The buckets. Required: an `OK` answer without it must not read as "no usage".
        #[serde(deserialize_with = "lenient_list")]
        pub data: Vec<NumberMetric>,
    }
}

/// One bucket of one number.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NumberMetric {
    /// The number.
    #[serde(default, deserialize_with = "lenient_text")]
    pub phone_number: Option<Text>,
    /// Start of the bucket, epoch ms.
    #[serde(default, deserialize_with = "lenient_text")]
    pub start: Option<Text>,
    /// End of the bucket, epoch ms.
    #[serde(default, deserialize_with = "lenient_text")]
    pub end: Option<Text>,
    /// Messages sent.
    #[serde(default, deserialize_with = "lenient_text")]
    pub sent_count: Option<Text>,
    /// Messages delivered.
    #[serde(default, deserialize_with = "lenient_text")]
    pub delivered_count: Option<Text>,
}

crate::api_response! {
    /// `GetChatappTemplateMetric` response body.
    pub struct TemplateMetricResponse {
        /// The buckets. Required.
        #[serde(deserialize_with = "lenient_list")]
        pub data: Vec<TemplateMetric>,
    }
}

/// One bucket of one template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateMetric {
    /// The template the bucket is about.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_code: Option<Text>,
    /// Its language.
    #[serde(default, deserialize_with = "lenient_text")]
    pub language: Option<Text>,
    /// Start of the bucket, epoch ms.
    #[serde(default, deserialize_with = "lenient_text")]
    pub start: Option<Text>,
    /// End of the bucket, epoch ms.
    #[serde(default, deserialize_with = "lenient_text")]
    pub end: Option<Text>,
    /// Messages sent.
    #[serde(default, deserialize_with = "lenient_text")]
    pub sent_count: Option<Text>,
    /// Messages delivered.
    #[serde(default, deserialize_with = "lenient_text")]
    pub delivered_count: Option<Text>,
    /// Messages read.
    #[serde(default, deserialize_with = "lenient_text")]
    pub read_count: Option<Text>,
    /// Button clicks.
    #[serde(default, deserialize_with = "lenient_list")]
    pub cliented: Vec<ButtonClicks>,
}

/// Clicks on one button.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ButtonClicks {
    /// `url_button`, `quick_relpy_button` (sic), `phone_number_button`.
    #[serde(default, rename = "Type", deserialize_with = "lenient_text")]
    pub kind: Option<Text>,
    /// The button's text (free text: never a label).
    #[serde(default, deserialize_with = "lenient_text")]
    pub button_content: Option<Text>,
    /// Clicks.
    #[serde(default, deserialize_with = "lenient_text")]
    pub count: Option<Text>,
}

/// The demo's data ends this long before now, on a bucket boundary: the data lags.
const DEMO_LAG: Duration = Duration::from_secs(90 * 60);

/// The demo's messages per day and delivered share of a number: "Acme Support" runs at 90%
/// of its 10K tier; "Acme Sales" delivers poorly while its quality is RED; a PENDING number
/// sends nothing.
fn demo_daily(n: &DemoNumber) -> Option<(f64, f64)> {
    Some(match n.phone.as_str() {
        "6580000001" => (9000.0, 0.97),
        "6580000002" if n.quality == "RED" => (1500.0, 0.55),
        "6580000002" => (1500.0, 0.96),
        "6580000003" => (600.0, 0.85),
        "6580000004" => (120.0, 0.9),
        "6590000001" => (4000.0, 0.98),
        "6590000002" => (300.0, 0.97),
        _ if n.status == "PENDING" => return None,
        p => {
            let i: f64 = p.bytes().map(f64::from).sum();
            ((i % 7.0) * 100.0, 0.95)
        }
    })
}

/// The demo's buckets between the request's `Start` and `End`, up to the lag: half-hour
/// buckets of `daily / 48` each.
fn demo_buckets(request: &SimRequest) -> Result<Vec<(i64, i64)>, SimResponse> {
    let bound = |k| request.param(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (bound("Start"), bound("End")) else {
        return Err(SimResponse::invalid(
            "Start and End are epoch milliseconds.",
        ));
    };
    let step = millis(BUCKET);
    let last = (now_ms() - millis(DEMO_LAG)).min(end) / step * step;
    let first = (start + step - 1).div_euclid(step) * step;
    Ok((first..last)
        .step_by(step as usize)
        .map(|s| (s, s + step))
        .collect())
}

/// The demo's `GetChatappPhoneNumberMetric`: every number of the account, or the one asked.
fn demo_numbers(world: &DemoWorld, request: &SimRequest) -> Reply {
    let buckets = match demo_buckets(request) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let space = world.space(request);
    let numbers: Vec<DemoNumber> = match request.param("PhoneNumber") {
        Some(p) => world.number(space, p).into_iter().collect(),
        None => world.numbers(space),
    };
    let mut data = Vec::new();
    for n in &numbers {
        let Some((daily, share)) = demo_daily(n) else {
            continue;
        };
        let sent = (daily / 48.0).round() as u64;
        for (start, end) in &buckets {
            data.push(json!({
                "PhoneNumber": n.phone, "Granularity": "HALF_HOUR", "Start": start, "End": end,
                "SentCount": sent, "DeliveredCount": (sent as f64 * share).round() as u64,
            }));
        }
    }
    SimResponse::success(json!({"Data": data})).into()
}

/// The demo's `GetChatappTemplateMetric`: the marketing template `spring_sale` has a funnel;
/// the others have sent nothing.
fn demo_templates(_world: &DemoWorld, request: &SimRequest) -> Reply {
    let buckets = match demo_buckets(request) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let (code, language) = (
        request.param("TemplateCode").unwrap_or(""),
        request.param("Language").unwrap_or("en"),
    );
    let data: Vec<serde_json::Value> = if code == "spring_sale" {
        buckets
            .iter()
            .map(|(start, end)| {
                json!({
                    "TemplateCode": code, "Language": language, "Start": start, "End": end,
                    "SentCount": 42, "DeliveredCount": 40, "ReadCount": 25,
                    "Cliented": [
                        {"Type": "url_button", "ButtonContent": "Shop now", "Count": 6},
                        {"Type": "quick_relpy_button", "ButtonContent": "Stop promotions", "Count": 1},
                    ],
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    SimResponse::success(json!({"Data": data})).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start_h: i64, sent: u64, delivered: u64) -> Bucket {
        let h = 3_600_000;
        Bucket {
            start: start_h * h,
            end: start_h * h + h / 2,
            sent,
            delivered,
            read: 0,
        }
    }

    #[test]
    fn the_window_is_the_24_hours_before_the_newest_bucket() {
        let mut learned = Learned::default();
        // Buckets at hours 0..=30; the horizon is 30.5 h, the window from 6.5 h.
        learned
            .numbers
            .insert("1".into(), (0..=30).map(|h| bucket(h, 10, 9)).collect());
        learned
            .numbers
            .insert("2".into(), vec![bucket(3, 100, 100)]);
        let w = window(&learned).unwrap();
        assert_eq!(w.horizon, 30 * 3_600_000 + 1_800_000);
        // Hours 7..=30 start at or after 6.5 h: 24 buckets.
        assert_eq!(w.numbers[&Text::from("1")], (240, 216));
        assert_eq!(w.numbers[&Text::from("2")], (0, 0), "before the window");
        assert!(window(&Learned::default()).is_none());
    }

    #[test]
    fn lookback_must_cover_the_window() {
        let parse = |y: &str| {
            crate::collect::DynCollector::settings(&COLLECTOR, serde_yaml_ng::from_str(y).unwrap())
        };
        assert!(parse("lookback: 48h").is_ok());
        assert_eq!(parse("lookback: 12h").unwrap_err().key, "lookback");
        assert_eq!(parse("lookbak: 12h").unwrap_err().key, "lookbak");
    }

    #[test]
    fn near_the_limit_and_poor_delivery_say_so() {
        let mut w = Window::default();
        w.numbers.insert("near".into(), (900, 890));
        w.numbers.insert("poor".into(), (500, 100));
        w.numbers.insert("few".into(), (50, 1));
        let f = facts(&w, &|p| (p == "near").then_some(1000.0));
        let word = |i: usize| f.numbers[i].verdict.as_ref().map(|v| v.word.as_str());
        // BTreeMap order: few, near, poor.
        assert_eq!(
            [word(0), word(1), word(2)],
            [None, Some("NEAR LIMIT"), Some("LOW DELIVERY")]
        );
        assert_eq!(
            f.numbers[1].cells[0].value,
            Value::Of {
                value: 900.0,
                of: 1000.0
            }
        );
    }
}
