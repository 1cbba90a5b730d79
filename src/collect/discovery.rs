//! `ListInstance` → the ISV sub-customers of a parent account (cams-api.md §12).
//!
//! An account configured with `discover:` runs this collector and nothing else: it lists the
//! caller's CAMS instances page by page, keeps the ones the `include`/`exclude` patterns
//! select, and publishes them ([`Discovered`]). The supervisor turns each into an account of
//! its own (`<parent>/<CustSpaceId>`, the parent's credentials, endpoint, IsvCode and
//! collectors; `crate::discovery`), so a customer onboarded tomorrow is monitored without an
//! edit. A failed round publishes nothing, and the accounts of the last good round stay.
//!
//! The collector has no families of its own: what it found shows as the accounts' series,
//! `chatapp_account_info{parent,instance_name,instance_id}` and
//! `chatapp_discovered_accounts`, and as a table for people.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use super::demo::{DemoInstance, DemoWorld, Reply, SimRequest, SimResponse};
use super::published::{Discovered, FoundInstance};
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, Operation, Role, Schedule,
    SettingsBlock, SettingsError, Tenant, non_empty,
};
use crate::api::model::{Text, lenient_bool, lenient_list, lenient_string, lenient_text};
use crate::view::{Column, Facts, Row, TableDef, TableRows, Value, ViewSpec};

/// `ListInstance`: the caller's instances. It takes no `CustSpaceId` or `IsvCode` (it is
/// the parent's own view); the QPS is not documented, so it runs at `--api.rate-limit`.
pub const OPERATION: Operation = Operation {
    action: "ListInstance",
    default_rate_limit: None,
    tenant: Tenant::None,
    required: &["ChannelType"],
    demo: demo_answer,
};

/// Instances asked for per page. The API documents no maximum; 100 is the largest the
/// console and the SDK examples use.
pub const PAGE_SIZE: u32 = 100;
/// Pages read per round at most (10,000 instances): a server that never stops paging must
/// not keep the collector busy forever.
pub const MAX_PAGES: u32 = 100;
/// The channels `ChannelType` takes (the SDK's documentation).
pub const CHANNEL_TYPES: &[&str] = &["whatsapp", "messenger", "instagram", "viber"];
/// Longest `CustSpaceId` made into an account name; longer ones are not IDs.
pub const MAX_SPACE_ID_CHARS: usize = 64;

