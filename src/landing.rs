//! The landing page `/`: the accounts, the collectors, and the fleet view (every number
//! worst first, the templates needing attention), rendered on the server from the same
//! snapshot as `/metrics`.
//!
//! No JavaScript and no external assets: the page works offline and under the strict
//! Content-Security-Policy the handler sends ([`content_security_policy`]: nothing but the
//! one inline stylesheet, by hash). Every value is HTML-escaped, since verified names,
//! template names and account names are chosen by whoever owns them. A fleet of 10,000
//! numbers shows the [`FLEET_ROWS`] worst and counts the rest; `?account=` narrows it.
//! The renderers are pure functions; [`FleetCache`] keeps the unfiltered fleet table
//! until the snapshot changes, so a page view costs a copy, not a render.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::fleet::{self, Fleet, NumberRow};
use crate::scheduler::{AccountStatus, Failure};

/// How many numbers the fleet table shows; the rest are counted. The worst come first, so
/// what is cut is the least urgent; `?account=` narrows the view to one account.
pub const FLEET_ROWS: usize = 500;

/// The page's only stylesheet. Colours mark the bad states, but every one also says its
/// state in words (the marker column), for colour-blind readers and for text browsers.
const STYLE: &str = "body{font-family:sans-serif;margin:1em 1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}\
tr.sev-blocked td,tr.sev-flagged td,tr.sev-red td{background:#fde2e1}\
tr.sev-limited td,tr.sev-yellow td{background:#fff4cc}\
.marker{font-weight:bold;white-space:nowrap}\
tr.sev-blocked .marker,tr.sev-flagged .marker,tr.sev-red .marker{color:#a40e0e}\
tr.sev-limited .marker,tr.sev-yellow .marker{color:#7a5300}\
tr.sev-ok .marker{color:#1d6b2c}\
td.num{text-align:right;white-space:nowrap}\
#fleet td{white-space:nowrap}\
#fleet tr.detail td{border-top:none;padding-top:0}\
#fleet td.why{white-space:normal;max-width:60em;color:#333}\
.failed{color:#a40e0e;font-weight:bold}\
.hint{color:#555}";

/// The `Content-Security-Policy` of the page: no scripts, no connections, no frames, and
/// no style but `STYLE` (allowed by its SHA-256, so an injected `<style>` is inert too).
/// Computed once: the style is a constant.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest);
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    });
    &CSP
}

/// The unfiltered fleet table of the last snapshot, rendered once per change.
#[derive(Debug, Default)]
pub struct FleetCache {
    last: Mutex<Option<CacheEntry>>,
}

#[derive(Debug)]
struct CacheEntry {
    fleet: Arc<Fleet>,
    refreshed: Vec<Option<SystemTime>>,
    html: Arc<str>,
}

impl FleetCache {
    /// The fleet section for `fleet`, `status` and `account`: from the cache when nothing
    /// it shows has changed since the last render (the store builds a new [`Fleet`] on
    /// every publish; the last-refresh column comes from `status`).
    pub fn section(
        &self,
        fleet: &Arc<Fleet>,
        status: &[(String, AccountStatus)],
        account: Option<&str>,
    ) -> Arc<str> {
        if account.is_some() {
            return fleet_section(fleet, status, account).into();
        }
        let refreshed: Vec<Option<SystemTime>> =
            status.iter().map(|(_, s)| s.last_success).collect();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = last.as_ref()
            && Arc::ptr_eq(&e.fleet, fleet)
            && e.refreshed == refreshed
        {
            return e.html.clone();
        }
        let html: Arc<str> = fleet_section(fleet, status, None).into();
        *last = Some(CacheEntry {
            fleet: fleet.clone(),
            refreshed,
            html: html.clone(),
        });
        html
    }
}

