//! Tenant TLS from the provincial CA, checked with openssl on the real control plane.

mod support;

use std::path::Path;
use std::process::Command;

use concejo::api::v1alpha1::{Municipality, Province};
use concejo::pki::{self, Authority};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;

fn text(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// Writes the leaf, its intermediate and the trusted roots of a TLS Secret into `dir`.
fn write_chain(dir: &Path, secret: &Secret) -> anyhow::Result<()> {
    let chain = pki::split_bundle(&text(secret, "tls.crt"));
    anyhow::ensure!(chain.len() == 2, "tls.crt should be leaf + intermediate, has {} certificates", chain.len());
    std::fs::write(dir.join("leaf.pem"), &chain[0])?;
    std::fs::write(dir.join("intermediate.pem"), &chain[1])?;
    std::fs::write(dir.join("ca.pem"), text(secret, "ca.crt"))?;
    Ok(())
}

/// `openssl verify` of leaf.pem in `dir`: (success, what openssl said).
fn openssl_verify(dir: &Path) -> anyhow::Result<(bool, String)> {
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", "ca.pem", "-untrusted", "intermediate.pem", "leaf.pem"])
        .current_dir(dir)
        .output()?;
    Ok((
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    ))
}

fn openssl_text(dir: &Path) -> anyhow::Result<String> {
    let out = Command::new("openssl").args(["x509", "-in", "leaf.pem", "-noout", "-text"]).current_dir(dir).output()?;
    Ok(String::from_utf8(out.stdout)?)
}

fn tempdir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("concejo-e2e-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::test]
async fn tenant_certificates_verify_against_their_trusted_roots() -> anyhow::Result<()> {
    let (client, operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let towns = [
        ("leon", "24089", json!({"domains": ["nube.aytoleon.es"], "deletionPolicy": "Delete"})),
        ("ponferrada", "24115", json!({"deletionPolicy": "Delete"})),
        ("astorga", "24008", json!({"deletionPolicy": "Delete"})),
    ];
    for (name, code, extra) in &towns {
        create_fresh(&client, &municipality_with(name, code, extra.clone())).await?;
    }
    for (name, code, _) in &towns {
        let m = wait(&munis, name, has_condition("CertificateReady", "True")).await?;
        let status = m.status.unwrap().certificate.unwrap();
        let secret = Api::<Secret>::namespaced(client.clone(), &format!("muni-{code}")).get("tenant-tls").await?;
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let annotations = secret.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("cert-manager.io/issuer-kind").map(String::as_str), Some("Province"));
        let dir = tempdir(name)?;
        write_chain(&dir, &secret)?;
        let (ok, said) = openssl_verify(&dir)?;
        assert!(ok, "{name}: {said}");
        let printed = openssl_text(&dir)?;
        let expected = if *name == "leon" {
            "DNS:leon.nube.dipuleon.es, DNS:nube.aytoleon.es".to_owned()
        } else {
            format!("DNS:{name}.nube.dipuleon.es")
        };
        assert!(printed.contains(&expected), "{name}: SANs are not {expected}:\n{printed}");
        assert!(
            printed.contains("TLS Web Server Authentication") && printed.contains("Digital Signature"),
            "{printed}"
        );
        assert!(printed.contains("prime256v1"), "ECDSA P-256 is the default:\n{printed}");
        let serial = status.serial.replace(':', "").to_lowercase();
        assert!(printed.replace(':', "").to_lowercase().contains(&serial), "serial {serial} not in\n{printed}");
        assert_eq!(status.dns_names, expected.replace("DNS:", "").split(", ").map(String::from).collect::<Vec<_>>());

        // The expiry metric says the same as the certificate.
        let not_after = pki::inspect(&text(&secret, "tls.crt"))?.not_after as f64;
        let series = format!("concejo_certificate_expiration_timestamp_seconds{{ine_code=\"{code}\"}}");
        assert_eq!(operator.metric(&series).await?, not_after);
    }

    // Private keys are in the Secrets only: not in status, Events or metrics.
    let statuses = serde_json::to_string(&munis.list(&Default::default()).await?.items)?;
    let events = serde_json::to_string(
        &Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), "default")
            .list(&Default::default())
            .await?
            .items,
    )?;
    let (_, metrics) = operator.get("/metrics").await?;
    for (what, body) in [("status", &statuses), ("Events", &events), ("metrics", &metrics)] {
        assert!(!body.contains("PRIVATE KEY"), "a private key appears in {what}");
    }

    // A deleted TLS Secret is back within seconds, with a certificate that verifies again.
    let secrets = Api::<Secret>::namespaced(client.clone(), "muni-24115");
    secrets.delete("tenant-tls", &DeleteParams::default()).await?;
    let took =
        eventually("tenant-tls is back", || async { Ok(secrets.get_opt("tenant-tls").await?.is_some()) }).await?;
    println!("deleted TLS Secret back after {took:?}");
    let dir = tempdir("ponferrada-again")?;
    write_chain(&dir, &secrets.get("tenant-tls").await?)?;
    assert!(openssl_verify(&dir)?.0);

    // A change of hosts re-issues at once.
    munis
        .patch(
            "astorga",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domains": ["www.nube.dipuleon.es"]}})),
        )
        .await?;
    let astorga = Api::<Secret>::namespaced(client.clone(), "muni-24008");
    eventually("astorga's certificate covers its new host", || async {
        let s = astorga.get("tenant-tls").await?;
        Ok(pki::inspect(&text(&s, "tls.crt"))?.dns_names.contains(&"www.nube.dipuleon.es".to_owned()))
    })
    .await?;

    // Root rotation: tenants trust old and new roots at once, and the existing certificate
    // (signed under the old root) still verifies.
    let before = secrets.get("tenant-tls").await?;
    let provinces = Api::<Province>::all(client.clone());
    let token = format!("e2e-{}", std::process::id());
    provinces
        .patch(
            "leon",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"concejo.dev/rotate-root": token}}})),
        )
        .await?;
    eventually("ponferrada trusts two roots", || async {
        let s = secrets.get("tenant-tls").await?;
        Ok(pki::split_bundle(&text(&s, "ca.crt")).len() >= 2)
    })
    .await?;
    let after = secrets.get("tenant-tls").await?;
    assert_eq!(text(&after, "tls.crt"), text(&before, "tls.crt"), "rotation must not force a re-issue");
    let dir = tempdir("ponferrada-rotated")?;
    write_chain(&dir, &after)?;
    let (ok, said) = openssl_verify(&dir)?;
    assert!(ok, "the old certificate no longer verifies after a root rotation: {said}");

    for (name, ..) in &towns {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_intermediate_cannot_sign_outside_the_province() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let secrets = Api::<Secret>::namespaced(client.clone(), "default");
    let ca = eventually("León's CA exists", || async { Ok(secrets.get_opt("concejo-ca-leon").await?.is_some()) }).await;
    ca?;
    let ca = secrets.get("concejo-ca-leon").await?;
    let intermediate = Authority { cert_pem: text(&ca, "intermediate.crt"), key_pem: text(&ca, "intermediate.key") };
    let hosts = vec!["www.example.com".to_owned()];

    // concejo refuses to issue it...
    let refused = pki::issue_leaf(&intermediate, &hosts, Default::default(), chrono_now(), 3600);
    assert!(matches!(refused, Err(pki::PkiError::OutsideConstraints(_))), "{refused:?}");
    // ...and a certificate forced through with the leaked intermediate key does not verify.
    let forced = pki::sign_leaf(&intermediate, &hosts, Default::default(), chrono_now(), 3600)?;
    let dir = tempdir("outside")?;
    std::fs::write(dir.join("leaf.pem"), pki::split_bundle(&forced.cert_pem)[0].clone())?;
    std::fs::write(dir.join("intermediate.pem"), &intermediate.cert_pem)?;
    std::fs::write(dir.join("ca.pem"), text(&ca, "ca.crt"))?;
    let (ok, said) = openssl_verify(&dir)?;
    assert!(!ok, "a certificate for www.example.com verified: {said}");
    assert!(said.contains("permitted subtree violation"), "{said}");
    Ok(())
}

