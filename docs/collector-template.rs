//! `GetExampleQuota` → `chatapp_example_quota_remaining` and `chatapp_example_quota_state`.
//!
//! A template to copy when adding a collector (CONTRIBUTING.md, "Adding a collector"):
//! `cp docs/collector-template.rs src/collect/<name>.rs`, rename, and fill in each part
//! from the official SDK's model of the operation (cams-api.md says where the sources
//! disagree). The parts, top to bottom: the operation, the settings block, the collector
//! as data, the families (and the table that says how their series are shaped), the
//! columns for people, the run, the pure conversion (rows of the table, rendered by the
//! shared renderer, `metrics::render`), the response DTO, the demo answer, the tests. It is compiled with the unit tests
//! (`collect::template`), so it cannot drift from the interfaces it shows.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::demo::{DemoWorld, Reply, SimRequest, SimResponse};
use super::{
    CollectError, Collected, Collector, CollectorSpec, Ctx, FamilyDef, Need, Operation, Role,
    Schedule, SettingsBlock, SettingsError, StateSetDef, Tenant, non_empty,
};
use crate::api::model::{Text, lenient_bool, lenient_string, lenient_text};
use crate::metrics::exposition::BlockWriter;
use crate::metrics::render::{self, Renderer, Series, Table};
use crate::metrics::{AccountExposition, EnumMode, UnknownValue};
use crate::view::{Cell, Column, Facts, NumberFacts, Value, ViewSpec};

/// The operation: its action (also the `operation` label and the RAM action), its default
/// rate per AccessKey (`None`: `--api.rate-limit`), its tenant parameters, the parameters
/// the gateway requires, and the simulator's answer.
pub const OPERATION: Operation = Operation {
    action: "GetExampleQuota",
    default_rate_limit: NonZeroU32::new(2),
    tenant: Tenant::SpaceAndIsvCode,
    required: &["PhoneNumber"],
    demo: demo_answer,
};

/// `collectors.example:` beyond `enabled` and `interval`; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleSettings {
    /// Below this share of the quota left, a number is YELLOW on the landing page.
    #[serde(default)]
    pub warn_below: Option<f64>,
}

impl SettingsBlock for ExampleSettings {
    fn check(&self) -> Result<(), SettingsError> {
        match self.warn_below {
            Some(v) if !(0.0..=1.0).contains(&v) => {
                Err(SettingsError::new("warn_below", "must be between 0 and 1"))
            }
            _ => Ok(()),
        }
    }
}

/// The collector as data: its name (the flag and the `collector` label), what it calls,
/// its families, when it runs, whether it is on, what it reads, what it shows.
pub static SPEC: CollectorSpec = CollectorSpec {
    name: "example",
    description: "each number's remaining example quota (GetExampleQuota)",
    operations: &[OPERATION],
    families: FAMILIES,
    schedule: Schedule::Own {
        interval: Duration::from_secs(30 * 60),
        demo_interval: Duration::from_secs(60),
    },
    role: Role::Objects,
    enabled_by_default: false,
    enabled_in_demo: true,
    needs: &[Need {
        collector: "phone_numbers",
        required: true,
        why: "the numbers to ask about",
    }],
    view: VIEW,
    tracked: &[],
};

/// `chatapp_example_quota_remaining`.
pub const REMAINING: FamilyDef = FamilyDef {
    name: "chatapp_example_quota_remaining",
    help: "Example quota left for the number (GetExampleQuota Data.Remaining).",
};

/// `chatapp_example_quota_state` (an open set: a new value becomes an extra state).
pub const STATE: StateSetDef = StateSetDef {
    family: FamilyDef {
        name: "chatapp_example_quota_state",
        help: "State of the number's example quota (GetExampleQuota Data.State); 1 for the current state, 0 for the others.",
    },
    field: "State",
    label: "state",
    known: &["OK", "LOW", "EXHAUSTED"],
};

/// The families of each number, as data: the labels every series starts with, and each
/// family's shape (a gauge, a StateSet, an `_info` family with its further labels).
const NUMBERS: Table<'static> = Table {
    labels: &["account", "phone_number"],
    series: &[Series::Gauge(&REMAINING), Series::States(&STATE)],
};

/// This file's families, in exposition order (from its tables).
pub const FAMILIES: &[&FamilyDef] = &render::families::<2>(&[NUMBERS]);

/// The quota left, as a column of the numbers table (the JSON key, the page's header, the
/// terminal's header).
pub static QUOTA: Column = Column::text("example_quota", "Example quota", Some("QUOTA"));

/// What the collector shows people.
pub const VIEW: ViewSpec = ViewSpec {
    columns: &[&QUOTA],
    notes: &[],
    tables: &[],
    term_columns: &[],
};

/// The `example` collector.
#[derive(Debug)]
pub struct Example;

/// The registered instance: `&example::COLLECTOR` in `collect::REGISTRY`.
pub const COLLECTOR: Example = Example;

impl Collector for Example {
    type State = ();
    type Settings = ExampleSettings;

