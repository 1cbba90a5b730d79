//! The fleet on the landing page: the numbers table (worst first, at most [`FLEET_ROWS`])
//! and each collector's table, rendered with maud, which escapes every value (verified
//! names and the texts in collectors' tables are chosen by whoever owns them).

use std::collections::BTreeMap;
use std::time::SystemTime;

use maud::{Markup, html};

use super::{Column, Fleet, Layout, NumberRow, Surface, TableDef, Value, counts, describe};

/// How many numbers (and rows of each table) are shown; the rest are counted. The worst
/// come first, so what is cut is the least urgent; `?account=` narrows the view.
pub const FLEET_ROWS: usize = 500;

/// An account as the fleet view needs it: its name and its last successful refresh.
pub type AccountRefresh<'a> = (&'a str, Option<SystemTime>);

/// Which part of the fleet a page shows: `?account=` and `?number=`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// One account.
    pub account: Option<&'a str>,
    /// One number (of any account, or of `account`): with every note, those kept out of
    /// the fleet table too (its recent changes).
    pub number: Option<&'a str>,
}

impl Filter<'_> {
    fn keeps(&self, row: &NumberRow) -> bool {
        self.account.is_none_or(|a| row.account == a)
            && self.number.is_none_or(|n| row.phone_number == n)
    }
}

/// The numbers and the collectors' tables, of every account or those `filter` keeps.
/// `accounts` are every account (for the filter) with its last successful refresh.
pub fn fleet_section(
    fleet: &Fleet,
    layout: &Layout,
    accounts: &[AccountRefresh<'_>],
    filter: Filter<'_>,
) -> Markup {
    let account = filter.account;
    let refreshed: BTreeMap<&str, Option<SystemTime>> = accounts.iter().copied().collect();
    let unknown = account.filter(|a| !refreshed.contains_key(a));
    html! {
        h2 id="numbers" { "Numbers" }
        form method="get" {
            label {
                "Account "
                select name="account" {
                    option value="" selected[account.is_none()] { "all accounts" }
                    @for (name, _) in accounts {
                        option value=(name) selected[account == Some(*name)] { (name) }
                    }
                }
            }
            " "
            button type="submit" { "Show" }
        }
        @if let Some(a) = unknown {
            p { "No account is named “" (a) "”." }
        } @else {
            (numbers(fleet, layout, &refreshed, filter))
            @for table in &layout.tables {
                (collector_table(fleet, table, account))
            }
        }
    }
}

/// The numbers table with its summary line.
fn numbers(
    fleet: &Fleet,
    layout: &Layout,
    refreshed: &BTreeMap<&str, Option<SystemTime>>,
    filter: Filter<'_>,
) -> Markup {
    let rows: Vec<&NumberRow> = fleet.numbers.iter().filter(|r| filter.keeps(r)).collect();
    if rows.is_empty() {
        return html! { p { "No numbers yet." } };
    }
    // A column shows when a collector filled it for one of the numbers (a collector that
    // is off fills none).
    let columns: Vec<&Column> = layout
        .columns
        .iter()
        .copied()
        .filter(|c| c.page && rows.iter().any(|r| r.value(c).is_some()))
        .collect();
    // One number shows every note; the fleet only those meant for it.
    let shown = |n: &&crate::view::Note| filter.number.is_some() || n.kind.in_fleet;
    // What Meta says goes on a row of its own under the number: the reasons are
    // sentences, and as a column they pushed the table past a laptop's width.
    let span = columns.len() + 3;
    html! {
        p id="fleet-summary" {
            (rows.len()) " numbers: " (describe(&counts(rows.iter().copied()))) "."
        }
        table id="fleet" {
            thead {
                tr {
                    th { "State" } th { "Account" } th { "Phone number" }
                    @for c in &columns { th { (c.title) } }
                    th { "Last refresh (UTC)" }
                }
            }
            tbody {
                @for r in rows.iter().take(FLEET_ROWS) {
                    tr class={ "sev-" (r.severity.word()) } data-severity=(r.severity.word()) {
                        td class="marker" { (r.marker) }
                        td { (r.account) }
                        td { a href=(number_link(r)) { (r.phone_number) } }
                        @for c in &columns { (cell(c, r.value(c))) }
                        td { (time(refreshed.get(r.account.as_str()).copied().flatten())) }
                    }
                    @if r.notes.iter().any(|n| shown(&n)) {
                        tr class={ "detail sev-" (r.severity.word()) } {
                            td {}
                            td class="why" colspan=(span) {
                                @for (i, n) in r.notes.iter().filter(shown).enumerate() {
                                    @if i > 0 { br; }
                                    (n.kind.lead) ": " (n.text)
                                }
                            }
                        }
                    }
                }
            }
        }
        @if rows.len() > FLEET_ROWS {
            p id="fleet-more" {
                "Showing the " (FLEET_ROWS) " worst; " (rows.len() - FLEET_ROWS)
                " more not shown (" (describe(&counts(rows[FLEET_ROWS..].iter().copied())))
                "). Choose an account to narrow the list; the metrics have every number."
            }
        }
    }
}

/// The page of one number: `?account=<account>&number=<number>`, both percent-encoded.
fn number_link(r: &NumberRow) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    format!(
        "?account={}&number={}",
        utf8_percent_encode(&r.account, NON_ALPHANUMERIC),
        utf8_percent_encode(&r.phone_number, NON_ALPHANUMERIC)
    )
}

