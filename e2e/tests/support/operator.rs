//! The operator binary run as its own process, as the tests start it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use tokio::process::{Child, Command};

use super::TIMEOUT;

/// The operator, running as its own process; killed when dropped.
pub struct Operator {
    child: Child,
    pub http: String,
}

/// How to start one operator process.
pub struct OperatorOptions {
    /// The Lease it competes for; unique per test unless the test is about failover, so that
    /// the Lease of a killed operator from an earlier test never delays a later one.
    pub lease: String,
    pub identity: String,
    pub lease_duration: u64,
    /// Wait for /readyz (a standby is ready once it knows the leader).
    pub wait_ready: bool,
    /// concejo's own namespace (`--namespace`): CAs, escrowed keys, the bucket credentials.
    pub namespace: String,
    /// Another identity than the test's KUBECONFIG (e.g. the chart's service account).
    pub kubeconfig: Option<PathBuf>,
    /// `--audit-addr`: serve the API server's audit webhook there.
    pub audit_addr: Option<String>,
    /// Write the operator's log there as JSON lines (`CONCEJO_LOG_JSON`), with the activity log
    /// (targets `concejo::audit` and `concejo::activity`) at info, instead of to the test's stderr.
    pub log_file: Option<PathBuf>,
}

impl Default for OperatorOptions {
    fn default() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("e2e-{}-{n}", std::process::id());
        Self {
            lease: id.clone(),
            identity: id,
            lease_duration: 15,
            wait_ready: true,
            namespace: "default".into(),
            kubeconfig: None,
            audit_addr: None,
            log_file: None,
        }
    }
}

impl Operator {
    /// Starts `concejo run` against the cluster of KUBECONFIG and waits until /readyz says so.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(OperatorOptions::default()).await
    }

    pub async fn start_with(options: OperatorOptions) -> anyhow::Result<Self> {
        let binary = operator_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let http = format!("127.0.0.1:{port}");
        let duration = options.lease_duration.to_string();
        let mut command = Command::new(&binary);
        if let Some(kubeconfig) = &options.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let mut log = std::env::var("CONCEJO_E2E_LOG").unwrap_or_else(|_| "warn".into());
        if let Some(path) = &options.log_file {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            command.stderr(file).env("CONCEJO_LOG_JSON", "true");
            log.push_str(",concejo::audit=info,concejo::activity=info");
        }
        let child = command
            .args(["run", "--http-addr", &http, "--lease-name", &options.lease, "--identity", &options.identity])
            .args(["--namespace", &options.namespace, "--lease-duration", &duration])
            .args(options.audit_addr.iter().flat_map(|addr| ["--audit-addr", addr]))
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut operator = Operator { child, http };
        if !options.wait_ready {
            return Ok(operator);
        }
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = operator.child.try_wait()? {
                bail!("the operator exited during start-up: {status}");
            }
            if operator.get("/readyz").await.is_ok_and(|(code, _)| code == 200) {
                return Ok(operator);
            }
            ensure!(tokio::time::Instant::now() < deadline, "the operator was not ready within {TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A plain HTTP/1.0 GET on the operator's endpoint server: (status code, body).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.http).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.http).as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let code = response.split_whitespace().nth(1).context("empty HTTP response")?.parse()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok((code, body))
    }

    /// The value of one sample of /metrics, e.g. `concejo_reconciles_total{outcome="Success"}`
    /// (0 when the series does not exist yet).
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        let (_, body) = self.get("/metrics").await?;
        Ok(body
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.trim().parse())
            .transpose()?
            .unwrap_or(0.0))
    }

    /// Sum of every sample of a metric whose line starts with `prefix`.
    pub async fn metric_sum(&self, prefix: &str) -> anyhow::Result<f64> {
        let (_, body) = self.get("/metrics").await?;
        let mut sum = 0.0;
        for line in body.lines().filter(|l| l.starts_with(prefix)) {
            sum += line.rsplit(' ').next().unwrap_or("0").parse::<f64>()?;
        }
        Ok(sum)
    }

    /// The operator's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Sends a signal to the process by its id (`STOP` pauses it, `CONT` resumes it).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the operator has exited")?;
        let status = std::process::Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status()?;
        ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// Stops the operator (SIGKILL, like a crash) and waits for it to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// The `concejo` binary: $CONCEJO_BIN, or the one cargo built next to this test binary.
fn operator_binary() -> anyhow::Result<PathBuf> {
    binary("CONCEJO_BIN", "concejo")
}

/// A binary of the workspace: `$var` (make test-e2e sets it), or the one cargo built next to this
/// test binary (target/<profile>/deps/<test> -> target/<profile>/<name>).
pub fn binary(var: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join(name)).context("no target dir")?;
    ensure!(
        path.exists(),
        "{} not found: build it first with `cargo build -p concejo --bins` (make test-e2e does)",
        path.display()
    );
    Ok(path)
}
