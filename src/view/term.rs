//! The fleet in a terminal (`--once`): the numbers table worst first and each collector's
//! table, laid out by comfy-table within [`TABLE_WIDTH`] columns by display width (a
//! verified name with emoji, CJK or combining marks is measured as the terminal shows it,
//! and cut with `…`), plus a line wrapper for the rest of the output. Text from the API goes
//! through [`super::printable`] first.

use anstyle::{AnsiColor, Style};
use comfy_table::{ColumnConstraint, ContentArrangement, Row, Table, presets};

use super::{Column, Fleet, Layout, Severity, Surface, TermColumn, Value, counts, describe};

/// The tables' width: a terminal of 100 columns shows them without wrapping.
pub const TABLE_WIDTH: usize = 100;

/// The numbers table and its summary line, then each collector table that has rows.
/// `color` paints the state column and the headers (the caller decides from the terminal
/// and `NO_COLOR`).
pub fn fleet(fleet: &Fleet, layout: &Layout, color: bool) -> String {
    let mut out = numbers(fleet, layout, color);
    for table in &layout.tables {
        let rows = fleet.rows(table);
        if rows.is_empty() {
            continue;
        }
        // The columns with a terminal header (free text such as button labels stays on
        // the page and in the JSON document).
        let shown: Vec<(usize, &Column)> = table
            .columns
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, c)| c.term.is_some())
            .collect();
        let headers: Vec<&str> = std::iter::once("ACCOUNT")
            .chain(shown.iter().filter_map(|(_, c)| c.term))
            .collect();
        let cells = rows.iter().map(|t| {
            let values = shown
                .iter()
                .map(|(i, c)| cell(c, t.row.cells.get(*i).and_then(Option::as_ref)));
            std::iter::once(printable(&t.account))
                .chain(values)
                .collect()
        });
        out.push('\n');
        out.push_str(&render(&headers, cells, None, color, false));
    }
    out
}

/// The numbers table, worst first, and the count of each state.
fn numbers(fleet: &Fleet, layout: &Layout, color: bool) -> String {
    if fleet.numbers.is_empty() {
        return "No numbers.\n".into();
    }
    // The columns that have a terminal header and a value for one of the numbers.
    let columns: Vec<&Column> = layout
        .columns
        .iter()
        .copied()
        .filter(|c| c.term.is_some() && fleet.numbers.iter().any(|r| r.value(c).is_some()))
        .collect();
    let derived: Vec<&TermColumn> = layout
        .term_columns
        .iter()
        .copied()
        .filter(|c| fleet.numbers.iter().any(|r| (c.cell)(r).is_some()))
        .collect();
    let headers: Vec<&str> = ["STATE", "ACCOUNT", "NUMBER"]
        .into_iter()
        .chain(columns.iter().filter_map(|c| c.term))
        .chain(derived.iter().map(|c| c.header))
        .collect();
    let rows = fleet.numbers.iter().map(|r| {
        let fixed = [
            printable(&r.marker),
            short_account(&printable(&r.account)),
            printable(&r.phone_number),
        ];
        let values = columns.iter().map(|c| cell(c, r.value(c)));
        let made = derived
            .iter()
            .map(|c| (c.cell)(r).map_or_else(|| "-".into(), |t| printable(&t)));
        fixed.into_iter().chain(values).chain(made).collect()
    });
    let severities: Vec<Severity> = fleet.numbers.iter().map(|r| r.severity).collect();
    let mut out = render(&headers, rows, Some(&severities), color, true);
    out.push_str(&format!(
        "{} numbers: {}\n",
        fleet.numbers.len(),
        describe(&counts(&fleet.numbers))
    ));
    out
}

/// Widest account the numbers table shows whole; a longer one keeps its end.
const ACCOUNT_WIDTH: usize = 16;