/// The whole page. `fleet_html` is [`fleet_section`]'s output (usually from the cache).
pub fn render(
    telemetry_path: &str,
    status: &[(String, AccountStatus)],
    fleet_html: &str,
) -> String {
    let mut accounts = String::new();
    let mut collectors = String::new();
    let mut details = String::new();
    for (name, s) in status {
        let _ = writeln!(
            accounts,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(&s.endpoint),
            escape(s.cust_space_id.as_deref().unwrap_or("")),
            fmt_time(s.last_attempt),
            fmt_time(s.last_success),
            result_html(&s.last_result),
            if s.serving_data { "yes" } else { "no" },
        );
        for (collector, c) in &s.collectors {
            let _ = writeln!(
                collectors,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                escape(collector),
                humantime::format_duration(c.interval),
                fmt_time(c.last_attempt),
                fmt_time(c.last_success),
                result_html(&c.last_result),
                escape(c.note.as_deref().unwrap_or("")),
            );
            for d in &c.details {
                let _ = writeln!(
                    details,
                    "<li>{} ({}): {}</li>",
                    escape(name),
                    escape(collector),
                    escape(d)
                );
            }
        }
    }
    if !details.is_empty() {
        details = format!("<h2>Needs attention</h2>\n<ul>\n{details}</ul>\n");
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ChatApp Exporter</title>
<style>{STYLE}</style>
</head>
<body>
<h1>ChatApp Exporter</h1>
<p>Prometheus exporter for Alibaba Cloud Chat App Message Service (WhatsApp sending numbers).
Version {version} (revision {revision}).</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></li>
</ul>
<h2>Accounts</h2>
<table id="accounts">
<tr><th>Account</th><th>Endpoint</th><th>CustSpaceId</th><th>Last attempt (UTC)</th><th>Last success (UTC)</th><th>Last result</th><th>Serving data</th></tr>
{accounts}</table>
{fleet_html}<h2>Collectors</h2>
<table id="collectors">
<tr><th>Account</th><th>Collector</th><th>Interval</th><th>Last run (UTC)</th><th>Last success (UTC)</th><th>Last result</th><th>Note</th></tr>
{collectors}</table>
{details}</body>
</html>
"#,
        path = escape(telemetry_path),
        version = crate::metrics::self_metrics::build::VERSION,
        revision = crate::metrics::self_metrics::build::REVISION,
    )
}

