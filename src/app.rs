//! Wiring: bind the listener, start the refresh tasks, serve HTTP until shutdown, then stop
//! the tasks and return. `main` only parses flags and calls [`run`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::cli::Cli;
use crate::collect::discovery::DiscoverySettings;
use crate::config::{self, AccountSettings, CollectorSettings, ConfigError, Settings};
use crate::credentials::{CredentialSource, Credentials};
use crate::history;
use crate::scheduler::Outputs;
use crate::server::{self, AppState, ReloadRequest};
use crate::sim::{Simulator, demo};
use crate::supervisor::Supervisor;

/// How long shutdown waits for in-flight responses and refresh tasks.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds `addr`. A Go-style `:port` means every interface: IPv6 and IPv4 where the host
/// allows a dual-stack socket, else IPv4 only.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    match addr.strip_prefix(':') {
        Some(port) => match TcpListener::bind(format!("[::]:{port}")).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(format!("0.0.0.0:{port}")).await,
        },
        None => TcpListener::bind(addr).await,
    }
}

/// The settings of a `--demo` run apart from its accounts: flags and the config file's
/// `refresh`/`tier_limits` (the file's accounts are ignored).
pub fn demo_file_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut file = config::read_file(cli.config_file.as_deref())?;
    file.accounts.clear();
    config::resolve(cli, file, &|k| match k {
        crate::credentials::ENV_ACCESS_KEY_ID => Some(demo::DEMO_ACCESS_KEY_ID.into()),
        crate::credentials::ENV_ACCESS_KEY_SECRET => Some(demo::DEMO_ACCESS_KEY_SECRET.into()),
        _ => None,
    })
}

/// What a `--demo` run keeps alive: the simulated backend and the temporary directory of
/// its history (removed when dropped).
#[derive(Debug)]
pub struct Demo {
    /// The simulated CAMS.
    pub sim: Simulator,
    /// `--storage.path` of the demo.
    pub storage: tempfile::TempDir,
}

/// Starts the simulated backend and returns settings whose accounts point at it (two
/// accounts, and the ISV parent `demo-isv`, whose customers are discovered), with the
/// history in a temporary directory.
pub async fn demo_settings(cli: &Cli) -> anyhow::Result<(Settings, Demo)> {
    let fleet = Arc::new(demo::DemoFleet::new(
        cli.demo_extra_numbers,
        cli.demo_extra_accounts,
    ));
    let sim = Simulator::start(fleet, demo::DemoFleet::keys())
        .await
        .context("cannot start the demo backend on 127.0.0.1")?;
    let creds = CredentialSource::Static(Credentials {
        access_key_id: demo::DEMO_ACCESS_KEY_ID.into(),
        access_key_secret: demo::DEMO_ACCESS_KEY_SECRET.into(),
        security_token: None,
    });
    let storage = tempfile::Builder::new()
        .prefix("chatapp_exporter-demo-")
        .tempdir()
        .context("cannot create the demo's temporary history directory")?;
    let mut settings = demo_file_settings(cli)?;
    settings.storage_path = storage.path().to_owned();
    settings.accounts = vec![
        AccountSettings {
            name: demo::RETAIL.into(),
            endpoint: sim.endpoint(),
            cust_space_id: None,
            isv_code_file: None,
            credentials: creds.clone(),
            collectors: settings.collectors.clone(),
            signature_version: settings.signature_version,
            children: None,
            origin: None,
        },
        AccountSettings {
            name: demo::TRAVEL.into(),
            endpoint: sim.endpoint(),
            cust_space_id: Some(demo::TRAVEL_SPACE.into()),
            isv_code_file: None,
            credentials: creds.clone(),
            collectors: settings.collectors.clone(),
            signature_version: settings.signature_version,
            children: None,
            origin: None,
        },
        AccountSettings {
            name: demo::ISV.into(),
            endpoint: sim.endpoint(),
            cust_space_id: None,
            isv_code_file: None,
            credentials: creds,
            collectors: vec![demo_discovery()],
            signature_version: settings.signature_version,
            children: Some(settings.collectors.clone()),
            origin: None,
        },
    ];
    Ok((settings, Demo { sim, storage }))
}

/// The demo parent's discovery: every minute, leaving out the `test-` instances.
fn demo_discovery() -> CollectorSettings {
    let collector = crate::collect::discovery_collector();
    let interval = match collector.spec().schedule {
        crate::collect::Schedule::Own { demo_interval, .. } => demo_interval,
        crate::collect::Schedule::Refresh => config::DEMO_REFRESH_INTERVAL,
    };
    CollectorSettings {
        name: collector.spec().name,
        interval,
        settings: crate::collect::AnySettings::new(DiscoverySettings {
            exclude: vec!["test-.*".into()],
            ..Default::default()
        }),
    }
}

/// Produces fresh settings for a reload (re-reads the config file and the environment).
pub type SettingsLoader = Arc<dyn Fn() -> Result<Settings, ConfigError> + Send + Sync>;

/// Runs the exporter on `listener` until `shutdown` completes, without reload support.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_reload(settings, listener, shutdown, None).await
}

/// [`run_with_web`] without a web config file (plain HTTP, no auth) and default limits.
pub async fn run_with_reload(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    loader: Option<SettingsLoader>,
) -> anyhow::Result<()> {
    let web = crate::web::WebSettings::default();
    run_with_web(settings, listener, shutdown, loader, web).await
}

