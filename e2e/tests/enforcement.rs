//! concejo keeps enforcing what it promises when something goes wrong or someone pushes on it:
//! an invalid edit, a field it stops setting, a third party's edit, spoofed labels. Each test
//! says which hole it covered.

mod support;

use std::time::Duration;

use anyhow::ensure;
use concejo::api::v1alpha1::{Municipality, Phase, ServicePlan};
use k8s_openapi::api::core::v1::{ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;

/// A Ready León tenant (deletionPolicy Delete), then edited to a plan that does not exist.
async fn degraded_tenant(client: &Client, name: &str, code: &str) -> anyhow::Result<()> {
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(client, &municipality_with(name, code, json!({"deletionPolicy": "Delete"}))).await?;
    wait(&munis, name, has_condition("Ready", "True")).await?;
    munis.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"plan": "platinum"}}))).await?;
    let m = wait(&munis, name, has_condition("Valid", "False")).await?;
    assert_eq!(reason(&m, "Valid").as_deref(), Some("PlanNotFound"));
    assert_eq!(m.status.as_ref().and_then(|s| s.phase), Some(Phase::Degraded));
    Ok(())
}

/// Hole: an invalid edit stopped all enforcement. A Degraded tenant (its plan does not exist)
/// still gets the isolation of its last valid spec put back when someone deletes it.
#[tokio::test]
async fn a_degraded_tenant_still_puts_its_isolation_back() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    degraded_tenant(&client, "almanza", "24004").await?;

    let netpols = Api::<NetworkPolicy>::namespaced(client.clone(), "muni-24004");
    netpols.delete("deny-all", &DeleteParams::default()).await?;
    eventually("deny-all is back while the tenant is Degraded", || async {
        Ok(netpols.get_opt("deny-all").await?.is_some())
    })
    .await?;
    let m = wait(&munis, "almanza", has_condition("Isolated", "True")).await?;
    assert_eq!(m.status.as_ref().and_then(|s| s.phase), Some(Phase::Degraded));
    assert_eq!(reason(&m, "Valid").as_deref(), Some("PlanNotFound"));

    delete_municipality(&client, "almanza").await?;
    Ok(())
}

/// Hole: an invalid edit stopped all enforcement. A Degraded tenant still has its TLS Secret
/// maintained: a deleted `tenant-tls` comes back.
#[tokio::test]
async fn a_degraded_tenant_still_gets_its_tls_secret_back() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    degraded_tenant(&client, "berlanga-del-bierzo", "24019").await?;

    let secrets = Api::<Secret>::namespaced(client.clone(), "muni-24019");
    secrets.delete("tenant-tls", &DeleteParams::default()).await?;
    eventually("tenant-tls is back while the tenant is Degraded", || async {
        Ok(secrets.get_opt("tenant-tls").await?.is_some())
    })
    .await?;

    delete_municipality(&client, "berlanga-del-bierzo").await?;
    Ok(())
}

/// The ports of every egress rule of a NetworkPolicy, rule by rule (empty: all ports).
fn egress_ports(policy: &NetworkPolicy) -> Vec<Vec<i32>> {
    let rules = policy.spec.as_ref().and_then(|s| s.egress.clone()).unwrap_or_default();
    let number = |p: &NetworkPolicyPort| match p.port {
        Some(IntOrString::Int(n)) => n,
        _ => -1, // a named port: concejo never sets one
    };
    rules.iter().map(|r| r.ports.iter().flatten().map(number).collect()).collect()
}

/// Hole: a field concejo set and then stopped setting stayed behind. An egress rule whose ports
/// are removed from the Municipality ends up allowing every port.
#[tokio::test]
async fn a_field_concejo_stops_setting_is_removed() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let egress = json!({"egress": [{"cidr": "192.0.2.10/32", "ports": [443]}]});
    create_fresh(
        &client,
        &municipality_with("la-antigua", "24005", json!({"deletionPolicy": "Delete", "network": egress})),
    )
    .await?;
    wait(&munis, "la-antigua", has_condition("Ready", "True")).await?;
    let netpols = Api::<NetworkPolicy>::namespaced(client.clone(), "muni-24005");
    assert_eq!(egress_ports(&netpols.get("allow-egress").await?), vec![vec![443]]);

    let no_ports = json!({"spec": {"network": {"egress": [{"cidr": "192.0.2.10/32"}]}}});
    munis.patch("la-antigua", &PatchParams::default(), &Patch::Merge(&no_ports)).await?;
    let converged = eventually("allow-egress has a rule with no ports", || async {
        Ok(egress_ports(&netpols.get("allow-egress").await?) == vec![Vec::<i32>::new()])
    })
    .await;
    if converged.is_err() {
        println!("allow-egress is now: {:#?}", netpols.get("allow-egress").await?.spec);
    }
    converged?;

    delete_municipality(&client, "la-antigua").await?;
    Ok(())
}

/// Hole: a rule a third party added to a managed object stayed, because the live object still
/// "contained" everything concejo wanted. An allow-all ingress rule added to `deny-all` is removed.
#[tokio::test]
async fn a_rule_a_third_party_adds_to_deny_all_is_reverted() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(
        &client,
        &municipality_with("bercianos-del-real-camino", "24018", json!({"deletionPolicy": "Delete"})),
    )
    .await?;
    wait(&munis, "bercianos-del-real-camino", has_condition("Ready", "True")).await?;

    let netpols = Api::<NetworkPolicy>::namespaced(client.clone(), "muni-24018");
    let ingress_rules = |p: &NetworkPolicy| p.spec.as_ref().and_then(|s| s.ingress.as_ref()).map_or(0, Vec::len);
    let opened = netpols.patch("deny-all", &third_party(), &Patch::Merge(json!({"spec": {"ingress": [{}]}}))).await?;
    assert_eq!(ingress_rules(&opened), 1, "the allow-all rule was not added: {:?}", opened.spec);
    eventually("deny-all has no ingress rule again", || async {
        Ok(ingress_rules(&netpols.get("deny-all").await?) == 0)
    })
    .await?;

    delete_municipality(&client, "bercianos-del-real-camino").await?;
    Ok(())
}