    fn spec(&self) -> &'static CollectorSpec {
        &SPEC
    }

    async fn run<'a>(
        &'a self,
        _state: &'a mut (),
        _settings: &'a ExampleSettings,
        ctx: &'a Ctx<'a>,
    ) -> Result<Collected, CollectError> {
        // A per-number collector reads the list `phone_numbers` published (see `Need`) and
        // paces its calls with a round; here, one number for brevity.
        let mut round = ctx.round(&OPERATION, 1);
        round.wait(None).await;
        let mut answers = Vec::new();
        match ctx
            .call::<ExampleQuotaResponse>(&OPERATION, &[("PhoneNumber", "6580000001")])
            .await
        {
            Ok(r) => answers.push(("6580000001".to_owned(), r.data)),
            Err(e) => {
                round.failed("6580000001", e);
            }
        }
        round.finish(collected(ctx, &answers))
    }
}

/// The families and facts of the answers. Pure apart from the context's labels.
fn collected(ctx: &Ctx<'_>, answers: &[(String, Quota)]) -> Collected {
    // The current rendering's unchanged blocks are reused, not copied and compressed again.
    let mut writer = BlockWriter::new(ctx.previous.as_deref());
    let (exposition, unknown) =
        convert(ctx.account, answers, &ctx.note, ctx.enum_mode, &mut writer);
    Collected {
        exposition,
        unknown,
        summary: format!("{} numbers' quota", answers.len()),
        facts: facts(answers),
        ..Default::default()
    }
}

/// Renders the answers: one row of [`NUMBERS`] per number, a cell per family. Pure.
fn convert(
    account: &str,
    answers: &[(String, Quota)],
    note: &str,
    mode: EnumMode,
    writer: &mut BlockWriter,
) -> (AccountExposition, Vec<UnknownValue>) {
    let mut out = Renderer::new(writer, note, mode);
    out.table(&NUMBERS, |rows| {
        for (phone, q) in answers {
            let remaining = non_empty(&q.remaining).and_then(|v| v.parse::<f64>().ok());
            rows.row(
                &[account, phone],
                &[
                    render::Cell::value(remaining),
                    render::Cell::state(non_empty(&q.state)),
                ],
            );
        }
    });
    out.finish()
}

/// The quota left of each number, for the landing page and `--once`. Pure.
fn facts(answers: &[(String, Quota)]) -> Facts {
    Facts {
        numbers: answers
            .iter()
            .filter_map(|(phone, q)| {
                Some(NumberFacts {
                    phone_number: phone.into(),
                    cells: vec![Cell {
                        column: &QUOTA,
                        value: Value::text(non_empty(&q.remaining)?),
                    }],
                    ..Default::default()
                })
            })
            .collect(),
        tables: Vec::new(),
    }
}

crate::api_response! {
    /// `GetExampleQuota` response body.
    pub struct ExampleQuotaResponse {
        /// The quota. Required on success: an answer without it must not read as "none".
        pub data: Quota,
    }
}

/// A number's quota (fields read leniently: a number where text belongs is kept as text).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quota {
    /// What is left.
    #[serde(default, deserialize_with = "lenient_text")]
    pub remaining: Option<Text>,
    /// `OK`, `LOW`, `EXHAUSTED` (an open set).
    #[serde(default, deserialize_with = "lenient_text")]
    pub state: Option<Text>,
}

/// The demo's answer, from the demo world (so that it agrees with the other collectors').
fn demo_answer(world: &DemoWorld, request: &SimRequest) -> Reply {
    let space = world.space(request);
    let Some(number) = request
        .param("PhoneNumber")
        .and_then(|p| world.number(space, p))
    else {
        return SimResponse::invalid("The specified phone number does not exist.").into();
    };
    let state = if number.quality == "RED" { "LOW" } else { "OK" };
    SimResponse::success(json!({"Data": {"Remaining": 100, "State": state}})).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_convert_to_families_and_a_column() {
        let answers = vec![(
            "6511".to_owned(),
            Quota {
                remaining: Some("42".into()),
                state: Some("LOW".into()),
            },
        )];
        let mut writer = BlockWriter::new(None);
        let (exposition, unknown) = convert("a", &answers, "note", EnumMode::All, &mut writer);
        let text = String::from_utf8(exposition.to_text()).unwrap();
        assert!(
            text.contains(r#"chatapp_example_quota_remaining{account="a",phone_number="6511"} 42"#)
        );
        assert!(text.contains(
            r#"chatapp_example_quota_state{account="a",phone_number="6511",state="LOW"} 1"#
        ));
        assert!(unknown.is_empty());
        assert_eq!(facts(&answers).numbers[0].cells[0].value, Value::text("42"));
    }

    #[test]
    fn settings_are_checked_with_their_key() {
        let block: serde_yaml_ng::Mapping = serde_yaml_ng::from_str("warn_below: 2").unwrap();
        let e = crate::collect::DynCollector::settings(&COLLECTOR, block).unwrap_err();
        assert_eq!(e.key, "warn_below");
    }
}
