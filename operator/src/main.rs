//! The `concejo` binary: `concejo run` (the operator) and `concejo crds` (the CRD YAML).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use concejo::controller::{self, Settings};
use concejo::http::{self, Health};
use tracing::info;

#[derive(Parser)]
#[command(version, about = "Kubernetes operator that turns each town hall into an isolated tenant")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of $KUBECONFIG (or the in-cluster service account).
    Run {
        /// Address of the /livez, /readyz and /metrics endpoints.
        #[arg(long, env = "CONCEJO_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http_addr: SocketAddr,
        /// How many Municipalities are reconciled at once.
        #[arg(long, env = "CONCEJO_CONCURRENCY", default_value_t = Settings::default().concurrency)]
        concurrency: u16,
        /// Log as JSON lines instead of text.
        #[arg(long, env = "CONCEJO_LOG_JSON")]
        log_json: bool,
    },
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into a folder.
    Crds {
        /// Write `<name>.yaml` files into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { out_dir } => crds(out_dir),
        Command::Run { http_addr, concurrency, log_json } => run(http_addr, concurrency, log_json).await,
    }
}

fn crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in concejo::crds::all() {
        let yaml = concejo::crds::to_yaml(&crd)?;
        match &out_dir {
            Some(dir) => {
                let path = dir.join(concejo::crds::file_name(&crd));
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}

async fn run(http_addr: SocketAddr, concurrency: u16, log_json: bool) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if log_json {
        logs.json().init();
    } else {
        logs.init();
    }

    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration found: set KUBECONFIG or run inside a cluster")?;
    let health = Health::default();
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("cannot listen on {http_addr} for /livez, /readyz and /metrics"))?;
    info!(%http_addr, "serving /livez, /readyz and /metrics");
    let router = http::router(health.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let ready = health.ready.clone();
    controller::run(
        client,
        Settings { concurrency },
        health.metrics.clone(),
        move || ready.store(true, Ordering::Relaxed),
        shutdown_signal(),
    )
    .await;
    info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
