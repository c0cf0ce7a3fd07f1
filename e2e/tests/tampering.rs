//! A town hall's admin tampering, on the local control plane: every request below is made as that
//! admin (impersonated: a user in the tenant's admin group, as an OIDC login would be), and each
//! is refused by the API server (RBAC, Pod Security, concejo's admission policies). What someone
//! with more rights than a tenant changes (a platform engineer's slip, a stolen cluster-admin
//! token) concejo undoes, and the tenant's ENS verdict says so while it lasts.

mod support;

use std::time::Duration;

use concejo::api::v1alpha1::{ComplianceStatus, Municipality};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::*;

const A: (&str, &str, &str) = ("astorga", "24008", "oidc:astorga-admins");
const B: (&str, &str, &str) = ("bembibre", "24014", "oidc:bembibre-admins");
const NS_A: &str = "muni-24008";
const NS_B: &str = "muni-24014";

/// A client that acts as `user` in `groups` (the API server's impersonation, which the tests'
/// admin identity may use), so RBAC and admission see exactly a tenant admin.
async fn as_user(user: &str, groups: &[&str]) -> anyhow::Result<Client> {
    let mut config = Config::infer().await?;
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    Ok(Client::try_from(config)?)
}

/// The API server's refusal of a request: (HTTP code, message); an error if it was accepted.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> anyhow::Result<(u16, String)> {
    match result {
        Ok(accepted) => anyhow::bail!("the API server accepted it: {accepted:?}"),
        Err(kube::Error::Api(status)) => Ok((status.code, status.message)),
        Err(other) => Err(other.into()),
    }
}

/// Creates `object` through `api` and returns the API server's refusal: (HTTP code, message).
async fn refused<K>(api: &Api<K>, object: Value) -> anyhow::Result<(u16, String)>
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object)?;
    refusal(api.create(&PostParams::default(), &object).await.map(|_| ()))
}

fn pod(name: &str, volume: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "c", "image": "registry.example/app:1",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": volume.get("name").map(|n| json!([{"name": n, "mountPath": "/data"}])).unwrap_or(json!([]))
            }],
            "volumes": if volume.is_null() { json!([]) } else { json!([volume]) }
        }
    })
}

fn ingress(name: &str, host: Option<&str>) -> Value {
    let rule = match host {
        Some(h) => json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}),
        None => json!({"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}),
    };
    json!({"metadata": {"name": name}, "spec": {"rules": [rule]}})
}

