//! The collaboration suite on the real control plane: volumes bound by a real provisioner
//! (local-path-provisioner, e2e/cluster), pods admitted by the API server under Pod Security
//! `restricted` and run by kwok, drift repaired, suspend, disable, grow, and the refusals.

mod support;

use concejo::api::v1alpha1::{Municipality, Phase, ServicePlan};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::*;

async fn patch_spec(client: &Client, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec}))).await?;
    Ok(())
}

fn request(claim: &PersistentVolumeClaim) -> String {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref()?.requests.as_ref()?.get("storage").map(|q| q.0.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_town_hall_gets_a_working_suite_admitted_under_restricted() -> anyhow::Result<()> {
    let (client, operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let (name, ns) = ("sahagun", "muni-24139");
    let started = std::time::Instant::now();
    create_fresh(&client, &with_suite(name, "24139", json!({"domains": ["nube.sahagun.es"]}))).await?;
    let m = wait(&munis, name, has_condition("Ready", "True")).await?;
    println!("{name}: Ready with its suite after {:.1}s", started.elapsed().as_secs_f64());
    let status = m.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Ready));
    assert_eq!(status.endpoints.unwrap().web.as_deref(), Some("https://sahagun.nube.dipuleon.es"));
    for c in ["StorageReady", "CollaborationReady"] {
        assert_eq!(reason(&m, c).as_deref(), Some(if c == "StorageReady" { "Bound" } else { "Available" }), "{c}");
    }

    // The API server admitted every pod under `restricted` (the namespace enforces it); kwok runs them.
    let namespace = Api::<Namespace>::all(client.clone()).get(ns).await?;
    assert_eq!(namespace.labels().get("pod-security.kubernetes.io/enforce").map(String::as_str), Some("restricted"));
    let pods = Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default()).await?;
    let running: Vec<String> = pods
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| p.labels().get("app.kubernetes.io/component").cloned().unwrap_or_default())
        .collect();
    for component in ["nextcloud", "postgres", "redis"] {
        assert!(running.iter().any(|c| c == component), "{component} runs: {running:?}");
    }
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    for (claim, size) in [("nextcloud-data", "10Gi"), ("postgres-data", "1Gi")] {
        let claim = claims.get(claim).await?;
        assert_eq!(claim.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Bound"));
        assert_eq!(request(&claim), size);
    }

    // The Ingress serves every tenant host with the tenant's certificate.
    let ingress = Api::<Ingress>::namespaced(client.clone(), ns).get("nextcloud").await?;
    let spec = ingress.spec.unwrap();
    let tls = &spec.tls.unwrap()[0];
    assert_eq!(tls.secret_name.as_deref(), Some("tenant-tls"));
    assert_eq!(tls.hosts.clone().unwrap(), ["sahagun.nube.dipuleon.es", "nube.sahagun.es"]);
    let certificate = m.status.as_ref().unwrap().certificate.clone().unwrap();
    assert_eq!(certificate.dns_names, ["sahagun.nube.dipuleon.es", "nube.sahagun.es"]);

    // Credentials: generated, different per tenant, and nowhere but their Secret.
    create_fresh(&client, &with_suite("riano", "24130", json!({}))).await?;
    wait(&munis, "riano", has_condition("CollaborationReady", "True")).await?;
    let secrets = |ns: &str| Api::<Secret>::namespaced(client.clone(), ns);
    let mine = secrets(ns).get("collaboration-credentials").await?;
    let theirs = secrets("muni-24130").get("collaboration-credentials").await?;
    let password = String::from_utf8(bytes(&mine, "postgres-password"))?;
    assert_eq!(password.len(), 32);
    assert_ne!(password.as_bytes(), bytes(&theirs, "postgres-password"));
    let status_json = serde_json::to_string(&munis.get(name).await?)?;
    assert!(!status_json.contains(&password), "a credential in the Municipality");
    let deployment_json =
        serde_json::to_string(&Api::<Deployment>::namespaced(client.clone(), ns).get("nextcloud").await?)?;
    assert!(!deployment_json.contains(&password), "a credential in a pod spec");

    // Drift: a deleted Deployment and an edited PostgreSQL StatefulSet are put back.
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
    deployments.delete("nextcloud", &DeleteParams::default()).await?;
    let sets = Api::<StatefulSet>::namespaced(client.clone(), ns);
    let edit = json!({"spec": {"template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:9.6"}]}}}});
    sets.patch("postgres", &PatchParams::default(), &Patch::Strategic(&edit)).await?;
    let took = eventually("nextcloud and postgres put back", || async {
        let back = deployments.get_opt("nextcloud").await?.is_some();
        let image = sets.get("postgres").await?.spec.template.spec.unwrap().containers[0].image.clone();
        Ok(back && image.is_some_and(|i| i.contains("postgres:17")))
    })
    .await?;
    println!("drift repaired in {:.1}s", took.as_secs_f64());
    wait(&munis, name, has_condition("CollaborationReady", "True")).await?;

    // A reconcile that finds the suite as declared writes nothing (every field concejo declares
    // reads back the same from the API server).
    let writes = settled(&operator, "concejo_api_writes_total", std::time::Duration::from_secs(5)).await?;
    let reconciles = operator.metric_sum("concejo_reconciles_total").await?;
    let poke = json!({"metadata": {"annotations": {"e2e.concejo.dev/poke": "1"}}});
    munis.patch(name, &PatchParams::default(), &Patch::Merge(&poke)).await?;
    eventually("the poke is reconciled", || async {
        Ok(operator.metric_sum("concejo_reconciles_total").await? > reconciles)
    })
    .await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        operator.metric_sum("concejo_api_writes_total").await?,
        writes,
        "a reconcile of an unchanged suite wrote"
    );

    // A lost credentials Secret is not replaced by new credentials the database would refuse.
    secrets(ns).delete("collaboration-credentials", &DeleteParams::default()).await?;
    let m = wait(&munis, name, has_condition("CollaborationReady", "False")).await?;
    assert_eq!(reason(&m, "CollaborationReady").as_deref(), Some("CredentialsUnreadable"));
    assert!(message(&m, "CollaborationReady").unwrap().contains("restore it from a backup"));
    assert!(secrets(ns).get_opt("collaboration-credentials").await?.is_none(), "new credentials were made");

    for tenant in [name, "riano"] {
        delete_municipality(&client, tenant).await?;
    }
    Ok(())
}

