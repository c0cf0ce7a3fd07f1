//! A Municipality becomes a namespace with status, and goes away with it: on the real control plane.

mod support;

use concejo::api::v1alpha1::{Municipality, Phase, Province};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;

#[tokio::test]
async fn municipalities_become_ready_namespaces_and_leave_with_them() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());

    let towns =
        [("astorga", "24008", "Astorga"), ("ponferrada", "24115", "Ponferrada"), ("villablino", "24202", "Villablino")];
    for (name, code, display) in towns {
        create_fresh(
            &client,
            &municipality_with(name, code, json!({"displayName": display, "deletionPolicy": "Delete"})),
        )
        .await?;
    }
    for (name, code, _) in towns {
        let muni = wait(&munis, name, has_condition("Ready", "True")).await?;
        let status = muni.status.unwrap();
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.namespace.as_deref(), Some(format!("muni-{code}").as_str()));
        assert_eq!(status.observed_generation, muni.metadata.generation);
        let ns = namespaces.get(&format!("muni-{code}")).await?;
        let labels = ns.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("concejo"));
        assert_eq!(labels.get("concejo.dev/ine-code").map(String::as_str), Some(code));
        assert_eq!(labels.get("concejo.dev/province").map(String::as_str), Some("leon"));
    }

    // The Province counts its tenants.
    let provinces = Api::<Province>::all(client.clone());
    eventually("León counts its Ready tenants", || async {
        let s = provinces.get("leon").await?.status.unwrap_or_default();
        Ok(s.municipalities >= 3 && s.ready >= 3)
    })
    .await?;

    for (name, code, _) in towns {
        delete_municipality(&client, name).await?;
        wait_deleted(&namespaces, &format!("muni-{code}")).await?;
    }
    Ok(())
}

#[tokio::test]
async fn retain_keeps_the_namespace_and_its_contents_unmanaged() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &municipality("cacabelos", "leon", "24030", "Cacabelos")).await?;
    wait(&munis, "cacabelos", has_condition("Ready", "True")).await?;
    let ns = "muni-24030";
    let configmaps = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), ns);
    let data: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "expedientes"}, "data": {"2026": "registro"}}))?;
    create(&configmaps, &data).await?;

    delete_municipality(&client, "cacabelos").await?;
    let namespace = Api::<Namespace>::all(client.clone()).get(ns).await?;
    assert!(namespace.metadata.deletion_timestamp.is_none(), "Retain deleted the namespace");
    let labels = namespace.metadata.labels.unwrap_or_default();
    assert!(!labels.contains_key("app.kubernetes.io/managed-by"), "still marked as managed: {labels:?}");
    let note = namespace.metadata.annotations.unwrap_or_default().remove("concejo.dev/retained").unwrap_or_default();
    assert!(note.contains("deletionPolicy Retain"), "{note}");
    assert!(configmaps.get_opt("expedientes").await?.is_some(), "tenant data was lost");

    // A Municipality with the same code adopts it again; this one is then removed for real.
    create_fresh(&client, &municipality_with("cacabelos", "24030", json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, "cacabelos", has_condition("Ready", "True")).await?;
    assert!(configmaps.get_opt("expedientes").await?.is_some());
    delete_municipality(&client, "cacabelos").await?;
    wait_deleted(&Api::<Namespace>::all(client.clone()), ns).await?;
    Ok(())
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies() -> anyhow::Result<()> {
    let client = leon().await?;
    let lease = format!("e2e-failover-{}", std::process::id());
    let options = |identity: &str, wait_ready| OperatorOptions {
        lease: lease.clone(),
        identity: identity.into(),
        lease_duration: 4,
        wait_ready,
        ..OperatorOptions::default()
    };
    let first = Operator::start_with(options("first", true)).await?;
    let second = Operator::start_with(options("second", false)).await?;
    let leases = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), "default");
    let holder = || async {
        Ok::<_, anyhow::Error>(leases.get(&lease).await?.spec.and_then(|s| s.holder_identity).unwrap_or_default())
    };
    assert_eq!(holder().await?, "first");
    // The standby is ready (it knows the leader) but does not reconcile.
    eventually("the standby is ready", || async { Ok(second.get("/readyz").await.is_ok_and(|(code, _)| code == 200)) })
        .await?;
    assert_eq!(second.metric_sum("concejo_reconciles_total").await?, 0.0);

    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &municipality_with("bembibre", "24014", json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, "bembibre", has_condition("Ready", "True")).await?;
    assert_eq!(second.metric_sum("concejo_reconciles_total").await?, 0.0, "the standby reconciled");

    first.kill().await?;
    let took = eventually("the standby holds the Lease", || async { Ok(holder().await? == "second") }).await?;
    println!("standby took over {took:?} after the leader was killed");
    create_fresh(&client, &municipality_with("cacabelos", "24030", json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, "cacabelos", has_condition("Ready", "True")).await?;
    for name in ["bembibre", "cacabelos"] {
        delete_municipality(&client, name).await?;
    }
    drop(second);
    Ok(())
}

