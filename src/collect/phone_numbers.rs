//! `QueryChatappPhoneNumbers` → the `chatapp_phone_number_*` families.
//!
//! Known states are the union of the Alibaba guide, the SDK model comments and Meta's names
//! (cams-api.md §5). The sources disagree, so every set is open: a value outside it becomes an
//! extra state and is reported as [`UnknownValue`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::hash::Hasher as _;
use std::sync::Arc;

use prometheus::proto::MetricFamily;

use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, Operation, Schedule,
    StateSetDef, Tenant, UnknownValue, encoded_labels, family, gauge, label_str, label_value,
    non_empty, push_state_set,
};
use crate::api::client::OP_PHONE_NUMBERS;
use crate::api::model::{PhoneNumber, PhoneNumbersResponse, Text};
use crate::fleet::{Facts, NumberFacts};
use crate::metrics::EnumMode;
use crate::metrics::exposition::{
    AccountExposition, BlockWriter, FamilyText, push_value, split_header,
};

/// `QueryChatappPhoneNumbers`: no parameters beyond the tenant's (no `Status` filter: we
/// want every number; cams-api.md §1).
pub const OPERATION: Operation = Operation {
    action: OP_PHONE_NUMBERS,
    default_rate_limit: None,
    tenant: Tenant::SpaceAndIsvCode,
    required: &[],
};

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "phone_numbers",
    description: "every number's status, quality rating and messaging limit (QueryChatappPhoneNumbers)",
    operations: &[OPERATION],
    families: FAMILIES,
    schedule: Schedule::Refresh,
    enabled_by_default: true,
    enabled_in_demo: true,
};

/// The `phone_numbers` collector.
#[derive(Debug)]
pub struct PhoneNumbers;

/// The registered instance.
pub const COLLECTOR: PhoneNumbers = PhoneNumbers;

/// What this collector publishes for the others: the numbers the API listed (deduplicated,
/// as exported), with their status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberList {
    /// Phone number (label form) and `Status`, sorted by number.
    pub numbers: Vec<(Text, Option<Text>)>,
}

impl NumberList {
    /// The exported numbers of `numbers`.
    pub fn of(numbers: &[PhoneNumber]) -> Self {
        NumberList {
            numbers: dedupe(numbers)
                .0
                .into_iter()
                .map(|(phone, n)| (Text::from(phone), non_empty(&n.status).map(Text::from)))
                .collect(),
        }
    }
}

/// The exported numbers in words, for the landing page and `--once`. Pure.
pub fn facts(numbers: &[PhoneNumber], tiers: &TierLimits) -> Facts {
    let text = |v: &Option<Text>| non_empty(v).map(label_value);
    Facts {
        numbers: dedupe(numbers)
            .0
            .into_iter()
            .map(|(phone, n)| NumberFacts {
                phone_number: phone.to_owned(),
                verified_name: text(&n.verified_name),
                status: text(&n.status),
                quality: text(&n.quality_rating),
                tier: text(&n.messaging_limit_tier),
                messaging_limit: non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t)),
                ..Default::default()
            })
            .collect(),
        templates: Vec::new(),
    }
}

impl Collector for PhoneNumbers {
    type State = ();

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let response: PhoneNumbersResponse = ctx.call(&OPERATION, &[]).await?;
        let numbers = &response.phone_numbers;
        // Render straight to text, reusing the blocks of the current rendering that come
        // out unchanged (see `metrics::exposition`): most of a large fleet's text is then
        // neither copied nor compressed again.
        let mut writer = BlockWriter::new(ctx.previous.as_deref());
        let (exposition, report) = render(
            ctx.account,
            numbers,
            ctx.tiers,
            ctx.note,
            ctx.enum_mode,
            &mut writer,
        )?;
        tracing::debug!(
            blocks_reused = writer.reused,
            blocks_compressed = writer.compressed,
            "rendered"
        );
        if report.duplicates > 0 || report.missing_number > 0 {
            tracing::warn!(
                duplicates = report.duplicates,
                without_phone_number = report.missing_number,
                "API returned entries that cannot be exported; kept the first of each number"
            );
        }
        Ok(Collected {
            exposition,
            summary: format!("{} numbers", report.numbers),
            unknown: report.unknown,
            details: Vec::new(),
            facts: facts(numbers, ctx.tiers),
            published: Some(Arc::new(NumberList::of(numbers))),
        })
    }
}