#[tokio::test]
async fn suspend_resume_disable_and_grow() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let (name, ns) = ("sabero", "muni-24137");
    create_fresh(&client, &with_suite(name, "24137", json!({}))).await?;
    wait(&munis, name, has_condition("Ready", "True")).await?;
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
    let sets = Api::<StatefulSet>::namespaced(client.clone(), ns);
    let cron = Api::<CronJob>::namespaced(client.clone(), ns);

    // Suspend: scaled to zero, background jobs paused, phase Suspended; the data stays.
    patch_spec(&client, name, json!({"suspend": true})).await?;
    let m = wait(&munis, name, |m: Option<&Municipality>| {
        m.and_then(|m| m.status.as_ref()).is_some_and(|s| s.phase == Some(Phase::Suspended))
    })
    .await?;
    assert_eq!(reason(&m, "CollaborationReady").as_deref(), Some("Suspended"));
    eventually("scaled to zero", || async {
        let nextcloud = deployments.get("nextcloud").await?.spec.replicas;
        let postgres = sets.get("postgres").await?.spec.replicas;
        let suspended = cron.get("nextcloud-cron").await?.spec.suspend;
        Ok(nextcloud == Some(0) && postgres == Some(0) && suspended == Some(true))
    })
    .await?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    assert!(claims.get_opt("nextcloud-data").await?.is_some());

    // Resume: back to Ready.
    patch_spec(&client, name, json!({"suspend": false})).await?;
    let m = wait(&munis, name, has_condition("Ready", "True")).await?;
    assert_eq!(m.status.unwrap().phase, Some(Phase::Ready));

    // Grow: the claims ask for more; shrinking is refused by the API server itself.
    patch_spec(&client, name, json!({"storage": {"size": "20Gi"}})).await?;
    // The database volume grows with the files (a tenth): the same reconcile, one apply after.
    eventually("the file volume asks for 20Gi and the database's for 2Gi", || async {
        Ok(request(&claims.get("nextcloud-data").await?) == "20Gi"
            && request(&claims.get("postgres-data").await?) == "2Gi")
    })
    .await?;
    let m = wait(&munis, name, has_condition("StorageReady", "False")).await?;
    // local-path-provisioner cannot resize: the claim waits, and the condition says so.
    assert_eq!(reason(&m, "StorageReady").as_deref(), Some("Resizing"), "{:?}", message(&m, "StorageReady"));
    let refused = Api::<Municipality>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"storage": {"size": "5Gi"}}})))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("never shrink"), "{refused}");

    // Disable: the workloads go, the volumes and credentials stay.
    patch_spec(&client, name, json!({"collaboration": {"enabled": false}})).await?;
    eventually("the suite's workloads are removed", || async {
        Ok(deployments.get_opt("nextcloud").await?.is_none()
            && sets.get_opt("postgres").await?.is_none()
            && cron.get_opt("nextcloud-cron").await?.is_none())
    })
    .await?;
    assert!(claims.get_opt("nextcloud-data").await?.is_some() && claims.get_opt("postgres-data").await?.is_some());
    // The status is written after the workloads are removed: wait for it rather than read it once.
    wait(&munis, name, |m: Option<&Municipality>| {
        m.and_then(|m| m.status.as_ref()).is_some_and(|s| s.conditions.iter().all(|c| c.type_ != "CollaborationReady"))
    })
    .await?;

    delete_municipality(&client, name).await?;
    Ok(())
}

