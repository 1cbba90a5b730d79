//! Entry point: parse flags, set up logging, load settings, then check them
//! (`--config.check`), run once (`--once`) or run until SIGTERM/SIGINT.
//!
//! Exit status: 0 on success; 1 when the exporter could not run, or `--once` saw an account
//! fail; 2 for a configuration error (flags, config file, web config file, credentials
//! settings).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chatapp_exporter::{app, cli::Cli, config, telemetry};
use clap::Parser as _;

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    telemetry::init(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chatapp_exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chatapp_exporter: {}", message(&e));
            if is_config_error(&e) {
                ExitCode::from(CONFIG_ERROR)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes, as `{:#}` prints them, but without a cause whose text the
/// message already holds (the typed errors name their source in their own message, and
/// "No such file or directory" printed twice reads as two problems).
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The exit status of a configuration error, for `--config.check`, `--once` and a start.
const CONFIG_ERROR: u8 = 2;

fn is_config_error(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<config::ConfigError>() || c.is::<chatapp_exporter::web::WebConfigError>())
}

/// glibc malloc settings for a process that holds a large exposition and, at every refresh,
/// briefly a response body and its decoded numbers (bench/README.md, "Memory").
///
/// - `M_MMAP_THRESHOLD` fixed at glibc's own initial 128 KiB: by default glibc raises the
///   threshold to the size of every mmapped block it frees, so after the first refresh the
///   multi-MiB body and number list land on the heap, whose freed middle is rarely returned
///   to the kernel: RSS then grows by several MiB per refresh until it plateaus.
/// - `M_ARENA_MAX` 1: one heap instead of up to eight per core; each worker thread that ran
///   a refresh would otherwise keep its own arena's high-water mark.
///
/// Measured at 10,000 numbers under concurrent scrapes: RSS levels at 60 MiB instead of
/// climbing to 76 MiB. Settings given in the environment (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`) win. Called first, before any thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    for (param, value, env) in [
        (libc::M_MMAP_THRESHOLD, 128 * 1024, "MALLOC_MMAP_THRESHOLD_"),
        (libc::M_ARENA_MAX, 1, "MALLOC_ARENA_MAX"),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: mallopt only changes allocator parameters; it is called before any
            // other thread exists. A rejected value (return 0) leaves glibc's default.
            unsafe { libc::mallopt(param, value) };
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (settings, loader, _sim): (_, app::SettingsLoader, _) = if cli.demo {
        let (s, demo) = app::demo_settings(&cli).await?;
        let accounts = s.accounts.clone();
        let storage = s.storage_path.clone();
        let cli = cli.clone();
        // A demo reload re-reads the file's refresh settings; the accounts stay simulated.
        let loader = Arc::new(move || {
            let mut s = app::demo_file_settings(&cli)?;
            s.accounts = accounts.clone();
            s.storage_path = storage.clone();
            for a in &mut s.accounts {
                match &mut a.children {
                    // The parent keeps its discovery; its customers get the collectors.
                    Some(children) => *children = s.collectors.clone(),
                    None => a.collectors = s.collectors.clone(),
                }
                a.signature_version = s.signature_version;
            }
            Ok(s)
        });
        (s, loader, Some(demo))
    } else {
        let settings = config::load(&cli, &|k| std::env::var(k).ok())?;
        let cli = cli.clone();
        let loader = Arc::new(move || config::load(&cli, &|k| std::env::var(k).ok()));
        (settings, loader, None)
    };
    let mut web = chatapp_exporter::web::WebSettings::load(
        cli.web_config_file.as_deref(),
        cli.web_max_requests,
    )?;
    web.options = cli.serve_options();
    if cli.config_check {
        print!("{}", settings.summary());
        print!("{}", web.summary());
        if cli.discover {
            print!("{}", chatapp_exporter::once::discover(&settings).await?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if cli.once {
        return once(&settings, cli.once_format).await;
    }
    let listener = app::bind(&settings.listen_address)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen_address))?;
    app::run_with_web(
        settings,
        listener,
        app::shutdown_signal(),
        Some(loader),
        web,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `--once`: the table goes through `anstream`, which drops its colours when stdout is not
/// a terminal or `NO_COLOR` is set; JSON and exposition text are written as they are.
async fn once(
    settings: &config::Settings,
    format: chatapp_exporter::cli::OnceFormat,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let output = chatapp_exporter::once::run(settings, format, true).await?;
    let written = match format {
        chatapp_exporter::cli::OnceFormat::Table => {
            let mut out = anstream::stdout();
            out.write_all(&output.text).and_then(|()| out.flush())
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(&output.text).and_then(|()| out.flush())
        }
    };
    written.context("cannot write the result")?;
    Ok(if output.all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
