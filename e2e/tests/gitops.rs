//! concejo as GitOps tools see it: Argo CD's health checks (docs/gitops/*.lua) judged on real
//! objects in each state they go through, and the repository's examples applied the way Argo CD and
//! Flux apply them, reconciled, and then without a diff against Git.

mod support;

use concejo::api::v1alpha1::{Municipality, Province, ServicePlan};
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

/// The field manager the examples are applied with, as Argo CD or Flux would apply them. The same
/// one `apply_leon` uses, so the next test's `leon()` puts the e2e Province and plan back.
const GITOPS: &str = "concejo-e2e";

/// How many of the examples' 211 town halls the no-diff test applies: each brings its
/// collaboration suite, whose volumes and pods the local control plane takes seconds to bring up,
/// and all 211 take minutes (README).
const TOWN_HALLS: usize = 3;

#[tokio::test]
async fn the_examples_once_reconciled_show_no_diff_against_git() -> anyhow::Result<()> {
    let client = leon().await?;
    let _operator = Operator::start().await?;
    // The StorageClasses examples/leon/province.yaml offers, as `make demo` makes them.
    for (name, expandable) in [("cifrado-ssd", true), ("estandar-hdd", false)] {
        let class: k8s_openapi::api::storage::v1::StorageClass = serde_json::from_value(json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": expandable
        }))?;
        apply(&Api::all(client.clone()), &class).await?;
    }

    // The examples' files, the town halls cut down to the last TOWN_HALLS documents, verbatim.
    let examples = repository().join("examples/leon");
    let all = std::fs::read_to_string(examples.join("municipalities.yaml"))?;
    let documents: Vec<&str> = all.split("\n---\n").filter(|d| d.contains("kind: Municipality")).collect();
    let subset = &documents[documents.len() - TOWN_HALLS..];
    let dir = std::env::temp_dir().join(format!("concejo-gitops-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("municipalities.yaml"), subset.join("\n---\n") + "\n")?;
    let files = [examples.join("province.yaml"), examples.join("plans.yaml"), dir.join("municipalities.yaml")];
    let files: Vec<&str> = files.iter().map(|f| f.to_str().expect("a UTF-8 path")).collect();

    // Applied as a GitOps tool applies them: server-side, forced, one field manager.
    let mut args = vec!["apply", "--server-side", "--force-conflicts", "--field-manager", GITOPS, "-o", "json"];
    files.iter().for_each(|f| args.extend(["-f", f]));
    let started = std::time::Instant::now();
    let applied: serde_json::Value = serde_json::from_str(&kubectl_ok(&args).await?)?;
    let applied: Vec<DynamicObject> = serde_json::from_value(applied["items"].clone())?;
    let count = |k: &str| applied.iter().filter(|o| o.types.as_ref().is_some_and(|t| t.kind == k)).count();
    assert_eq!((count("Province"), count("ServicePlan"), count("Municipality")), (1, 3, TOWN_HALLS));

    // Which field managers own parts of each spec now, Git's among them.
    let api = |kind: &str| match kind {
        "Province" => raw::<Province>(&client),
        "ServicePlan" => raw::<ServicePlan>(&client),
        _ => raw::<Municipality>(&client),
    };
    let kind = |o: &DynamicObject| o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let mut spec_owners = vec![];
    for object in &applied {
        spec_owners.push(owners_of_spec(&api(&kind(object)).get(&object.name_any()).await?));
    }

    // Reconciled: every town hall Ready, the Province's CA, office pool and backup repository too.
    for m in applied.iter().filter(|o| kind(o) == "Municipality") {
        wait(&api("Municipality"), &m.name_any(), observed("Ready", "True")).await?;
    }
    wait(&api("Province"), "leon", |o: Option<&DynamicObject>| {
        ["CAReady", "OfficeReady", "BackupTargetReady"].iter().all(|c| observed_with(o, c, "True"))
    })
    .await?;

    println!("{} objects applied, reconciled after {:.1}s", applied.len(), started.elapsed().as_secs_f64());

    // Git and the cluster agree: a server-side dry-run of each file changes nothing.
    for file in &files {
        let diff = kubectl(&["diff", "--server-side", "--field-manager", GITOPS, "-f", file]).await?;
        let (out, err) = (String::from_utf8_lossy(&diff.stdout), String::from_utf8_lossy(&diff.stderr));
        assert!(diff.status.code() == Some(0) && out.is_empty(), "kubectl diff {file}: {}\n{out}{err}", diff.status);
    }
    // Nothing but Git wrote a spec: no object went to a new generation, and no field manager
    // (concejo's least of all) came to own a part of a spec.
    for (before, owners) in applied.iter().zip(&spec_owners) {
        let (kind, name) = (kind(before), before.name_any());
        let now = api(&kind).get(&name).await?;
        assert_eq!(now.metadata.generation, before.metadata.generation, "{kind} {name}: generation");
        assert!(owners.contains(&GITOPS.to_owned()), "{kind} {name}: {owners:?}");
        assert!(!owners.contains(&concejo::resources::labels::FIELD_MANAGER.to_owned()), "{kind} {name}: {owners:?}");
        assert_eq!(&owners_of_spec(&now), owners, "{kind} {name}: the managers of its spec");
    }

    // Put the cluster back: the town halls deleted with their data, León as the other tests want it.
    for m in applied.iter().filter(|o| kind(o) == "Municipality") {
        let delete = json!({"spec": {"deletionPolicy": "Delete"}});
        Api::<Municipality>::all(client.clone())
            .patch(&m.name_any(), &PatchParams::default(), &Patch::Merge(delete))
            .await?;
        delete_municipality(&client, &m.name_any()).await?;
    }
    apply_leon(&client).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The field managers that own some field of the object's spec, sorted.
fn owners_of_spec(object: &DynamicObject) -> Vec<String> {
    let mut owners: Vec<String> = object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some()))
        .filter_map(|e| e.manager.clone())
        .collect();
    owners.sort();
    owners.dedup();
    owners
}