#[tokio::test]
async fn refusals_name_the_class_and_the_numbers() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());

    // An unencrypted class for an ENS Media tenant.
    let hdd = with_suite("riello", "24132", json!({"storage": {"class": "local-path-fixed"}}));
    create_fresh(&client, &hdd).await?;
    let m = wait(&munis, "riello", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&m, "Valid").as_deref(), Some("StorageClassNotEncrypted"));
    let text = message(&m, "Valid").unwrap();
    assert!(text.contains("local-path-fixed") && text.contains("encrypted classes: local-path"), "{text}");
    assert!(Api::<Namespace>::all(client.clone()).get_opt("muni-24132").await?.is_none(), "nothing provisioned");
    delete_municipality(&client, "riello").await?;

    // A class the province does not offer.
    create_fresh(&client, &with_suite("riello", "24132", json!({"storage": {"class": "oro"}}))).await?;
    let m = wait(&munis, "riello", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&m, "Valid").as_deref(), Some("StorageClassNotAllowed"));
    delete_municipality(&client, "riello").await?;

    // A suite larger than the plan: refused whole, with the numbers.
    apply(&Api::<ServicePlan>::all(client.clone()), &plan("suite-too-small", "1", "1Gi", 40)).await?;
    create_fresh(&client, &with_suite("la-robla", "24134", json!({"plan": "suite-too-small"}))).await?;
    let m = wait(&munis, "la-robla", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&m, "Valid").as_deref(), Some("SuiteExceedsPlan"));
    let text = message(&m, "Valid").unwrap();
    // León backs up every town hall with volumes: the suite's 1300m of limits and a backup run's 1 CPU.
    assert!(text.contains("limits.cpu 2300m > 1") && text.contains("one backup run"), "{text}");
    let deployments = Api::<Deployment>::namespaced(client.clone(), "muni-24134");
    assert!(deployments.list(&ListParams::default()).await.map(|l| l.items.is_empty()).unwrap_or(true));
    delete_municipality(&client, "la-robla").await?;
    Ok(())
}
