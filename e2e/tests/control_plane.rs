//! The local control plane is a working Kubernetes: workloads run (kwok plays the kubelet) and
//! namespaces can be deleted.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::wait::conditions;
use serde_json::json;
use support::*;

#[tokio::test]
async fn deployments_become_available_and_jobs_complete() -> anyhow::Result<()> {
    let client = client().await?;
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await?;
    let ready = |n: &&Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    assert!(nodes.items.iter().filter(ready).count() >= 3, "fewer than three Ready nodes");

    let ns = "e2e-control-plane";
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}}))?).await?;
    // The controller manager creates the namespace's default ServiceAccount, which pods need.
    let accounts = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), ns);
    wait(&accounts, "default", |sa: Option<&k8s_openapi::api::core::v1::ServiceAccount>| sa.is_some()).await?;

    let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }
    }))?;
    deployments.create(&PostParams::default(), &deployment).await?;
    wait(&deployments, "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()).and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
            cs.iter().any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True"))
        }) && d.and_then(|d| d.status.as_ref()).and_then(|s| s.ready_replicas) == Some(2)
    })
    .await?;
    let pods = Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default().labels("app=web")).await?;
    assert!(pods.items.iter().all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")));

    let jobs = Api::<Job>::namespaced(client.clone(), ns);
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "once", "image": "busybox"}]}}}
    }))?;
    jobs.create(&PostParams::default(), &job).await?;
    wait(&jobs, "once", conditions::is_job_completed()).await?;

    // Namespace deletion needs the controller manager and kwok's pod-delete stage.
    namespaces.delete(ns, &DeleteParams::default()).await?;
    wait_deleted(&namespaces, ns).await?;
    Ok(())
}
