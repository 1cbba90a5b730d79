//! The `--once` table: any text in a number's cells (split at newlines into the verified
//! name, the status and the account) lays out within 100 columns with nothing that can steer
//! the terminal. Never a panic.

use chatapp_exporter::collect::phone_numbers::{STATUS, VERIFIED_NAME};
use chatapp_exporter::view::{self, Cell, Facts, Fleet, Layout, NumberFacts, Value};
use unicode_width::UnicodeWidthStr as _;

/// One input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let (name, status, account) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("account"),
    );
    let facts = Facts {
        numbers: vec![NumberFacts {
            phone_number: "6580000001".into(),
            cells: vec![
                Cell {
                    column: &VERIFIED_NAME,
                    value: Value::text(name),
                },
                Cell {
                    column: &STATUS,
                    value: Value::text(status),
                },
            ],
            ..Default::default()
        }],
        tables: vec![],
    };
    let layout = Layout {
        columns: vec![&VERIFIED_NAME, &STATUS],
        ..Default::default()
    };
    let table = view::term::fleet(&Fleet::build([(account, &facts)]), &layout, true);
    for line in table.lines() {
        let plain: String = strip_ansi(line);
        assert!(plain.width() <= view::term::TABLE_WIDTH, "{line:?}");
        assert!(!plain.chars().any(view::is_unsafe), "{line:?}");
    }
}

/// The line without the colour codes the table itself adds.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
