//! What every end-to-end test needs: a client of the local control plane, the CRDs installed, and
//! the operator binary running as its own process.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod backup_stack;
pub mod backup_world;
pub mod faults;
pub mod gitops;
pub mod office;
pub mod operator;
pub mod probes;
pub mod scripts;
pub use operator::*;
#[allow(unused_imports)] // not every test binary uses them
pub use probes::*;

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use concejo::api::v1alpha1::{Municipality, Province, ServicePlan};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;

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

/// The usual start of a test: a client of the local control plane, the CRDs installed, and the
/// León Province with its plan.
pub async fn leon() -> anyhow::Result<Client> {
    let client = client().await?;
    install_crds(&client).await?;
    apply_leon(&client).await?;
    Ok(client)
}

/// [`leon`], and an operator running against it.
pub async fn leon_with_operator() -> anyhow::Result<(Client, Operator)> {
    let client = leon().await?;
    Ok((client, Operator::start().await?))
}

/// Installs (or updates) every concejo CRD and waits until the API server serves them, and the
/// tenant roles (ClusterRoles) that concejo binds in each tenant namespace: what the chart installs.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in concejo::crds::all() {
        let name = crd.name_any();
        api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd)).await?;
        wait(&api, &name, conditions::is_crd_established()).await?;
    }
    let roles = Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(client.clone());
    for role in concejo::resources::rbac::cluster_roles() {
        // Helm's (the chart's e2e test) are left as they are: helm owns them then.
        if roles.get_opt(&role.name_any()).await?.is_none_or(|live| !live.annotations().contains_key(HELM_RELEASE)) {
            roles.patch(&role.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&role)).await?;
        }
    }
    Ok(())
}

/// The annotation naming the Helm release an object belongs to.
pub const HELM_RELEASE: &str = "meta.helm.sh/release-name";

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

/// Applies an object with the tests' field manager (create or update).
pub async fn apply<K>(api: &Api<K>, object: &K) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().context("object without a name")?;
    Ok(api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(object)).await?)
}

/// A ServicePlan from its YAML-ish parts (a collaboration suite for 25 users, 10Gi of files).
pub fn plan(name: &str, cpu: &str, memory: &str, pods: i32) -> ServicePlan {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "ServicePlan", "metadata": {"name": name},
        "spec": {
            "quota": {"cpu": cpu, "memory": memory, "storage": "100Gi", "pods": pods},
            "limitRange": {"defaultCpu": "250m", "defaultMemory": "256Mi", "maxCpu": "2", "maxMemory": "4Gi"},
            "collaboration": {"users": 25, "storage": "10Gi"}
        }
    }))
    .expect("a valid ServicePlan")
}

/// A Province like `examples/`' León (plan `town` by default, SARA configured, the local
/// StorageClasses offered, backups to a bucket at `s3.<domain>`), base domain `nube.<domain>`.
pub fn province(name: &str, ine_code: &str, display_name: &str, domain: &str) -> anyhow::Result<Province> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": name},
        "spec": {
            "ineCode": ine_code, "displayName": display_name, "baseDomain": format!("nube.{domain}"),
            "defaultPlan": "town",
            "network": {
                "ingressNamespace": "ingress-nginx", "monitoringNamespace": "monitoring",
                "sara": {"cidrs": ["10.252.0.0/16", "10.253.0.0/16"], "resolver": "10.252.0.53"}
            },
            // The local control plane's classes (e2e/cluster): declared encrypted or not here.
            "storage": {"classes": [
                {"name": "local-path", "encrypted": true},
                {"name": "local-path-fixed", "encrypted": false}
            ]},
            "ingress": {"className": "nginx"},
            // Backups into a bucket whose credentials are in the operator's namespace ("default"
            // here); kwok runs no repository server, so the bucket is never reached.
            "backup": {"target": {"s3": {
                "endpoint": format!("https://s3.{domain}"), "bucket": "concejo", "credentialsSecret": BUCKET_SECRET
            }}}
        }
    }))?)
}

