//! What the office-pool tests read back: the pool's Deployment, its alias groups, the Province's
//! `status.office` and `OfficeReady`.

use std::collections::BTreeMap;

use concejo::api::v1alpha1::{OfficeStatus, Province};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::Api;

/// The pool's Deployment in `namespace`, if it exists.
pub async fn pool_deployment(client: &Client, namespace: &str) -> anyhow::Result<Option<Deployment>> {
    Ok(Api::<Deployment>::namespaced(client.clone(), namespace).get_opt("office").await?)
}

/// The `aliasgroupN` variables of the pool's container, by name.
pub fn alias_groups(deployment: &Deployment) -> BTreeMap<String, String> {
    let pod = deployment.spec.template.spec.as_ref();
    pod.into_iter()
        .flat_map(|p| p.containers.iter())
        .flat_map(|c| c.env.iter().flatten())
        .filter(|e| e.name.starts_with("aliasgroup"))
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

/// `aliasgroupN=value` pairs as the tests write them.
pub fn groups(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The pool's alias groups and replicas, as they are now (empty and 0 without a Deployment).
pub async fn pool_state(client: &Client, namespace: &str) -> anyhow::Result<(BTreeMap<String, String>, i32)> {
    Ok(match pool_deployment(client, namespace).await? {
        Some(d) => (alias_groups(&d), d.spec.replicas.unwrap_or(1)),
        None => (BTreeMap::new(), 0),
    })
}

/// The Province's `status.office` and its `OfficeReady` condition (status, reason, message).
pub async fn office_status(
    client: &Client,
    province: &str,
) -> anyhow::Result<(Option<OfficeStatus>, Option<(String, String, String)>)> {
    let p = Api::<Province>::all(client.clone()).get(province).await?;
    let status = p.status.unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "OfficeReady")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    Ok((status.office, ready))
}