/// `discover:` of an account, beyond `interval`; unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// `ChannelType` of `ListInstance`.
    #[serde(default = "default_channel")]
    pub channel_type: String,
    /// Keep only instances whose `InstanceName` or `CustSpaceId` matches one of these
    /// (anchored at both ends, as in Prometheus relabelling); all when empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Then drop those whose `InstanceName` or `CustSpaceId` matches one of these.
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn default_channel() -> String {
    "whatsapp".into()
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            channel_type: default_channel(),
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl SettingsBlock for DiscoverySettings {
    fn check(&self) -> Result<(), SettingsError> {
        if !CHANNEL_TYPES.contains(&self.channel_type.as_str()) {
            return Err(SettingsError::new(
                "channel_type",
                format!("must be one of {}", CHANNEL_TYPES.join(", ")),
            ));
        }
        for (key, patterns) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, p) in patterns.iter().enumerate() {
                anchored(p).map_err(|e| {
                    SettingsError::new(
                        format!("{key}[{i}]"),
                        format!("not a valid regular expression: {e}"),
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// A pattern anchored at both ends (`^(?:p)$`), as Prometheus anchors relabelling regexes.
fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// The compiled `include`/`exclude` patterns of one round.
struct Filter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Filter {
    fn new(s: &DiscoverySettings) -> Result<Self, CollectError> {
        let compile = |ps: &[String]| -> Result<Vec<Regex>, CollectError> {
            ps.iter()
                .map(|p| {
                    anchored(p).map_err(|_| CollectError::Bug("discover: pattern checked at load"))
                })
                .collect()
        };
        Ok(Filter {
            include: compile(&s.include)?,
            exclude: compile(&s.exclude)?,
        })
    }

    /// Whether an instance is kept: one of its names matches an `include` pattern (or there
    /// are none), and neither matches an `exclude` pattern.
    fn keeps(&self, i: &FoundInstance) -> bool {
        let names = [i.instance_name.as_str(), i.cust_space_id.as_str()];
        let any = |rs: &[Regex]| rs.iter().any(|r| names.iter().any(|n| r.is_match(n)));
        (self.include.is_empty() || any(&self.include)) && !any(&self.exclude)
    }
}

/// The collector as data.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "discovery",
    description: "the ISV sub-customers of an account with discover: (ListInstance), each monitored as an account",
    operations: &[OPERATION],
    families: &[],
    schedule: Schedule::Own {
        interval: Duration::from_secs(10 * 60),
        demo_interval: Duration::from_secs(60),
    },
    role: Role::Discovery,
    enabled_by_default: false,
    enabled_in_demo: false,
    needs: &[],
    view: VIEW,
    tracked: &[],
};

/// `CustSpaceId`.
pub static SPACE: Column = Column::text("cust_space_id", "CustSpaceId", Some("CUST SPACE"));
/// `InstanceName`.
pub static NAME: Column = Column::text("instance_name", "Instance", Some("INSTANCE"));
/// `InstanceId`.
pub static ID: Column = Column::text("instance_id", "Instance ID", Some("ID"));
/// `State` (open text: the values are not documented).
pub static STATE: Column = Column::text("state", "State", Some("STATE"));

/// The customers a parent found, under the parent's name.
pub static CUSTOMERS: TableDef = TableDef {
    key: "discovered",
    title: "Discovered customers",
    columns: &[&SPACE, &NAME, &ID, &STATE],
    more: "more customers not shown",
};

/// What the collector shows people.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[],
    notes: &[],
    tables: &[&CUSTOMERS],
    term_columns: &[],
};

/// The `discovery` collector.
#[derive(Debug)]
pub struct Discovery;

/// The registered instance.
pub const COLLECTOR: Discovery = Discovery;

impl Collector for Discovery {
    type State = ();
    type Settings = DiscoverySettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        settings: &'a DiscoverySettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        let filter = Filter::new(settings)?;
        let listed = list_all(ctx, &settings.channel_type).await?;
        Ok(collected(listed, &filter))
    }
}

/// What one round listed: the usable instances, and what was left out and why.
#[derive(Debug, Default)]
struct Listed {
    instances: Vec<FoundInstance>,
    /// Entries without a usable `CustSpaceId`.
    unusable: usize,
    /// `TotalCount` was beyond [`MAX_PAGES`] pages.
    truncated: bool,
}

/// Reads every page: stops at `TotalCount`, at a short or empty page, or at [`MAX_PAGES`].
async fn list_all(ctx: &Ctx<'_>, channel: &str) -> Result<Listed, CollectError> {
    let mut listed = Listed::default();
    let size = PAGE_SIZE.to_string();
    for index in 1..=MAX_PAGES {
        let page = index.to_string();
        let params = [
            ("ChannelType", channel),
            ("PageIndex", page.as_str()),
            ("PageSize", size.as_str()),
        ];
        let response = ctx
            .call::<ListInstanceResponse>(&OPERATION, &params)
            .await?;
        let count = response.data.len();
        // A page holds at most what was asked for; a server that sends more is cut.
        for item in response.data.into_iter().take(PAGE_SIZE as usize) {
            match FoundInstance::from_item(&item) {
                Some(found) => listed.instances.push(found),
                None => listed.unusable += 1,
            }
        }
        let total = response.total_count.unwrap_or(0);
        let read = u64::from(index) * u64::from(PAGE_SIZE);
        if count < PAGE_SIZE as usize || read >= total {
            return Ok(listed);
        }
    }
    listed.truncated = true;
    Ok(listed)
}

impl FoundInstance {
    /// An instance of the list, if its `CustSpaceId` can name an account (present, at most
    /// [`MAX_SPACE_ID_CHARS`] characters of letters, digits, `-`, `_` and `.`: it goes into
    /// the `account` label and into every request of the account).
    fn from_item(item: &InstanceItem) -> Option<Self> {
        let space = non_empty(&item.cust_space_id)?;
        let usable = space.chars().count() <= MAX_SPACE_ID_CHARS
            && space
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        let text = |t: &Option<Text>| non_empty(t).map(super::label_value).unwrap_or_default();
        usable.then(|| FoundInstance {
            cust_space_id: space.to_owned(),
            instance_id: text(&item.instance_id),
            instance_name: text(&item.instance_name),
            state: text(&item.state),
        })
    }
}

/// The round's result: the kept instances, one per `CustSpaceId`, sorted. Pure.
fn collected(listed: Listed, filter: &Filter) -> Collected {
    let found = listed.instances.len();
    let mut kept: Vec<FoundInstance> = listed
        .instances
        .into_iter()
        .filter(|i| filter.keeps(i))
        .collect();
    kept.sort_by(|a, b| a.cust_space_id.cmp(&b.cust_space_id));
    // The same space listed twice (the list changed while paging) is one account.
    kept.dedup_by(|a, b| a.cust_space_id == b.cust_space_id);
    let mut summary = format!("{} customers", kept.len());
    if kept.len() != found {
        summary.push_str(&format!(
            " of {found} instances (discover: include/exclude)"
        ));
    }
    let mut details = Vec::new();
    if listed.unusable > 0 {
        details.push(format!(
            "{} instances without a usable CustSpaceId (empty, or not an ID) were skipped",
            listed.unusable
        ));
    }
    if listed.truncated {
        details.push(format!(
            "more than {MAX_PAGES} pages of instances: only the first {} were read",
            MAX_PAGES * PAGE_SIZE
        ));
    }
    let facts = facts(&kept);
    Collected {
        summary,
        details,
        facts,
        published: Some(Arc::new(Discovered { instances: kept })),
        ..Default::default()
    }
}

/// The customers as a table for people. Pure.
fn facts(kept: &[FoundInstance]) -> Facts {
    let cell = |s: &str| (!s.is_empty()).then(|| Value::text(s));
    Facts {
        numbers: Vec::new(),
        tables: vec![TableRows {
            table: &CUSTOMERS,
            rows: kept
                .iter()
                .map(|i| Row {
                    rank: 0,
                    cells: vec![
                        Some(Value::text(&i.cust_space_id)),
                        cell(&i.instance_name),
                        cell(&i.instance_id),
                        cell(&i.state),
                    ],
                })
                .collect(),
        }],
    }
}

crate::api_response! {
    /// `ListInstance` response body (cams-api.md §12).
    pub struct ListInstanceResponse {
        /// Instances in all pages.
        #[serde(default, deserialize_with = "lenient_count")]
        pub total_count: Option<u64>,
        /// This page. Required: an `OK` answer without it must not read as "no customers"
        /// (which would remove every discovered account).
        #[serde(deserialize_with = "lenient_list")]
        pub data: Vec<InstanceItem>,
    }
}

/// `TotalCount` as a number or as decimal text; anything else is unknown.
fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_text(d)?.and_then(|t| t.trim().parse().ok()))
}

/// One instance of a page (the fields the exporter reads; the model has more).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceItem {
    /// The sub-customer's space: what the other operations take as `CustSpaceId`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub cust_space_id: Option<Text>,
    /// `InstanceId`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub instance_id: Option<Text>,
    /// `InstanceName`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub instance_name: Option<Text>,
    /// `State` (undocumented values).
    #[serde(default, deserialize_with = "lenient_text")]
    pub state: Option<Text>,
}