/// An account as the numbers table shows it. A discovered account
/// (`<parent>/<CustSpaceId>`) shows `…/` and the customer's space, the part that tells
/// customers apart; another name wider than [`ACCOUNT_WIDTH`] keeps its end after `…`.
/// The JSON document and the accounts list below have the full name.
fn short_account(account: &str) -> String {
    use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};
    let (prefix, rest) = match account.rsplit_once('/') {
        Some((_, space)) if !space.is_empty() => ("…/", space),
        _ if account.width() <= ACCOUNT_WIDTH => return account.to_owned(),
        _ => ("…", account),
    };
    if prefix.width() + rest.width() <= ACCOUNT_WIDTH {
        return format!("{prefix}{rest}");
    }
    let mut width = 1; // the "…"
    let mut tail: Vec<char> = rest
        .chars()
        .rev()
        .take_while(|c| {
            width += c.width().unwrap_or(0);
            width <= ACCOUNT_WIDTH
        })
        .collect();
    tail.reverse();
    format!("…{}", tail.into_iter().collect::<String>())
}

/// A cell as the terminal shows it: the column's terminal rendering, or `-`.
fn cell(column: &Column, value: Option<&Value>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |v| printable(&(column.show)(v, Surface::Terminal)),
    )
}

fn printable(s: &str) -> String {
    super::printable(s)
}