fn chrono_now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

#[tokio::test]
async fn short_lived_certificates_renew_before_they_expire() -> anyhow::Result<()> {
    let client = leon().await?;
    let provinces = Api::<Province>::all(client.clone());
    let zamora: Province = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": "zamora"},
        "spec": {"ineCode": "49", "displayName": "Diputación de Zamora", "baseDomain": "nube.diputaciondezamora.es",
                 "defaultPlan": "town", "pki": {"certificateDuration": "1m"}}
    }))?;
    apply(&provinces, &zamora).await?;
    let _operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(
        &client,
        &municipality_with("zamora", "49275", json!({"province": "zamora", "deletionPolicy": "Delete"})),
    )
    .await?;
    wait(&munis, "zamora", has_condition("CertificateReady", "True")).await?;
    let secrets = Api::<Secret>::namespaced(client.clone(), "muni-49275");
    let first = secrets.get("tenant-tls").await?;
    let first_info = pki::inspect(&text(&first, "tls.crt"))?;
    assert!(first_info.not_after - first_info.not_before <= 61, "{first_info:?}");

    // Renewal at two thirds (40 s, less up to 3 s of spread): wait for a new serial.
    let took = eventually("the certificate is renewed", || async {
        let s = secrets.get("tenant-tls").await?;
        Ok(pki::inspect(&text(&s, "tls.crt"))?.serial != first_info.serial)
    })
    .await?;
    let renewed_at = chrono_now();
    let second = secrets.get("tenant-tls").await?;
    println!("renewed after {took:?}");
    assert!(renewed_at < first_info.not_after, "renewed only after the old certificate expired");
    assert_ne!(text(&second, "tls.key"), text(&first, "tls.key"), "renewal must use a new private key");
    let dir = tempdir("zamora")?;
    write_chain(&dir, &second)?;
    assert!(openssl_verify(&dir)?.0);

    delete_municipality(&client, "zamora").await?;
    Ok(())
}