/// The demo's `ListInstance`: the world's customers of the channel, a page at a time.
fn demo_answer(world: &DemoWorld, request: &SimRequest) -> Reply {
    let number = |name: &str| request.param(name).and_then(|v| v.parse::<usize>().ok());
    let (Some(index), Some(size)) = (number("PageIndex"), number("PageSize")) else {
        return SimResponse::invalid("PageIndex and PageSize must be positive integers.").into();
    };
    if index == 0 || !(1..=100).contains(&size) {
        return SimResponse::invalid("PageIndex must be at least 1 and PageSize 1 to 100.").into();
    }
    let all: Vec<DemoInstance> = if request.param("ChannelType") == Some("whatsapp") {
        world.instances()
    } else {
        Vec::new()
    };
    let data: Vec<serde_json::Value> = all
        .iter()
        .skip((index - 1) * size)
        .take(size)
        .map(|i| {
            json!({
                "CustSpaceId": i.cust_space_id, "InstanceId": i.instance_id,
                "InstanceName": i.name, "ChannelType": "whatsapp", "State": "NORMAL",
                "ResourceRegionId": "ap-southeast-1", "SubmitTime": "2026-11-01 10:00:00",
            })
        })
        .collect();
    SimResponse::success(json!({"TotalCount": all.len(), "Data": data})).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(space: &str, name: &str) -> FoundInstance {
        FoundInstance {
            cust_space_id: space.into(),
            instance_id: format!("cams-{space}"),
            instance_name: name.into(),
            state: "NORMAL".into(),
        }
    }

    fn settings(include: &[&str], exclude: &[&str]) -> DiscoverySettings {
        DiscoverySettings {
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn kept(filter: &DiscoverySettings, instances: Vec<FoundInstance>) -> Vec<String> {
        let c = collected(
            Listed {
                instances,
                ..Default::default()
            },
            &Filter::new(filter).unwrap(),
        );
        let d = c.published.unwrap().downcast::<Discovered>().unwrap();
        d.instances
            .iter()
            .map(|i| i.cust_space_id.clone())
            .collect()
    }

    #[test]
    fn filters_are_anchored_and_match_the_name_or_the_space() {
        let all = || {
            vec![
                found("3", "shop-acme"),
                found("1", "test-sandbox"),
                found("2", "my-shop-x"),
                found("4", "travel"),
            ]
        };
        assert_eq!(kept(&settings(&[], &[]), all()), ["1", "2", "3", "4"]);
        // `shop-.*` does not match `my-shop-x`: anchored at both ends.
        assert_eq!(kept(&settings(&["shop-.*"], &[]), all()), ["3"]);
        assert_eq!(kept(&settings(&["shop-.*", "4"], &[]), all()), ["3", "4"]);
        assert_eq!(kept(&settings(&[], &["test-.*"]), all()), ["2", "3", "4"]);
        assert_eq!(kept(&settings(&[".*shop.*"], &["my-.*"]), all()), ["3"]);
    }

    #[test]
    fn a_space_listed_twice_is_one_account() {
        let twice = vec![found("1", "a"), found("1", "a renamed"), found("2", "b")];
        assert_eq!(kept(&settings(&[], &[]), twice), ["1", "2"]);
    }

    #[test]
    fn only_usable_space_ids_become_accounts() {
        let item = |space: Option<&str>| InstanceItem {
            cust_space_id: space.map(Text::from),
            instance_name: Some("n\u{1b}[2J".into()),
            ..Default::default()
        };
        assert!(FoundInstance::from_item(&item(Some("2934000001"))).is_some());
        assert!(FoundInstance::from_item(&item(Some(" 2934000001 "))).is_some());
        for bad in [None, Some(""), Some("a/b"), Some("x\"y"), Some("sp ace")] {
            assert!(FoundInstance::from_item(&item(bad)).is_none(), "{bad:?}");
        }
        let long = "1".repeat(MAX_SPACE_ID_CHARS + 1);
        assert!(FoundInstance::from_item(&item(Some(&long))).is_none());
    }

    #[test]
    fn settings_name_the_bad_key() {
        let parse = |yaml: &str| {
            let block: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(yaml).unwrap();
            crate::collect::DynCollector::settings(&COLLECTOR, block)
        };
        assert!(parse("include: ['shop-.*']").is_ok());
        assert_eq!(
            parse("channel_type: telegram").unwrap_err().key,
            "channel_type"
        );
        assert_eq!(parse("exclude: ['ok', '(']").unwrap_err().key, "exclude[1]");
        assert_eq!(parse("includes: []").unwrap_err().key, "includes");
    }

    #[test]
    fn the_fixture_decodes() {
        let body = include_bytes!("../../tests/fixtures/api/list-instance.full.json");
        let r: ListInstanceResponse = serde_json::from_slice(body).unwrap();
        assert_eq!(r.total_count, Some(3));
        let spaces: Vec<_> = r
            .data
            .iter()
            .filter_map(FoundInstance::from_item)
            .map(|i| (i.cust_space_id, i.instance_name))
            .collect();
        assert_eq!(spaces[0], ("2934000001".into(), "shop-acme".into()));
        assert_eq!(spaces.len(), 3);
    }
}