/// One collector's table, when it has rows for the accounts shown.
fn collector_table(fleet: &Fleet, table: &TableDef, account: Option<&str>) -> Markup {
    let rows: Vec<_> = fleet
        .rows(table)
        .iter()
        .filter(|t| account.is_none_or(|a| t.account == a))
        .collect();
    if rows.is_empty() {
        return html! {};
    }
    html! {
        h2 id={ (table.key) "-heading" } { (table.title) }
        table id=(table.key) {
            tr {
                th { "Account" }
                @for c in table.columns { th { (c.title) } }
            }
            @for t in rows.iter().take(FLEET_ROWS) {
                tr {
                    td { (t.account) }
                    @for (c, v) in table.columns.iter().zip(&t.row.cells) { (cell(c, v.as_ref())) }
                }
            }
        }
        @if rows.len() > FLEET_ROWS {
            p { (rows.len() - FLEET_ROWS) " " (table.more) "." }
        }
    }
}

/// A cell: the column's rendering of the value, or a dash.
fn cell(column: &Column, value: Option<&Value>) -> Markup {
    let text = value.map_or_else(|| "–".to_owned(), |v| (column.show)(v, Surface::Html));
    html! {
        @if column.numeric { td class="num" { (text) } } @else { td { (text) } }
    }
}

/// A time as the page shows it (RFC 3339, UTC, seconds), or `never`.
pub fn time(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "never".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::fixtures::CAN_SEND;
    use crate::view::{Cell, Facts, NumberFacts};

    #[test]
    fn a_column_shows_only_when_a_collector_filled_it() {
        let layout = Layout {
            columns: vec![&CAN_SEND],
            ..Default::default()
        };
        let number = |phone: &str| NumberFacts {
            phone_number: phone.into(),
            ..Default::default()
        };
        let mut facts = Facts {
            numbers: vec![number("1"), number("2")],
            tables: vec![],
        };
        let accounts = [("a", None)];
        let html = |facts: &Facts| {
            fleet_section(
                &Fleet::build([("a", facts)]),
                &layout,
                &accounts,
                Filter::default(),
            )
            .into_string()
        };
        assert!(!html(&facts).contains("<th>Can send</th>"));
        facts.numbers[1].cells.push(Cell {
            column: &CAN_SEND,
            value: Value::text("AVAILABLE"),
        });
        let page = html(&facts);
        assert!(page.contains("<th>Can send</th>"), "{page}");
        assert!(page.contains("<td>AVAILABLE</td>"), "{page}");
        assert!(page.contains("<td>–</td>"), "{page}");
    }
}
