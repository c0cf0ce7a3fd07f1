//! concejo as GitOps tools see it: Argo CD's health checks (docs/gitops/*.lua) judged on real
//! objects in each state they go through.

mod support;

use concejo::api::v1alpha1::{Municipality, Province};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::gitops::*;
use support::*;

const TOWN: &str = "cistierna";

/// A condition on raw objects: the condition of this type has this status, for the current generation.
fn observed(type_: &'static str, status: &'static str) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |o| observed_with(o, type_, status)
}

async fn patch_spec(client: &Client, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec}))).await?;
    Ok(())
}

#[tokio::test]
async fn argo_cd_health_of_municipalities_in_every_state() -> anyhow::Result<()> {
    let script = health_script("municipality")?;
    let health = |o: &DynamicObject| {
        let health = argocd_health(&script, o);
        println!("Municipality {} generation {:?}: {health:?}", o.name_any(), o.metadata.generation);
        health
    };
    let client = leon().await?;
    let munis = raw::<Municipality>(&client);
    let cleanup = Operator::start().await?;
    for name in [TOWN, "villa-desconocida"] {
        delete_municipality(&client, name).await?;
    }
    cleanup.kill().await?;

    // Just created, and no operator has seen it yet: no status.
    create(&Api::<Municipality>::all(client.clone()), &with_suite(TOWN, "24056", json!({}))).await?;
    let created = munis.get(TOWN).await?;
    assert!(created.data.get("status").is_none(), "{created:?}");
    assert_eq!(health(&created)?, Health::new("Progressing", "Waiting for concejo to reconcile this Municipality"));

    // Provisioning: the first status concejo writes (the suite cannot be up in one pass). The
    // watch starts before the operator does, so it sees that status whatever comes after it.
    let first_status = {
        let munis = munis.clone();
        tokio::spawn(async move { wait(&munis, TOWN, observed("Ready", "False")).await })
    };
    let operator = Operator::start().await?;
    let provisioning = first_status.await??;
    assert_eq!(status_field(&provisioning, "phase"), Some(&json!("Provisioning")), "{provisioning:?}");
    assert_eq!(health(&provisioning)?, Health::new("Progressing", said(&provisioning, "Ready")));

    // Ready.
    let ready = wait(&munis, TOWN, observed("Ready", "True")).await?;
    assert_eq!(health(&ready)?, Health::new("Healthy", "tenant namespace muni-24056 is provisioned"));

    // Degraded: a code that is not in INE's register; nothing is provisioned.
    let unknown = municipality("villa-desconocida", "leon", "24997", "Villa Desconocida");
    create(&Api::<Municipality>::all(client.clone()), &unknown).await?;
    let refused = wait(&munis, "villa-desconocida", observed("Valid", "False")).await?;
    assert_eq!(status_field(&refused, "phase"), Some(&json!("Pending")));
    let said_valid = said(&refused, "Valid");
    assert!(said_valid.starts_with("UnknownIneCode: ") && said_valid.contains("24997"), "{said_valid}");
    assert_eq!(health(&refused)?, Health::new("Degraded", said_valid));

    // Degraded: a provisioned tenant whose spec names a plan that does not exist (the tenant keeps
    // its last valid state).
    patch_spec(&client, TOWN, json!({"plan": "platinum"})).await?;
    let invalid = wait(&munis, TOWN, observed("Valid", "False")).await?;
    assert_eq!(status_field(&invalid, "phase"), Some(&json!("Degraded")));
    let said_valid = said(&invalid, "Valid");
    assert!(said_valid.starts_with("PlanNotFound: ServicePlan \"platinum\""), "{said_valid}");
    assert_eq!(health(&invalid)?, Health::new("Degraded", said_valid));

    // Suspended: Argo CD has a health status of its own for it.
    patch_spec(&client, TOWN, json!({"plan": null, "suspend": true})).await?;
    let suspended = wait(&munis, TOWN, |o: Option<&DynamicObject>| {
        observed_with(o, "Valid", "True") && o.and_then(|o| status_field(o, "phase")) == Some(&json!("Suspended"))
    })
    .await?;
    let said_ready = said(&suspended, "Ready");
    assert!(said_ready.starts_with("Suspended: "), "{said_ready}");
    assert_eq!(health(&suspended)?, Health::new("Suspended", said_ready));

    // A new generation nobody has reconciled yet (the operator is down): Progressing, whatever the
    // status of the generation before says.
    operator.kill().await?;
    patch_spec(&client, TOWN, json!({"suspend": false})).await?;
    let unobserved = munis.get(TOWN).await?;
    let (generation, observed_generation) =
        (unobserved.metadata.generation.unwrap(), status_field(&unobserved, "observedGeneration").unwrap());
    assert_eq!(observed_generation, &json!(generation - 1));
    let expected = format!(
        "Waiting for concejo to reconcile generation {generation} (its status describes generation {observed_generation})"
    );
    assert_eq!(health(&unobserved)?, Health::new("Progressing", expected));

    let _operator = Operator::start().await?;
    for name in [TOWN, "villa-desconocida"] {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn argo_cd_health_of_provinces() -> anyhow::Result<()> {
    let script = health_script("province")?;
    let health = |o: &DynamicObject| {
        let health = argocd_health(&script, o);
        println!("Province {} generation {:?}: {health:?}", o.name_any(), o.metadata.generation);
        health
    };
    let client = leon().await?;
    let provinces = raw::<Province>(&client);

    // Just created, no operator yet: no status. It names its own root CA, which does not exist.
    remove_province(&client, "palencia").await?;
    wait_deleted(&Api::<Province>::all(client.clone()), "palencia").await?;
    let root = json!({"rootSecret": "no-such-root"});
    fresh_province(&client, "palencia", "34", "Diputación de Palencia", "nube.dippalencia.es", root).await?;
    let created = provinces.get("palencia").await?;
    assert!(created.data.get("status").is_none(), "{created:?}");
    assert_eq!(health(&created)?, Health::new("Progressing", "Waiting for concejo to reconcile this Province"));

    let _operator = Operator::start().await?;
    let broken = wait(&provinces, "palencia", observed("CAReady", "False")).await?;
    let said_ca = said(&broken, "CAReady");
    assert_eq!(said_ca, "RootSecretNotFound: pki.rootSecret \"no-such-root\" does not exist in namespace default");
    assert_eq!(health(&broken)?, Health::new("Degraded", said_ca));

    // León as the e2e tests declare it: a CA concejo made, a backup repository.
    let leon = wait(&provinces, "leon", |o: Option<&DynamicObject>| {
        observed_with(o, "CAReady", "True") && observed_with(o, "BackupTargetReady", "True")
    })
    .await?;
    let tenants = condition(&leon, "TenantsReady").and_then(|c| c["message"].as_str()).unwrap_or_default();
    assert!(tenants.ends_with("municipalities are Ready"), "{leon:?}");
    assert_eq!(health(&leon)?, Health::new("Healthy", tenants));
    remove_province(&client, "palencia").await
}