#[tokio::test]
async fn a_root_the_diputacion_brings_is_used_and_never_written() -> anyhow::Result<()> {
    let client = leon().await?;
    // The Diputación's own root, as a kubernetes.io/tls Secret in the operator's namespace.
    let root = pki::new_root("valladolid", Default::default(), chrono_now(), 3650 * 86_400)?;
    let secrets = Api::<Secret>::namespaced(client.clone(), "default");
    let brought: Secret = serde_json::from_value(json!({
        "metadata": {"name": "raiz-diputacion-valladolid"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": root.cert_pem, "tls.key": root.key_pem}
    }))?;
    apply(&secrets, &brought).await?;
    let before = secrets.get("raiz-diputacion-valladolid").await?;
    // A CA left by an earlier run would (rightly) keep its root trusted next to the new one.
    delete_if_present(&secrets, "concejo-ca-valladolid").await?;

    let provinces = Api::<Province>::all(client.clone());
    let valladolid: Province = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": "valladolid"},
        "spec": {"ineCode": "47", "displayName": "Diputación de Valladolid", "baseDomain": "nube.diputaciondevalladolid.es",
                 "defaultPlan": "town", "pki": {"rootSecret": "raiz-diputacion-valladolid"}}
    }))?;
    apply(&provinces, &valladolid).await?;
    let _operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(
        &client,
        &municipality_with("valladolid", "47186", json!({"province": "valladolid", "deletionPolicy": "Delete"})),
    )
    .await?;
    wait(&munis, "valladolid", has_condition("CertificateReady", "True")).await?;

    let tenant = Api::<Secret>::namespaced(client.clone(), "muni-47186").get("tenant-tls").await?;
    assert_eq!(text(&tenant, "ca.crt"), root.cert_pem, "tenants trust exactly the brought root");
    let dir = tempdir("valladolid")?;
    write_chain(&dir, &tenant)?;
    let (ok, said) = openssl_verify(&dir)?;
    assert!(ok, "{said}");
    let ca = secrets.get("concejo-ca-valladolid").await?;
    assert!(!ca.data.unwrap_or_default().contains_key("root.key"), "the brought root's key was copied");
    let after = secrets.get("raiz-diputacion-valladolid").await?;
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "concejo wrote the brought root Secret"
    );

    delete_municipality(&client, "valladolid").await?;
    Ok(())
}
