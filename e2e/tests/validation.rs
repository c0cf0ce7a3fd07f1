//! Bad input is refused at admission where the API server can check it alone, and otherwise
//! reported as Valid=False with a reason and a message; an invalid edit keeps the tenant intact.

mod support;

use concejo::api::v1alpha1::{Municipality, Phase, Province};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;

/// The API server refuses these by itself (schema and CEL), with the given words in its answer.
#[tokio::test]
async fn malformed_specs_are_refused_at_admission() -> anyhow::Result<()> {
    let client = leon().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let cases = [
        ("bad-dir3", json!({"dir3": "L0124089"}), "dir3 must be \"L01\" followed by the 5-digit INE code"),
        ("bad-nif", json!({"nif": "P24091000"}), "nif must be \"P\", 7 digits and a control letter"),
        ("bad-ens", json!({"ensCategory": "Maxima"}), "Unsupported value: \"Maxima\""),
        ("bad-policy", json!({"deletionPolicy": "Orphan"}), "Unsupported value: \"Orphan\""),
        (
            "bad-subject",
            json!({"admins": [{"kind": "ServiceAccount", "name": "x"}]}),
            "Unsupported value: \"ServiceAccount\"",
        ),
        ("bad-domain", json!({"domains": ["Not A Host"]}), "every domains entry must be a lower-case DNS name"),
        ("bad-cidr", json!({"network": {"egress": [{"cidr": "192.0.2.10"}]}}), "egress cidr must be a CIDR"),
        (
            "bad-port",
            json!({"network": {"egress": [{"cidr": "192.0.2.10/32", "ports": [70000]}]}}),
            "should be less than or equal to 65535",
        ),
    ];
    for (name, extra, expected) in cases {
        let mut object = serde_json::to_value(municipality(name, "leon", "24089", "León"))?;
        for (k, v) in extra.as_object().unwrap() {
            object["spec"][k] = v.clone();
        }
        let err = create_raw(&client, object).await.unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{name}: expected {expected:?} in {err:#}");
    }
    // metadata.name must be a DNS label (a subdomain with dots is not).
    let err = create(&munis, &municipality("leon.capital", "leon", "24089", "León")).await.unwrap_err();
    assert!(format!("{err:#}").contains("metadata.name must be a DNS label"), "{err:#}");

    // province and ineCode are immutable (no operator needed for either).
    create(&munis, &municipality("inmutable", "leon", "24089", "León")).await?;
    for (patch, expected) in [
        (json!({"spec": {"province": "zamora"}}), "province is immutable"),
        (json!({"spec": {"ineCode": "24090"}}), "ineCode is immutable"),
    ] {
        let err = munis.patch("inmutable", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{err:#}");
    }
    munis.delete("inmutable", &Default::default()).await?;
    wait_deleted(&munis, "inmutable").await?;

    // A Province with a CIDR that is not one, and a ServicePlan whose default exceeds its maximum.
    let provinces = Api::<Province>::all(client.clone());
    let mut zamora = apply_leon(&client).await?;
    zamora.metadata = kube::api::ObjectMeta { name: Some("zamora".into()), ..Default::default() };
    zamora.spec.ine_code = "49".into();
    zamora.spec.network.sara.as_mut().unwrap().cidrs = vec!["10.252.0.0/33".into()];
    let err = create(&provinces, &zamora).await.unwrap_err();
    assert!(format!("{err:#}").contains("every sara.cidrs entry must be a CIDR"), "{err:#}");
    let mut plan = plan("too-generous", "4", "8Gi", 10);
    plan.spec.limit_range.default_cpu = "3".into();
    let err = create(&Api::all(client.clone()), &plan).await.unwrap_err();
    assert!(format!("{err:#}").contains("limitRange defaults must not exceed its maxima"), "{err:#}");
    Ok(())
}

/// What only the operator can know is reported on the object, and touches nothing.
#[tokio::test]
async fn specs_the_operator_cannot_honour_are_reported_with_a_reason() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());

    let cases = [
        ("no-such-town", "24999", json!({}), "UnknownIneCode", "not a municipality in INE's register"),
        ("madrid-en-leon", "28079", json!({}), "ProvinceMismatch", "Madrid"),
        ("wrong-dir3", "24001", json!({"dir3": "L01240017"}), "InvalidDir3", "should be \"L01240016\""),
        (
            "wrong-nif",
            "24002",
            json!({"nif": "P2409100B"}),
            "InvalidNif",
            "control letter 'B', but its digits give 'A'",
        ),
        ("nif-of-madrid", "24003", json!({"nif": "P2807900B"}), "InvalidNif", "province digits \"28\""),
        (
            "no-province",
            "24024",
            json!({"province": "narnia"}),
            "ProvinceNotFound",
            "Province \"narnia\" does not exist",
        ),
        ("no-plan", "24068", json!({"plan": "platinum"}), "PlanNotFound", "ServicePlan \"platinum\" does not exist"),
    ];
    for (name, code, extra, _, _) in &cases {
        create_fresh(&client, &municipality_with(name, code, extra.clone())).await?;
    }
    for (name, code, _, expected_reason, expected_message) in &cases {
        let m = wait(&munis, name, has_condition("Valid", "False")).await?;
        assert_eq!(reason(&m, "Valid").as_deref(), Some(*expected_reason), "{name}");
        let msg = message(&m, "Valid").unwrap();
        assert!(msg.contains(expected_message), "{name}: {msg}");
        assert_eq!(m.status.as_ref().unwrap().phase, Some(Phase::Pending), "{name}");
        assert!(namespaces.get_opt(&format!("muni-{code}")).await?.is_none(), "{name} got a namespace");
    }
    // An Event says it too.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), "default");
    eventually("a Warning Event for no-such-town", || async {
        let list = events.list(&Default::default()).await?;
        Ok(list.items.iter().any(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("no-such-town")
                && e.reason.as_deref() == Some("UnknownIneCode")
                && e.type_.as_deref() == Some("Warning")
        }))
    })
    .await?;
    for (name, ..) in &cases {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_second_claim_on_a_code_or_a_hostname_is_a_conflict_and_touches_nothing() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    for name in ["villablino-bis", "astorga"] {
        delete_municipality(&client, name).await?;
    }

    create_fresh(
        &client,
        &municipality_with(
            "villablino",
            "24202",
            json!({"domains": ["nube.villablino.es"], "deletionPolicy": "Delete"}),
        ),
    )
    .await?;
    wait(&munis, "villablino", has_condition("Ready", "True")).await?;
    create_fresh(&client, &municipality_with("villablino-bis", "24202", json!({"deletionPolicy": "Delete"}))).await?;
    let second = wait(&munis, "villablino-bis", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&second, "Valid").as_deref(), Some("Conflict"));
    assert!(message(&second, "Valid").unwrap().contains("\"villablino\""));
    assert_eq!(second.status.as_ref().unwrap().namespace, None);

    create_fresh(
        &client,
        &municipality_with("astorga", "24008", json!({"domains": ["nube.villablino.es"], "deletionPolicy": "Delete"})),
    )
    .await?;
    let third = wait(&munis, "astorga", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&third, "Valid").as_deref(), Some("HostnameConflict"));

    // Deleting the conflicting one (policy Delete) must not delete the first one's namespace.
    delete_municipality(&client, "villablino-bis").await?;
    let ns = Api::<Namespace>::all(client.clone()).get("muni-24202").await?;
    assert!(ns.metadata.deletion_timestamp.is_none(), "the conflicting Municipality deleted the tenant of another");
    let first = munis.get("villablino").await?;
    assert_eq!(first.status.unwrap().phase, Some(Phase::Ready));

    for name in ["astorga", "villablino"] {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_invalid_edit_keeps_a_ready_tenant_intact() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &municipality_with("bembibre", "24014", json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, "bembibre", has_condition("Ready", "True")).await?;

    munis.patch("bembibre", &PatchParams::default(), &Patch::Merge(json!({"spec": {"plan": "platinum"}}))).await?;
    let m = wait(&munis, "bembibre", has_condition("Valid", "False")).await?;
    assert_eq!(reason(&m, "Valid").as_deref(), Some("PlanNotFound"));
    let status = m.status.unwrap();
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert_eq!(status.namespace.as_deref(), Some("muni-24014"));
    assert!(
        status.conditions.iter().any(|c| c.type_ == "Isolated" && c.status == "True"),
        "isolation is still in place"
    );
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), "muni-24014").get("tenant-quota").await?;
    assert!(quota.metadata.deletion_timestamp.is_none());

    munis.patch("bembibre", &PatchParams::default(), &Patch::Merge(json!({"spec": {"plan": null}}))).await?;
    wait(&munis, "bembibre", has_condition("Ready", "True")).await?;
    delete_municipality(&client, "bembibre").await?;
    Ok(())
}
