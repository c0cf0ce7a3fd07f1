//! What every end-to-end test needs: a client of the local control plane, the CRDs installed, and
//! the operator binary running as its own process.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use concejo::api::v1alpha1::{Municipality, MunicipalitySpec, Province, ProvinceSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::process::{Child, Command};

/// How long any one wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);
const MANAGER: &str = "concejo-e2e";

/// A client of the local control plane. Refuses any API server that is not on 127.0.0.1, so the
/// tests can never touch a real cluster by accident.
pub async fn client() -> anyhow::Result<Client> {
    let config = Config::infer().await.context(
        "no kubeconfig: run the e2e tests with `make test-e2e`, or set KUBECONFIG to the local cluster's \
         (~/.cache/concejo/cluster/kubeconfig after `make cluster-up`)",
    )?;
    let host = config.cluster_url.host().unwrap_or_default().to_owned();
    ensure!(
        host == "127.0.0.1" || host == "localhost",
        "refusing to run end-to-end tests against {}: they only run against the local control plane",
        config.cluster_url
    );
    Ok(Client::try_from(config)?)
}

/// Installs (or updates) every concejo CRD and waits until the API server serves them.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in concejo::crds::all() {
        let name = crd.name_any();
        api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd)).await?;
        wait(&api, &name, conditions::is_crd_established()).await?;
    }
    Ok(())
}

/// Waits until the named object satisfies `condition`, or fails after [`TIMEOUT`] saying which.
pub async fn wait<K>(api: &Api<K>, name: &str, condition: impl Condition<K>) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    match tokio::time::timeout(TIMEOUT, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Ok(None)) => bail!("{name} was deleted while waiting for it"),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => {
            let now = api.get_opt(name).await.ok().flatten();
            bail!("timed out after {TIMEOUT:?} waiting for {name}; it is now: {now:#?}")
        }
    }
}

/// Waits until the named object is gone.
pub async fn wait_deleted<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while api.get_opt(name).await?.is_some() {
        ensure!(tokio::time::Instant::now() < deadline, "{name} still exists after {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// A condition: the object has a status condition of this type and status.
pub fn has_condition(type_: &'static str, status: &'static str) -> impl Condition<Municipality> {
    move |m: Option<&Municipality>| {
        m.and_then(|m| m.status.as_ref())
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == type_ && c.status == status))
    }
}

/// The León Province as in `examples/`.
pub async fn apply_leon(client: &Client) -> anyhow::Result<Province> {
    let province = Province::new(
        "leon",
        ProvinceSpec {
            ine_code: "24".into(),
            display_name: "Diputación de León".into(),
            base_domain: "nube.dipuleon.es".into(),
        },
    );
    Ok(Api::<Province>::all(client.clone())
        .patch("leon", &PatchParams::apply(MANAGER).force(), &Patch::Apply(&province))
        .await?)
}

pub fn municipality(name: &str, province: &str, ine_code: &str, display_name: &str) -> Municipality {
    Municipality::new(
        name,
        MunicipalitySpec { province: province.into(), ine_code: ine_code.into(), display_name: display_name.into() },
    )
}

pub async fn create<K>(api: &Api<K>, object: &K) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    Ok(api.create(&PostParams::default(), object).await?)
}

/// Deletes a Municipality (if present) and waits until the operator has let it go.
pub async fn delete_municipality(client: &Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        api.delete(name, &DeleteParams::default()).await?;
    }
    wait_deleted(&api, name).await
}

/// The operator, running as its own process; killed when dropped.
pub struct Operator {
    child: Child,
    pub http: String,
}

impl Operator {
    /// Starts `concejo run` against the cluster of KUBECONFIG and waits until /readyz says so.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = operator_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let http = format!("127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["run", "--http-addr", &http])
            .env("RUST_LOG", std::env::var("CONCEJO_E2E_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut operator = Operator { child, http };
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

    /// Stops the operator (SIGKILL, like a crash) and waits for it to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// The `concejo` binary: $CONCEJO_BIN, or the one cargo built next to this test binary.
fn operator_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("CONCEJO_BIN") {
        return Ok(PathBuf::from(path));
    }
    // target/<profile>/deps/<test> -> target/<profile>/concejo
    let exe = std::env::current_exe()?;
    let path = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join("concejo")).context("no target dir")?;
    ensure!(
        path.exists(),
        "{} not found: build it first with `cargo build -p concejo --bin concejo` (make test-e2e does)",
        path.display()
    );
    Ok(path)
}