/// The León Province as in `examples/` (plan `town` by default, SARA configured, the local
/// StorageClasses offered), and its plan.
pub async fn apply_leon(client: &Client) -> anyhow::Result<Province> {
    apply(&Api::<ServicePlan>::all(client.clone()), &plan("town", "4", "8Gi", 40)).await?;
    let province = province("leon", "24", "Diputación de León", "dipuleon.es")?;
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": BUCKET_SECRET, "namespace": "default"},
        "stringData": {"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret"}
    }))?;
    apply(&Api::namespaced(client.clone(), "default"), &secret).await?;
    apply(&Api::<Province>::all(client.clone()), &province).await
}

/// The Secret with León's bucket credentials, in the operator's namespace.
pub const BUCKET_SECRET: &str = "backup-s3";

pub fn municipality(name: &str, province: &str, ine_code: &str, display_name: &str) -> Municipality {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": name},
        "spec": {"province": province, "ineCode": ine_code, "displayName": display_name}
    }))
    .expect("a valid Municipality")
}

/// A León Municipality with its collaboration suite (and so volumes and backups), deleted with its
/// data, and extra spec fields merged in.
pub fn with_suite(name: &str, code: &str, extra: serde_json::Value) -> Municipality {
    let mut spec = serde_json::json!({"collaboration": {"enabled": true}, "deletionPolicy": "Delete"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    municipality_with(name, code, spec)
}

/// A Municipality with extra spec fields merged in.
pub fn municipality_with(name: &str, ine_code: &str, extra: serde_json::Value) -> Municipality {
    let mut value = serde_json::to_value(municipality(name, "leon", ine_code, name)).unwrap();
    for (k, v) in extra.as_object().expect("an object").clone() {
        value["spec"][k] = v;
    }
    serde_json::from_value(value).expect("a valid Municipality")
}

pub async fn create<K>(api: &Api<K>, object: &K) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    Ok(api.create(&PostParams::default(), object).await?)
}

/// Creates a Municipality after removing any left over from an earlier, failed run.
pub async fn create_fresh(client: &Client, municipality: &Municipality) -> anyhow::Result<Municipality> {
    let api = Api::<Municipality>::all(client.clone());
    delete_municipality(client, &municipality.name_any()).await?;
    create(&api, municipality).await
}

/// Deletes a Municipality (if present) and waits until the operator has let it go.
pub async fn delete_municipality(client: &Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        api.delete(name, &DeleteParams::default()).await?;
    }
    wait_deleted(&api, name).await
}

/// Asks the API server's own authorizer whether `group` may `verb` `resource` in `namespace`.
pub async fn can(client: &Client, group: &str, verb: &str, resource: &str, namespace: &str) -> anyhow::Result<bool> {
    use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
    let (api_group, resource) = match resource.split_once('.') {
        Some((r, g)) => (g.to_owned(), r.to_owned()),
        None => (String::new(), resource.to_owned()),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("someone-in-{group}")),
            groups: Some(vec![group.to_owned(), "system:authenticated".to_owned()]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_owned()),
                verb: Some(verb.to_owned()),
                group: Some(api_group),
                resource: Some(resource),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone()).create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// The reason of a condition, if present.
pub fn reason(m: &Municipality, type_: &str) -> Option<String> {
    m.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.reason.clone())
}

/// The message of a condition, if present.
pub fn message(m: &Municipality, type_: &str) -> Option<String> {
    m.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

/// Polls `check` every 200 ms until it returns true, or fails after [`TIMEOUT`] with `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if check().await? {
            return Ok(started.elapsed());
        }
        ensure!(started.elapsed() < TIMEOUT, "timed out after {TIMEOUT:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a Municipality from raw JSON, bypassing the Rust types (to send what they cannot hold).
pub async fn create_raw(client: &Client, object: serde_json::Value) -> anyhow::Result<()> {
    use kube::api::{ApiResource, DynamicObject};
    let api = Api::<DynamicObject>::all_with(client.clone(), &ApiResource::erase::<Municipality>(&()));
    api.create(&PostParams::default(), &serde_json::from_value(object)?).await?;
    Ok(())
}
