//! concejo keeps enforcing what it promises when something goes wrong or someone pushes on it:
//! an invalid edit, a field it stops setting, a third party's edit, an unreadable CA Secret,
//! spoofed labels, a key that does not match its certificate; and the API server refuses what a
//! tenant must never have. Each test says which hole it covers.

mod support;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use concejo::api::v1alpha1::{Municipality, Phase, Province, ServicePlan};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ResourceQuota, Secret, Service};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;

/// Someone other than concejo (and other than the tests' usual manager) editing an object.
fn third_party() -> PatchParams {
    PatchParams { field_manager: Some("e2e-third-party".into()), ..Default::default() }
}

fn bytes(secret: &Secret, key: &str) -> Vec<u8> {
    secret.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone()).unwrap_or_default()
}

/// Sets one key of a Secret's data with a JSON merge patch, as a third party.
async fn set_secret_data(secrets: &Api<Secret>, name: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
    let patch = json!({"data": {key: ByteString(value.to_vec())}});
    secrets.patch(name, &third_party(), &Patch::Merge(&patch)).await?;
    Ok(())
}

fn serial(m: &Municipality) -> Option<String> {
    m.status.as_ref()?.certificate.as_ref().map(|c| c.serial.clone())
}

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

/// A Province of its own for a test, with no CA Secret left over from an earlier run.
async fn fresh_province(
    client: &Client,
    name: &str,
    code: &str,
    display_name: &str,
    base_domain: &str,
    pki: serde_json::Value,
) -> anyhow::Result<()> {
    delete_if_present(&Api::<Secret>::namespaced(client.clone(), "default"), &format!("concejo-ca-{name}")).await?;
    let province: Province = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": name},
        "spec": {"ineCode": code, "displayName": display_name, "baseDomain": base_domain,
                 "defaultPlan": "town", "pki": pki}
    }))?;
    apply(&Api::<Province>::all(client.clone()), &province).await?;
    Ok(())
}

/// Removes a test's own Province and its CA Secret (its Municipalities must be gone first).
async fn remove_province(client: &Client, name: &str) -> anyhow::Result<()> {
    delete_if_present(&Api::<Province>::all(client.clone()), name).await?;
    delete_if_present(&Api::<Secret>::namespaced(client.clone(), "default"), &format!("concejo-ca-{name}")).await
}

/// Whether a Warning Event with this reason regards the named object, as events.k8s.io/v1 or
/// core/v1 shows it, in namespace "default".
async fn warning_event(client: &Client, kind: &str, name: &str, reason: &str) -> anyhow::Result<bool> {
    use k8s_openapi::api::{core::v1::Event as CoreEvent, events::v1::Event};
    let events = Api::<Event>::namespaced(client.clone(), "default").list(&Default::default()).await?;
    let found = events.items.iter().any(|e| {
        e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
            && e.reason.as_deref() == Some(reason)
            && e.type_.as_deref() == Some("Warning")
    });
    let core = Api::<CoreEvent>::namespaced(client.clone(), "default").list(&Default::default()).await?;
    Ok(found
        || core.items.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
                && e.reason.as_deref() == Some(reason)
                && e.type_.as_deref() == Some("Warning")
        }))
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

/// Hole: a CA Secret that exists but could not be read was taken for a missing one, and
/// concejo overwrote it with a new root (re-issuing every tenant). It must fail closed instead:
/// CAReady=False with a Warning Event, the Secret untouched, the tenants' certificates kept.
#[tokio::test]
async fn an_unreadable_ca_secret_fails_closed() -> anyhow::Result<()> {
    let client = leon().await?;
    fresh_province(&client, "zamora", "49", "Diputación de Zamora", "nube.dipuzamora.es", json!({})).await?;
    let _operator = Operator::start().await?;
    let result = unreadable_ca_is_reported_and_left_alone(&client).await;
    // Also after a failure: a garbage CA Secret left behind would keep later operators busy.
    delete_municipality(&client, "benavente").await?;
    remove_province(&client, "zamora").await?;
    result
}

