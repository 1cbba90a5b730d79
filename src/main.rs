//! Entry point: parse flags, set up logging, load settings, run until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chatapp_exporter::{app, cli::Cli, config, telemetry};
use clap::Parser as _;

fn main() -> ExitCode {
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatapp_exporter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (settings, loader, _sim): (_, app::SettingsLoader, _) = if cli.demo {
        let (s, sim) = app::demo_settings(&cli).await?;
        let accounts = s.accounts.clone();
        let cli = cli.clone();
        // A demo reload re-reads the file's refresh settings; the accounts stay simulated.
        let loader = Arc::new(move || {
            let mut s = app::demo_file_settings(&cli)?;
            s.accounts = accounts.clone();
            Ok(s)
        });
        (s, loader, Some(sim))
    } else {
        let settings = config::load(&cli, &|k| std::env::var(k).ok())?;
        let cli = cli.clone();
        let loader = Arc::new(move || config::load(&cli, &|k| std::env::var(k).ok()));
        (settings, loader, None)
    };
    let web = chatapp_exporter::web::WebSettings::load(
        cli.web_config_file.as_deref(),
        cli.web_max_requests,
    )?;
    if cli.config_check {
        print!("{}", settings.summary());
        print!("{}", web.summary());
        return Ok(());
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
    .await
}
