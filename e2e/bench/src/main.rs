//! `concejo-bench`: the measuring side of `make bench` (e2e/bench/scale.sh drives it; see
//! docs/benchmarks.md). Every command prints its figures as `key=value` lines on stdout, which the
//! script appends to the run's `results.env`; progress goes to stderr.
//!
//! - `ready`: one watch of the Municipalities until every tenant is Ready (the series over time);
//! - `sample`: CPU and memory of the control plane's processes and the machine, from /proc;
//! - `control`: the API server's and etcd's /metrics before and after a phase, as figures;
//! - `latency`: spec change -> Ready again and deleted object -> restored, one sample at a time;
//! - `floor`: the floor client (the same objects, applied and nothing else);
//! - `report`: the markdown rows and the figure.
//!
//! It only talks to an API server on 127.0.0.1 (the bench's own control plane).

mod control;
mod floor;
mod latency;
mod plot;
mod prom;
mod ready;
mod report;
mod sample;

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::{Parser, Subcommand};
use kube::{Client, Config};

#[derive(Parser)]
#[command(about = "The measuring side of `make bench` (e2e/bench/scale.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the Municipalities until `--tenants` of them are Ready; write when each was first.
    Ready {
        /// The run, as the prefix of what it prints (`<label>_ready_seen`).
        #[arg(long)]
        label: String,
        #[arg(long)]
        tenants: usize,
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sample the processes named in a PID folder, and the machine, until SIGTERM.
    Sample {
        #[arg(long)]
        pids: PathBuf,
        #[arg(long, default_value_t = 500)]
        every_ms: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Figures of one phase from /metrics scraped before and after it.
    Control {
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        tenants: u64,
        #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
        apiserver: Vec<PathBuf>,
        #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
        etcd: Vec<PathBuf>,
    },
    /// Spec change -> Ready again, and deleted NetworkPolicy -> restored.
    Latency {
        #[arg(long, default_value_t = 100)]
        samples: usize,
        /// The plan every sampled tenant is moved to (its quota and limits change).
        #[arg(long, default_value = "village")]
        plan: String,
        /// Pause between samples, so that one sample's reconcile is over before the next.
        #[arg(long, default_value_t = 200)]
        gap_ms: u64,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// The floor client: apply every tenant's objects, nothing else.
    Floor {
        /// Tenants at once; concejo's default (`concejo run --concurrency`) unless set.
        #[arg(long, default_value_t = concejo::controllers::Settings::default().concurrency as usize)]
        concurrency: usize,
        /// Where the provinces' CA Secrets go (concejo's namespace, `concejo run --namespace`).
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the table rows of a run (its results folder) and write the figure.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        plot: Option<PathBuf>,
    },
}

/// The `key=value` lines a command prints.
pub struct Out;

impl Out {
    pub fn put(&mut self, key: impl Display, value: impl Display) {
        println!("{key}={value}");
    }
}

/// Now, in unix seconds.
pub fn epoch() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A client of the bench's control plane ($KUBECONFIG); refuses any API server not on 127.0.0.1.
async fn client() -> anyhow::Result<Client> {
    let config = Config::infer().await.context("no kubeconfig: set KUBECONFIG to the bench cluster's")?;
    let host = config.cluster_url.host().unwrap_or_default().to_owned();
    ensure!(
        host == "127.0.0.1" || host == "localhost",
        "refusing to run against {}: the bench is local only",
        config.cluster_url
    );
    Ok(Client::try_from(config)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut out = Out;
    match Cli::parse().command {
        Command::Ready { label, tenants, timeout, out: path } => {
            ready::wait(client().await?, &label, tenants, Duration::from_secs(timeout), &path, &mut out).await
        }
        Command::Sample { pids, every_ms, out: path } => {
            sample::run(&pids, Duration::from_millis(every_ms), &path).await
        }
        Command::Control { prefix, tenants, apiserver, etcd } => {
            control::phase(&mut out, &prefix, tenants, (&apiserver[0], &apiserver[1]), (&etcd[0], &etcd[1]))
        }
        Command::Latency { samples, plan, gap_ms, timeout, out: path } => {
            let (gap, timeout) = (Duration::from_millis(gap_ms), Duration::from_secs(timeout));
            latency::run(client().await?, samples, &plan, gap, timeout, &path, &mut out).await
        }
        Command::Floor { concurrency, namespace, out: path } => {
            floor::run(client().await?, concurrency, &namespace, &path, &mut out).await
        }
        Command::Report { dir, plot } => report::print(&report::Results::read(&dir)?, plot.as_deref()),
    }
}