#[tokio::test]
async fn a_reconcile_that_changes_nothing_writes_nothing() -> anyhow::Result<()> {
    let (client, operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &municipality_with("astorga", "24008", json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, "astorga", has_condition("Ready", "True")).await?;

    // Let the writes of provisioning settle: the status write and the namespace's own watch
    // event each cause one more reconcile, which must find nothing to do.
    let mut writes = operator.metric_sum("concejo_api_writes_total").await?;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = operator.metric_sum("concejo_api_writes_total").await?;
        if now == writes {
            break;
        }
        writes = now;
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "writes never settled");
    }

    // An edit that changes nothing concejo manages (an annotation) triggers a reconcile.
    let reconciles = operator.metric("concejo_reconciles_total{outcome=\"Success\"}").await?;
    let patch = json!({"metadata": {"annotations": {"e2e.concejo.dev/poke": "1"}}});
    munis.patch("astorga", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while operator.metric("concejo_reconciles_total{outcome=\"Success\"}").await? <= reconciles {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the edit was never reconciled");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        operator.metric_sum("concejo_api_writes_total").await?,
        writes,
        "a reconcile with nothing to change wrote to the API server"
    );

    delete_municipality(&client, "astorga").await?;
    Ok(())
}

#[tokio::test]
async fn a_code_of_another_province_is_reported_not_provisioned() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());

    // 28079 is Madrid: a real code, but not of León.
    create_fresh(&client, &municipality_with("madrid-en-leon", "28079", json!({"deletionPolicy": "Delete"}))).await?;
    let muni = wait(&munis, "madrid-en-leon", has_condition("Valid", "False")).await?;
    let status = muni.status.unwrap();
    let valid = status.conditions.iter().find(|c| c.type_ == "Valid").unwrap();
    assert_eq!(valid.reason, "ProvinceMismatch");
    assert!(valid.message.contains("28079"), "{}", valid.message);
    assert_eq!(status.phase, Some(Phase::Pending));
    assert!(Api::<Namespace>::all(client.clone()).get_opt("muni-28079").await?.is_none());

    delete_municipality(&client, "madrid-en-leon").await?;
    Ok(())
}

/// The API server itself refuses malformed and changed INE codes, with a message a person understands.
#[tokio::test]
async fn malformed_or_changed_ine_codes_are_refused_at_admission() -> anyhow::Result<()> {
    let client = leon().await?;
    let munis = Api::<Municipality>::all(client.clone());

    for bad in ["2408", "24O89", "240890"] {
        let err = create(&munis, &municipality("bad-code", "leon", bad, "Bad")).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("5-digit INE municipality code") || text.contains("Too long"),
            "ineCode {bad:?}: unexpected error {text}"
        );
    }
    let err = create(&munis, &municipality("bad-code", "leon", "2408", "Bad")).await.unwrap_err();
    assert!(format!("{err:#}").contains("ineCode must be the 5-digit INE municipality code"), "{err:#}");

    let provinces = Api::<Province>::all(client.clone());
    let mut province = apply_leon(&client).await?;
    province.status = None;
    province.metadata = kube::api::ObjectMeta { name: Some("nowhere".into()), ..Default::default() };
    province.spec.ine_code = "53".into();
    let err = create(&provinces, &province).await.unwrap_err();
    assert!(format!("{err:#}").contains("2-digit INE province code"), "{err:#}");

    // No operator needed: immutability is the API server's job too.
    create(&munis, &municipality("inmutable", "leon", "24089", "León")).await?;
    let patch = json!({"spec": {"ineCode": "24090"}});
    let err = munis.patch("inmutable", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap_err();
    assert!(format!("{err:#}").contains("ineCode is immutable"), "{err:#}");
    Api::<Municipality>::all(client.clone()).delete("inmutable", &Default::default()).await?;
    wait_deleted(&munis, "inmutable").await?;
    Ok(())
}
