//! Start-up of `concejo run`: logging, the client, the endpoints, leader election, then the
//! controllers until a signal or the loss of the Lease.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, bail};
use tracing::{info, warn};

use crate::controllers::{self, Settings};
use crate::runtime::audit;
use crate::runtime::http::{self, Health};
use crate::runtime::leader::{self, Election};

/// The options of `concejo run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Address of the /livez, /readyz and /metrics endpoints.
    #[arg(long, env = "CONCEJO_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// How many Municipalities are reconciled at once.
    #[arg(long, env = "CONCEJO_CONCURRENCY", default_value_t = Settings::default().concurrency)]
    pub concurrency: u16,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CONCEJO_LOG_JSON")]
    pub log_json: bool,
    /// Compete for a Lease and reconcile only while holding it (for more than one replica).
    #[arg(long, env = "CONCEJO_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// The operator's own namespace: its Lease and the provinces' CA Secrets live there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Name of the Lease.
    #[arg(long, env = "CONCEJO_LEASE_NAME", default_value = "concejo-leader")]
    pub lease_name: String,
    /// Seconds a leader keeps the Lease without renewing; a standby takes over after that.
    #[arg(long, env = "CONCEJO_LEASE_DURATION", default_value_t = 15)]
    pub lease_duration: u64,
    /// This replica's identity in the Lease and in Events (default: POD_NAME, or host and PID).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Address of `POST /audit`, where the API server's audit webhook sends its events (every
    /// replica serves it; docs/ens.md). Off when not set.
    #[arg(long, env = "CONCEJO_AUDIT_ADDR")]
    pub audit_addr: Option<SocketAddr>,
    /// The bearer token the audit webhook's kubeconfig sends; when set, `POST /audit` refuses
    /// requests without it.
    #[arg(long, env = "CONCEJO_AUDIT_TOKEN", hide_env_values = true)]
    pub audit_token: Option<String>,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }

    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration found: set KUBECONFIG or run inside a cluster")?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let health = Health { fence: leader::fence_for(args.leader_election), ..Health::default() };
    let (client, fenced) = clients(config, &identity, &health)?;
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} for /livez, /readyz and /metrics", args.http_addr))?;
    info!(http_addr = %args.http_addr, %identity, "serving /livez, /readyz and /metrics");
    let router = http::router(health.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    if let Some(addr) = args.audit_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the audit webhook (POST /audit)"))?;
        info!(audit_addr = %addr, token = args.audit_token.is_some(), "serving POST /audit for the API server's audit webhook");
        let receiver = audit::Receiver::new(client.clone(), args.namespace.clone(), args.audit_token.clone());
        tokio::spawn(audit::serve(listener, receiver));
    }

    // Without leader election this replica leads from the start; with it, it waits for the Lease.
    let mut lost = None;
    if args.leader_election {
        let election = Election {
            namespace: args.namespace.clone(),
            lease: args.lease_name.clone(),
            identity: identity.clone(),
            duration: args.lease_duration,
            grace: (args.lease_duration / 3).max(1),
        };
        let mut leading = leader::campaign(client.clone(), &election)
            .await
            .with_context(|| format!("cannot use Lease {}/{}", election.namespace, election.lease))?;
        tokio::spawn(leader::follow(client.clone(), election.clone(), health.clone()));
        tokio::spawn(leader::probe(
            client.clone(),
            args.namespace.clone(),
            args.lease_name.clone(),
            Some(election.clone()),
            health.clone(),
        ));
        info!(lease = %format!("{}/{}", election.namespace, election.lease), "waiting to become the leader");
        tokio::select! {
            result = leading.wait_for(|l| *l) => { result.context("leader election stopped")?; }
            _ = shutdown_signal() => { info!("stopped before becoming the leader"); return Ok(()); }
        }
        info!("became the leader");
        lost = Some(leading);
    } else {
        tokio::spawn(leader::probe(
            client.clone(),
            args.namespace.clone(),
            args.lease_name.clone(),
            None,
            health.clone(),
        ));
    }
    health.leading.store(true, Ordering::Relaxed);

    let synced = health.synced.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let mut lost_leadership = lost.clone();
    tokio::spawn(async move {
        let why = tokio::select! {
            _ = shutdown_signal() => "signal",
            _ = async { match lost_leadership.as_mut() { Some(l) => { let _ = l.wait_for(|l| !*l).await; } None => std::future::pending().await } } => "lost",
        };
        let _ = stop_tx.send(why);
    });
    let (why_tx, why_rx) = tokio::sync::oneshot::channel();
    controllers::run(
        fenced,
        Settings { concurrency: args.concurrency, instance: Some(identity), namespace: args.namespace.clone() },
        health.metrics.clone(),
        move || synced.store(true, Ordering::Relaxed),
        async move {
            let why = stop_rx.await.unwrap_or("signal");
            let _ = why_tx.send(why);
        },
    )
    .await;
    if why_rx.await.unwrap_or("signal") == "lost" {
        warn!("lost the Lease; exiting so that a restart campaigns again");
        bail!("lost leadership");
    }
    info!("stopped");
    Ok(())
}

/// Two clients of the API server, both naming this replica in their User-Agent (so the API
/// server's audit log says which replica sent each request): one for the Lease, the probe and
/// the audit evidence, and one for the controllers whose writes pass the [`Fence`](crate::runtime::fence::Fence).
fn clients(mut config: kube::Config, identity: &str, health: &Health) -> anyhow::Result<(kube::Client, kube::Client)> {
    let agent = format!("concejo/{} ({identity})", env!("CARGO_PKG_VERSION"));
    let agent = axum::http::HeaderValue::from_str(&agent).context("the identity is not a valid header value")?;
    config.headers.push((axum::http::header::USER_AGENT, agent));
    let client = kube::Client::try_from(config.clone())?;
    let fenced = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&crate::runtime::fence::FenceLayer(health.fence.clone()))
        .build();
    Ok((client, fenced))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
