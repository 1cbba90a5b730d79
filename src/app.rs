//! Wiring: bind the listener, start the refresh tasks, serve HTTP until shutdown, then stop
//! the tasks and return. `main` only parses flags and calls [`run`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{info, warn};

use crate::api::{ApiClient, ClientOptions};
use crate::cli::Cli;
use crate::config::{self, AccountSettings, FileConfig, Settings};
use crate::credentials::{CredentialSource, Credentials};
use crate::metrics::{ExpositionStore, SelfMetrics};
use crate::scheduler::{self, MAX_CONCURRENT_REFRESHES, Shared, StatusBoard};
use crate::server::{self, AppState};
use crate::sim::{Simulator, demo};

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

/// Starts the simulated backend and returns settings whose two accounts point at it.
pub async fn demo_settings(cli: &Cli) -> anyhow::Result<(Settings, Simulator)> {
    let fleet = Arc::new(demo::DemoFleet::new(cli.demo_extra_numbers));
    let sim = Simulator::start(fleet, demo::DemoFleet::keys())
        .await
        .context("cannot start the demo backend on 127.0.0.1")?;
    let file = match &cli.config_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let mut f = config::parse_file(p, &text)?;
            f.accounts.clear();
            f
        }
        None => FileConfig::default(),
    };
    let creds = CredentialSource::Static(Credentials {
        access_key_id: demo::DEMO_ACCESS_KEY_ID.into(),
        access_key_secret: demo::DEMO_ACCESS_KEY_SECRET.into(),
        security_token: None,
    });
    let mut settings = config::resolve(cli, file, &|k| match k {
        crate::credentials::ENV_ACCESS_KEY_ID => Some(demo::DEMO_ACCESS_KEY_ID.into()),
        crate::credentials::ENV_ACCESS_KEY_SECRET => Some(demo::DEMO_ACCESS_KEY_SECRET.into()),
        _ => None,
    })?;
    settings.accounts = vec![
        AccountSettings {
            name: demo::RETAIL.into(),
            endpoint: sim.endpoint(),
            cust_space_id: None,
            isv_code_file: None,
            credentials: creds.clone(),
        },
        AccountSettings {
            name: demo::TRAVEL.into(),
            endpoint: sim.endpoint(),
            cust_space_id: Some(demo::TRAVEL_SPACE.into()),
            isv_code_file: None,
            credentials: creds,
        },
    ];
    Ok((settings, sim))
}

/// Runs the exporter on `listener` until `shutdown` completes.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(SelfMetrics::new(settings.refresh_interval)?);
    let store = Arc::new(ExpositionStore::default());
    let status = Arc::new(StatusBoard::default());
    let client = ApiClient::new(ClientOptions {
        timeout: settings.api_timeout,
        max_body_bytes: settings.api_max_body_bytes,
    })?;
    let shared = Arc::new(Shared {
        client,
        metrics: metrics.clone(),
        store: store.clone(),
        status: status.clone(),
        tier_limits: settings.tier_limits.clone(),
        interval: settings.refresh_interval,
        max_staleness: settings.max_staleness,
        permits: Semaphore::new(MAX_CONCURRENT_REFRESHES),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = scheduler::spawn_all(&shared, &settings.accounts, &stop_rx);
    let router = server::router(AppState {
        store,
        metrics,
        status,
        telemetry_path: settings.telemetry_path.clone(),
    });
    info!(
        address = %listener.local_addr()?,
        accounts = settings.accounts.len(),
        interval = %humantime::format_duration(settings.refresh_interval),
        "listening"
    );

    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = server_stop_rx.await;
            })
            .await
    });

    shutdown.await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = server_stop_tx.send(());
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    tokio::select! {
        r = server => { r.context("HTTP server task failed")?.context("HTTP server failed")?; }
        _ = &mut deadline => warn!("in-flight requests did not finish within the grace period"),
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
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
