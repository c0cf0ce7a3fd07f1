//! Step 4 and 6 for the suite: before building, the credentials (read, or generated once) and
//! whether the volumes' class can grow; after applying, how the volumes and the workloads stand,
//! from the watch caches (their status changes trigger the next reconcile).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::status::Part;
use super::{Context, apply};
use crate::domain::{ValidTenant, Volume, quantity, suite};
use crate::resources::collaboration::{self, Credentials, credentials};
use crate::resources::{self, Desired};
use crate::runtime::activity::Writes;
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// The suite's credentials: those in its Secret, or new ones when there is none and no database
/// was made with earlier ones (`credentials::resolve`). A Secret the cache has not seen yet is read
/// from the API server first, so credentials are never replaced.
pub async fn credentials(tenant: &ValidTenant, ctx: &Context) -> Result<Option<Credentials>, Error> {
    if tenant.collaboration.is_none() {
        return Ok(None);
    }
    let namespace = tenant.namespace();
    let key = ObjectRef::new(credentials::NAME).within(&namespace);
    let live = match ctx.caches.get::<Secret>(&key) {
        Some(secret) => Some((*secret).clone()),
        None => {
            ssa::unless_gone(Api::<Secret>::namespaced(ctx.client.clone(), &namespace).get(credentials::NAME).await)?
        }
    };
    let database = ObjectRef::new(suite::DATABASE_VOLUME).within(&namespace);
    let database_exists =
        ctx.caches.store::<PersistentVolumeClaim>().is_some_and(|claims| claims.get(&database).is_some());
    credentials::resolve(live.as_ref(), database_exists).map(Some).map_err(|why| {
        Error::Parts(format!(
            "Secret {namespace}/{} {why}; restore it from a backup (new credentials would lock the data out)",
            credentials::NAME
        ))
    })
}

/// Writes the suite's credentials Secret (when there is one to write) before its volumes: a
/// database volume without its Secret means "initialised with credentials since lost"
/// ([`credentials::resolve`] then refuses new ones), and a crash between creating the volume and
/// the Secret must never leave that behind for a volume no database ever used (seen when the
/// operator was SIGKILLed while onboarding: e2e/tests/faults.rs). Later, the Collaboration part
/// finds it in place and writes nothing.
pub async fn credentials_first(ctx: &Context, writes: &Writes, desired: &Desired) -> Result<(), String> {
    let secret =
        desired.of(resources::Part::Collaboration).find(|m| m.resource.kind == "Secret" && m.name == credentials::NAME);
    let Some(m) = secret else { return Ok(()) };
    let live = ctx.caches.live(&m.resource, m.namespace.as_deref(), &m.name);
    apply::object(ctx, writes, live.as_ref(), m).await.map_err(|e| format!("Secret {}: {e}", m.name))
}

/// Whether the tenant's StorageClass lets claims grow.
pub fn expandable(tenant: &ValidTenant, ctx: &Context) -> bool {
    let Some(storage) = &tenant.storage else { return false };
    ctx.storage_classes.get(&ObjectRef::new(&storage.class)).is_some_and(|c| c.allow_volume_expansion == Some(true))
}

/// How the volumes stand: bound with the size asked, bound but still growing, or waiting to be
/// bound (with `WaitForFirstConsumer` classes, until the suite's pods are scheduled).
pub fn storage(tenant: &ValidTenant, ctx: &Context, volumes: &[Volume], expandable: bool) -> Part {
    let Some(storage) = &tenant.storage else { return Part::Ready(String::new()) };
    let claims = ctx.caches.store::<PersistentVolumeClaim>();
    let mut bound = vec![];
    for (name, wanted) in [(suite::FILES_VOLUME, &storage.files), (suite::DATABASE_VOLUME, &storage.database)] {
        let live = volumes.iter().find(|v| v.name == name);
        if live.is_some_and(|v| quantity::parse_milli(&v.request) < quantity::parse_milli(wanted)) && !expandable {
            let current = live.map(|v| v.request.clone()).unwrap_or_default();
            let message = format!(
                "StorageClass {} does not allow volume expansion: {name} stays {current} (asked {wanted}); \
                 use a class with allowVolumeExpansion, or restore into a larger volume",
                storage.class
            );
            return Part::Waiting { reason: "ExpansionNotSupported", message };
        }
        let claim = claims.and_then(|s| s.get(&ObjectRef::new(name).within(&tenant.namespace())));
        let status = claim.as_ref().and_then(|c| c.status.clone()).unwrap_or_default();
        let capacity = status.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.clone());
        match (status.phase.as_deref(), capacity) {
            (Some("Bound"), Some(capacity)) if quantity::parse_milli(&capacity) >= quantity::parse_milli(wanted) => {
                bound.push(format!("{name} {capacity}"));
            }
            (Some("Bound"), Some(capacity)) => {
                let message = format!("{name} is being expanded: {capacity} of {wanted}");
                return Part::Waiting { reason: "Resizing", message };
            }
            (phase, _) => {
                let message = format!(
                    "{name} ({wanted}, StorageClass {}) is {}; claims of WaitForFirstConsumer classes bind when the suite's pods are scheduled",
                    storage.class,
                    phase.unwrap_or("not created yet")
                );
                return Part::Waiting { reason: "WaitingForBinding", message };
            }
        }
    }
    Part::Ready(format!("{} bound on StorageClass {}", bound.join(", "), storage.class))
}

/// How the workloads stand: all available, suspended, or starting (and why pods are missing).
pub fn collaboration(tenant: &ValidTenant, ctx: &Context) -> Part {
    let namespace = tenant.namespace();
    if tenant.suspend {
        let message = "suspended: workloads scaled to zero, background jobs paused; data and configuration kept";
        return Part::Waiting { reason: "Suspended", message: message.into() };
    }
    let deployments = ctx.caches.store::<Deployment>();
    let mut missing = vec![];
    for name in [collaboration::nextcloud::NAME, collaboration::redis::NAME] {
        let live = deployments.and_then(|s| s.get(&ObjectRef::new(name).within(&namespace)));
        let status = live.and_then(|d| d.status.clone()).unwrap_or_default();
        if status.available_replicas.unwrap_or(0) < 1 {
            let refused = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"));
            missing.push(match refused {
                Some(c) => format!("{name}: {}", c.message.clone().unwrap_or_default()),
                None => format!("{name} 0/1 available"),
            });
        }
    }
    let set = ctx
        .caches
        .store::<StatefulSet>()
        .and_then(|s| s.get(&ObjectRef::new(collaboration::postgres::NAME).within(&namespace)));
    if set.and_then(|s| s.status.clone()).and_then(|s| s.available_replicas).unwrap_or(0) < 1 {
        missing.push(format!("{} 0/1 available", collaboration::postgres::NAME));
    }
    if missing.is_empty() {
        let web = tenant.hosts.first().map(|h| format!("https://{h}")).unwrap_or_default();
        Part::Ready(format!("Nextcloud, PostgreSQL and Redis available at {web}"))
    } else {
        Part::Waiting { reason: "Starting", message: format!("waiting for {}", missing.join(", ")) }
    }
}