#[tokio::test]
async fn a_tenant_admin_cannot_widen_its_rights_nor_reach_another_tenant() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    for (name, code, group) in [A, B] {
        let m = municipality_with(
            name,
            code,
            json!({"deletionPolicy": "Delete", "admins": [{"kind": "Group", "name": group}]}),
        );
        apply(&munis, &m).await?;
    }
    for (name, ..) in [A, B] {
        wait(&munis, name, has_condition("Ready", "True")).await?;
    }
    let host_a = format!("{}.nube.dipuleon.es", A.0);
    let host_b = format!("{}.nube.dipuleon.es", B.0);
    let mallory = as_user("mallory@astorga", &[A.2, "system:authenticated"]).await?;
    let mut tally = Vec::new();
    let mut note = |what: &str, (code, message): (u16, String), expect: &[&str]| {
        assert_eq!(code, 403, "{what}: {message}");
        for e in expect {
            assert!(message.contains(e), "{what}: refused ({code}) without saying {e:?}: {message}");
        }
        println!("refused {code}: {what}: {message}");
        tally.push(what.to_owned());
    };

    // The positive control: the same identity can run its own workloads, so the refusals below are
    // the rules at work and not a client that can do nothing.
    let services_a = Api::<Service>::namespaced(mallory.clone(), NS_A);
    services_a
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))?,
        )
        .await?;
    let ingresses_a = Api::<Ingress>::namespaced(mallory.clone(), NS_A);
    ingresses_a.create(&PostParams::default(), &serde_json::from_value(ingress("own", Some(&host_a)))?).await?;

    // Widening its own rights.
    let bindings_a = Api::<RoleBinding>::namespaced(mallory.clone(), NS_A);
    let to_cluster_admin = json!({"metadata": {"name": "me-too"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory@astorga"}]});
    note(
        "a RoleBinding to cluster-admin in its namespace",
        refused(&bindings_a, to_cluster_admin).await?,
        &["forbidden"],
    );
    let widened = bindings_a
        .patch(
            "tenant-admins",
            &PatchParams::default(),
            &Patch::Merge(json!({"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]})),
        )
        .await;
    note("adding system:authenticated to tenant-admins", refusal(widened.map(|_| ()))?, &["forbidden"]);
    let wildcard =
        json!({"metadata": {"name": "all"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    note(
        "a Role with wildcards",
        refused(&Api::<Role>::namespaced(mallory.clone(), NS_A), wildcard).await?,
        &["forbidden"],
    );
    let cluster_wide = json!({"metadata": {"name": "mallory"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory@astorga"}]});
    note(
        "a ClusterRoleBinding",
        refused(&Api::<ClusterRoleBinding>::all(mallory.clone()), cluster_wide).await?,
        &["forbidden"],
    );

    // Its namespace out of `restricted`.
    let namespaces = Api::<Namespace>::all(mallory.clone());
    let privileged = namespaces
        .patch(
            NS_A,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})),
        )
        .await;
    note("labelling its namespace privileged", refusal(privileged.map(|_| ()))?, &["forbidden"]);

    // Its role bound to another tenant's group, in its namespace and in the other one.
    let to_b = |name: &str| {
        json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "concejo-tenant-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": B.2}]})
    };
    note("binding the admin role to B's group in A", refused(&bindings_a, to_b("share")).await?, &["forbidden"]);
    let into_b = json!({"metadata": {"name": "mallory"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "concejo-tenant-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": A.2}]});
    note(
        "binding A's group to the admin role in B",
        refused(&Api::<RoleBinding>::namespaced(mallory.clone(), NS_B), into_b).await?,
        &["forbidden"],
    );

    // Past the province ingress.
    for (type_, extra) in [("LoadBalancer", json!({})), ("NodePort", json!({}))] {
        let mut spec = json!({"type": type_, "selector": {"app": "web"}, "ports": [{"port": 80}]});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let service = json!({"metadata": {"name": format!("out-{}", type_.to_lowercase())}, "spec": spec});
        note(
            &format!("a {type_} Service"),
            refused(&services_a, service).await?,
            &["concejo-tenant-services", type_, "Ingress"],
        );
    }
    let external_ips = json!({"metadata": {"name": "mitm"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 443}], "externalIPs": ["192.0.2.7"]}});
    note("a Service with externalIPs", refused(&services_a, external_ips).await?, &["externalIPs", "CVE-2020-8554"]);
    let external_name = json!({"metadata": {"name": "proxy"},
        "spec": {"type": "ExternalName", "externalName": format!("nextcloud.{NS_B}.svc.cluster.local")}});
    note("an ExternalName Service to B", refused(&services_a, external_name).await?, &["ExternalName", "proxy"]);
    // Routing by hand: a selector-less Service's EndpointSlice pointed at B's pods.
    let slice = json!({"metadata": {"name": "web-b", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.20"]}], "ports": [{"port": 80}]});
    note(
        "an EndpointSlice pointing at other pods",
        refused(&Api::<EndpointSlice>::namespaced(mallory.clone(), NS_A), slice).await?,
        &["forbidden"],
    );
    let endpoints = json!({"metadata": {"name": "web-b"}, "subsets": [{"addresses": [{"ip": "10.244.1.20"}], "ports": [{"port": 80}]}]});
    note(
        "Endpoints pointing at other pods",
        refused(&Api::<k8s_openapi::api::core::v1::Endpoints>::namespaced(mallory.clone(), NS_A), endpoints).await?,
        &["forbidden"],
    );

    // Another tenant's traffic at the shared ingress controller.
    note(
        "an Ingress for B's host",
        refused(&ingresses_a, ingress("steal", Some(&host_b))).await?,
        &["concejo-tenant-ingresses", &host_b, &host_a, "spec.domains"],
    );
    note(
        "an Ingress for a wildcard host",
        refused(&ingresses_a, ingress("wild", Some("*.nube.dipuleon.es"))).await?,
        &["*.nube.dipuleon.es"],
    );
    note("an Ingress rule without a host", refused(&ingresses_a, ingress("any", None)).await?, &["(no host)"]);
    let catch_all = json!({"metadata": {"name": "catch-all"},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}});
    note("an Ingress default backend", refused(&ingresses_a, catch_all).await?, &["defaultBackend"]);
    let tls_b = json!({"metadata": {"name": "tls-b"}, "spec": {
        "tls": [{"hosts": [host_b.clone()], "secretName": "tenant-tls"}],
        "rules": ingress("x", Some(&host_a))["spec"]["rules"].clone()}});
    note("an Ingress naming B's host for TLS", refused(&ingresses_a, tls_b).await?, &["spec.tls"]);

    // The node's filesystem and its network.
    let pods_a = Api::<Pod>::namespaced(mallory.clone(), NS_A);
    let host_path = pod("host", json!({"name": "root", "hostPath": {"path": "/"}}));
    note("a pod mounting hostPath /", refused(&pods_a, host_path).await?, &["violates PodSecurity", "hostPath"]);
    let mut host_network = pod("hostnet", Value::Null);
    host_network["spec"]["hostNetwork"] = json!(true);
    note(
        "a pod on the host network",
        refused(&pods_a, host_network).await?,
        &["violates PodSecurity", "host namespaces"],
    );

    // Another tenant's Secrets.
    let secrets_b = Api::<Secret>::namespaced(mallory.clone(), NS_B);
    let read = secrets_b.get("tenant-tls").await;
    note("reading B's tenant-tls", refusal(read.map(|_| ()))?, &["forbidden"]);
    let list = secrets_b.list(&ListParams::default()).await;
    note("listing B's Secrets", refusal(list.map(|_| ()))?, &["forbidden"]);
    let cluster_secrets = Api::<Secret>::all(mallory.clone()).list(&ListParams::default()).await;
    note("listing every Secret", refusal(cluster_secrets.map(|_| ()))?, &["forbidden"]);
    println!("{} attempts refused by the API server", tally.len());
    assert!(tally.len() >= 20);

    // Nothing of the tenant changed meanwhile.
    let ns = Api::<Namespace>::all(client.clone()).get(NS_A).await?;
    assert_eq!(ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"], "restricted");
    let admins = Api::<RoleBinding>::namespaced(client.clone(), NS_A).get("tenant-admins").await?;
    assert_eq!(admins.subjects.unwrap().len(), 1);

    Api::<Ingress>::namespaced(client.clone(), NS_A).delete("own", &DeleteParams::default()).await?;
    Api::<Service>::namespaced(client.clone(), NS_A).delete("web", &DeleteParams::default()).await?;
    for (name, ..) in [A, B] {
        delete_municipality(&client, name).await?;
    }
    Ok(())
}

fn measure(m: &Municipality, id: &str) -> Option<(ComplianceStatus, String)> {
    let entry = m.status.as_ref()?.compliance.iter().find(|e| e.measure == id)?;
    Some((entry.status, entry.message.clone()))
}

/// Runs `tamper` and follows `measure` of the Municipality until it was NotMet and is Met again:
/// the messages it showed meanwhile, and how long the tampering lasted.
async fn undone_and_shown<F>(
    munis: &Api<Municipality>,
    name: &str,
    id: &str,
    tamper: F,
) -> anyhow::Result<(Vec<String>, Duration)>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut changes =
        watcher(munis.clone(), watcher::Config::default().fields(&format!("metadata.name={name}"))).boxed();
    // The watch's first list: the tenant as it is before.
    while let Some(event) = changes.next().await {
        if matches!(event?, watcher::Event::InitDone) {
            break;
        }
    }
    let started = std::time::Instant::now();
    tamper.await?;
    let mut shown = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(event) = changes.next().await {
            if let Ok(watcher::Event::Apply(m)) = event {
                match measure(&m, id) {
                    Some((ComplianceStatus::NotMet, message)) if !shown.contains(&message) => shown.push(message),
                    Some((ComplianceStatus::Met, _)) if !shown.is_empty() => return Ok(()),
                    _ => {}
                }
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await
    .map_err(|_| anyhow::anyhow!("{id} of {name} did not go NotMet and back to Met; shown: {shown:?}"))??;
    Ok((shown, started.elapsed()))
}

#[tokio::test]
async fn what_someone_with_more_rights_changes_is_undone_and_shown_meanwhile() -> anyhow::Result<()> {
    let (client, operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let m =
        municipality_with(A.0, A.1, json!({"deletionPolicy": "Delete", "admins": [{"kind": "Group", "name": A.2}]}));
    apply(&munis, &m).await?;
    wait(&munis, A.0, has_condition("Ready", "True")).await?;
    let namespaces = Api::<Namespace>::all(client.clone());
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), NS_A);

    // The namespace labelled out of `restricted`.
    let (shown, lasted) = undone_and_shown(&munis, A.0, "op.acc.3/4/6", async {
        let labels = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}});
        namespaces.patch(NS_A, &PatchParams::default(), &Patch::Merge(labels)).await?;
        Ok(())
    })
    .await?;
    println!("namespace labelled privileged: undone after {lasted:?}; op.acc.3/4/6 showed {shown:?}");
    assert!(shown.iter().any(|m| m.contains("Pod Security enforce is privileged, not restricted")), "{shown:?}");
    let labels = namespaces.get(NS_A).await?.metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");

    // Every authenticated user added to the tenant's admins.
    let (shown, lasted) = undone_and_shown(&munis, A.0, "op.acc.3/4/6", async {
        let subjects = json!({"subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": A.2},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}
        ]});
        bindings.patch("tenant-admins", &PatchParams::default(), &Patch::Merge(subjects)).await?;
        Ok(())
    })
    .await?;
    println!("system:authenticated added to tenant-admins: undone after {lasted:?}; op.acc.3/4/6 showed {shown:?}");
    assert!(
        shown.iter().any(|m| m.contains("RoleBinding tenant-admins also grants Group system:authenticated")),
        "{shown:?}"
    );
    let subjects = bindings.get("tenant-admins").await?.subjects.unwrap();
    assert_eq!(subjects.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), [A.2]);

    // The admins' binding replaced by one to cluster-admin (roleRef cannot be edited: delete, then
    // create) while concejo is down: the first reconcile of the next one judges it, then remakes it.
    operator.kill().await?;
    let mut next = None;
    let (shown, lasted) = undone_and_shown(&munis, A.0, "op.acc.3/4/6", async {
        bindings.delete("tenant-admins", &DeleteParams::default()).await?;
        wait_deleted(&bindings, "tenant-admins").await?;
        let to_cluster_admin: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "tenant-admins"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": A.2}]}))?;
        bindings.create(&PostParams::default(), &to_cluster_admin).await?;
        next = Some(Operator::start().await?);
        Ok(())
    })
    .await?;
    println!(
        "tenant-admins bound to cluster-admin: undone after {lasted:?} (concejo's start included); op.acc.3/4/6 showed {shown:?}"
    );
    // concejo's caches hold only objects with its labels: a binding under its name without them
    // reads as missing (with them, as "binds ClusterRole/cluster-admin"); NotMet either way.
    assert!(
        shown.iter().any(|m| m.contains("RoleBinding tenant-admins is missing")
            || m.contains("RoleBinding tenant-admins binds ClusterRole/cluster-admin")),
        "{shown:?}"
    );
    let admins = bindings.get("tenant-admins").await?;
    assert_eq!(admins.role_ref.name, "concejo-tenant-admin");

    delete_municipality(&client, A.0).await?;
    Ok(())
}
