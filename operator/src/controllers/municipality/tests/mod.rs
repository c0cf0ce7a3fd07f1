//! The reconcile's request sequences against a scripted API server (tower-test): what a
//! reconcile asks of Kubernetes, request by request. The server and fixtures are in [`script`].

mod script;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use self::script::*;
use super::{RESYNC, WAIT, error_policy, reconcile};
use crate::api::v1alpha1::{DeletionPolicy, Municipality, Phase};
use crate::resources::{self, labels};
#[tokio::test]
async fn a_new_municipality_gets_the_finalizer_then_is_provisioned_in_the_same_reconcile() {
    within(async {
        let mut m = ponferrada();
        m.metadata.finalizers = None;
        let (ctx, mut api) = setup(&m, &[]);
        let run = spawn(&m, &ctx);
        let patch = api.patch_municipality().await;
        assert_eq!(patch, json!({"metadata": {"finalizers": [labels::FINALIZER], "resourceVersion": "7"}}));
        // Held: the namespace is made only after the finalizer is in place.
        api.isolation().await;
        api.apply(&format!("{NS}/secrets/tenant-tls")).await;
        assert_eq!(api.status().await.phase, Some(Phase::Ready));
        assert_eq!(reasons(&api.events(2).await), ["MeasuresNotMet", "Provisioned"]);
        assert_eq!(run.await.unwrap().unwrap(), Action::requeue(RESYNC));
        finish(ctx, api).await;
    })
    .await
}

#[tokio::test]
async fn a_new_tenant_is_applied_in_order_then_its_status_written_and_announced() {
    within(async {
        let m = ponferrada();
        let (ctx, mut api) = setup(&m, &[]);
        let run = spawn(&m, &ctx);
        api.isolation().await;
        let secret = api.apply(&format!("{NS}/secrets/tenant-tls")).await;
        assert_eq!(secret["type"], "kubernetes.io/tls");
        let status = api.status().await;
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        assert_eq!(status.certificate.unwrap().dns_names, ["ponferrada.nube.dipuleon.es"]);
        // A first provisioning is judged on what it put in place: every isolation object, the
        // bindings and the certificate count. Only op.exp.8 is not met (no audit event has
        // reached this test's operator).
        let compliant = status.conditions.iter().find(|c| c.type_ == "Compliant").unwrap();
        assert_eq!((compliant.status.as_str(), compliant.reason.as_str()), ("False", "MeasuresNotMet"));
        assert_eq!(compliant.message, "not met: op.exp.8 (see status.compliance)");
        assert!(
            status.conditions.iter().filter(|c| c.type_ != "Compliant").all(|c| c.status == "True"),
            "{:?}",
            status.conditions
        );
        // One Normal Event says it all (Ready, the certificate, the objects); the Warning is its own.
        let events = api.events(2).await;
        assert_eq!(reasons(&events), ["MeasuresNotMet", "Provisioned"]);
        let provisioned = events.iter().find(|e| e["reason"] == "Provisioned").unwrap();
        assert_eq!(provisioned["type"], "Normal");
        let note = provisioned["note"].as_str().unwrap();
        assert!(note.starts_with("tenant namespace muni-24115 is provisioned; certificate "), "{note}");
        assert!(
            note.ends_with(
                "created 10: Namespace muni-24115, ResourceQuota tenant-quota, LimitRange tenant-limits, \
                 NetworkPolicy deny-all, NetworkPolicy allow-dns, NetworkPolicy allow-same-namespace, \
                 NetworkPolicy allow-from-ingress, RoleBinding tenant-admins, RoleBinding tenant-auditors, \
                 Secret tenant-tls"
            ),
            "{note}"
        );
        let action = run.await.unwrap().unwrap();
        assert_eq!(action, Action::requeue(RESYNC), "the certificate renews later than the resync");
        finish(ctx, api).await;
    })
    .await
}

/// No write, no status change: not one request, so no Event either.
#[tokio::test]
async fn an_unchanged_tenant_makes_no_request() {
    within(async {
        let mut m = ponferrada();
        let (live, status) = provisioned(&m);
        m.status = Some(status);
        let (ctx, api) = setup(&m, &live);
        let action = reconcile(Arc::new(m), ctx.clone()).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        finish(ctx, api).await;
    })
    .await
}

#[tokio::test]
async fn a_missing_plan_keeps_the_last_tenant_enforced_and_restores_a_deleted_policy() {
    within(async {
        let mut m = ponferrada();
        let (mut live, status) = provisioned(&m);
        let namespace: Namespace = serde_json::from_value(live[0].clone()).unwrap();
        assert_eq!(resources::namespace::enforced(&namespace), Some(tenant(&m)), "it says what it enforces");
        live.retain(|o| o["metadata"]["name"] != "deny-all");
        m.status = Some(status);
        m.spec.plan = Some("huge".into());
        let (ctx, mut api) = setup(&m, &live);
        let run = spawn(&m, &ctx);
        api.apply(&format!("{NETPOL}/deny-all")).await;
        let status = api.status().await;
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(status.plan.as_deref(), Some("town"), "the last valid plan stays enforced");
        let (valid, reason, _) = condition(&status, "Valid");
        assert_eq!((valid.as_str(), reason.as_str()), ("False", "PlanNotFound"));
        assert_eq!(condition(&status, "Isolated").0, "True");
        // Compliant stays False, but with mp.com.4 now not met too: a verdict changed, an Event.
        let events = api.events(3).await;
        assert_eq!(reasons(&events), ["InvalidSpec", "MeasuresNotMet", "PlanNotFound"]);
        let verdict = events.iter().find(|e| e["reason"] == "MeasuresNotMet").unwrap()["note"].as_str().unwrap();
        assert!(verdict.starts_with("Compliant: not met: mp.com.4, "), "{verdict}");
        // The drift repaired, by name.
        assert_eq!(written(&api.events(1).await), "created 1: NetworkPolicy deny-all");
        assert_eq!(run.await.unwrap().unwrap(), Action::requeue(RESYNC));
        finish(ctx, api).await;
    })
    .await
}

