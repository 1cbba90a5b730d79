//! The landing page `/`: the accounts, the fleet view (every number worst first, the
//! collectors' tables, from [`crate::view`]) and the collectors, rendered on the server from
//! the same snapshot as `/metrics`.
//!
//! No JavaScript and no external assets: the page works offline and under the strict
//! Content-Security-Policy the handler sends ([`content_security_policy`]: nothing but the
//! one inline stylesheet, by hash). The page is a maud template, which escapes every value:
//! verified names, template names and account names are chosen by whoever owns them. A
//! fleet of 10,000 numbers shows the [`FLEET_ROWS`] worst and counts the rest; `?account=`
//! narrows it. [`FleetCache`] keeps the unfiltered fleet section until the snapshot changes,
//! so a page view costs a copy, not a render.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest as _, Sha256};

use crate::scheduler::{AccountStatus, CollectorStatus, Failure};
pub use crate::view::html::Filter;
use crate::view::html::{AccountRefresh, fleet_section, time};
use crate::view::{Fleet, Layout};

pub use crate::view::html::FLEET_ROWS;

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

/// Every registered collector's columns and tables.
fn layout() -> &'static Layout {
    static LAYOUT: LazyLock<Layout> = LazyLock::new(crate::history::layout);
    &LAYOUT
}

/// The unfiltered fleet section of the last snapshot, rendered once per change.
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
    /// The fleet section for `fleet`, `status` and `filter`: from the cache when nothing
    /// it shows has changed since the last render (the store builds a new [`Fleet`] on
    /// every publish; the last-refresh column comes from `status`). Only the unfiltered
    /// section is cached.
    pub fn section(
        &self,
        fleet: &Arc<Fleet>,
        status: &[(String, AccountStatus)],
        filter: Filter<'_>,
    ) -> Arc<str> {
        let accounts: Vec<AccountRefresh> = status
            .iter()
            .map(|(n, s)| (n.as_str(), s.last_success))
            .collect();
        let render = || -> Arc<str> {
            fleet_section(fleet, layout(), &accounts, filter)
                .into_string()
                .into()
        };
        if filter.account.is_some() || filter.number.is_some() {
            return render();
        }
        let refreshed: Vec<Option<SystemTime>> = accounts.iter().map(|(_, t)| *t).collect();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = last.as_ref()
            && Arc::ptr_eq(&e.fleet, fleet)
            && e.refreshed == refreshed
        {
            return e.html.clone();
        }
        let html = render();
        *last = Some(CacheEntry {
            fleet: fleet.clone(),
            refreshed,
            html: html.clone(),
        });
        html
    }
}

/// Rows of the accounts table at most, and of the collectors table: at 1,000 accounts the
/// page stays readable; the failing ones come first, the rest are counted, and
/// `?account=` shows any one.
pub const STATUS_ROWS: usize = 50;
/// Lines of "Needs attention" at most.
pub const DETAIL_LINES: usize = 100;

