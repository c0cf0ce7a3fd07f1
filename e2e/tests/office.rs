//! The provincial office pool on the real control plane: its allowed hosts (Collabora alias
//! groups) and replicas follow the tenants with collaboration, it becomes Available (its pods
//! admitted under Pod Security `restricted`), it is put back when changed or deleted, and it goes
//! when the Province turns it off. Asserts on the Province side only: the tenants' own suite is
//! not what this test is about.

mod support;

use std::time::{Duration, Instant};

use concejo::api::v1alpha1::{Municipality, Province, ServicePlan};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::office::*;
use support::*;

const PROVINCE: &str = "segovia-office-e2e";
const NAMESPACE: &str = "concejo-office-40";
const PLAN: &str = "office-e2e-town";
const CLASS: &str = "office-e2e-cifrado";
const SEGOVIA: &str = "https://segovia-office-e2e.nube.dipsegovia.es:443";
const ESPINAR: &str = "https://espinar-office-e2e.nube.dipsegovia.es:443";
/// Where the pool calls each tenant's Nextcloud back, inside the cluster.
const SEGOVIA_BACK: &str = "http://nextcloud\\.muni-40194\\.svc\\.cluster\\.local:8080";
const ESPINAR_BACK: &str = "http://nextcloud\\.muni-40076\\.svc\\.cluster\\.local:8080";

async fn setup(client: &kube::Client) -> anyhow::Result<()> {
    install_crds(client).await?;
    let class: StorageClass = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": CLASS},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"
    }))?;
    apply(&Api::<StorageClass>::all(client.clone()), &class).await?;
    let plan: ServicePlan = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "ServicePlan", "metadata": {"name": PLAN},
        "spec": {
            "quota": {"cpu": "4", "memory": "8Gi", "storage": "200Gi", "pods": 40},
            "limitRange": {"defaultCpu": "250m", "defaultMemory": "256Mi", "maxCpu": "2", "maxMemory": "4Gi"},
            "collaboration": {"users": 25, "storage": "10Gi"}
        }
    }))?;
    apply(&Api::<ServicePlan>::all(client.clone()), &plan).await?;
    for name in ["segovia-office-e2e", "espinar-office-e2e"] {
        delete_municipality(client, name).await?;
    }
    // A fresh CA, and no pool left by an earlier run.
    remove_province(client, PROVINCE).await?;
    wait_deleted(&Api::<Namespace>::all(client.clone()), NAMESPACE).await?;
    let province: Province = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": PROVINCE},
        "spec": {
            "ineCode": "40", "displayName": "Diputación de Segovia", "baseDomain": "nube.dipsegovia.es",
            "defaultPlan": PLAN,
            "network": {"ingressNamespace": "ingress-nginx"},
            "ingress": {"className": "nginx"},
            "storage": {"classes": [{"name": CLASS, "encrypted": true}]},
            "office": {"enabled": true, "usersPerReplica": 15, "maxReplicas": 20}
        }
    }))?;
    apply(&Api::<Province>::all(client.clone()), &province).await?;
    Ok(())
}

fn town(name: &str, code: &str) -> Municipality {
    municipality_with(
        name,
        code,
        json!({"province": PROVINCE, "collaboration": {"enabled": true}, "deletionPolicy": "Delete"}),
    )
}