/// The numbers (worst first, at most [`FLEET_ROWS`]) and the templates needing attention,
/// of every account or of `account`.
pub fn fleet_section(
    fleet: &Fleet,
    status: &[(String, AccountStatus)],
    account: Option<&str>,
) -> String {
    let refreshed: BTreeMap<&str, Option<SystemTime>> = status
        .iter()
        .map(|(n, s)| (n.as_str(), s.last_success))
        .collect();
    let mut out = String::from("<h2 id=\"numbers\">Numbers</h2>\n");
    out.push_str("<form method=\"get\"><label>Account <select name=\"account\">");
    let _ = write!(
        out,
        "<option value=\"\"{}>all accounts</option>",
        if account.is_none() { " selected" } else { "" }
    );
    for (name, _) in status {
        let selected = if account == Some(name.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{0}\"{selected}>{0}</option>",
            escape(name)
        );
    }
    out.push_str("</select></label> <button type=\"submit\">Show</button></form>\n");
    if let Some(a) = account
        && !refreshed.contains_key(a)
    {
        let _ = writeln!(out, "<p>No account is named “{}”.</p>", escape(a));
        return out;
    }

    let numbers: Vec<&NumberRow> = fleet
        .numbers
        .iter()
        .filter(|r| account.is_none_or(|a| r.account == a))
        .collect();
    if numbers.is_empty() {
        out.push_str("<p>No numbers yet.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p id=\"fleet-summary\">{} numbers: {}.</p>",
            numbers.len(),
            fleet::describe(&fleet::counts(numbers.iter().copied()))
        );
        let with_send = numbers.iter().any(|r| r.facts.can_send.is_some());
        out.push_str(
            "<table id=\"fleet\">\n<thead><tr><th>State</th><th>Account</th><th>Phone number</th>\
             <th>Verified name</th><th>Status</th><th>Quality</th><th>Tier</th>\
             <th>Messaging limit (24 h)</th>",
        );
        if with_send {
            out.push_str("<th>Can send</th>");
        }
        out.push_str("<th>Last refresh (UTC)</th></tr></thead>\n<tbody>\n");
        // What Meta says goes on a row of its own under the number: the reasons are
        // sentences, and as a column they pushed the table past a laptop's width.
        let columns = 9 + usize::from(with_send);
        for r in numbers.iter().take(FLEET_ROWS) {
            let f = &r.facts;
            let _ = write!(
                out,
                "<tr class=\"sev-{sev}\" data-severity=\"{sev}\"><td class=\"marker\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td>",
                escape(&r.marker),
                escape(&r.account),
                escape(&f.phone_number),
                opt(&f.verified_name),
                opt(&f.status),
                opt(&f.quality),
                opt(&f.tier),
                f.messaging_limit.map_or_else(|| "–".into(), limit),
                sev = r.severity.word(),
            );
            if with_send {
                let _ = write!(out, "<td>{}</td>", opt(&f.can_send));
            }
            let _ = writeln!(
                out,
                "<td>{}</td></tr>",
                fmt_time(refreshed.get(r.account.as_str()).copied().flatten()),
            );
            if !f.problems.is_empty() {
                let problems: Vec<String> = f.problems.iter().map(|p| escape(p)).collect();
                let _ = writeln!(
                    out,
                    "<tr class=\"detail sev-{sev}\"><td></td><td class=\"why\" colspan=\"{}\">\
                     What Meta says: {}</td></tr>",
                    columns - 1,
                    problems.join("<br>"),
                    sev = r.severity.word(),
                );
            }
        }
        out.push_str("</tbody>\n</table>\n");
        if numbers.len() > FLEET_ROWS {
            let _ = writeln!(
                out,
                "<p id=\"fleet-more\">Showing the {FLEET_ROWS} worst; {} more not shown ({}). \
                 Choose an account to narrow the list; the metrics have every number.</p>",
                numbers.len() - FLEET_ROWS,
                fleet::describe(&fleet::counts(numbers[FLEET_ROWS..].iter().copied())),
            );
        }
    }

    let templates: Vec<_> = fleet
        .templates
        .iter()
        .filter(|t| account.is_none_or(|a| t.account == a))
        .collect();
    if !templates.is_empty() {
        out.push_str(
            "<h2 id=\"templates-heading\">Templates needing attention</h2>\n<table id=\"templates\">\n\
             <tr><th>Account</th><th>Template</th><th>Language</th><th>Name</th>\
             <th>Audit status</th><th>Quality</th><th>Reason</th></tr>\n",
        );
        for t in templates.iter().take(FLEET_ROWS) {
            let f = &t.facts;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.account),
                escape(&f.template_code),
                escape(&f.language),
                opt(&f.name),
                opt(&f.audit_status),
                opt(&f.quality),
                opt(&f.reason),
            );
        }
        out.push_str("</table>\n");
        if templates.len() > FLEET_ROWS {
            let _ = writeln!(
                out,
                "<p>{} more templates not shown.</p>",
                templates.len() - FLEET_ROWS
            );
        }
    }
    out
}

/// `pending`, `ok (summary)`, or the failure and what to check, escaped.
fn result_html(result: &Option<Result<String, Failure>>) -> String {
    match result {
        None => "pending".to_owned(),
        Some(Ok(s)) if s.is_empty() => "ok".to_owned(),
        Some(Ok(s)) => format!("ok ({})", escape(s)),
        Some(Err(f)) => format!(
            "<span class=\"failed\">error</span>: {}<br><span class=\"hint\">check: {}</span>",
            escape(&f.to_string()),
            escape(&f.hint)
        ),
    }
}

/// An optional value, escaped, or a dash.
fn opt<S: AsRef<str>>(v: &Option<S>) -> String {
    v.as_ref()
        .map_or_else(|| "–".into(), |v| escape(v.as_ref()))
}

/// Recipients per 24 hours, or `unlimited`.
fn limit(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "unlimited".into()
    }
}

fn fmt_time(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "never".into())
}