fn deleted(policy: DeletionPolicy) -> Municipality {
    let mut m = ponferrada();
    m.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    m.spec.deletion_policy = policy;
    m
}

fn tenant_namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "muni-24115",
        "labels": {labels::INSTANCE: "ponferrada", labels::MANAGED_BY: "concejo"}}})
}

#[tokio::test]
async fn deletion_with_retain_releases_the_namespace_then_the_finalizer() {
    within(async {
        let m = deleted(DeletionPolicy::Retain);
        let (ctx, mut api) = setup(&m, &[]);
        let run = spawn(&m, &ctx);
        api.expect("GET", NS).await.reply(200, &tenant_namespace());
        let call = api.expect("PATCH", NS).await;
        assert_eq!(call.content_type, "application/merge-patch+json");
        let metadata = &call.body["metadata"];
        assert_eq!(metadata["labels"], json!({labels::MANAGED_BY: null, labels::INSTANCE: null}));
        assert!(metadata["annotations"][labels::RETAINED_ANNOTATION].as_str().unwrap().contains("Retain"));
        call.reply(200, &tenant_namespace());
        assert_eq!(reasons(&api.events(1).await), ["Retained"]);
        assert_eq!(api.patch_municipality().await["metadata"]["finalizers"], json!([]));
        assert_eq!(run.await.unwrap().unwrap(), Action::await_change());
        finish(ctx, api).await;
    })
    .await
}

#[tokio::test]
async fn deletion_with_delete_waits_for_the_namespace_to_go_then_releases_the_finalizer() {
    within(async {
        let m = deleted(DeletionPolicy::Delete);
        let (ctx, mut api) = setup(&m, &[]);
        let run = spawn(&m, &ctx);
        api.expect("GET", NS).await.reply(200, &tenant_namespace());
        let call = api.expect("DELETE", NS).await;
        assert_eq!(call.body["propagationPolicy"], "Background");
        let mut terminating = tenant_namespace();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        call.reply(200, &terminating);
        assert_eq!(reasons(&api.events(1).await), ["Deleting"]);
        let status = api.status().await;
        assert_eq!(status.phase, Some(Phase::Terminating));
        assert_eq!(condition(&status, "Ready").1, "Terminating");
        assert_eq!(reasons(&api.events(1).await), ["Terminating"]);
        assert_eq!(run.await.unwrap().unwrap(), Action::requeue(WAIT));

        // The namespace is gone: the Municipality may go.
        let run = spawn(&m, &ctx);
        api.expect("GET", NS).await.reply(404, &status_error(404, "NotFound", "namespaces \"muni-24115\" not found"));
        assert_eq!(api.patch_municipality().await["metadata"]["finalizers"], json!([]));
        assert_eq!(run.await.unwrap().unwrap(), Action::await_change());
        finish(ctx, api).await;
    })
    .await
}

#[tokio::test]
async fn a_failing_apply_stops_its_part_is_reported_and_retried_with_backoff() {
    within(async {
        let m = ponferrada();
        let (ctx, mut api) = setup(&m, &[]);
        let run = spawn(&m, &ctx);
        for path in
            [NS.to_owned(), format!("{NS}/resourcequotas/tenant-quota"), format!("{NS}/limitranges/tenant-limits")]
        {
            api.apply(&path).await;
        }
        let call = api.expect("PATCH", &format!("{NETPOL}/deny-all")).await;
        call.reply(500, &status_error(500, "InternalError", "etcdserver: request timed out"));
        // Nothing more of isolation, and no certificate while isolation failed.
        let status = api.status().await;
        let (isolated, reason, message) = condition(&status, "Isolated");
        assert_eq!((isolated.as_str(), reason.as_str()), ("False", "ApplyFailed"));
        assert!(message.contains("NetworkPolicy deny-all") && message.contains("etcdserver"), "{message}");
        assert_eq!(condition(&status, "CertificateReady").1, "WaitingForIsolation");
        assert_eq!(status.phase, Some(Phase::Provisioning), "never provisioned before: not Degraded");
        // Isolated and Ready both turn False with reason ApplyFailed: one Event says both (the
        // recorder would fold two Events with one reason into a series and keep one note).
        let events = api.events(4).await;
        assert_eq!(reasons(&events), ["ApplyFailed", "MeasuresNotMet", "Validated", "WaitingForIsolation"]);
        let failed = events.iter().find(|e| e["reason"] == "ApplyFailed").unwrap();
        let note = failed["note"].as_str().unwrap();
        assert!(note.starts_with("Isolated: ") && note.contains("; Ready: "), "{note}");
        // What was written before the failure stays written, and is said.
        assert_eq!(
            written(&api.events(1).await),
            "created 3: Namespace muni-24115, ResourceQuota tenant-quota, LimitRange tenant-limits"
        );
        let error = run.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("NetworkPolicy deny-all"), "{error}");

        let m = Arc::new(m);
        let first = requeue_secs(&error_policy(m.clone(), &error, ctx.clone()));
        let second = requeue_secs(&error_policy(m.clone(), &error, ctx.clone()));
        assert!((0.8..=1.2).contains(&first), "{first}");
        assert!((1.6..=2.4).contains(&second), "{second}");
        // Published from spawned tasks; the second is a repeat (series) if it says the same delay
        // and the first was recorded first.
        assert!(reasons(&api.events(2).await).iter().all(|r| r.starts_with("ReconcileFailedApply")));
        finish(ctx, api).await;
    })
    .await
}
