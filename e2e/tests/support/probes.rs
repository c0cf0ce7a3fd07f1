//! Ways the tests poke at the cluster and read it back: third-party edits, Secrets' bytes,
//! provinces of a test's own, Events, settling metrics.

use std::time::Duration;

use concejo::api::v1alpha1::{Municipality, Province};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::wait::Condition;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::*;

/// A condition: the Province has a status condition of this type and status.
pub fn province_has_condition(type_: &'static str, status: &'static str) -> impl Condition<Province> {
    move |p: Option<&Province>| {
        p.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == type_ && c.status == status))
    }
}

/// Waits until the sum of a metric's samples has not changed for `quiet`, and returns it.
pub async fn settled(operator: &Operator, prefix: &str, quiet: Duration) -> anyhow::Result<f64> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut value = operator.metric_sum(prefix).await?;
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = operator.metric_sum(prefix).await?;
        if now != value {
            (value, since) = (now, tokio::time::Instant::now());
        } else if since.elapsed() >= quiet {
            return Ok(value);
        }
        ensure!(tokio::time::Instant::now() < deadline, "{prefix} never settled within {TIMEOUT:?}");
    }
}

/// Deletes an object if it is there, and waits until it is gone.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    if api.get_opt(name).await?.is_some() {
        api.delete(name, &DeleteParams::default()).await?;
    }
    wait_deleted(api, name).await
}

/// Someone other than concejo (and other than the tests' usual manager) editing an object.
pub fn third_party() -> PatchParams {
    PatchParams { field_manager: Some("e2e-third-party".into()), ..Default::default() }
}

pub fn bytes(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> Vec<u8> {
    secret.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone()).unwrap_or_default()
}

/// Sets one key of a k8s_openapi::api::core::v1::Secret's data with a JSON merge patch, as a third party.
pub async fn set_secret_data(
    secrets: &Api<k8s_openapi::api::core::v1::Secret>,
    name: &str,
    key: &str,
    value: &[u8],
) -> anyhow::Result<()> {
    let patch = serde_json::json!({"data": {key: k8s_openapi::ByteString(value.to_vec())}});
    secrets.patch(name, &third_party(), &Patch::Merge(&patch)).await?;
    Ok(())
}

pub fn serial(m: &Municipality) -> Option<String> {
    m.status.as_ref()?.certificate.as_ref().map(|c| c.serial.clone())
}

/// A Province of its own for a test, with no CA k8s_openapi::api::core::v1::Secret left over from an earlier run.
pub async fn fresh_province(
    client: &Client,
    name: &str,
    code: &str,
    display_name: &str,
    base_domain: &str,
    pki: serde_json::Value,
) -> anyhow::Result<()> {
    delete_if_present(
        &Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default"),
        &format!("concejo-ca-{name}"),
    )
    .await?;
    let province: Province = serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": name},
        "spec": {"ineCode": code, "displayName": display_name, "baseDomain": base_domain,
                 "defaultPlan": "town", "pki": pki}
    }))?;
    apply(&Api::<Province>::all(client.clone()), &province).await?;
    Ok(())
}

/// Removes a test's own Province and its CA k8s_openapi::api::core::v1::Secret (its Municipalities must be gone first).
pub async fn remove_province(client: &Client, name: &str) -> anyhow::Result<()> {
    delete_if_present(&Api::<Province>::all(client.clone()), name).await?;
    delete_if_present(
        &Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default"),
        &format!("concejo-ca-{name}"),
    )
    .await
}

/// The Events (events.k8s.io/v1) regarding the named object, in namespace "default" (where
/// concejo records those about its cluster-wide objects).
pub async fn events_about(
    client: &Client,
    kind: &str,
    name: &str,
) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), "default")
        .list(&Default::default())
        .await?;
    Ok(events
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .collect())
}

/// Whether a Warning Event with this reason regards the named object, as events.k8s.io/v1 or
/// core/v1 shows it, in namespace "default".
pub async fn warning_event(client: &Client, kind: &str, name: &str, reason: &str) -> anyhow::Result<bool> {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    let found = events_about(client, kind, name)
        .await?
        .iter()
        .any(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some("Warning"));
    let core = Api::<CoreEvent>::namespaced(client.clone(), "default").list(&Default::default()).await?;
    Ok(found
        || core.items.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
                && e.reason.as_deref() == Some(reason)
                && e.type_.as_deref() == Some("Warning")
        }))
}