/// The whole page. `fleet_html` is the fleet section (usually from [`FleetCache`]);
/// `notes` are lines about the whole process; `account` is the `?account=` filter.
pub fn render(
    telemetry_path: &str,
    status: &[(String, AccountStatus)],
    notes: &[String],
    account: Option<&str>,
    fleet_html: &str,
) -> String {
    let status: Vec<(&str, &AccountStatus)> = status
        .iter()
        .filter(|(name, _)| account.is_none_or(|a| a == name))
        .map(|(name, s)| (name.as_str(), s))
        .collect();
    let details: Vec<(&str, &str, &str)> = status
        .iter()
        .flat_map(|(name, s)| {
            s.collectors.iter().flat_map(move |(collector, c)| {
                c.details
                    .iter()
                    .map(move |d| (*name, *collector, d.as_str()))
            })
        })
        .collect();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "ChatApp Exporter" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "ChatApp Exporter" }
                p {
                    "Prometheus exporter for Alibaba Cloud Chat App Message Service (WhatsApp sending numbers). "
                    "Version " (crate::metrics::self_metrics::build::VERSION)
                    " (revision " (crate::metrics::self_metrics::build::REVISION) ")."
                }
                ul {
                    li { a href=(telemetry_path) { "Metrics" } }
                    li { a href="/-/healthy" { "Health" } " · " a href="/-/ready" { "Readiness" } }
                }
                @for note in notes {
                    p class="note" { (note) }
                }
                (accounts(&status))
                (PreEscaped(fleet_html))
                (collectors(&status))
                @if !details.is_empty() {
                    h2 { "Needs attention" }
                    ul {
                        @for (account, collector, d) in details.iter().take(DETAIL_LINES) {
                            li { (account) " (" (collector) "): " (d) }
                        }
                        @if details.len() > DETAIL_LINES {
                            li { (details.len() - DETAIL_LINES) " more lines not shown (" code { "?account=" } " shows one account's)" }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// Whether an account needs a look: its last result failed, or it serves no data.
fn failing(s: &AccountStatus) -> bool {
    matches!(s.last_result, Some(Err(_))) || (s.last_result.is_some() && !s.serving_data)
}

/// The first [`STATUS_ROWS`] of `rows`, the failing ones first (stable otherwise), and how
/// many are left out.
fn bounded<T>(mut rows: Vec<T>, failing: impl Fn(&T) -> bool) -> (Vec<T>, usize) {
    rows.sort_by_key(|r| !failing(r));
    let more = rows.len().saturating_sub(STATUS_ROWS);
    rows.truncate(STATUS_ROWS);
    (rows, more)
}

/// The accounts table: where each account's data comes from and its last refresh.
fn accounts(status: &[(&str, &AccountStatus)]) -> Markup {
    let (rows, more) = bounded(status.to_vec(), |(_, s)| failing(s));
    html! {
        h2 { "Accounts" }
        table id="accounts" {
            tr {
                th { "Account" } th { "Endpoint" } th { "CustSpaceId" }
                th { "Last attempt (UTC)" } th { "Last success (UTC)" } th { "Last result" }
                th { "Serving data" }
            }
            @for (name, s) in &rows {
                tr {
                    td { (name) }
                    td { (s.endpoint) }
                    td { (s.cust_space_id.as_deref().unwrap_or("")) }
                    td { (time(s.last_attempt)) }
                    td { (time(s.last_success)) }
                    td { (result(&s.last_result)) }
                    td { @if s.serving_data { "yes" } @else { "no" } }
                }
            }
        }
        @if more > 0 {
            p id="accounts-more" {
                (more) " more accounts not shown, none failing; " code { "?account=NAME" }
                " shows any one, " code { "/metrics" } " has them all."
            }
        }
    }
}

/// The collectors table: each collector of each account, its interval and last run.
fn collectors(status: &[(&str, &AccountStatus)]) -> Markup {
    let all: Vec<(&str, &str, &CollectorStatus)> = status
        .iter()
        .flat_map(|(name, s)| s.collectors.iter().map(move |(c, cs)| (*name, *c, cs)))
        .collect();
    let (rows, more) = bounded(all, |(_, _, c)| matches!(c.last_result, Some(Err(_))));
    html! {
        h2 { "Collectors" }
        table id="collectors" {
            tr {
                th { "Account" } th { "Collector" } th { "Interval" } th { "Last run (UTC)" }
                th { "Last success (UTC)" } th { "Last result" } th { "Note" }
            }
            @for (name, collector, c) in &rows {
                tr {
                    td { (name) }
                    td { (collector) }
                    td { (humantime::format_duration(c.interval)) }
                    td { (time(c.last_attempt)) }
                    td { (time(c.last_success)) }
                    td { (result(&c.last_result)) }
                    td { (c.note.as_deref().unwrap_or("")) }
                }
            }
        }
        @if more > 0 {
            p id="collectors-more" {
                (more) " more collector runs not shown, none failing; " code { "?account=NAME" }
                " shows one account's."
            }
        }
    }
}

/// `pending`, `ok (summary)`, or the failure and what to check.
fn result(result: &Option<Result<String, Failure>>) -> Markup {
    html! {
        @match result {
            None => { "pending" }
            Some(Ok(s)) if s.is_empty() => { "ok" }
            Some(Ok(s)) => { "ok (" (s) ")" }
            Some(Err(f)) => {
                span class="failed" { "error" } ": " (f.to_string())
                br;
                span class="hint" { "check: " (f.hint) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::phone_numbers::{VERIFIED_NAME, verdict};
    use crate::view::{Cell, Facts, Note, NoteKind, NumberFacts, Value};

    static META_SAYS: NoteKind = NoteKind {
        key: "problems",
        lead: "What Meta says",
        in_fleet: true,
    };

    fn account(name: &str) -> (String, AccountStatus) {
        (name.to_owned(), AccountStatus::default())
    }

    fn section(fleet: &Fleet, status: &[(String, AccountStatus)], account: Option<&str>) -> String {
        let filter = Filter {
            account,
            number: None,
        };
        FleetCache::default()
            .section(&Arc::new(fleet.clone()), status, filter)
            .to_string()
    }

    /// `n` CONNECTED numbers; `quality(i)` gives number `i`'s quality rating.
    fn numbers(n: usize, quality: impl Fn(usize) -> (&'static str, &'static str)) -> Facts {
        Facts {
            numbers: (0..n)
                .map(|i| {
                    let (status, quality) = quality(i);
                    NumberFacts {
                        phone_number: format!("86{i:09}").into(),
                        verdict: Some(verdict(Some(status), Some(quality))),
                        ..Default::default()
                    }
                })
                .collect(),
            tables: vec![],
        }
    }

    #[test]
    fn a_hostile_verified_name_is_text_not_markup() {
        let mut facts = numbers(1, |_| ("CONNECTED", "RED"));
        let n = &mut facts.numbers[0];
        n.cells.push(Cell {
            column: &VERIFIED_NAME,
            value: Value::text("<script>alert(1)</script>\"><img src=x onerror=alert(2)>"),
        });
        n.notes.push(Note {
            kind: &META_SAYS,
            text: "141010 <b>not verified</b>".into(),
        });
        let fleet = Fleet::build([("prod", &facts)]);
        let html = section(&fleet, &[account("prod")], None);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
        assert!(html.contains("<td class=\"marker\">RED</td>"), "{html}");
        // Meta's reason is on the row under the number, escaped too.
        assert!(
            html.contains("What Meta says: 141010 &lt;b&gt;not verified&lt;/b&gt;</td></tr>"),
            "{html}"
        );
        let page = render("/metrics\"><x", &[account("a\"<b>")], &[], None, &html);
        assert!(page.contains("href=\"/metrics&quot;&gt;&lt;x\""), "{page}");
        assert!(page.contains("<td>a&quot;&lt;b&gt;</td>"), "{page}");
    }

    #[test]
    fn ten_thousand_numbers_show_the_worst_and_count_the_rest() {
        let facts = numbers(10_000, |i| {
            if i % 1000 == 7 {
                ("FLAGGED", "GREEN")
            } else if i % 2 == 0 {
                ("CONNECTED", "YELLOW")
            } else {
                ("CONNECTED", "GREEN")
            }
        });
        let fleet = Fleet::build([("big", &facts)]);
        let html = section(&fleet, &[account("big")], None);
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
        let a = numbers(2, |_| ("CONNECTED", "GREEN"));
        let b = numbers(3, |_| ("CONNECTED", "RED"));
        let fleet = Fleet::build([("a", &a), ("b", &b)]);
        let status = [account("a"), account("b")];
        let only_a = section(&fleet, &status, Some("a"));
        assert_eq!(only_a.matches("<tr class=").count(), 2);
        assert!(!only_a.contains("<td>b</td>"));
        assert!(only_a.contains("<option value=\"a\" selected>a</option>"));
        let none = section(&fleet, &status, Some("<x>"));
        assert!(none.contains("No account is named “&lt;x&gt;”."), "{none}");
        assert!(!none.contains("<table"));
    }

    #[test]
    fn the_cache_renders_again_only_when_the_snapshot_changes() {
        let cache = FleetCache::default();
        let fleet = Arc::new(Fleet::build([(
            "a",
            &numbers(1, |_| ("CONNECTED", "GREEN")),
        )]));
        let status = vec![account("a")];
        let all = Filter::default();
        let first = cache.section(&fleet, &status, all);
        assert!(Arc::ptr_eq(&first, &cache.section(&fleet, &status, all)));
        let mut later = status.clone();
        later[0].1.last_success = Some(SystemTime::UNIX_EPOCH);
        let refreshed = cache.section(&fleet, &later, all);
        assert!(!Arc::ptr_eq(&first, &refreshed));
        assert!(refreshed.contains("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn a_thousand_accounts_show_the_failing_first_and_count_the_rest() {
        let mut status: Vec<(String, AccountStatus)> = (0..1000)
            .map(|i| {
                let mut s = AccountStatus {
                    last_result: Some(Ok("2 numbers".into())),
                    serving_data: true,
                    ..Default::default()
                };
                s.collectors = vec![("phone_numbers", CollectorStatus::default())];
                (format!("isv/{i:04}"), s)
            })
            .collect();
        let broken = Failure {
            code: "Throttling.User".into(),
            message: "Request was denied due to user flow control.".into(),
            http_status: Some(400),
            request_id: None,
            hint: "the rate limit".into(),
        };
        status[777].1.last_result = Some(Err(broken.clone()));
        status[777].1.collectors[0].1.last_result = Some(Err(broken));
        let note = "1000 accounts under LTAI…ab cannot all refresh every 1m at 5/s".to_owned();
        let page = render("/metrics", &status, std::slice::from_ref(&note), None, "");
        assert!(page.contains(&note));
        let table = &page
            [page.find("id=\"accounts\"").unwrap()..page.find("id=\"accounts-more\"").unwrap()];
        assert_eq!(
            table.matches("<tr>").count(),
            STATUS_ROWS + 1,
            "header and the bounded rows"
        );
        let first_row = &table[table.find("</tr>").unwrap()..];
        assert!(
            first_row[..200].contains("isv/0777"),
            "the failing account first: {first_row}"
        );
        assert!(page.contains(&format!("{} more accounts not shown", 1000 - STATUS_ROWS)));
        assert!(page.contains(&format!(
            "{} more collector runs not shown",
            1000 - STATUS_ROWS
        )));
        assert!(page.len() < 100_000, "{} bytes", page.len());
        // `?account=` shows any one, here one the bounded table leaves out.
        let one = render("/metrics", &status, &[], Some("isv/0999"), "");
        assert!(
            one.contains("isv/0999") && !one.contains("isv/0777") && !one.contains("more accounts")
        );
    }

    #[test]
    fn the_policy_allows_exactly_the_page_style() {
        let csp = content_security_policy();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
        assert!(csp.starts_with("default-src 'none'"));
        let page = render("/metrics", &[], &[], None, "");
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(!page.contains("<script"));
    }
}
