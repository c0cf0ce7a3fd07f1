//! Step 5: apply one part of the tenant (server-side apply, only what differs, in order), then
//! delete what the part's components may own under a name they no longer want. What it wrote is
//! added to the reconcile's [`Writes`].

use kube::ResourceExt;
use kube::api::ApiResource;
use serde_json::{Value, json};
use tracing::info;

use super::Context;
use super::status::Part;
use crate::resources::{self, Desired, Kind, Manifest};
use crate::runtime::activity::{self, Action, Writes};
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// Applies and prunes one part; a failure becomes the part's condition, never an early return,
/// so that the other parts are still applied and reported. `ready` says what is in place.
pub async fn part(ctx: &Context, writes: &Writes, desired: &Desired, part: resources::Part, ready: String) -> Part {
    match apply(ctx, writes, desired, part).await {
        Ok(()) => Part::Ready(ready),
        Err(error) => Part::Failed { reason: "ApplyFailed", message: error },
    }
}

async fn apply(ctx: &Context, writes: &Writes, desired: &Desired, part: resources::Part) -> Result<(), String> {
    for m in desired.of(part) {
        let live = ctx.caches.live(&m.resource, m.namespace.as_deref(), &m.name);
        object(ctx, writes, live.as_ref(), m).await.map_err(|e| failure(&m.resource.kind, &m.name, &e))?;
    }
    let ns = &desired.namespace;
    for (_, resource, owned) in desired.owned.iter().filter(|(p, _, _)| *p == part) {
        for name in owned.iter() {
            let wanted = desired.of(part).any(|m| m.resource == *resource && m.name == *name);
            if wanted || !ctx.caches.present(resource, Some(ns), name) {
                continue;
            }
            info!(namespace = %ns, %name, kind = %resource.kind, "removing an object the tenant no longer needs");
            let live = ctx.caches.live(resource, Some(ns), name);
            let deleted = ssa::delete_seen(&ctx.client, resource, Some(ns), name, live.as_ref(), &ctx.metrics)
                .await
                .map_err(|e| failure(&resource.kind, name, &e))?;
            if deleted {
                writes.add(Action::Delete, &resource.kind, Some(ns), name);
            }
        }
    }
    Ok(())
}

/// Applies one object unless `live` already says it, and adds what that did to `writes`.
pub async fn object(ctx: &Context, writes: &Writes, live: Option<&Value>, m: &Manifest) -> Result<(), Error> {
    if let Some(action) = ssa::ensure(&ctx.client, live, m, &ctx.metrics).await? {
        writes.add(action, &m.resource.kind, m.namespace.as_deref(), &m.name);
    }
    Ok(())
}

/// Records an object made with a plain create (not applied: one that must never be overwritten,
/// or whose refusal is an answer): counted, logged by its labels only (never its data), added to
/// `writes`.
pub fn created<K: Kind>(ctx: &Context, writes: &Writes, object: &K) {
    let (kind, namespace, name) = (K::kind(&()), object.meta().namespace.as_deref(), object.name_any());
    ctx.metrics.wrote(&kind, "create");
    let labels = json!({"metadata": {"labels": object.meta().labels}});
    activity::record(Action::Create, &ApiResource::erase::<K>(&()), namespace, &name, Some(&labels));
    writes.add(Action::Create, &kind, namespace, &name);
}

fn failure(kind: &str, name: &str, error: &Error) -> String {
    format!("{kind} {name}: {error}")
}
