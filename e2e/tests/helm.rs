//! The Helm chart, installed on the local control plane: every object, the Deployment Available,
//! values refused by the schema; then the operator binary run as the chart's ServiceAccount (a
//! token from the TokenRequest API) onboards a town hall end to end with no other permission; the
//! admission guard keeps it off what it did not make; upgrade and uninstall leave the tenant alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use concejo::api::v1alpha1::{Backup, Municipality};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::*;

const RELEASE: &str = "concejo";
const NAMESPACE: &str = "concejo-helm";

/// The checkout where cargo runs the test.
fn root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(&std::env::var("CARGO_MANIFEST_DIR").context("run by cargo test")?).join(".."))
}

/// A program of the local control plane's toolbox (helm, kubectl), as built by e2e/cluster/build.sh
/// (`--path` prints the folders, as a PATH fragment).
fn tool(name: &str) -> anyhow::Result<PathBuf> {
    let out = Command::new("bash").arg(root()?.join("e2e/cluster/build.sh")).arg("--path").output()?;
    ensure!(out.status.success(), "e2e/cluster/build.sh --path: {}", String::from_utf8_lossy(&out.stderr));
    let folders = String::from_utf8(out.stdout)?;
    let found = folders.trim().split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file());
    found.with_context(|| format!("{name} is not in {folders}"))
}

/// Runs helm against the test's cluster: (success, stdout + stderr).
fn helm(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = Command::new(tool("helm")?).args(args).current_dir(root()?).output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn helm_ok(args: &[&str]) -> anyhow::Result<String> {
    let (ok, text) = helm(args)?;
    ensure!(ok, "helm {}: {text}", args.join(" "));
    Ok(text)
}

/// A kubeconfig for the chart's ServiceAccount: the test cluster's server and CA, a bound token.
async fn service_account_kubeconfig(client: &Client, dir: &Path) -> anyhow::Result<PathBuf> {
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE);
    let request = TokenRequest {
        spec: Some(k8s_openapi::api::authentication::v1::TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = accounts
        .create_token_request(RELEASE, &PostParams::default(), &request)
        .await?
        .status
        .context("no token in the TokenRequest's status")?
        .token;
    let admin = std::env::var("KUBECONFIG").context("KUBECONFIG (make test-e2e sets it)")?;
    let admin = kube::config::Kubeconfig::read_from(&admin)?;
    let cluster = serde_json::to_value(admin.clusters.first().context("no cluster in KUBECONFIG")?)?;
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "local", "cluster": cluster["cluster"]}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa"}}],
    });
    let path = dir.join("kubeconfig-sa");
    std::fs::write(&path, serde_json::to_string(&config)?)?;
    Ok(path)
}