/// `chatapp_phone_number_info`.
pub const INFO: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_info",
    help: "WhatsApp sending number (QueryChatappPhoneNumbers PhoneNumber, VerifiedName, IsOfficial); always 1. Join on account and phone_number for the display name.",
};

/// `chatapp_phone_number_status`.
pub const STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_status",
        help: "Operational state of the number (QueryChatappPhoneNumbers Status); 1 for the current state, 0 for the others.",
    },
    field: "Status",
    label: "status",
    known: &[
        "CONNECTED",
        "PENDING",
        "FLAGGED",
        "RATE_LIMITED",
        "RESTRICTED",
        "OFFLINE",
        "PAUSED",
        "DISCONNECTED",
        "UNVERIFIED",
        "BANNED",
        "MIGRATED",
        "DELETED",
        "UNKNOWN",
    ],
};

/// `chatapp_phone_number_quality_rating`.
pub const QUALITY_RATING: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_quality_rating",
        help: "Message quality over the last 7 days (QueryChatappPhoneNumbers QualityRating); 1 for the current rating, 0 for the others. RED for long gets the number FLAGGED.",
    },
    field: "QualityRating",
    label: "rating",
    known: &["GREEN", "YELLOW", "RED", "UNKNOWN"],
};

/// `chatapp_phone_number_messaging_limit_tier`: the raw tier string, both vocabularies.
pub const MESSAGING_LIMIT_TIER: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_messaging_limit_tier",
        help: "Messaging limit tier as sent by the API (QueryChatappPhoneNumbers MessagingLimitTier); 1 for the current tier, 0 for the others.",
    },
    field: "MessagingLimitTier",
    label: "tier",
    known: &[
        "TIER_10",
        "TIER_50",
        "TIER_1000",
        "UNLIMITED",
        "TIER_250",
        "TIER_1K",
        "TIER_2K",
        "TIER_10K",
        "TIER_100K",
        "TIER_UNLIMITED",
        "TIER_NOT_SET",
    ],
};

/// `chatapp_phone_number_messaging_limit`.
pub const MESSAGING_LIMIT: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_messaging_limit",
    help: "Unique recipients per 24h allowed by the messaging limit tier (QueryChatappPhoneNumbers MessagingLimitTier mapped by the tier_limits table; +Inf when unlimited; absent for unmapped tiers).",
};

/// `chatapp_phone_number_code_verification_status`.
pub const CODE_VERIFICATION_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_code_verification_status",
        help: "Two-step verification state (QueryChatappPhoneNumbers CodeVerificationStatus); 1 for the current state, 0 for the others.",
    },
    field: "CodeVerificationStatus",
    label: "status",
    known: &[
        "VERIFIED",
        "NOT_VERIFIED",
        "REJECTED",
        "REVOKED",
        "MORE_INFORMATION_REQUESTED",
        "EXPIRED",
    ],
};

/// `chatapp_phone_number_name_status` (the guide's mixed-case values).
pub const NAME_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_name_status",
        help: "Review state of the display name (QueryChatappPhoneNumbers NameStatus); 1 for the current state, 0 for the others.",
    },
    field: "NameStatus",
    label: "status",
    known: &["Approval", "Pending_Review", "Rejected"],
};

/// `chatapp_phone_number_new_name_status`; no series while the field is empty.
pub const NEW_NAME_STATUS: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_phone_number_new_name_status",
        help: "Review state of a requested display-name change (QueryChatappPhoneNumbers NewNameStatus); 1 for the current state, 0 for the others; absent while no change is pending.",
    },
    field: "NewNameStatus",
    label: "status",
    known: &["Approval", "Pending_Review", "Rejected"],
};

