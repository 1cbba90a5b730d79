//! `--once`: run every enabled collector of every account one time, without a listener,
//! and print what was learned: a table for a person, a JSON document for scripts, or the
//! exposition text /metrics would serve (for node_exporter's textfile collector).
//!
//! The run goes through the same scheduler bookkeeping as the daemon
//! ([`crate::scheduler::run_once`]), so the table shows what the landing page would, and the
//! `prom` output is byte for byte what /metrics serves in the 0.0.4 text format (the one the
//! textfile collector reads; Prometheus itself negotiates OpenMetrics), less the
//! `process_*` family.
//! The renderers here are pure functions of the results.

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation as _;
use unicode_width::UnicodeWidthStr as _;

use crate::cli::OnceFormat;
use crate::config::Settings;
use crate::discovery;
use crate::history;
use crate::metrics::exposition::plain_parts;
use crate::metrics::{ExpositionStore, SelfMetrics};
use crate::scheduler::{AccountStatus, Failure, OnceReport, Outputs, Shared, run_once};
use crate::view::term::{TABLE_WIDTH, paint, wrap};
use crate::view::{Fleet, Layout, json as view_json, printable};

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
    // Reads the history if there is one (the since times), never writes it: a one-off run
    // must not move a daemon's "since" or race its writes.
    let outputs = Outputs::new(settings, history::Mode::ReadOnly)?;
    let shared = Shared::new(settings, &outputs)?;
    let report = run_with_discovered(&shared, &outputs, settings).await;
    let Outputs {
        store,
        metrics,
        status,
        ..
    } = outputs;
    let layout = history::layout();
    let text = match format {
        OnceFormat::Table => {
            table(&store.fleet(), &layout, &status.snapshot(), &report, color).into_bytes()
        }
        OnceFormat::Json => json(&store.fleet(), &layout, &status.snapshot(), &report),
        OnceFormat::Prom => prom(&metrics, &store),
    };
    Ok(Output {
        text,
        all_ok: report.all_ok(),
    })
}

/// Runs every configured account once (parents run their discovery), then every customer
/// the parents found that belongs to this shard.
async fn run_with_discovered(
    shared: &std::sync::Arc<Shared>,
    outputs: &Outputs,
    settings: &Settings,
) -> OnceReport {
    let mut report = run_once(shared, &settings.accounts).await;
    let (expanded, kept) = discovery::expand(settings, &outputs.discovered.snapshot());
    for (parent, n) in &kept {
        outputs.metrics.set_discovered(parent, *n);
    }
    let customers = &expanded[settings.accounts.len()..];
    if !customers.is_empty() {
        report
            .accounts
            .extend(run_once(shared, customers).await.accounts);
    }
    report
}

