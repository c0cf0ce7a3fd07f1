//! What must fail closed or be refused: an unreadable CA Secret, a TLS key that does not match,
//! a certificate lifetime the API server accepts, Services and egress that would bypass the
//! province's ingress and deny-by-default. Each test says which hole it covered.

mod support;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use concejo::api::v1alpha1::{Municipality, Province};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;

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