/// `chatapp_phone_number_status_callback_configured`.
pub const STATUS_CALLBACK: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_status_callback_configured",
    help: "1 if a delivery-status callback URL is set (QueryChatappPhoneNumbers StatusCallbackUrl; the URL itself is never exported).",
};

/// `chatapp_phone_number_inbound_callback_configured`.
pub const INBOUND_CALLBACK: FamilyDef = FamilyDef {
    name: "chatapp_phone_number_inbound_callback_configured",
    help: "1 if an inbound-message callback URL is set (QueryChatappPhoneNumbers UpCallbackUrl; the URL itself is never exported).",
};

/// This file's families, in exposition order.
pub const FAMILIES: &[&FamilyDef] = &[
    &INFO,
    &STATUS.family,
    &QUALITY_RATING.family,
    &MESSAGING_LIMIT_TIER.family,
    &MESSAGING_LIMIT,
    &CODE_VERIFICATION_STATUS.family,
    &NAME_STATUS.family,
    &NEW_NAME_STATUS.family,
    &STATUS_CALLBACK,
    &INBOUND_CALLBACK,
];

/// Maps a raw tier string to unique recipients per 24 hours.
///
/// Defaults follow the Alibaba product page for its vocabulary (TIER_10 = 1K, TIER_50 = 10K,
/// TIER_1000 = 100K, UNLIMITED) and Meta's names for the other. The SDK says TIER_50 means
/// 50, the guide 10,000: the table is overridable (`tier_limits:` in the config file), and the
/// raw string is always exported beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLimits(BTreeMap<String, f64>);

