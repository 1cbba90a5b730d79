//! `--once`: run every enabled collector of every account one time, without a listener,
//! and print what was learned: a table for a person, a JSON document for scripts, or the
//! exposition text /metrics would serve (for node_exporter's textfile collector).
//!
//! The run goes through the same scheduler bookkeeping as the daemon
//! ([`crate::scheduler::run_once`]), so the table shows what the landing page would, and the
//! `prom` output is byte for byte what /metrics would serve, less the `process_*` family.
//! The renderers here are pure functions of the results.

use std::fmt::Write as _;
use std::sync::Arc;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

use crate::cli::OnceFormat;
use crate::config::Settings;
use crate::fleet::{Fleet, NumberRow, Severity, TemplateRow};
use crate::metrics::exposition::plain_parts;
use crate::metrics::{ExpositionStore, SelfMetrics};
use crate::scheduler::{AccountStatus, Failure, OnceReport, Shared, StatusBoard, run_once};

/// The table's width: a terminal of 100 columns shows it without wrapping.
pub const TABLE_WIDTH: usize = 100;
/// Version of the JSON document; bumped only when a field changes meaning or goes away.
pub const JSON_VERSION: u32 = 1;

/// What a run printed and whether every account succeeded.
#[derive(Debug)]
pub struct Output {
    /// The text to print on stdout.
    pub text: Vec<u8>,
    /// True when every account succeeded (exit status 0).
    pub all_ok: bool,
}

/// Runs every collector of every account in `settings` once and renders the result in
/// `format`. `color` asks for ANSI styles in the table (the caller decides from the
/// terminal and `NO_COLOR`).
pub async fn run(settings: &Settings, format: OnceFormat, color: bool) -> anyhow::Result<Output> {
    let metrics = Arc::new(
        SelfMetrics::new(settings.refresh_interval)?.with_filter(settings.metrics_filter.clone()),
    );
    metrics.set_shard(settings.shard, settings.total_shards);
    let store = Arc::new(ExpositionStore::new(
        crate::collect::family_order(),
        settings.metrics_filter.clone(),
    ));
    let status = Arc::new(StatusBoard::default());
    let shared = Shared::new(settings, store.clone(), metrics.clone(), status.clone())?;
    let report = run_once(&shared, &settings.accounts).await;
    let text = match format {
        OnceFormat::Table => table(&store.fleet(), &status.snapshot(), &report, color).into_bytes(),
        OnceFormat::Json => json(&store.fleet(), &status.snapshot(), &report),
        OnceFormat::Prom => prom(&metrics, &store),
    };
    Ok(Output {
        text,
        all_ok: report.all_ok(),
    })
}

/// The exposition as /metrics serves it, without the `process_*` metrics.
pub fn prom(metrics: &SelfMetrics, store: &ExpositionStore) -> Vec<u8> {
    let mut head = Vec::new();
    metrics.encode_without_process(&mut head);
    let (len, parts) = plain_parts(head.into(), &store.current());
    let mut out = Vec::with_capacity(len);
    for part in parts {
        out.extend_from_slice(&part);
    }
    out
}

/// The JSON document of `--once.format=json`.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// True when every account succeeded.
    pub ok: bool,
    /// Every account, in configuration order.
    pub accounts: Vec<AccountDoc<'a>>,
    /// Every number, worst first.
    pub numbers: &'a [NumberRow],
    /// Templates that are not approved with a GREEN (or unknown) quality, rejected first.
    pub templates: &'a [TemplateRow],
}

/// One account of the JSON document.
#[derive(Debug, Serialize)]
pub struct AccountDoc<'a> {
    /// The `account` label.
    pub account: &'a str,
    /// Whether every collector of the account succeeded.
    pub ok: bool,
    /// What the collectors found (`7 numbers, 2 templates`), when they succeeded.
    pub summary: Option<&'a str>,
    /// The first failure, when one failed.
    pub error: Option<&'a Failure>,
    /// Each enabled collector.
    pub collectors: Vec<CollectorDoc<'a>>,
}

/// One collector of one account in the JSON document.
#[derive(Debug, Serialize)]
pub struct CollectorDoc<'a> {
    /// The collector's name (`phone_numbers`, `health`, ...).
    pub collector: &'a str,
    /// Whether its run succeeded.
    pub ok: bool,
    /// Its summary, when it succeeded.
    pub summary: Option<&'a str>,
    /// Its failure.
    pub error: Option<&'a Failure>,
    /// Lines for a person (Meta's error descriptions and suggested fixes).
    pub details: &'a [String],
}