#[tokio::test]
async fn the_chart_installs_and_its_rbac_is_all_concejo_needs() -> anyhow::Result<()> {
    let client = client().await?;
    install_crds(&client).await?;
    // The chart owns the tenant roles: the copies earlier tests applied without Helm go first.
    let roles = Api::<ClusterRole>::all(client.clone());
    for role in concejo::resources::rbac::cluster_roles() {
        if roles.get_opt(&role.name_any()).await?.is_some_and(|r| !r.annotations().contains_key(HELM_RELEASE)) {
            roles.delete(&role.name_any(), &DeleteParams::default()).await?;
        }
    }
    helm(&["uninstall", RELEASE, "-n", NAMESPACE, "--wait"])?; // a failed earlier run's, if any

    // A value of the wrong type or a misspelt key is refused by the schema, naming it.
    let (ok, text) = helm(&["template", RELEASE, "charts/concejo", "--set", "replicas=two"])?;
    ensure!(!ok && text.contains("/replicas"), "{text}");
    let (ok, text) = helm(&["template", RELEASE, "charts/concejo", "--set", "replica=2"])?;
    ensure!(!ok && text.contains("replica"), "{text}");
    let (ok, text) = helm(&["template", RELEASE, "charts/concejo", "--set", "serviceMonitor.enabled=true"])?;
    ensure!(!ok && text.contains("ServiceMonitor"), "a ServiceMonitor without its CRD: {text}");
    let monitor = helm_ok(&[
        "template",
        RELEASE,
        "charts/concejo",
        "--set",
        "serviceMonitor.enabled=true",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
        "--show-only",
        "templates/servicemonitor.yaml",
    ])?;
    ensure!(monitor.contains("kind: ServiceMonitor") && monitor.contains("path: /metrics"), "{monitor}");

    let started = std::time::Instant::now();
    helm_ok(&[
        "install",
        RELEASE,
        "charts/concejo",
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "3m",
    ])?;
    println!("helm install --wait: {:.1}s", started.elapsed().as_secs_f64());
    let deployment = Api::<Deployment>::namespaced(client.clone(), NAMESPACE).get(RELEASE).await?;
    let available = deployment.status.and_then(|s| s.conditions).unwrap_or_default();
    ensure!(
        available.iter().any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")),
        "{available:?}"
    );
    let manifest = helm_ok(&["get", "manifest", RELEASE, "-n", NAMESPACE])?;
    let kubectl = tool("kubectl")?;
    let mut get = Command::new(&kubectl);
    get.args(["get", "-f", "-", "-o", "name"]);
    let listed = pipe(&mut get, &manifest)?;
    for kind in [
        "serviceaccount/concejo",
        "clusterrole.rbac.authorization.k8s.io/concejo",
        "clusterrole.rbac.authorization.k8s.io/concejo-tenant-admin",
        "clusterrole.rbac.authorization.k8s.io/concejo-tenant-auditor",
        "clusterrolebinding.rbac.authorization.k8s.io/concejo",
        "role.rbac.authorization.k8s.io/concejo-namespace",
        "rolebinding.rbac.authorization.k8s.io/concejo-namespace",
        "service/concejo-metrics",
        "deployment.apps/concejo",
        "poddisruptionbudget.policy/concejo",
        "networkpolicy.networking.k8s.io/concejo",
        "validatingadmissionpolicy.admissionregistration.k8s.io/concejo-guard",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/concejo-guard",
    ] {
        ensure!(listed.lines().any(|l| l == kind), "{kind} was not created; the release has:\n{listed}");
    }

    // The operator as the chart's ServiceAccount, and nothing else.
    let dir = std::env::temp_dir().join(format!("concejo-helm-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = service_account_kubeconfig(&client, &dir).await?;
    let as_operator = Client::try_from(
        kube::Config::from_custom_kubeconfig(kube::config::Kubeconfig::read_from(&kubeconfig)?, &Default::default())
            .await?,
    )?;
    apply_leon(&client).await?;
    let bucket = Api::<Secret>::namespaced(client.clone(), "default").get(BUCKET_SECRET).await?;
    let mut copy = Secret { data: bucket.data.clone(), ..Default::default() };
    copy.metadata.name = Some(BUCKET_SECRET.into());
    apply(&Api::<Secret>::namespaced(client.clone(), NAMESPACE), &copy).await?;
    let options = OperatorOptions { namespace: NAMESPACE.into(), kubeconfig: Some(kubeconfig), ..Default::default() };
    let operator = Operator::start_with(options).await?;

    let name = "valencia-de-don-juan";
    let munis = Api::<Municipality>::all(client.clone());
    create_fresh(&client, &with_suite(name, "24196", json!({"ensCategory": "Media"}))).await?;
    let m =
        wait(&munis, name, has_condition("Ready", "True")).await.context("onboarding as the chart's ServiceAccount")?;
    let ns = "muni-24196";
    for c in ["Isolated", "CertificateReady", "StorageReady", "CollaborationReady", "BackupReady"] {
        ensure!(reason(&m, c).is_some() && message(&m, c).is_some(), "{c} missing");
    }
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), ns);
    let admins = bindings.get("tenant-admins").await?;
    ensure!(admins.role_ref.kind == "ClusterRole" && admins.role_ref.name == "concejo-tenant-admin");

    // A binding of the namespaced Roles earlier versions made is made again, to the ClusterRole.
    bindings.delete("tenant-admins", &DeleteParams::default()).await?;
    let mut old = admins.clone();
    old.metadata = kube::api::ObjectMeta {
        name: Some("tenant-admins".into()),
        labels: admins.metadata.labels.clone(),
        ..Default::default()
    };
    old.role_ref.kind = "Role".into();
    old.role_ref.name = "tenant-admin".into();
    eventually("the old-style binding is in", || async {
        Ok(bindings.create(&PostParams::default(), &old).await.is_ok()
            || bindings.get("tenant-admins").await?.role_ref.kind == "ClusterRole")
    })
    .await?;
    eventually("tenant-admins is bound to the ClusterRole again", || async {
        Ok(bindings.get_opt("tenant-admins").await?.is_some_and(|b| b.role_ref.kind == "ClusterRole"))
    })
    .await?;

    // A Backup: its Job is made in the tenant namespace by the operator's identity.
    let backups = Api::<Backup>::namespaced(client.clone(), ns);
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Backup", "metadata": {"name": "helm-now", "namespace": ns}, "spec": {}
    }))?;
    create(&backups, &backup).await?;
    let jobs = Api::<Job>::namespaced(client.clone(), ns);
    eventually("the Backup's Job exists", || async {
        Ok(jobs
            .list(&Default::default())
            .await?
            .items
            .iter()
            .any(|j| j.owner_references().iter().any(|o| o.name == "helm-now")))
    })
    .await?;

    // What the identity may not do: exec into pods, make Roles, grant other ClusterRoles; and the
    // guard keeps it off namespaces and Secrets it did not make.
    for (group, verb, resource) in [("", "create", "pods/exec"), ("rbac.authorization.k8s.io", "create", "roles")] {
        ensure!(!self_can(&as_operator, group, verb, resource, ns).await?, "the operator may {verb} {resource}");
    }
    let probe = "concejo-helm-guard-probe";
    let namespaces = Api::<Namespace>::all(client.clone());
    apply(
        &namespaces,
        &serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": probe}}))?,
    )
    .await?;
    let refused = Api::<Namespace>::all(as_operator.clone()).delete(probe, &DeleteParams::default()).await;
    let text = format!("{refused:?}");
    ensure!(
        refused.is_err() && text.contains("managed-by=concejo"),
        "deleting a namespace concejo did not make: {text}"
    );
    secrets_only_its_own(&client, &as_operator, ns, probe).await?;
    namespaces.delete(probe, &DeleteParams::default()).await?;

    // Upgrade and uninstall leave the tenant and its data alone.
    helm_ok(&[
        "upgrade",
        RELEASE,
        "charts/concejo",
        "-n",
        NAMESPACE,
        "--set",
        "concurrency=8",
        "--wait",
        "--timeout",
        "3m",
    ])?;
    let m = wait(&munis, name, has_condition("Ready", "True")).await?;
    let generation = m.metadata.generation;
    operator.kill().await?;
    helm_ok(&["uninstall", RELEASE, "-n", NAMESPACE, "--wait"])?;
    let m = munis.get(name).await?;
    ensure!(m.metadata.generation == generation && namespaces.get_opt(ns).await?.is_some(), "the tenant is gone");
    ensure!(
        Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(client.clone(), ns)
            .list(&Default::default())
            .await?
            .items
            .len()
            >= 2,
        "the tenant's volumes are gone"
    );
    for role in ["concejo-tenant-admin", "concejo-tenant-auditor"] {
        ensure!(roles.get_opt(role).await?.is_some(), "{role} went with the release: the tenants' people lose access");
    }
    ensure!(
        Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(
            client.clone()
        )
        .get_opt("municipalities.concejo.dev")
        .await?
        .is_some()
    );

    // Clean up with an operator of the test's own identity.
    let _cleanup = Operator::start().await?;
    delete_municipality(&client, name).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Secrets: concejo's identity reads only its own names (no list of every Secret, not the