impl Default for TierLimits {
    fn default() -> Self {
        let table = [
            ("TIER_10", 1_000.0),
            ("TIER_50", 10_000.0),
            ("TIER_1000", 100_000.0),
            ("UNLIMITED", f64::INFINITY),
            ("TIER_250", 250.0),
            ("TIER_1K", 1_000.0),
            ("TIER_2K", 2_000.0),
            ("TIER_10K", 10_000.0),
            ("TIER_100K", 100_000.0),
            ("TIER_UNLIMITED", f64::INFINITY),
        ];
        TierLimits(table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl TierLimits {
    /// The defaults with `overrides` applied on top.
    pub fn with_overrides(overrides: &BTreeMap<String, f64>) -> Self {
        let mut t = TierLimits::default();
        t.0.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        t
    }

    /// The limit for `tier`, if mapped.
    pub fn get(&self, tier: &str) -> Option<f64> {
        self.0.get(tier).copied()
    }
}

/// What a conversion noticed besides the families, for logging.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Distinct numbers exported.
    pub numbers: usize,
    /// Entries dropped because their `PhoneNumber` repeated an earlier entry.
    pub duplicates: usize,
    /// Entries dropped because they had no `PhoneNumber`.
    pub missing_number: usize,
    /// Values outside the known states.
    pub unknown: Vec<UnknownValue>,
}

/// The numbers to export, by phone number (as a label value): entries without a number are
/// dropped and a repeated number keeps its first entry, since two series with the same labels
/// would make the whole exposition invalid. Both renderers use this, so they agree.
fn dedupe(numbers: &[PhoneNumber]) -> (BTreeMap<&str, &PhoneNumber>, Report) {
    let mut report = Report::default();
    let mut by_number: BTreeMap<&str, &PhoneNumber> = BTreeMap::new();
    for n in numbers {
        match non_empty(&n.phone_number) {
            None => report.missing_number += 1,
            Some(p) => match by_number.entry(label_str(p)) {
                Entry::Vacant(e) => {
                    e.insert(n);
                }
                Entry::Occupied(_) => report.duplicates += 1,
            },
        }
    }
    report.numbers = by_number.len();
    (by_number, report)
}

/// Converts one account's numbers into families (sorted by phone number; families without
/// series are left out). Duplicate entries keep the first occurrence: two series with the
/// same labels would make the whole exposition invalid.
pub fn convert(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
) -> (Vec<MetricFamily>, Report) {
    let (by_number, mut report) = dedupe(numbers);

    let [
        mut info,
        mut status,
        mut quality,
        mut tier,
        mut limit,
        mut code,
        mut name,
        mut new_name,
        mut status_cb,
        mut inbound_cb,
    ] = [
        &INFO,
        &STATUS.family,
        &QUALITY_RATING.family,
        &MESSAGING_LIMIT_TIER.family,
        &MESSAGING_LIMIT,
        &CODE_VERIFICATION_STATUS.family,
        &NAME_STATUS.family,
        &NEW_NAME_STATUS.family,
        &STATUS_CALLBACK,
        &INBOUND_CALLBACK,
    ]
    .map(|d| family(d, refresh_note));
    for (phone, n) in &by_number {
        let base = [("account", account), ("phone_number", *phone)];
        let verified_name = n
            .verified_name
            .as_deref()
            .map(label_value)
            .unwrap_or_default();
        let is_official = n
            .is_official
            .as_deref()
            .map(label_value)
            .unwrap_or_default();
        info.mut_metric().push(gauge(
            &[
                base[0],
                base[1],
                ("verified_name", &verified_name),
                ("is_official", &is_official),
            ],
            1.0,
        ));
        let mut state_set = |fam: &mut MetricFamily, def: &StateSetDef, v: &Option<Text>| {
            report.unknown.extend(push_state_set(
                fam.mut_metric(),
                def,
                &base,
                non_empty(v),
                mode,
            ));
        };
        state_set(&mut status, &STATUS, &n.status);
        state_set(&mut quality, &QUALITY_RATING, &n.quality_rating);
        state_set(&mut tier, &MESSAGING_LIMIT_TIER, &n.messaging_limit_tier);
        state_set(
            &mut code,
            &CODE_VERIFICATION_STATUS,
            &n.code_verification_status,
        );
        state_set(&mut name, &NAME_STATUS, &n.name_status);
        state_set(&mut new_name, &NEW_NAME_STATUS, &n.new_name_status);
        if let Some(l) = non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t)) {
            limit.mut_metric().push(gauge(&base, l));
        }
        let configured = |set: bool| if set { 1.0 } else { 0.0 };
        status_cb
            .mut_metric()
            .push(gauge(&base, configured(n.status_callback_url)));
        inbound_cb
            .mut_metric()
            .push(gauge(&base, configured(n.up_callback_url)));
    }
    let mut fams = vec![
        info, status, quality, tier, limit, code, name, new_name, status_cb, inbound_cb,
    ];
    fams.retain(|f| !f.get_metric().is_empty());
    (fams, report)
}

/// Average numbers per block of the fast renderer: a block ends after a number whose phone
/// number hashes to 0 modulo this. Boundaries so depend only on the number itself, not on its
/// position: a number added or removed changes one block per family, and every other block
/// is found unchanged and reused by the [`BlockWriter`].
const BLOCK_SPREAD: u64 = 64;
/// Most numbers in one block (bounds a block's size when hashes happen not to cooperate).
const BLOCK_MAX: usize = 256;

/// A number's field, for the StateSet table below.
type Field = fn(&PhoneNumber) -> &Option<Text>;

/// The StateSets of a number in family order, with the field each reads.
const STATE_SETS: [(&StateSetDef, Field); 6] = [
    (&STATUS, |n| &n.status),
    (&QUALITY_RATING, |n| &n.quality_rating),
    (&MESSAGING_LIMIT_TIER, |n| &n.messaging_limit_tier),
    (&CODE_VERIFICATION_STATUS, |n| &n.code_verification_status),
    (&NAME_STATUS, |n| &n.name_status),
    (&NEW_NAME_STATUS, |n| &n.new_name_status),
];

