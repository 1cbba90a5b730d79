//! Meta-test: every metric family the exporter can expose is documented in README.md's
//! metrics table, and the table documents nothing that does not exist.

use std::collections::BTreeSet;
use std::time::Duration;

use chatapp_exporter::collect;
use chatapp_exporter::metrics::SelfMetrics;

fn documented() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("chatapp_"))
        .map(str::to_owned)
        .collect()
}

fn exposed() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = collect::all_families().map(|f| f.name.to_owned()).collect();
    let metrics = SelfMetrics::new(Duration::from_secs(60)).unwrap();
    let mut text = Vec::new();
    metrics.encode(&mut text);
    for line in String::from_utf8(text).unwrap().lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            if name.starts_with("chatapp_") {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_metric_is_documented_in_the_readme() {
    let documented = documented();
    let mut exposed = exposed();
    // Families of labelled self metrics appear only once a label set exists; the ones below
    // are created per account or per error, so add them by name.
    for name in [
        "chatapp_up",
        "chatapp_last_refresh_success_timestamp_seconds",
        "chatapp_refresh_duration_seconds",
        "chatapp_refresh_backoff_seconds",
        "chatapp_refresh_effective_interval_seconds",
        "chatapp_api_requests_total",
        "chatapp_api_request_errors_total",
        "chatapp_unknown_enum_values_total",
        "chatapp_account_info",
        "chatapp_discovered_accounts",
        "chatapp_collector_success",
        "chatapp_collector_last_success_timestamp_seconds",
        "chatapp_collector_duration_seconds",
        "chatapp_collector_round_seconds",
        "chatapp_collector_interval_seconds",
        "chatapp_collector_panics_total",
    ] {
        exposed.insert(name.to_owned());
    }
    let missing: Vec<_> = exposed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "not documented in README.md: {missing:?}"
    );
    assert!(stale.is_empty(), "documented but not exposed: {stale:?}");
}