/// Every series of `concejo_api_writes_total` (by kind and verb) and its value.
async fn writes_by_series(operator: &Operator) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let (_, metrics) = operator.get("/metrics").await?;
    let mut series = std::collections::BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("concejo_api_writes_total")) {
        if let Some((name, value)) = line.rsplit_once(' ') {
            series.insert(name.to_owned(), value.parse()?);
        }
    }
    Ok(series)
}

/// Hole: quantities written in a form the API server rewrites ("1000m" is stored as "1", "0.5Gi"
/// as "512Mi") never compared equal, so every reconcile wrote the ResourceQuota again.
#[tokio::test]
async fn non_canonical_quantities_cause_no_writes_at_idle() -> anyhow::Result<()> {
    let client = leon().await?;
    let plans = Api::<ServicePlan>::all(client.clone());
    let plan: ServicePlan = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "ServicePlan", "metadata": {"name": "e2e-canonical"},
        "spec": {
            "quota": {"cpu": "1000m", "memory": "0.5Gi", "storage": "100Gi", "pods": 40},
            "limitRange": {"defaultCpu": "250m", "defaultMemory": "256Mi", "maxCpu": "1", "maxMemory": "512Mi"}
        }
    }))?;
    apply(&plans, &plan).await?;
    let operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(
        &client,
        &municipality_with("ardon", "24006", json!({"plan": "e2e-canonical", "deletionPolicy": "Delete"})),
    )
    .await?;
    wait(&munis, "ardon", has_condition("Ready", "True")).await?;
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), "muni-24006").get("tenant-quota").await?;
    let hard = quota.spec.and_then(|s| s.hard).unwrap_or_default();
    assert_eq!(
        (hard["requests.cpu"].0.as_str(), hard["requests.memory"].0.as_str()),
        ("1", "512Mi"),
        "the API server did not canonicalise the quota as this test assumes"
    );

    settled(&operator, "concejo_api_writes_total", Duration::from_secs(1)).await?;
    let by_series = writes_by_series(&operator).await?;
    let success = "concejo_reconciles_total{outcome=\"Success\"}";
    for poke in 1..=3 {
        let before = operator.metric(success).await?;
        let patch = json!({"metadata": {"annotations": {"e2e.concejo.dev/poke": poke.to_string()}}});
        munis.patch("ardon", &PatchParams::default(), &Patch::Merge(&patch)).await?;
        eventually("the poke is reconciled", || async { Ok(operator.metric(success).await? > before) }).await?;
    }
    let grown: Vec<String> = writes_by_series(&operator)
        .await?
        .into_iter()
        .filter_map(|(series, n)| {
            let was = by_series.get(&series).copied().unwrap_or(0.0);
            (n != was).then(|| format!("{series} +{}", n - was))
        })
        .collect();

    // A tenant on this plan left behind would write at every reconcile of later tests.
    delete_municipality(&client, "ardon").await?;
    delete_if_present(&plans, "e2e-canonical").await?;
    ensure!(grown.is_empty(), "reconciles with nothing to change wrote to the API server: {grown:?}");
    Ok(())
}

/// Hole: any Secret labelled like concejo's, anywhere, re-queued tenants (a CA-looking one every
/// tenant of the province). One a tenant's admin creates in their own namespace triggers nothing.
#[tokio::test]
async fn spoofed_labels_on_a_secret_trigger_no_reconcile() -> anyhow::Result<()> {
    let (client, operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let towns = [("arganza", "24007"), ("balboa", "24009"), ("barjas", "24011")];
    for (name, code) in towns {
        create_fresh(&client, &municipality_with(name, code, json!({"deletionPolicy": "Delete"}))).await?;
    }
    for (name, _) in towns {
        wait(&munis, name, has_condition("Ready", "True")).await?;
    }
    let before = settled(&operator, "concejo_reconciles_total", Duration::from_secs(2)).await?;

    let secrets = Api::<Secret>::namespaced(client.clone(), "muni-24007");
    delete_if_present(&secrets, "spoof").await?;
    let spoof: Secret = serde_json::from_value(json!({
        "metadata": {"name": "spoof", "labels": {
            "app.kubernetes.io/managed-by": "concejo", "app.kubernetes.io/instance": "balboa",
            "app.kubernetes.io/component": "ca", "concejo.dev/province": "leon", "concejo.dev/ine-code": "24007"
        }},
        "stringData": {"x": "0"}
    }))?;
    secrets.create(&PostParams::default(), &spoof).await?;
    for n in 1..=2 {
        set_secret_data(&secrets, "spoof", "x", n.to_string().as_bytes()).await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown = operator.metric_sum("concejo_reconciles_total").await? - before;

    secrets.delete("spoof", &DeleteParams::default()).await?;
    for (name, _) in towns {
        delete_municipality(&client, name).await?;
    }
    ensure!(grown == 0.0, "a Secret with spoofed labels caused {grown} reconciles");
    Ok(())
}