/// `--config.check --discover`: runs each parent's discovery once and lists what it found:
/// every customer with the account it becomes and the shard that owns it.
pub async fn discover(settings: &Settings) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let parents: Vec<_> = settings
        .accounts
        .iter()
        .filter(|a| a.children.is_some())
        .cloned()
        .collect();
    let mut s = String::new();
    if parents.is_empty() {
        s.push_str("discovery: no account has discover:\n");
        return Ok(s);
    }
    let outputs = Outputs::new(settings, history::Mode::ReadOnly)?;
    let shared = Shared::new(settings, &outputs)?;
    let report = run_once(&shared, &parents).await;
    let found = outputs.discovered.snapshot();
    for (parent, result) in &report.accounts {
        let _ = writeln!(s, "discovery of {parent}:");
        if let Err(f) = result {
            let _ = writeln!(s, "  failed: {f}\n  {}", f.hint);
            continue;
        }
        let instances = found.get(parent).map_or(&[][..], |d| &d.instances[..]);
        let _ = writeln!(
            s,
            "  {} customers (after include/exclude); this process is shard {} of {}",
            instances.len(),
            settings.shard,
            settings.total_shards
        );
        for i in instances {
            let account = format!("{parent}/{}", i.cust_space_id);
            let shard = crate::config::shard_of(&account, settings.total_shards);
            let _ = writeln!(
                s,
                "    - {}  {}  shard {shard}{}",
                printable(&account),
                printable(&i.instance_name),
                if shard == settings.shard {
                    " (this one)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(s)
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
#[derive(Serialize)]
pub struct Document<'a> {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// True when every account succeeded.
    pub ok: bool,
    /// Every account, in configuration order.
    pub accounts: Vec<AccountDoc<'a>>,
    /// Every number, worst first, with every collector's columns and notes.
    pub numbers: view_json::Numbers<'a>,
    /// Each collector's table under its key.
    #[serde(flatten)]
    pub tables: view_json::Tables<'a>,
}

/// One account of the JSON document.
#[derive(Debug, Serialize)]
pub struct AccountDoc<'a> {
    /// The `account` label.
    pub account: &'a str,
    /// Whether every collector of the account succeeded.
    pub ok: bool,
    /// What the collectors found (`7 numbers, ...`), when they succeeded.
    pub summary: Option<&'a str>,
    /// The first failure, when one failed.
    pub error: Option<&'a Failure>,
    /// Each enabled collector.
    pub collectors: Vec<CollectorDoc<'a>>,
}

/// One collector of one account in the JSON document.
#[derive(Debug, Serialize)]
pub struct CollectorDoc<'a> {
    /// The collector's name (`phone_numbers`, `waba`, ...).
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

impl<'a> CollectorDoc<'a> {
    fn of(collector: &'a str, status: &'a crate::scheduler::CollectorStatus) -> Self {
        CollectorDoc {
            collector,
            ok: matches!(status.last_result, Some(Ok(_))),
            summary: match &status.last_result {
                Some(Ok(s)) => Some(s.as_str()),
                _ => None,
            },
            error: match &status.last_result {
                Some(Err(f)) => Some(f),
                _ => None,
            },
            details: &status.details,
        }
    }
}

/// Renders the JSON document, one line, newline-terminated.
pub fn json(
    fleet: &Fleet,
    layout: &Layout,
    status: &[(String, AccountStatus)],
    report: &OnceReport,
) -> Vec<u8> {
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
                        .map(|(c, cs)| CollectorDoc::of(c, cs))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let doc = Document {
        version: JSON_VERSION,
        ok: report.all_ok(),
        accounts,
        numbers: view_json::Numbers { fleet, layout },
        tables: view_json::Tables { fleet, layout },
    };
    // Serializing plain structs of strings and numbers into memory cannot fail.
    let mut out = serde_json::to_vec(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Renders the table: every number worst first, the collectors' tables, then one line per
/// account with its result, or its failure and what to check.
pub fn table(
    fleet: &Fleet,
    layout: &Layout,
    status: &[(String, AccountStatus)],
    report: &OnceReport,
    color: bool,
) -> String {
    let mut out = crate::view::term::fleet(fleet, layout, color);
    out.push('\n');
    out.push_str(&accounts(status, report, color));
    out
}

/// One line per account: `name  ok (summary)`, or `name  FAILED` and each failed
/// collector's error and what to check, wrapped within [`TABLE_WIDTH`].
fn accounts(status: &[(String, AccountStatus)], report: &OnceReport, color: bool) -> String {
    let name_width = report
        .accounts
        .iter()
        .map(|(n, _)| printable(n).width())
        .max()
        .unwrap_or(0)
        .clamp(7, 30);
    let indent = " ".repeat(name_width + 2);
    let styled = |style: Style, text: &str| {
        if color {
            paint(style, text)
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for (name, result) in &report.accounts {
        let shown = fit(name, name_width);
        match result {
            Ok(summary) => {
                let text = if summary.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("ok ({summary})")
                };
                let width = TABLE_WIDTH.saturating_sub(name_width + 2).max(20);
                let options = textwrap::Options::new(width)
                    .word_splitter(textwrap::WordSplitter::NoHyphenation);
                for (i, line) in textwrap::wrap(&printable(&text), options)
                    .iter()
                    .enumerate()
                {
                    if i == 0 {
                        // "ok" is the line's first two bytes.
                        let ok = styled(AnsiColor::Green.on_default(), "ok");
                        out.push_str(&format!("{shown}  {ok}{}\n", &line[2..]));
                    } else {
                        out.push_str(&format!("{indent}{line}\n"));
                    }
                }
            }
            Err(failure) => {
                let failed = styled(AnsiColor::Red.on_default().bold(), "FAILED");
                out.push_str(&format!("{shown}  {failed}\n"));
                for (collector, f) in failures(status, name, failure) {
                    let text = match collector {
                        Some(c) => format!("{c}: {f}"),
                        None => f.to_string(),
                    };
                    out.push_str(&wrap(&text, &indent));
                    out.push_str(&wrap(&format!("check: {}", f.hint), &format!("{indent}  ")));
                }
            }
        }
    }
    out
}

/// The failed collectors of `account` with their failures; the account's own failure when
/// none recorded one (its credentials could not be read, say).
fn failures<'a>(
    status: &'a [(String, AccountStatus)],
    account: &str,
    failure: &'a Failure,
) -> Vec<(Option<&'a str>, &'a Failure)> {
    let collectors = status
        .iter()
        .find(|(n, _)| n == account)
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
    failures
}

/// `text` made printable and fitted to exactly `width` display columns: cut with `…` when
/// longer (between grapheme clusters, so an emoji or an accented letter is never split),
/// padded with spaces when shorter. Every width is measured on the result itself, so no
/// character's width can make the arithmetic go wrong.
pub fn fit(text: &str, width: usize) -> String {
    let text = printable(text);
    let mut out = if text.width() <= width {
        text
    } else {
        let mut cut = String::new();
        for g in text.graphemes(true) {
            if format!("{cut}{g}…").width() > width {
                break;
            }
            cut.push_str(g);
        }
        if width > 0 {
            cut.push('…');
        }
        cut
    };
    let shown = out.width();
    out.push_str(&" ".repeat(width.saturating_sub(shown)));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_are_cut_with_an_ellipsis_and_padded() {
        assert_eq!(fit("Acme Promotions", 8), "Acme Pr…");
        assert_eq!(fit("Acme", 8), "Acme    ");
        let cut = fit("日本語の名前です", 7);
        assert_eq!(cut.width(), 7, "{cut:?}");
        assert!(cut.contains('…'));
        assert_eq!(fit("❤️❤️❤️ Flowers", 5).width(), 5);
    }

    proptest! {
        /// Any text, any width: exactly that many columns (a wide character that does not
        /// fit beside the ellipsis leaves one column of padding), and never a panic.
        #[test]
        fn fit_is_exact_for_any_text(text in ".{0,60}", width in 1usize..40) {
            let out = fit(&text, width);
            prop_assert_eq!(out.width(), width, "{:?}", out);
            prop_assert!(!out.chars().any(crate::view::is_unsafe));
        }
    }
}