async fn unreadable_ca_is_reported_and_left_alone(client: &Client) -> anyhow::Result<()> {
    let munis = Api::<Municipality>::all(client.clone());
    let provinces = Api::<Province>::all(client.clone());
    let secrets = Api::<Secret>::namespaced(client.clone(), "default");
    create_fresh(
        client,
        &municipality_with("benavente", "49021", json!({"province": "zamora", "deletionPolicy": "Delete"})),
    )
    .await?;
    let tenant = wait(&munis, "benavente", has_condition("Ready", "True")).await?;
    let serial_before = serial(&tenant);
    ensure!(serial_before.is_some(), "a Ready tenant without a certificate");
    let root = bytes(&secrets.get("concejo-ca-zamora").await?, "root.crt");
    ensure!(String::from_utf8_lossy(&root).contains("BEGIN CERTIFICATE"), "concejo-ca-zamora has no root.crt");

    set_secret_data(&secrets, "concejo-ca-zamora", "root.crt", b"not a certificate").await?;
    let province = wait(&provinces, "zamora", province_has_condition("CAReady", "False")).await?;
    let conditions = province.status.map(|s| s.conditions).unwrap_or_default();
    let ca_ready = conditions.iter().find(|c| c.type_ == "CAReady").context("no CAReady condition")?;
    ensure!(
        ca_ready.reason == "CASecretUnreadable",
        "CAReady=False with reason {}: {}",
        ca_ready.reason,
        ca_ready.message
    );
    eventually("a Warning Event CASecretUnreadable regards Province zamora", || async {
        warning_event(client, "Province", "zamora", "CASecretUnreadable").await
    })
    .await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = bytes(&secrets.get("concejo-ca-zamora").await?, "root.crt");
        ensure!(now == b"not a certificate", "concejo overwrote the unreadable CA Secret");
    }
    let serial_now = serial(&munis.get("benavente").await?);
    ensure!(serial_now == serial_before, "the tenant's certificate was re-issued: {serial_before:?} -> {serial_now:?}");

    // Readable again: CAReady again.
    set_secret_data(&secrets, "concejo-ca-zamora", "root.crt", &root).await?;
    wait(&provinces, "zamora", province_has_condition("CAReady", "True")).await?;
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

fn service(name: &str, type_: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"type": type_, "selector": {"app": "web"}, "ports": [{"port": 443, "targetPort": 8443}]}
    }))
    .expect("a valid Service")
}

/// Hole: a tenant could publish itself past the province's ingress with a Service of type
/// LoadBalancer or NodePort. Admission refuses both in tenant namespaces and points to an Ingress.
#[tokio::test]
async fn load_balancer_and_node_port_services_are_refused_in_tenant_namespaces() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &municipality_with("los-barrios-de-luna", "24012", json!({"deletionPolicy": "Delete"})))
        .await?;
    wait(&munis, "los-barrios-de-luna", has_condition("Ready", "True")).await?;
    let services = Api::<Service>::namespaced(client.clone(), "muni-24012");

    for type_ in ["LoadBalancer", "NodePort"] {
        let name = type_.to_lowercase();
        let result = services.create(&PostParams::default(), &service(&name, type_)).await;
        let Err(err) = result else {
            services.delete(&name, &DeleteParams::default()).await?;
            anyhow::bail!("a Service of type {type_} was accepted in tenant namespace muni-24012");
        };
        let text = format!("{err:#}");
        assert!(text.contains("LoadBalancer") || text.contains("NodePort"), "{type_}: {text}");
        assert!(text.contains("Ingress"), "{type_}: the refusal does not point to an Ingress: {text}");
    }
    services.create(&PostParams::default(), &service("web", "ClusterIP")).await?;
    services.delete("web", &DeleteParams::default()).await?;

    delete_municipality(&client, "los-barrios-de-luna").await?;
    Ok(())
}