/// Renders the JSON document, one line, newline-terminated.
pub fn json(fleet: &Fleet, status: &[(String, AccountStatus)], report: &OnceReport) -> Vec<u8> {
    let accounts = report
        .accounts
        .iter()
        .map(|(name, result)| AccountDoc {
            account: name,
            ok: result.is_ok(),
            summary: result.as_ref().ok().map(String::as_str),
            error: result.as_ref().err(),
            collectors: status
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| {
                    s.collectors
                        .iter()
                        .map(|(c, cs)| CollectorDoc {
                            collector: c,
                            ok: matches!(cs.last_result, Some(Ok(_))),
                            summary: match &cs.last_result {
                                Some(Ok(s)) => Some(s.as_str()),
                                _ => None,
                            },
                            error: match &cs.last_result {
                                Some(Err(f)) => Some(f),
                                _ => None,
                            },
                            details: &cs.details,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let doc = Document {
        version: JSON_VERSION,
        ok: report.all_ok(),
        accounts,
        numbers: &fleet.numbers,
        templates: &fleet.templates,
    };
    // Serializing plain structs of strings and numbers into memory cannot fail.
    let mut out = serde_json::to_vec(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The style of a severity's marker.
fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Blocked | Severity::Flagged | Severity::Red => AnsiColor::Red.on_default().bold(),
        Severity::Limited | Severity::Yellow => AnsiColor::Yellow.on_default(),
        Severity::Ok => AnsiColor::Green.on_default(),
    }
}

/// Renders the table: every number worst first, the templates needing attention, then one
/// line per account with its result, or its failure and what to check.
pub fn table(
    fleet: &Fleet,
    status: &[(String, AccountStatus)],
    report: &OnceReport,
    color: bool,
) -> String {
    let paint = |style: Style, text: &str| {
        if color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    };
    let bold = Style::new().bold();
    let mut out = String::new();

    let with_send = fleet.numbers.iter().any(|r| r.facts.can_send.is_some());
    let mut headers = vec![
        "STATE",
        "ACCOUNT",
        "NUMBER",
        "VERIFIED NAME",
        "STATUS",
        "QUALITY",
        // The tier without its `TIER_` prefix, and no messaging-limit column: the limit is
        // the tier's (the JSON has both), and the room goes to names.
        "TIER",
    ];
    if with_send {
        headers.push("CAN SEND");
    }
    let rows: Vec<(Severity, Vec<String>)> = fleet
        .numbers
        .iter()
        .map(|r| {
            let f = &r.facts;
            let mut cells = vec![
                r.marker.clone(),
                r.account.clone(),
                f.phone_number.to_string(),
                dash(&f.verified_name),
                dash(&f.status),
                dash(&f.quality),
                dash(
                    &f.tier
                        .as_deref()
                        .map(|t| t.strip_prefix("TIER_").unwrap_or(t).to_owned()),
                ),
            ];
            if with_send {
                cells.push(dash(&f.can_send));
            }
            (
                r.severity,
                cells.into_iter().map(|c| printable(&c)).collect(),
            )
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No numbers.\n");
    } else {
        let widths = fit(&headers, rows.iter().map(|(_, c)| c.as_slice()), Some(3));
        let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        out.push_str(&paint(bold, &line(&header, &widths)));
        out.push('\n');
        for (severity, cells) in &rows {
            let text = line(cells, &widths);
            // Colour the marker only; the word itself says the state without colour.
            let marker_end = widths[0].min(text.len());
            let (marker, rest) = text.split_at(
                text.char_indices()
                    .map(|(i, _)| i)
                    .find(|&i| i >= marker_end)
                    .unwrap_or(text.len()),
            );
            out.push_str(&paint(severity_style(*severity), marker));
            out.push_str(rest);
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} numbers: {}",
            fleet.numbers.len(),
            crate::fleet::describe(&fleet.counts())
        );
    }

    if !fleet.templates.is_empty() {
        out.push('\n');
        let headers = [
            "ACCOUNT", "TEMPLATE", "LANGUAGE", "NAME", "AUDIT", "QUALITY", "REASON",
        ];
        let rows: Vec<Vec<String>> = fleet
            .templates
            .iter()
            .map(|t| {
                let f = &t.facts;
                [
                    t.account.clone(),
                    f.template_code.clone(),
                    f.language.clone(),
                    dash(&f.name),
                    dash(&f.audit_status),
                    dash(&f.quality),
                    dash(&f.reason),
                ]
                .iter()
                .map(|c| printable(c))
                .collect()
            })
            .collect();
        let widths = fit(&headers, rows.iter().map(Vec::as_slice), None);
        let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        out.push_str(&paint(bold, &line(&header, &widths)));
        out.push('\n');
        for cells in &rows {
            out.push_str(&line(cells, &widths));
            out.push('\n');
        }
    }

    out.push('\n');
    let name_width = report
        .accounts
        .iter()
        .map(|(n, _)| n.width())
        .max()
        .unwrap_or(0)
        .clamp(7, 30);
    for (name, result) in &report.accounts {
        let shown = truncate(&printable(name), name_width);
        let pad = " ".repeat(name_width - shown.width());
        match result {
            Ok(summary) => {
                let text = if summary.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("ok ({summary})")
                };
                let _ = writeln!(
                    out,
                    "{shown}{pad}  {}",
                    paint(AnsiColor::Green.on_default(), &text)
                );
            }
            Err(failure) => {
                let indent = " ".repeat(name_width + 2);
                let _ = writeln!(
                    out,
                    "{shown}{pad}  {}",
                    paint(AnsiColor::Red.on_default().bold(), "FAILED")
                );
                let collectors = status
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| s.collectors.as_slice())
                    .unwrap_or_default();
                let mut failures: Vec<(Option<&str>, &Failure)> = collectors
                    .iter()
                    .filter_map(|(c, s)| match &s.last_result {
                        Some(Err(f)) => Some((Some(*c), f)),
                        _ => None,
                    })
                    .collect();
                if failures.is_empty() {
                    failures.push((None, failure));
                }
                for (collector, f) in failures {
                    let text = match collector {
                        Some(c) => format!("{c}: {f}"),
                        None => f.to_string(),
                    };
                    wrap_into(&mut out, &printable(&text), &indent);
                    wrap_into(
                        &mut out,
                        &printable(&format!("check: {}", f.hint)),
                        &format!("{indent}  "),
                    );
                }
            }
        }
    }
    out
}

/// `-` for a value nobody reported.
fn dash<S: AsRef<str>>(v: &Option<S>) -> String {
    v.as_ref()
        .map_or_else(|| "-".into(), |v| v.as_ref().to_owned())
}

/// The text with control characters (a hostile verified name's escape sequences, line
/// breaks) replaced, so that it cannot move the cursor or break the table.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Column widths that fit [`TABLE_WIDTH`]: each column as wide as its widest cell, then
/// the widest columns shrunk (names first, since they are the longest) until the line fits.
/// `first` is a free-text column that gives up to half its width before any other does.
fn fit<'a>(
    headers: &[&str],
    rows: impl Iterator<Item = &'a [String]>,
    first: Option<usize>,
) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for cells in rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.width());
        }
    }
    let budget = TABLE_WIDTH - 2 * (widths.len() - 1);
    if let Some(i) = first {
        let over = widths.iter().sum::<usize>().saturating_sub(budget);
        let floor = (widths[i] / 2).max(headers[i].width().min(12));
        widths[i] -= over.min(widths[i].saturating_sub(floor));
    }
    while widths.iter().sum::<usize>() > budget {
        // The widest column gives one column at a time, never below 6.
        let Some((i, w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if *w <= 6 {
            break;
        }
        widths[i] -= 1;
    }
    widths
}

/// One line of a table: each cell truncated and padded to its width, two spaces between.
fn line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        let shown = truncate(cell, w);
        out.push_str(&shown);
        if i + 1 < cells.len() {
            out.push_str(&" ".repeat(w - shown.width() + 2));
        }
    }
    out
}

