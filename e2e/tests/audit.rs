//! The activity log (ENS op.exp.8) on the real control plane: the API server, run with the
//! project's audit policy (e2e/cluster/cluster.sh), records a tenant admin's delete in the tenant
//! namespace and an edit of the Municipality's spec with user, verb, object and time; it sends the
//! same events to concejo's audit webhook, which logs them with the tenant's INE code and records
//! that auditing is in force; concejo's own writes are logged too.

mod support;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, ensure};
use concejo::api::v1alpha1::Municipality;
use concejo::domain::audit::{EVENTS, EVIDENCE_CONFIGMAP, in_force};
use concejo::runtime::audit::last_event;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Config};
use serde_json::{Value, json};
use support::*;

const NAME: &str = "carrocera";
const CODE: &str = "24040";
const NAMESPACE: &str = "muni-24040";
const ADMINS: &str = "oidc:carrocera-admins";
const TENANT_ADMIN: &str = "maria@carrocera";
/// concejo's own namespace in the e2e tests (the operator's `--namespace`).
const OWN: &str = "default";

#[tokio::test]
async fn a_tenant_admins_delete_and_a_spec_edit_are_in_the_audit_log_and_reach_concejo() -> anyhow::Result<()> {
    let client = leon().await?;
    // The cluster's audit log may hold earlier runs' events: only later ones count.
    let started = Timestamp::now();
    let recent =
        move |e: &Value| e["stageTimestamp"].as_str().and_then(|t| t.parse::<Timestamp>().ok()) >= Some(started);
    let own = Api::<ConfigMap>::namespaced(client.clone(), OWN);
    // Before concejo ever received an event: op.exp.8 cannot be shown to hold.
    own.delete(EVIDENCE_CONFIGMAP, &DeleteParams::default()).await.ok();
    wait_deleted(&own, EVIDENCE_CONFIGMAP).await?;
    let before = last_event(&client, OWN).await;
    ensure!(before.is_none(), "evidence left over: {before:?}");
    let missing = in_force(before, Timestamp::now()).unwrap_err();
    ensure!(missing.contains("no audit event received"), "{missing}");

    let port = std::env::var("CONCEJO_AUDIT_PORT").unwrap_or_else(|_| "30280".into());
    let log_file = std::env::temp_dir().join(format!("concejo-e2e-audit-{}.log", std::process::id()));
    let _operator = Operator::start_with(OperatorOptions {
        audit_addr: Some(format!("127.0.0.1:{port}")),
        log_file: Some(log_file.clone()),
        ..OperatorOptions::default()
    })
    .await?;

    let munis = Api::<Municipality>::all(client.clone());
    let spec =
        json!({"displayName": "Carrocera", "deletionPolicy": "Delete", "admins": [{"kind": "Group", "name": ADMINS}]});
    create_fresh(&client, &municipality_with(NAME, CODE, spec)).await?;
    wait(&munis, NAME, has_condition("Ready", "True")).await?;

    // The platform team leaves a ConfigMap; the town hall's admin deletes it.
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    let notes: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "notas"}, "data": {"a": "b"}}))?;
    create(&configmaps, &notes).await?;
    let as_admin = Api::<ConfigMap>::namespaced(tenant_admin().await?, NAMESPACE);
    as_admin.delete("notas", &DeleteParams::default()).await.context("the tenant admin's delete")?;
    let deleted_at = Timestamp::now();

    // The platform team edits the Municipality's spec.
    let edit = json!({"spec": {"displayName": "Carrocera (León)"}});
    munis.patch(NAME, &PatchParams::default(), &Patch::Merge(&edit)).await?;

    // 1. The API server's audit log file says who, what, when and the outcome.
    let audit_log = audit_log_path()?;
    let delete = find_line(&audit_log, |e| {
        recent(e)
            && e["verb"] == "delete"
            && e["objectRef"]["resource"] == "configmaps"
            && e["objectRef"]["namespace"] == NAMESPACE
            && e["objectRef"]["name"] == "notas"
    })
    .await?;
    ensure!(delete["impersonatedUser"]["username"] == TENANT_ADMIN, "who: {delete}");
    ensure!(delete["impersonatedUser"]["groups"].as_array().is_some_and(|g| g.contains(&json!(ADMINS))), "{delete}");
    ensure!(delete["user"]["username"] == "concejo-admin", "impersonated by the test's admin: {delete}");
    ensure!(delete["responseStatus"]["code"] == 200, "outcome: {delete}");
    ensure!(delete["level"] == "Metadata", "ConfigMaps are recorded without their contents: {delete}");
    ensure!(delete.get("requestObject").is_none() && delete.get("responseObject").is_none(), "{delete}");
    let when: Timestamp = delete["stageTimestamp"].as_str().context("no time")?.parse()?;
    ensure!(when.duration_until(deleted_at).abs().as_secs() < 30, "when: {when}, deleted at {deleted_at}");

    let patch = find_line(&audit_log, |e| {
        recent(e)
            && e["verb"] == "patch"
            && e["objectRef"]["apiGroup"] == "concejo.dev"
            && e["objectRef"]["resource"] == "municipalities"
            && e["objectRef"]["name"] == NAME
            && e["objectRef"].get("subresource").is_none()
            // Not concejo's own patch of its finalizer (the same user here: the test's admin).
            && e["requestObject"].get("spec").is_some()
    })
    .await?;
    ensure!(patch["user"]["username"] == "concejo-admin", "who: {patch}");
    ensure!(patch["level"] == "RequestResponse", "{patch}");
    ensure!(patch["requestObject"]["spec"]["displayName"] == "Carrocera (León)", "what was asked: {patch}");
    ensure!(patch["responseObject"]["spec"]["displayName"] == "Carrocera (León)", "what was stored: {patch}");
    ensure!(patch["responseStatus"]["code"] == 200 && patch["stageTimestamp"].is_string(), "{patch}");

    // Reads are not recorded (rule 5; only of Secrets, rule 4), nor heartbeats (rule 3).
    let noise = std::fs::read_to_string(&audit_log)?
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| recent(e))
        .filter(|e| {
            let resource = &e["objectRef"]["resource"];
            resource == "leases" || (e["verb"] == "get" && resource != "secrets")
        })
        .count();
    ensure!(noise == 0, "{noise} reads or Lease writes recorded");

    // 2. concejo received both (one JSON line each, with the tenant) ...
    // (the same audit IDs as in the file)
    let received = |event: &Value| {
        let id = event["auditID"].as_str().unwrap_or_default().to_owned();
        find_line(&log_file, move |l| l["target"] == "concejo::audit" && l["fields"]["audit_id"] == id.as_str())
    };
    let received_delete = received(&delete).await?;
    let f = &received_delete["fields"];
    ensure!(f["user"] == TENANT_ADMIN && f["impersonator"] == "concejo-admin", "{received_delete}");
    ensure!(f["resource"] == "configmaps" && f["namespace"] == NAMESPACE && f["ine_code"] == CODE, "{f}");
    ensure!(f["code"] == 200 && f["time"].as_str().is_some_and(|t| t.parse::<Timestamp>().is_ok()), "{f}");
    ensure!(f["verb"] == "delete" && f["name"] == "notas", "{f}");
    let received_patch = received(&patch).await?;
    let f = &received_patch["fields"];
    ensure!(f["verb"] == "patch" && f["resource"] == "municipalities" && f["name"] == NAME, "{f}");
    ensure!(f["ine_code"] == CODE && f["province"] == "leon" && f["user"] == "concejo-admin", "{f}");

    // ... and recorded that auditing is in force.
    let evidence = wait(&own, EVIDENCE_CONFIGMAP, |c: Option<&ConfigMap>| c.is_some()).await?;
    let events: u64 = evidence.data.as_ref().and_then(|d| d.get(EVENTS)).context("no count")?.parse()?;
    ensure!(events > 0, "{evidence:?}");
    let last = last_event(&client, OWN).await;
    ensure!(in_force(last, Timestamp::now()).is_ok(), "{last:?}: {:?}", in_force(last, Timestamp::now()));
    // The tenant's op.exp.8 turns Met: concejo sees that auditing is in force.
    let met = |m: Option<&concejo::api::v1alpha1::Municipality>| {
        m.and_then(|m| m.status.as_ref()).is_some_and(|s| {
            s.compliance
                .iter()
                .any(|e| e.measure == "op.exp.8" && e.status == concejo::api::v1alpha1::ComplianceStatus::Met)
        })
    };
    wait(&Api::<concejo::api::v1alpha1::Municipality>::all(client.clone()), NAME, met).await?;
    // Every verdict change is a line of the activity log, with the tenant.
    let verdict = find_line(&log_file, |l| {
        l["target"] == "concejo::activity"
            && l["fields"]["action"] == "verdict"
            && l["fields"]["measure"] == "op.exp.8"
            && l["fields"]["after"] == "Met"
    })
    .await?;
    let f = &verdict["fields"];
    ensure!(
        f["after"] == "Met" && f["ine_code"] == CODE && f["province"] == "leon" && f["municipality"] == NAME,
        "{f}"
    );

    // 3. concejo's own writes: the tenant namespace it created, with the tenant's INE code and province.
    let created = find_line(&log_file, |l| {
        l["target"] == "concejo::activity"
            && l["fields"]["kind"] == "Namespace"
            && l["fields"]["name"] == NAMESPACE
            && l["fields"]["action"] == "create"
    })
    .await?;
    let f = &created["fields"];
    ensure!(f["ine_code"] == CODE && f["province"] == "leon" && f["municipality"] == NAME, "{f}");

    delete_municipality(&client, NAME).await?;
    wait_deleted(&Api::<Namespace>::all(client.clone()), NAMESPACE).await?;
    // concejo deleting the namespace (deletionPolicy Delete) is in its activity log too.
    find_line(&log_file, |l| {
        l["target"] == "concejo::activity" && l["fields"]["action"] == "delete" && l["fields"]["name"] == NAMESPACE
    })
    .await?;
    std::fs::remove_file(&log_file).ok();
    Ok(())
}

/// A client acting as a member of the tenant's admin group (impersonation by the test's admin).
async fn tenant_admin() -> anyhow::Result<Client> {
    let mut config = Config::infer().await?;
    config.auth_info.impersonate = Some(TENANT_ADMIN.into());
    config.auth_info.impersonate_groups = Some(vec![ADMINS.into()]);
    Ok(Client::try_from(config)?)
}

/// The API server's audit log, as `cluster.sh audit-log` names it.
fn audit_log_path() -> anyhow::Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/cluster.sh");
    let out = std::process::Command::new(&script).arg("audit-log").output()?;
    ensure!(out.status.success(), "{} audit-log failed", script.display());
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// Waits until a JSON line of the file matches, and returns it.
async fn find_line(path: &Path, matches: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let mut found = None;
    eventually(&format!("a matching line in {}", path.display()), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        found = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| matches(v));
        let done = found.is_some();
        async move { Ok(done) }
    })
    .await?;
    let found = found.expect("found");
    eprintln!("found in {}: {found}", path.display());
    Ok(found)
}