/// Lays out a table: columns two spaces apart, no borders, the whole within
/// [`TABLE_WIDTH`]; with `one_line`, one line per row (what does not fit is cut with `…`),
/// else long cells wrap. With `severities`, the first column of each row is painted in its
/// severity's colour.
fn render(
    headers: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    severities: Option<&[Severity]>,
    color: bool,
    one_line: bool,
) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH as u16)
        .set_truncation_indicator("…");
    let mut header = Row::from(headers.to_vec());
    header.max_height(1);
    table.set_header(header);
    let mut markers = Vec::new();
    for cells in rows {
        markers.push(cells.first().cloned().unwrap_or_default());
        let mut row = Row::from(cells);
        if one_line {
            row.max_height(1);
        }
        table.add_row(row);
    }
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i < last { 2 } else { 0 }));
    }
    // The state word, the account and the phone number are never cut: they are what the
    // row says without colour, and what a person looks up. All are short (a bounded word,
    // an account name or a customer's space, digits).
    if severities.is_some() {
        for i in [0, 1, 2] {
            if let Some(column) = table.column_mut(i) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        let line = line.trim_end();
        let painted = match (i, severities) {
            _ if !color => line.to_owned(),
            (0, _) => paint(Style::new().bold(), line),
            (n, Some(sev)) => match (sev.get(n - 1), markers.get(n - 1)) {
                (Some(s), Some(m)) if line.starts_with(m.as_str()) => {
                    format!("{}{}", paint(style(*s), m), &line[m.len()..])
                }
                _ => line.to_owned(),
            },
            _ => line.to_owned(),
        };
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

/// The colour of a severity's marker.
pub fn style(s: Severity) -> Style {
    match s {
        Severity::Blocked | Severity::Flagged | Severity::Red => AnsiColor::Red.on_default().bold(),
        Severity::Limited | Severity::Yellow => AnsiColor::Yellow.on_default(),
        Severity::Ok => AnsiColor::Green.on_default(),
    }
}

/// `text` in `style`.
pub fn paint(style: Style, text: &str) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// `text` wrapped at [`TABLE_WIDTH`] display columns, every line indented by `indent`.
pub fn wrap(text: &str, indent: &str) -> String {
    let options = textwrap::Options::new(TABLE_WIDTH)
        .initial_indent(indent)
        .subsequent_indent(indent)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut out = String::new();
    for l in textwrap::wrap(&printable(text), options) {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use unicode_width::UnicodeWidthStr as _;

    use super::*;
    use crate::view::fixtures::{NAME, STATUS};
    use crate::view::{Cell, Facts, NumberFacts, Verdict};

    fn fleet_of(names: &[String]) -> (Fleet, Layout) {
        let facts = Facts {
            numbers: names
                .iter()
                .enumerate()
                .map(|(i, name)| NumberFacts {
                    phone_number: format!("65800000{i:02}").into(),
                    verdict: Some(Verdict {
                        severity: Severity::Flagged,
                        word: "RESTRICTED".into(),
                    }),
                    cells: vec![
                        Cell {
                            column: &NAME,
                            value: Value::text(name),
                        },
                        Cell {
                            column: &STATUS,
                            value: Value::text(name),
                        },
                    ],
                    notes: vec![],
                })
                .collect(),
            tables: vec![],
        };
        let layout = Layout {
            columns: vec![&NAME, &STATUS],
            ..Default::default()
        };
        (
            Fleet::build([("a-rather-long-account-name", &facts)]),
            layout,
        )
    }

    fn assert_fits(text: &str) {
        for l in text.lines() {
            assert!(l.width() <= TABLE_WIDTH, "{} columns: {l:?}", l.width());
        }
    }

    #[test]
    fn an_emoji_name_that_needs_cutting_fits_and_keeps_the_state_word() {
        let name = "❤️❤️❤️ Flowers & Gifts Delivery Singapore Best Florist In Town Open 24 Hours Every Day Always";
        let (fleet, layout) = fleet_of(&[name.into()]);
        let text = super::fleet(&fleet, &layout, false);
        assert_fits(&text);
        assert!(
            text.lines().nth(1).unwrap().starts_with("RESTRICTED  "),
            "{text}"
        );
        assert!(text.contains('…'), "{text}");
    }

    #[test]
    fn long_and_discovered_accounts_keep_the_end_that_tells_them_apart() {
        assert_eq!(short_account("demo-retail"), "demo-retail");
        assert_eq!(short_account("isv/2934000101"), "…/2934000101");
        assert_eq!(
            short_account("a-rather-long-account-name"),
            "…ng-account-name"
        );
        assert_eq!(
            short_account("isv/29340001012934000101"),
            "…001012934000101"
        );
        for name in [
            "x".repeat(40),
            "界".repeat(30),
            format!("p/{}", "界".repeat(30)),
        ] {
            assert!(short_account(&name).width() <= ACCOUNT_WIDTH, "{name}");
        }
    }

    #[test]
    fn colour_marks_the_state_only_when_asked() {
        let (fleet, layout) = fleet_of(&["Acme".into()]);
        let plain = super::fleet(&fleet, &layout, false);
        assert!(!plain.contains('\x1b'));
        let coloured = super::fleet(&fleet, &layout, true);
        let row = coloured.lines().nth(1).unwrap();
        assert!(
            row.starts_with(&paint(style(Severity::Flagged), "RESTRICTED")),
            "{row:?}"
        );
    }

    #[test]
    fn wrapped_lines_fit_and_carry_no_control_characters() {
        let text = wrap(&format!("{} \x1b[31m\u{202E}", "word ".repeat(60)), "    ");
        assert_fits(&text);
        assert!(!text.contains('\x1b') && !text.contains('\u{202E}'));
        assert!(text.lines().all(|l| l.starts_with("    ")));
    }

    proptest! {
        /// Arbitrary Unicode in every cell (zero-width, wide, combining, emoji sequences,
        /// controls, bidi overrides): no panic, every line within the width, no control or
        /// bidi character left.
        #[test]
        fn any_text_fits_the_width(names in proptest::collection::vec(
            proptest::string::string_regex(
                "[a-zA-Z0-9 日本語❤\u{FE0F}\u{200B}\u{200D}\u{0301}🎉👩\u{202E}\u{1F1FA}\u{1F1F8}ｗ\u{00AD}\u{115F}\u{3000}\u{1b}\u{85}\n\t]{0,80}"
            ).unwrap(), 1..4)) {
            let (fleet, layout) = fleet_of(&names);
            let text = super::fleet(&fleet, &layout, false);
            for l in text.lines() {
                prop_assert!(l.width() <= TABLE_WIDTH, "{} columns: {:?}", l.width(), l);
                prop_assert!(!l.chars().any(crate::view::is_unsafe), "{:?}", l);
            }
        }

        /// Any string through any of the characters proptest makes.
        #[test]
        fn any_unicode_fits_the_width(names in proptest::collection::vec(".{0,120}", 1..3)) {
            let (fleet, layout) = fleet_of(&names);
            let text = super::fleet(&fleet, &layout, false);
            for l in text.lines() {
                prop_assert!(l.width() <= TABLE_WIDTH, "{} columns: {:?}", l.width(), l);
            }
        }
    }
}