/// `s` cut to `width` columns, ending with `…` when something was cut.
fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Appends `text` wrapped at [`TABLE_WIDTH`], every line indented by `indent`.
fn wrap_into(out: &mut String, text: &str, indent: &str) {
    let options = textwrap::Options::new(TABLE_WIDTH)
        .initial_indent(indent)
        .subsequent_indent(indent);
    for l in textwrap::wrap(text, options) {
        out.push_str(&l);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_ends_with_an_ellipsis_and_respects_wide_characters() {
        assert_eq!(truncate("Acme Promotions", 8), "Acme Pr…");
        assert_eq!(truncate("Acme", 8), "Acme");
        let cut = truncate("日本語の名前です", 7);
        assert!(cut.width() <= 7, "{cut}");
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(printable("A\x1b[2Jb\nc"), "A\u{FFFD}[2Jb\u{FFFD}c");
    }

    #[test]
    fn columns_shrink_to_fit_the_width() {
        let headers = ["A", "B", "C"];
        let rows = [vec!["x".repeat(80), "y".repeat(40), "z".into()]];
        let widths = fit(&headers, rows.iter().map(Vec::as_slice), None);
        assert!(
            widths.iter().sum::<usize>() + 4 <= TABLE_WIDTH,
            "{widths:?}"
        );
        assert_eq!(widths[2], 1);
    }
}