/// platform team's bucket Secret in `default`), and the guard refuses a Secret of one of its names
/// that it did not make, an unlabelled create and a service-account token.
async fn secrets_only_its_own(admin: &Client, as_operator: &Client, tenant: &str, probe: &str) -> anyhow::Result<()> {
    ensure!(!self_can(as_operator, "", "list", "secrets", "").await?, "the operator may list every Secret");
    ensure!(!self_can(as_operator, "", "get", "secrets", "default").await?, "the operator may read any Secret");
    let refused = Api::<Secret>::namespaced(as_operator.clone(), "default").get(BUCKET_SECRET).await;
    ensure!(format!("{refused:?}").contains("forbidden"), "reading the bucket's Secret in default: {refused:?}");
    Api::<Secret>::namespaced(as_operator.clone(), tenant).get("tenant-tls").await.context("its own TLS Secret")?;
    let secret = |name: &str, labels: Value, type_: &str| -> anyhow::Result<Secret> {
        Ok(serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": probe, "labels": labels,
                "annotations": {"kubernetes.io/service-account.name": "default"}}}))?)
    };
    let (mine, theirs) =
        (Api::<Secret>::namespaced(as_operator.clone(), probe), Api::<Secret>::namespaced(admin.clone(), probe));
    theirs.create(&PostParams::default(), &secret("tenant-tls", json!({}), "Opaque")?).await?;
    let refused = mine.delete("tenant-tls", &DeleteParams::default()).await;
    ensure!(format!("{refused:?}").contains("managed-by=concejo"), "deleting a Secret it did not make: {refused:?}");
    let refused = mine.create(&PostParams::default(), &secret("backup-credentials", json!({}), "Opaque")?).await;
    ensure!(format!("{refused:?}").contains("managed-by=concejo"), "an unlabelled Secret: {refused:?}");
    let labelled = json!({"app.kubernetes.io/managed-by": "concejo"});
    let token = secret("collaboration-credentials", labelled, "kubernetes.io/service-account-token")?;
    let refused = mine.create(&PostParams::default(), &token).await;
    ensure!(format!("{refused:?}").contains("service-account token"), "a token Secret: {refused:?}");
    Ok(())
}

/// Writes `input` to the command's standard input; its standard output.
fn pipe(command: &mut Command, input: &str) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// Asks the API server whether the client's own identity may do it (SelfSubjectAccessReview).
async fn self_can(client: &Client, group: &str, verb: &str, resource: &str, ns: &str) -> anyhow::Result<bool> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let (resource, subresource) = resource.split_once('/').map_or((resource, None), |(r, s)| (r, Some(s.to_owned())));
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone()).create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
