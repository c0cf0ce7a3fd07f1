//! Deletion of a Municipality: the tenant is retained or removed according to `deletionPolicy`,
//! then the finalizer is released.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::info;

use super::announce::Said;
use super::status::Outcome;
use super::{Context, WAIT, patch_finalizers, write_status};
use crate::api::v1alpha1::{DeletionPolicy, Municipality};
use crate::domain;
use crate::resources::labels;
use crate::runtime::activity;
use crate::runtime::errors::Error;

/// Adds concejo's finalizer, so that the tenant is retained or removed before the object goes.
pub async fn add(municipality: &Municipality, ctx: &Context, api: &Api<Municipality>) -> Result<(), Error> {
    let mut finalizers = municipality.finalizers().to_vec();
    finalizers.push(labels::FINALIZER.to_owned());
    patch_finalizers(municipality, finalizers, ctx, api).await
}

/// Retains or removes the tenant according to `deletionPolicy`, then lets the Municipality go.
pub async fn run(
    municipality: &Municipality,
    ctx: &Context,
    api: &Api<Municipality>,
    said: &Said,
) -> Result<Action, Error> {
    if !municipality.finalizers().iter().any(|f| f == labels::FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = domain::namespace_name(&municipality.spec.ine_code);
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let ours = |ns: &Namespace| ns.labels().get(labels::INSTANCE) == Some(&municipality.name_any());
    // Only the namespace this Municipality provisioned: never one of another tenant (a Conflict).
    // Read from the API server, not the cache: this decides whether data is deleted.
    if let Some(ns) = namespaces.get_opt(&name).await?.filter(ours) {
        match municipality.spec.deletion_policy {
            DeletionPolicy::Retain => {
                let note = format!(
                    "Municipality {} was deleted at {} with deletionPolicy Retain: this namespace and its contents \
                     are kept and no longer managed by concejo",
                    municipality.name_any(),
                    Timestamp::now()
                );
                let patch = json!({"metadata": {
                    "labels": {labels::MANAGED_BY: null, labels::INSTANCE: null},
                    "annotations": {labels::RETAINED_ANNOTATION: note, labels::ENFORCED_ANNOTATION: null},
                }});
                namespaces.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                ctx.metrics.wrote("Namespace", "patch");
                activity::record(activity::Action::Update, &namespace_kind(), None, &name, body_of(&ns).as_ref());
                let message =
                    format!("namespace {name} and its contents are kept (deletionPolicy Retain) and no longer managed");
                ctx.publish(municipality, true, "Retained", message).await;
            }
            DeletionPolicy::Delete => {
                if ns.metadata.deletion_timestamp.is_none() {
                    namespaces.delete(&name, &DeleteParams::background()).await?;
                    ctx.metrics.wrote("Namespace", "delete");
                    activity::record(activity::Action::Delete, &namespace_kind(), None, &name, body_of(&ns).as_ref());
                    let message = format!("deleting namespace {name} and everything in it (deletionPolicy Delete)");
                    ctx.publish(municipality, true, "Deleting", message).await;
                }
                let outcome = Outcome::Terminating { message: format!("waiting for namespace {name} to be deleted") };
                write_status(municipality, &outcome, ctx, api, said).await?;
                return Ok(Action::requeue(WAIT));
            }
        }
    }
    let finalizers: Vec<_> = municipality.finalizers().iter().filter(|f| *f != labels::FINALIZER).cloned().collect();
    patch_finalizers(municipality, finalizers, ctx, api).await?;
    ctx.metrics.certificate_expires(&municipality.spec.ine_code, None);
    info!(municipality = %municipality.name_any(), "tenant released");
    Ok(Action::await_change())
}

fn namespace_kind() -> kube::api::ApiResource {
    kube::api::ApiResource::erase::<Namespace>(&())
}

fn body_of(ns: &Namespace) -> Option<serde_json::Value> {
    serde_json::to_value(ns).ok()
}