/// Waits until the pool has exactly these alias groups and this many replicas; returns how long.
async fn until_pool(
    client: &kube::Client,
    what: &str,
    expected: &std::collections::BTreeMap<String, String>,
    replicas: i32,
) -> anyhow::Result<Duration> {
    let last = std::sync::Mutex::new(Default::default());
    let took = eventually(what, || async {
        let state = pool_state(client, NAMESPACE).await?;
        let done = state.0 == *expected && state.1 == replicas;
        *last.lock().unwrap() = state;
        Ok(done)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}; the pool has {:?}", last.lock().unwrap()))?;
    println!("{what}: {took:?}");
    Ok(took)
}

/// Waits until `OfficeReady` is True with `status.office` saying these hosts and replicas, all available.
async fn until_ready(client: &kube::Client, hosts: i32, replicas: i32) -> anyhow::Result<Duration> {
    let took = eventually("OfficeReady is True with every replica available", || async {
        let (office, ready) = office_status(client, PROVINCE).await?;
        Ok(office.is_some_and(|o| o.hosts == hosts && o.replicas == replicas && o.available_replicas == replicas)
            && ready.is_some_and(|(s, _, _)| s == "True"))
    })
    .await?;
    println!("OfficeReady {hosts} hosts, {replicas} replicas: {took:?}, {:?}", office_status(client, PROVINCE).await?);
    Ok(took)
}

#[tokio::test]
async fn the_office_pool_follows_the_tenants_with_collaboration() -> anyhow::Result<()> {
    let client = client().await?;
    setup(&client).await?;
    let operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let started = Instant::now();
    for (name, code) in [("segovia-office-e2e", "40194"), ("espinar-office-e2e", "40076")] {
        create_fresh(&client, &town(name, code)).await?;
    }

    // One alias group per tenant, by INE code (El Espinar 40076 before Segovia 40194); 2 x 25
    // users at 15 per replica: 4 replicas.
    let (espinar, segovia) = (format!("{ESPINAR},{ESPINAR_BACK}"), format!("{SEGOVIA},{SEGOVIA_BACK}"));
    until_pool(&client, "two tenants in the pool", &groups(&[("aliasgroup1", &espinar), ("aliasgroup2", &segovia)]), 4)
        .await?;
    until_ready(&client, 2, 4).await?;
    println!("from the first Municipality to an available pool: {:?}", started.elapsed());
    let (office, _) = office_status(&client, PROVINCE).await?;
    assert_eq!(office.unwrap().url.as_deref(), Some("https://office.nube.dipsegovia.es"));

    // Its pods were admitted under Pod Security restricted, which the namespace enforces...
    let pods = Api::<Pod>::namespaced(client.clone(), NAMESPACE);
    let running = pods.list(&Default::default()).await?.items;
    assert_eq!(running.len(), 4, "{running:?}");
    let ns = Api::<Namespace>::all(client.clone()).get(NAMESPACE).await?;
    assert_eq!(ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"], "restricted");
    // ...and refuses a pod that asks for Collabora's jail capabilities.
    let jailed: Pod = serde_json::from_value(json!({
        "metadata": {"name": "jailed"},
        "spec": {"containers": [{"name": "c", "image": "collabora/code",
            "securityContext": {"capabilities": {"add": ["SYS_CHROOT", "FOWNER", "CHOWN"]}}}]}
    }))?;
    let refused = pods.create(&PostParams::default(), &jailed).await.expect_err("a pod with capabilities was admitted");
    assert!(format!("{refused}").contains("restricted"), "{refused}");

    // Nothing changes: no writes.
    let writes = "concejo_api_writes_total";
    let before = settled(&operator, writes, Duration::from_secs(3)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(operator.metric_sum(writes).await?, before, "writes while nothing changed");

    // A tenant removed: its group goes, and the replicas follow (25 users: 2).
    // (Its group goes as soon as it is being deleted, before its namespace is gone.)
    munis.delete("espinar-office-e2e", &DeleteParams::default()).await?;
    until_pool(&client, "a removed tenant's group gone", &groups(&[("aliasgroup1", &segovia)]), 2).await?;
    delete_municipality(&client, "espinar-office-e2e").await?;
    until_ready(&client, 1, 2).await?;

    // A tenant's new domain: the host joins its group (an alias, dots escaped: it is a regex).
    let patch = json!({"spec": {"domains": ["nube.segovia.es"]}});
    munis.patch("segovia-office-e2e", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let both = format!("{SEGOVIA},https://nube\\.segovia\\.es:443,{SEGOVIA_BACK}");
    until_pool(&client, "a new domain in the group", &groups(&[("aliasgroup1", &both)]), 2).await?;
    until_ready(&client, 2, 2).await?;

    // Someone points a group at another host: taken back.
    let deployments = Api::<Deployment>::namespaced(client.clone(), NAMESPACE);
    let evil = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "office", "env": [{"name": "aliasgroup1", "value": "https://evil.example.com:443"}]}
    ]}}}});
    deployments.patch("office", &third_party(), &Patch::Strategic(&evil)).await?;
    until_pool(&client, "an edited group taken back", &groups(&[("aliasgroup1", &both)]), 2).await?;

    // The Deployment deleted: put back.
    deployments.delete("office", &DeleteParams::default()).await?;
    until_pool(&client, "a deleted Deployment put back", &groups(&[("aliasgroup1", &both)]), 2).await?;
    until_ready(&client, 2, 2).await?;

    // The Province turns the pool off: its namespace goes, and so do status.office and OfficeReady.
    let off = json!({"spec": {"office": {"enabled": false}}});
    Api::<Province>::all(client.clone()).patch(PROVINCE, &PatchParams::default(), &Patch::Merge(&off)).await?;
    let took = eventually("the pool and its status are gone", || async {
        let (office, ready) = office_status(&client, PROVINCE).await?;
        let namespace = Api::<Namespace>::all(client.clone()).get_opt(NAMESPACE).await?;
        Ok(office.is_none() && ready.is_none() && namespace.is_none())
    })
    .await?;
    println!("pool removed after office.enabled=false: {took:?}");

    delete_municipality(&client, "segovia-office-e2e").await?;
    remove_province(&client, PROVINCE).await?;
    Ok(())
}
