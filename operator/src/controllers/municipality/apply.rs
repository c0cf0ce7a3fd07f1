//! Step 5: apply one part of the tenant (server-side apply, only what differs, in order), then
//! delete what the part's components may own under a name they no longer want.

use tracing::info;

use super::Context;
use super::status::Part;
use crate::resources::{self, Desired};
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// Applies and prunes one part; a failure becomes the part's condition, never an early return,
/// so that the other parts are still applied and reported. `ready` says what is in place.
pub async fn part(ctx: &Context, desired: &Desired, part: resources::Part, ready: String) -> Part {
    match apply(ctx, desired, part).await {
        Ok(()) => Part::Ready(ready),
        Err(error) => Part::Failed { reason: "ApplyFailed", message: error },
    }
}

async fn apply(ctx: &Context, desired: &Desired, part: resources::Part) -> Result<(), String> {
    for m in desired.of(part) {
        let live = ctx.caches.live(&m.resource, m.namespace.as_deref(), &m.name);
        ssa::ensure(&ctx.client, live.as_ref(), m, &ctx.metrics)
            .await
            .map_err(|e| failure(&m.resource.kind, &m.name, &e))?;
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
            ssa::delete_seen(&ctx.client, resource, Some(ns), name, live.as_ref(), &ctx.metrics)
                .await
                .map_err(|e| failure(&resource.kind, name, &e))?;
        }
    }
    Ok(())
}

fn failure(kind: &str, name: &str, error: &Error) -> String {
    format!("{kind} {name}: {error}")
}
