//! The cluster the plugin talks to: the kubeconfig and context kubectl would use, and errors
//! that say what to do (no cluster reachable, concejo not installed, no such tenant).

use std::time::Duration;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use super::Global;
use crate::api::v1alpha1::Municipality;

/// A client of the cluster, and where it is (for messages).
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub url: String,
}

impl Cluster {
    /// Connects as kubectl would with `--kubeconfig` and `--context`, and checks that the API
    /// server answers, so an unreachable cluster is one clear error before anything else.
    pub async fn connect(global: &Global) -> anyhow::Result<Self> {
        let options = KubeConfigOptions { context: global.context.clone(), ..Default::default() };
        let mut config = match &global.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await.context("the kubeconfig is not usable")?
            }
            None if global.context.is_some() => {
                Config::from_kubeconfig(&options).await.context("the kubeconfig is not usable")?
            }
            None => Config::infer()
                .await
                .context("no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a cluster")?,
        };
        config.connect_timeout = Some(Duration::from_secs(10));
        let url = config.cluster_url.to_string();
        let client = Client::try_from(config).context("cannot build a client for the kubeconfig")?;
        client.apiserver_version().await.map_err(|e| unreachable(&url, e))?;
        Ok(Self { client, url })
    }

    /// The Municipality named `name`, or an error saying there is none.
    pub async fn municipality(&self, name: &str) -> anyhow::Result<Municipality> {
        let api = Api::<Municipality>::all(self.client.clone());
        let found = api.get_opt(name).await.map_err(|e| self.api_error(e))?;
        found.with_context(|| {
            format!(
                "no Municipality named {name:?} in the cluster at {} (`kubectl concejo status` lists them)",
                self.url
            )
        })
    }

    /// An API error in words: concejo's CRDs missing is said as such.
    pub fn api_error(&self, err: kube::Error) -> anyhow::Error {
        match &err {
            kube::Error::Api(status) if status.code == 404 && status.details.is_none() => anyhow::anyhow!(
                "the cluster at {} does not serve concejo.dev ({}): are concejo's CRDs installed? (`concejo crds | kubectl apply -f -`)",
                self.url,
                status.message
            ),
            kube::Error::Api(_) => anyhow::Error::new(err),
            _ => unreachable(&self.url, err),
        }
    }
}

fn unreachable(url: &str, err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => {
            anyhow::anyhow!("the cluster at {url} refused the request: {} ({})", status.message, status.code)
        }
        other => anyhow::Error::new(other).context(format!("no cluster reachable at {url}")),
    }
}