/// HTML escaping for text and attribute values (attributes are always double-quoted).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Facts, NumberFacts};

    fn account(name: &str) -> (String, AccountStatus) {
        (name.to_owned(), AccountStatus::default())
    }

    fn numbers(n: usize, f: impl Fn(usize, &mut NumberFacts)) -> Facts {
        Facts {
            numbers: (0..n)
                .map(|i| {
                    let mut facts = NumberFacts {
                        phone_number: format!("86{i:09}").into(),
                        status: Some("CONNECTED".into()),
                        quality: Some("GREEN".into()),
                        ..Default::default()
                    };
                    f(i, &mut facts);
                    facts
                })
                .collect(),
            templates: vec![],
        }
    }

    #[test]
    fn a_hostile_verified_name_is_text_not_markup() {
        let facts = numbers(1, |_, n| {
            n.verified_name =
                Some("<script>alert(1)</script>\"><img src=x onerror=alert(2)>".into());
            n.quality = Some("RED".into());
            n.problems = vec!["141010 <b>not verified</b>".into()];
        });
        let fleet = Fleet::build([("prod", &facts)]);
        let html = fleet_section(&fleet, &[account("prod")], None);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
        assert!(html.contains("<td class=\"marker\">RED</td>"), "{html}");
        // Meta's reason is on the row under the number, escaped too.
        assert!(
            html.contains("What Meta says: 141010 &lt;b&gt;not verified&lt;/b&gt;</td></tr>"),
            "{html}"
        );
    }

    #[test]
    fn ten_thousand_numbers_show_the_worst_and_count_the_rest() {
        let facts = numbers(10_000, |i, n| {
            if i % 1000 == 7 {
                n.status = Some("FLAGGED".into());
            } else if i % 2 == 0 {
                n.quality = Some("YELLOW".into());
            }
        });
        let fleet = Fleet::build([("big", &facts)]);
        let html = fleet_section(&fleet, &[account("big")], None);
        assert_eq!(html.matches("data-severity=").count(), FLEET_ROWS);
        // The ten FLAGGED numbers come first.
        let first_rows: Vec<&str> = html.split("data-severity=\"").skip(1).take(11).collect();
        assert!(first_rows[..10].iter().all(|r| r.starts_with("flagged")));
        assert!(first_rows[10].starts_with("yellow"));
        assert!(
            html.contains("9500 more not shown (4510 yellow, 4990 ok)"),
            "{}",
            &html[html.len() - 400..]
        );
        assert!(html.contains("10000 numbers: 10 flagged, 5000 yellow, 4990 ok."));
    }

    #[test]
    fn the_account_filter_narrows_and_says_when_nothing_matches() {
        let a = numbers(2, |_, _| {});
        let b = numbers(3, |_, n| n.quality = Some("RED".into()));
        let fleet = Fleet::build([("a", &a), ("b", &b)]);
        let status = [account("a"), account("b")];
        let only_a = fleet_section(&fleet, &status, Some("a"));
        assert_eq!(only_a.matches("<tr class=").count(), 2);
        assert!(!only_a.contains("<td>b</td>"));
        assert!(only_a.contains("<option value=\"a\" selected>a</option>"));
        let none = fleet_section(&fleet, &status, Some("<x>"));
        assert!(none.contains("No account is named “&lt;x&gt;”."), "{none}");
        assert!(!none.contains("<table"));
    }

    #[test]
    fn the_cache_renders_again_only_when_the_snapshot_changes() {
        let cache = FleetCache::default();
        let fleet = Arc::new(Fleet::build([("a", &numbers(1, |_, _| {}))]));
        let status = vec![account("a")];
        let first = cache.section(&fleet, &status, None);
        assert!(Arc::ptr_eq(&first, &cache.section(&fleet, &status, None)));
        let mut later = status.clone();
        later[0].1.last_success = Some(SystemTime::UNIX_EPOCH);
        let refreshed = cache.section(&fleet, &later, None);
        assert!(!Arc::ptr_eq(&first, &refreshed));
        assert!(refreshed.contains("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn the_policy_allows_exactly_the_page_style() {
        let csp = content_security_policy();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
        assert!(csp.starts_with("default-src 'none'"));
        let page = render("/metrics", &[], "");
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(!page.contains("<script"));
    }
}
