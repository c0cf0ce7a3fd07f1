//! The Backup and Restore objects of a tenant's namespace: each gets its Job once (owned by it,
//! so deleting it stops the run), and a status that follows the Job until it ends. A Restore's
//! new volume is not owned by it: deleting the Restore keeps the restored data.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use super::super::{Context, apply};
use super::runs::{pods_of, read, start_job};
use crate::api::v1alpha1::{Backup, Restore, RestoreTarget, RunStatus};
use crate::domain::ValidTenant;
use crate::domain::backup::TenantBackup;
use crate::domain::runs as outcomes;
use crate::resources::backup::{Key, runs};
use crate::resources::{Kind, labels};
use crate::runtime::activity::Writes;
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// What a tenant's Backup or Restore runs with, or why it cannot run now.
fn runnable<'t>(tenant: &'t ValidTenant, key: Option<&Key>) -> Result<&'t TenantBackup, String> {
    match &tenant.backup {
        None => Err(format!(
            "Municipality {} has no backups: spec.backup.enabled is false, or it has no volumes",
            tenant.name
        )),
        Some(b) if b.missing.is_some() => Err(b.missing.clone().unwrap_or_default()),
        Some(_) if key.is_none() => Err("the tenant's backup key is not available yet (see BackupReady)".into()),
        Some(b) => Ok(b),
    }
}

/// The objects of a kind still to serve: not ended, not being deleted.
fn pending<K: Resource>(all: Vec<Arc<K>>, status: fn(&K) -> Option<&RunStatus>) -> Vec<Arc<K>> {
    all.into_iter().filter(|o| !outcomes::finished(status(o)) && o.meta().deletion_timestamp.is_none()).collect()
}

/// Writes an object's status when it changed.
async fn settle<K: Kind>(
    api: &Api<K>,
    name: &str,
    previous: Option<&RunStatus>,
    status: RunStatus,
    ctx: &Context,
) -> Result<(), Error> {
    if Some(&status) != previous {
        ssa::status(api, name, &status, &ctx.metrics).await?;
    }
    Ok(())
}

fn running(job: Option<&Job>, ctx: &Context) -> bool {
    job.is_some_and(|j| {
        pods_of(j, ctx).iter().any(|p: &Arc<Pod>| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
}

/// Creates `job` unless it exists, owned by `owner`.
async fn start<K: Resource<DynamicType = ()>>(
    owner: &K,
    mut job: Job,
    ctx: &Context,
    writes: &Writes,
) -> Result<(), Error> {
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    if ctx.runs.jobs.get(&namespace, &job.name_any()).is_some() {
        return Ok(());
    }
    job.metadata.owner_references = owner.controller_owner_ref(&()).map(|o| vec![o]);
    start_job(&job, ctx, writes).await
}

/// The status a run's object should have now.
fn follow(previous: Option<&RunStatus>, job_name: &str, namespace: &str, ctx: &Context) -> RunStatus {
    let job = ctx.runs.jobs.get(namespace, job_name);
    let run = job.as_deref().map(|j| read(j, ctx));
    outcomes::run_status(previous, run.as_ref(), running(job.as_deref(), ctx))
}

/// Every Backup of the tenant's namespace: its Job started, its status followed.
pub async fn backups(tenant: &ValidTenant, key: Option<&Key>, ctx: &Context, writes: &Writes) -> Result<(), Error> {
    let ns = tenant.namespace();
    let api = Api::<Backup>::namespaced(ctx.client.clone(), &ns);
    for object in pending(ctx.runs.backups.in_namespace(&ns), |b| b.status.as_ref()) {
        let (name, previous) = (object.name_any(), object.status.as_ref());
        let status = match runnable(tenant, key) {
            Err(why) => outcomes::refused(previous, why, Timestamp::now()),
            Ok(backup) => {
                start(&*object, runs::backup_job(tenant, backup, &name), ctx, writes).await?;
                follow(previous, &runs::backup_job_name(&name), &ns, ctx)
            }
        };
        settle(&api, &name, previous, status, ctx).await?;
    }
    Ok(())
}

/// Every Restore of the tenant's namespace: refused in place unless the tenant is suspended;
/// otherwise its claim (new volume) and Job started, its status followed. `latest` is the newest
/// snapshot concejo's own backups made (`last`), never the newest in the repository, where a
/// tenant's credentials can add one dated in the future.
pub async fn restores(
    tenant: &ValidTenant,
    key: Option<&Key>,
    last: Option<&str>,
    ctx: &Context,
    writes: &Writes,
) -> Result<(), Error> {
    let ns = tenant.namespace();
    let api = Api::<Restore>::namespaced(ctx.client.clone(), &ns);
    for object in pending(ctx.runs.restores.in_namespace(&ns), |r| r.status.as_ref()) {
        let (name, previous) = (object.name_any(), object.status.as_ref());
        let in_place = object.spec.target == RestoreTarget::InPlace;
        let mut spec = object.spec.clone();
        let ready = runnable(tenant, key).and_then(|backup| {
            if in_place && !tenant.suspend {
                return Err(format!(
                    "refused: an InPlace restore overwrites the tenant's volumes, so Municipality {} must be \
                     suspended first (spec.suspend: true); then create the Restore again. A NewVolume restore needs no \
                     suspension",
                    tenant.name
                ));
            }
            match (spec.snapshot.as_str(), last) {
                ("latest", Some(id)) => spec.snapshot = id.to_owned(),
                ("latest", None) => {
                    return Err(format!("Municipality {} has no backup recorded yet: nothing to restore", tenant.name));
                }
                _ => {}
            }
            Ok(backup)
        });
        let status = match ready {
            Err(why) => outcomes::refused(previous, why, Timestamp::now()),
            Ok(backup) => {
                let (claim, job) = runs::restore(tenant, backup, &name, &spec);
                let volume = claim.as_ref().map(|c| c.name_any());
                // The claim is made before the Job: once the Job is there, so is the claim.
                let started = ctx.runs.jobs.get(&ns, &job.name_any()).is_some();
                if let Some(claim) = claim.filter(|_| !started)
                    && let Err(why) = create_claim(claim, ctx, writes).await?
                {
                    outcomes::refused(previous, why, Timestamp::now())
                } else {
                    start(&*object, job, ctx, writes).await?;
                    let mut status = follow(previous, &runs::restore_job_name(&name), &ns, ctx);
                    status.volume = volume;
                    status
                }
            }
        };
        settle(&api, &name, previous, status, ctx).await?;
    }
    Ok(())
}

/// Creates a restore's claim unless it exists. A refusal by the API server (the tenant's quota,
/// most often) is the Restore's answer, not an error to retry.
async fn create_claim(
    claim: PersistentVolumeClaim,
    ctx: &Context,
    writes: &Writes,
) -> Result<Result<(), String>, Error> {
    let namespace = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let api = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &namespace);
    let params = PostParams { field_manager: Some(labels::FIELD_MANAGER.into()), ..Default::default() };
    match api.create(&params, &claim).await {
        Ok(_) => {
            apply::created(ctx, writes, &claim);
            Ok(Ok(()))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Ok(())),
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => {
            Ok(Err(format!("PersistentVolumeClaim {name} was refused: {}", s.message)))
        }
        Err(e) => Err(e.into()),
    }
}