/// Hole: `network.egress` accepted 0.0.0.0/0, a hole through deny-by-default to the whole
/// internet. The API server refuses IPv4 ranges wider than /16 and IPv6 ranges wider than /48.
#[tokio::test]
async fn egress_to_the_whole_internet_is_refused_at_admission() -> anyhow::Result<()> {
    let client = leon().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let with_egress = |name: &str, cidr: &str| {
        municipality_with(name, "24015", json!({"network": {"egress": [{"cidr": cidr, "ports": [443]}]}}))
    };
    delete_if_present(&munis, "benavides").await?;

    let mut accepted = vec![];
    for cidr in ["0.0.0.0/0", "::/0", "0.0.0.0/1", "10.0.0.0/15", "2001:db8::/47"] {
        match create(&munis, &with_egress("benavides", cidr)).await {
            Ok(_) => {
                accepted.push(cidr);
                delete_if_present(&munis, "benavides").await?;
            }
            Err(err) => assert!(format!("{err:#}").contains("egress"), "{cidr}: {err:#}"),
        }
    }
    anyhow::ensure!(accepted.is_empty(), "egress to these ranges was accepted at admission: {accepted:?}");

    // Narrow enough ranges are accepted, and an edit cannot widen one to everything.
    for cidr in ["10.20.0.0/16", "2001:db8::/48", "192.0.2.10/32"] {
        create(&munis, &with_egress("benavides", cidr)).await?;
        delete_if_present(&munis, "benavides").await?;
    }
    create(&munis, &with_egress("benavides", "192.0.2.10/32")).await?;
    let widen = json!({"spec": {"network": {"egress": [{"cidr": "0.0.0.0/0"}]}}});
    let edited = munis.patch("benavides", &PatchParams::default(), &Patch::Merge(&widen)).await;
    delete_if_present(&munis, "benavides").await?;
    let err = edited.err().ok_or_else(|| anyhow::anyhow!("an edit to egress 0.0.0.0/0 was accepted"))?;
    assert!(format!("{err:#}").contains("egress"), "{err:#}");
    Ok(())
}

/// Hole: a certificateDuration the API server accepts ("1.5h") did not parse in concejo, which
/// silently issued 90-day certificates instead.
#[tokio::test]
async fn a_fractional_certificate_duration_is_honoured() -> anyhow::Result<()> {
    let client = leon().await?;
    fresh_province(
        &client,
        "palencia",
        "34",
        "Diputación de Palencia",
        "nube.dipupalencia.es",
        json!({"certificateDuration": "1.5h"}),
    )
    .await?;
    let _operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(
        &client,
        &municipality_with("palencia", "34120", json!({"province": "palencia", "deletionPolicy": "Delete"})),
    )
    .await?;
    let m = wait(&munis, "palencia", has_condition("CertificateReady", "True")).await?;
    let not_after: Timestamp = m.status.unwrap().certificate.unwrap().not_after.parse()?;
    let left = not_after.as_second() - Timestamp::now().as_second();

    // Before judging: a Province of 90-day certificates is no use to the next tests either.
    delete_municipality(&client, "palencia").await?;
    remove_province(&client, "palencia").await?;
    ensure!(
        (0..2 * 3600).contains(&left),
        "certificateDuration 1.5h gave a certificate valid until {not_after}, {:.1} h from now",
        left as f64 / 3600.0
    );
    Ok(())
}

/// Hole: a tenant-tls whose tls.key is not the certificate's key (a valid key, the wrong pair)
/// was kept, leaving the tenant with a TLS Secret no server can use. It is re-issued.
#[tokio::test]
async fn a_tls_key_that_does_not_match_its_certificate_is_replaced() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let towns = [("benuza", "24016"), ("bercianos-del-paramo", "24017")];
    for (name, code) in towns {
        create_fresh(&client, &municipality_with(name, code, json!({"deletionPolicy": "Delete"}))).await?;
    }
    let mut serials = vec![];
    for (name, _) in towns {
        serials.push(serial(&wait(&munis, name, has_condition("CertificateReady", "True")).await?));
    }
    let secrets = Api::<Secret>::namespaced(client.clone(), "muni-24016");
    let before = secrets.get("tenant-tls").await?;
    let other_key = bytes(&Api::<Secret>::namespaced(client.clone(), "muni-24017").get("tenant-tls").await?, "tls.key");
    assert_ne!(other_key, bytes(&before, "tls.key"));

    set_secret_data(&secrets, "tenant-tls", "tls.key", &other_key).await?;
    eventually("benuza's certificate is re-issued with a key of its own", || async {
        let secret = secrets.get("tenant-tls").await?;
        let reissued =
            serial(&munis.get("benuza").await?) != serials[0] && bytes(&secret, "tls.crt") != bytes(&before, "tls.crt");
        Ok(reissued && bytes(&secret, "tls.key") != other_key)
    })
    .await?;

    for (name, _) in towns {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}