/// Runs the exporter on `listener` until `shutdown` completes. With a `loader`, SIGHUP and
/// `POST /-/reload` apply new settings; a bad configuration keeps the running one. `web` is
/// the loaded `--web.config.file` (TLS, basic auth) and the request limits ([`crate::web`]).
pub async fn run_with_web(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    loader: Option<SettingsLoader>,
    web: crate::web::WebSettings,
) -> anyhow::Result<()> {
    let outputs = Outputs::new(&settings, history::Mode::ReadWrite)?;
    let (store, metrics, status, discovered) = (
        outputs.store.clone(),
        outputs.metrics.clone(),
        outputs.status.clone(),
        outputs.discovered.clone(),
    );
    metrics.config_reloaded(true);
    // Subscribed before any discovery runs: a receiver sees only changes made after it
    // subscribed, and a first round that finished in between would leave its customers
    // unstarted until the next change (a slow machine showed it).
    let mut discovered = discovered.subscribe();
    let mut supervisor = Supervisor::start(&settings, outputs)?;

    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let router = server::router(AppState {
        store,
        metrics: metrics.clone(),
        status,
        telemetry_path: settings.telemetry_path.clone(),
        reload: Some(reload_tx),
        landing: Default::default(),
    });
    info!(
        address = %listener.local_addr()?,
        accounts = settings.accounts.len(),
        interval = %humantime::format_duration(settings.refresh_interval),
        "listening"
    );

    let web_control = web.control.clone();
    web_control.on_reload({
        let metrics = metrics.clone();
        move |ok| metrics.web_config_reloaded(ok)
    });
    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::web::serve(listener, router, web, async move {
        let _ = server_stop_rx.await;
    }));

    let mut hangups = hangup_signals();
    tokio::pin!(shutdown);
    loop {
        let reply = tokio::select! {
            _ = &mut shutdown => break,
            ended = &mut server => {
                // Without its listener the process must not look alive: exit non-zero, so
                // that systemd or Kubernetes restarts it.
                let e = match ended {
                    Ok(Ok(())) => anyhow::anyhow!("HTTP server stopped unexpectedly"),
                    Ok(Err(e)) => anyhow::Error::new(e).context("HTTP server failed"),
                    Err(e) => anyhow::Error::new(e).context("HTTP server task failed"),
                };
                error!(error = format!("{e:#}"), "the HTTP server is gone; stopping");
                supervisor.shutdown().await;
                return Err(e);
            }
            Ok(()) = discovered.changed() => {
                // A parent's customers changed: start and stop only them.
                if let Err(e) = supervisor.rediscover().await {
                    error!(error = %e, "cannot apply the discovered accounts");
                }
                continue;
            }
            _ = hangups.recv() => None,
            Some(reply) = reload_rx.recv() => Some(reply),
        };
        // An explicit reload re-reads the web config file too (applying it even if it drops
        // authentication: the operator asked; it logs its own outcome), then the
        // configuration. `POST /-/reload` answers 200 only when both applied.
        let web_result = reload_web_config(&web_control).await;
        let result = reload(&loader, &settings, &mut supervisor).await;
        metrics.config_reloaded(result.is_ok());
        match &result {
            Ok(()) => info!("configuration reloaded"),
            Err(e) => error!(error = %e, "reload failed; keeping the running configuration"),
        }
        if let Some(reply) = reply {
            let _ = reply.send(match (result, web_result) {
                (Ok(()), web) => web,
                (Err(e), Ok(())) => Err(e),
                (Err(e), Err(w)) => Err(format!("{e}; {w}")),
            });
        }
    }

    info!("shutting down");
    let _ = server_stop_tx.send(());
    let stop_tasks = supervisor.shutdown();
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    tokio::select! {
        r = server => { r.context("HTTP server task failed")?.context("HTTP server failed")?; }
        _ = &mut deadline => warn!("in-flight requests did not finish within the grace period"),
    }
    stop_tasks.await;
    Ok(())
}

/// Loads new settings off the async runtime (it reads files) and applies them.
async fn reload(
    loader: &Option<SettingsLoader>,
    running: &Settings,
    supervisor: &mut Supervisor,
) -> Result<(), String> {
    let Some(loader) = loader.clone() else {
        return Err(
            "reload is not available: the exporter was started without a configuration source"
                .into(),
        );
    };
    let new = tokio::task::spawn_blocking(move || loader())
        .await
        .map_err(|e| format!("reload task failed: {e}"))?
        .map_err(|e| e.to_string())?;
    if new.listen_address != running.listen_address || new.telemetry_path != running.telemetry_path
    {
        warn!("--web.* flags cannot change at reload; restart the exporter to apply them");
    }
    supervisor.apply(&new).await.map_err(|e| e.to_string())
}

/// Re-reads and applies the web config file (off the async runtime: it reads files).
async fn reload_web_config(control: &crate::web::WebControl) -> Result<(), String> {
    let control = control.clone();
    tokio::task::spawn_blocking(move || control.reload())
        .await
        .map_err(|e| format!("web config reload task failed: {e}"))?
        .map_err(|e| e.to_string())
}

/// SIGHUP as a stream; a receiver that never fires where signals are unavailable.
fn hangup_signals() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut s) => {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => warn!(error = %e, "cannot listen for SIGHUP; use POST /-/reload"),
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