/// The current state of one StateSet of one number.
#[derive(Default)]
enum State {
    /// No value: no series.
    #[default]
    Absent,
    /// Index into the known states.
    Known(usize),
    /// A value never seen before: its `label="…"` pair as the encoder wrote it.
    Unknown(String),
}

/// What one number contributes, prepared once and written into each family's block.
struct Row {
    /// The whole `chatapp_phone_number_info` sample line, written by the encoder.
    info: String,
    /// `{account="…",phone_number="…"` as the encoder wrote it.
    prefix: String,
    states: [State; 6],
    limit: Option<f64>,
    status_callback: bool,
    inbound_callback: bool,
}

/// Writes the families of [`convert`] straight to text, byte for byte what
/// `AccountExposition::render(&convert(..).0)` produces, without building a
/// `prometheus::proto::Metric` with owned label strings for each of the ~40 series of
/// each number.
///
/// Every label value still goes through the library's encoder: each number's identifying
/// labels (and its `_info` line) are encoded once, in one small family, and the escaped
/// `{account="…",phone_number="…"` prefix is reused for all of the number's series; each
/// StateSet's known states are encoded once per call, and an unknown state once where it
/// occurs. Numbers are written in blocks (see [`BLOCK_SPREAD`]); `writer` reuses the
/// blocks of the previous rendering that came out identical.
pub fn render(
    account: &str,
    numbers: &[PhoneNumber],
    tiers: &TierLimits,
    refresh_note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> Result<(AccountExposition, Report), prometheus::Error> {
    let (by_number, mut report) = dedupe(numbers);

    // `,label="STATE"} ` for every known state of every StateSet, encoded once.
    let mut known: Vec<Vec<Vec<u8>>> = Vec::with_capacity(STATE_SETS.len());
    for (def, _) in STATE_SETS {
        let mut states = Vec::with_capacity(def.known.len());
        for state in def.known {
            states.push(format!(",{}}} ", encoded_labels(&[(def.label, state)])?).into_bytes());
        }
        known.push(states);
    }

    let defs: [&FamilyDef; 10] = [
        &INFO,
        &STATUS.family,
        &QUALITY_RATING.family,
        &MESSAGING_LIMIT_TIER.family,
        &MESSAGING_LIMIT,
        &CODE_VERIFICATION_STATUS.family,
        &NAME_STATUS.family,
        &NEW_NAME_STATUS.family,
        &STATUS_CALLBACK,
        &INBOUND_CALLBACK,
    ];
    let mut blocks: [Vec<_>; 10] = Default::default();
    let mut series = [0usize; 10];
    let mut rows: Vec<Row> = Vec::with_capacity(BLOCK_MAX);
    let mut text: Vec<u8> = Vec::new();
    let mut flush = |rows: &mut Vec<Row>, writer: &mut BlockWriter| {
        for (f, def) in defs.iter().enumerate() {
            text.clear();
            for row in rows.iter() {
                series[f] += write_family(&mut text, f, def.name, row, &known, mode);
            }
            if !text.is_empty() {
                blocks[f].push(writer.block(&text));
            }
        }
        rows.clear();
    };

    let total = by_number.len();
    for (i, (phone, n)) in by_number.into_iter().enumerate() {
        let mut row = number_row(account, phone, n, tiers)?;
        for (slot, (def, field)) in row.states.iter_mut().zip(STATE_SETS) {
            *slot = match non_empty(field(n)).map(label_str) {
                None => State::Absent,
                Some(v) => match def.known.iter().position(|k| *k == v) {
                    Some(i) => State::Known(i),
                    None => {
                        report.unknown.push(UnknownValue {
                            field: def.field,
                            value: v.to_owned(),
                        });
                        State::Unknown(encoded_labels(&[(def.label, v)])?)
                    }
                },
            };
        }
        rows.push(row);
        let mut h = fnv::FnvHasher::default();
        h.write(phone.as_bytes());
        if h.finish() % BLOCK_SPREAD == 0 || rows.len() >= BLOCK_MAX || i + 1 == total {
            flush(&mut rows, writer);
        }
    }

    let mut out = AccountExposition::default();
    for ((def, blocks), series) in defs.iter().zip(blocks).zip(series) {
        if series == 0 {
            continue;
        }
        // The header as the encoder writes it (HELP escaped), from a one-sample family.
        let mut f = family(def, refresh_note);
        f.mut_metric().push(gauge(&[], 0.0));
        let encoded = prometheus::TextEncoder::new().encode_to_string(&[f])?;
        let header = writer.block(split_header(&encoded).0.as_bytes());
        out.push(FamilyText::new(def.name, header, blocks, series));
    }
    Ok((out, report))
}

/// Encodes a number's `_info` line and its identifying labels in one family.
fn number_row(
    account: &str,
    phone: &str,
    n: &PhoneNumber,
    tiers: &TierLimits,
) -> Result<Row, prometheus::Error> {
    let verified_name = n.verified_name.as_deref().map(label_str).unwrap_or("");
    let is_official = n.is_official.as_deref().map(label_str).unwrap_or("");
    let base = [("account", account), ("phone_number", phone)];
    let mut f = MetricFamily::default();
    f.set_name(INFO.name.to_owned());
    f.set_field_type(prometheus::proto::MetricType::GAUGE);
    f.mut_metric().push(gauge(
        &[
            base[0],
            base[1],
            ("verified_name", verified_name),
            ("is_official", is_official),
        ],
        1.0,
    ));
    f.mut_metric().push(gauge(&base, 0.0));
    let text = prometheus::TextEncoder::new().encode_to_string(&[f])?;
    let (_, samples) = split_header(&text);
    let unexpected = || prometheus::Error::Msg(format!("unexpected encoder output {samples:?}"));
    let (info, base_line) = samples.split_once("} 1\n").ok_or_else(unexpected)?;
    let prefix = base_line
        .strip_prefix(INFO.name)
        .and_then(|s| s.strip_suffix("} 0\n"))
        .ok_or_else(unexpected)?;
    Ok(Row {
        info: format!("{info}}} 1\n"),
        prefix: prefix.to_owned(),
        states: Default::default(),
        limit: non_empty(&n.messaging_limit_tier).and_then(|t| tiers.get(t)),
        status_callback: n.status_callback_url,
        inbound_callback: n.up_callback_url,
    })
}

/// Appends the lines of family `f` (index into the family order) for one number; returns
/// how many.
fn write_family(
    out: &mut Vec<u8>,
    f: usize,
    name: &str,
    row: &Row,
    known: &[Vec<Vec<u8>>],
    mode: EnumMode,
) -> usize {
    let sample = |out: &mut Vec<u8>, rest: &[u8], value: f64| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(row.prefix.as_bytes());
        out.extend_from_slice(rest);
        push_value(out, value);
        out.push(b'\n');
    };
    let state_set = |out: &mut Vec<u8>, s: usize| -> usize {
        let states = &known[s];
        match &row.states[s] {
            State::Absent => 0,
            State::Known(current) => {
                let mut written = 0;
                for (i, pair) in states.iter().enumerate() {
                    if i != *current && mode == EnumMode::Current {
                        continue;
                    }
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(row.prefix.as_bytes());
                    out.extend_from_slice(pair);
                    out.extend_from_slice(if i == *current { b"1\n" } else { b"0\n" });
                    written += 1;
                }
                written
            }
            State::Unknown(pair) => {
                let mut written = 1;
                if mode == EnumMode::All {
                    for pair in states {
                        out.extend_from_slice(name.as_bytes());
                        out.extend_from_slice(row.prefix.as_bytes());
                        out.extend_from_slice(pair);
                        out.extend_from_slice(b"0\n");
                    }
                    written += states.len();
                }
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(row.prefix.as_bytes());
                out.push(b',');
                out.extend_from_slice(pair.as_bytes());
                out.extend_from_slice(b"} 1\n");
                written
            }
        }
    };
    match f {
        0 => {
            out.extend_from_slice(row.info.as_bytes());
            1
        }
        1 => state_set(out, 0),
        2 => state_set(out, 1),
        3 => state_set(out, 2),
        4 => match row.limit {
            Some(l) => {
                sample(out, b"} ", l);
                1
            }
            None => 0,
        },
        5 => state_set(out, 3),
        6 => state_set(out, 4),
        7 => state_set(out, 5),
        8 => {
            sample(out, b"} ", f64::from(u8::from(row.status_callback)));
            1
        }
        _ => {
            sample(out, b"} ", f64::from(u8::from(row.inbound_callback)));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(phone: Option<&str>, f: impl FnOnce(&mut PhoneNumber)) -> PhoneNumber {
        let mut p = PhoneNumber {
            phone_number: phone.map(Text::from),
            verified_name: Some("Name".into()),
            status: Some("CONNECTED".into()),
            quality_rating: Some("GREEN".into()),
            messaging_limit_tier: Some("TIER_1K".into()),
            code_verification_status: Some("VERIFIED".into()),
            name_status: Some("Approval".into()),
            new_name_status: None,
            status_callback_url: true,
            up_callback_url: false,
            is_official: Some("N".into()),
        };
        f(&mut p);
        p
    }

    /// A fleet with every awkward input the conversion handles, plus enough plain numbers
    /// to span several blocks.
    fn fleet() -> Vec<PhoneNumber> {
        let mut v = vec![
            n(Some("1"), |p| {
                p.verified_name = Some("Quote \"q\" back\\slash\nnew line 🎉 } 1\n".into())
            }),
            n(Some("1"), |p| p.verified_name = Some("duplicate".into())),
            n(None, |_| {}),
            n(Some("   "), |_| {}),
            n(Some("  2  "), |p| {
                p.status = Some("SUSPENDED \"x\"\\".into());
                p.quality_rating = Some("PURPLE".into());
                p.messaging_limit_tier = Some("TIER_42".into());
                p.name_status = Some("AVAILABLE_WITHOUT_REVIEW".into());
                p.new_name_status = Some("Pending_Review".into());
                p.up_callback_url = true;
            }),
            n(Some("3"), |p| {
                p.verified_name = Some("x".repeat(300).into());
                p.status = None;
                p.quality_rating = Some("  ".into());
                p.messaging_limit_tier = Some("UNLIMITED".into());
                p.is_official = None;
            }),
            n(Some("4"), |p| p.messaging_limit_tier = Some("NEG".into())),
            n(Some("5"), |p| p.messaging_limit_tier = Some("BIG".into())),
            n(Some("6"), |p| p.messaging_limit_tier = Some("NAN".into())),
            n(Some("7"), |p| {
                p.messaging_limit_tier = Some("NEGZERO".into())
            }),
        ];
        for i in 0..1500 {
            v.push(n(
                Some(&format!("65{:09}", i * 7919 % 1_000_000_000)),
                |p| {
                    p.quality_rating = Some(["GREEN", "YELLOW", "RED"][i % 3].into());
                    p.status_callback_url = i % 2 == 0;
                },
            ));
        }
        v
    }

    const NOTE: &str = "note \\ with\nnewline";

    fn tiers() -> TierLimits {
        TierLimits::with_overrides(&BTreeMap::from([
            ("NEG".to_owned(), f64::NEG_INFINITY),
            ("BIG".to_owned(), 1e21),
            ("NAN".to_owned(), f64::NAN),
            ("NEGZERO".to_owned(), -0.0),
        ]))
    }

    /// Equality with the first differing line on failure, not megabytes of bytes.
    fn same_text(got: &[u8], want: &[u8]) {
        let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
        if let Some((g, w)) = got.lines().zip(want.lines()).find(|(g, w)| g != w) {
            panic!("first difference:\n got: {g:?}\nwant: {w:?}");
        }
        assert_eq!(got.lines().count(), want.lines().count());
        assert!(got == want);
    }

    fn old_path(account: &str, numbers: &[PhoneNumber]) -> (Vec<u8>, Report) {
        let (families, report) = convert(account, numbers, &tiers(), NOTE, EnumMode::All);
        let text = AccountExposition::render(&families).unwrap().to_text();
        (text, report)
    }

    #[test]
    fn fast_render_is_byte_for_byte_the_encoder_path() {
        let numbers = fleet();
        for account in ["shop-a", "we\"ird\\acc\nount"] {
            let (want, want_report) = old_path(account, &numbers);
            let mut writer = BlockWriter::new(None);
            let (got, report) = render(
                account,
                &numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut writer,
            )
            .unwrap();
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
            assert_eq!(
                got.series(),
                want.iter().filter(|b| **b == b'\n').count() - 20,
                "10 families, 2 header lines each"
            );
            assert!(writer.compressed > 30, "several blocks per family");
        }
        let empty = render(
            "a",
            &[],
            &tiers(),
            "n",
            EnumMode::All,
            &mut BlockWriter::new(None),
        )
        .unwrap();
        assert!(empty.0.to_text().is_empty());
    }

    #[test]
    fn current_mode_keeps_only_the_current_states_byte_for_byte() {
        let numbers = fleet();
        let (families, _) = convert("a", &numbers, &tiers(), NOTE, EnumMode::Current);
        let want = AccountExposition::render(&families).unwrap().to_text();
        let (got, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::Current,
            &mut BlockWriter::new(None),
        )
        .unwrap();
        same_text(&got.to_text(), &want);
        let text = String::from_utf8(want).unwrap();
        let status = |line: &&str| line.starts_with("chatapp_phone_number_status{");
        let statuses: Vec<&str> = text.lines().filter(status).collect();
        // One series per number with a status (number 3 has none), each the current one.
        assert_eq!(statuses.len(), 1500 + 6, "{}", statuses.len());
        assert!(statuses.iter().all(|l| l.ends_with("} 1")));
        assert!(text.contains(r#"status="SUSPENDED \"x\"\\"} 1"#));
        let (all, _) = old_path("a", &numbers);
        assert!(all.len() > 3 * text.len() / 2, "all mode is much larger");
    }

    #[test]
    fn a_changed_number_recompresses_only_its_blocks() {
        let mut numbers = fleet();
        let (first, _) = render(
            "a",
            &numbers,
            &tiers(),
            NOTE,
            EnumMode::All,
            &mut BlockWriter::new(None),
        )
        .unwrap();
        let mut writer = BlockWriter::new(Some(&first));
        let (same, _) = render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer).unwrap();
        assert_eq!(same.to_text(), first.to_text());
        assert_eq!(writer.compressed, 0);

        numbers[700].quality_rating = Some("RED".into());
        numbers.push(n(Some("65999999999"), |_| {}));
        let mut writer = BlockWriter::new(Some(&same));
        let (changed, _) =
            render("a", &numbers, &tiers(), NOTE, EnumMode::All, &mut writer).unwrap();
        same_text(&changed.to_text(), &old_path("a", &numbers).0);
        assert!(
            writer.compressed <= 2 * 10 && writer.reused > 10 * writer.compressed,
            "{writer:?}"
        );
    }

    #[test]
    fn fast_render_matches_on_the_api_fixtures() {
        for name in ["full", "seed"] {
            let path = format!(
                "{}/tests/fixtures/api/query-chatapp-phone-numbers.{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let body = std::fs::read(&path).unwrap();
            let r: crate::api::model::PhoneNumbersResponse = serde_json::from_slice(&body).unwrap();
            let (want, want_report) = old_path("shop", &r.phone_numbers);
            let (got, report) = render(
                "shop",
                &r.phone_numbers,
                &tiers(),
                NOTE,
                EnumMode::All,
                &mut BlockWriter::new(None),
            )
            .unwrap();
            same_text(&got.to_text(), &want);
            assert_eq!(report, want_report);
        }
    }
}
