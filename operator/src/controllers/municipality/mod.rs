//! The Municipality controller: one reconcile pipeline, one file per step.
//!
//! [`dereference`] (read the caches and the index) -> validate (`domain::validate`, pure) ->
//! [`certificate`] (decide, issue if due) and the [`suite`]'s credentials -> build
//! (`resources::build`, pure) -> [`apply`] (each part on its own, then prune) -> [`status`] (pure)
//! and write it if it changed -> its Events ([`announce`]): the changes, the steps and what it
//! wrote. Deletion goes through [`finalize`].

pub mod announce;
pub mod apply;
pub mod backup;
pub mod certificate;
pub mod compliance;
pub mod dereference;
pub mod finalize;
pub mod status;
pub mod suite;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::warn;

use self::announce::Said;
use self::status::{Outcome, Part};
use crate::api::v1alpha1::{Municipality, Province, ServicePlan};
use crate::controllers::conditions;
use crate::domain::{self, Invalid};
use crate::index::Index;
use crate::resources::{self, labels};
use crate::runtime::activity::{self, Writes};
use crate::runtime::errors::{self, Error};
use crate::runtime::events::Events;
use crate::runtime::kinds::Caches;
use crate::runtime::metrics::{self, Metrics};
use crate::runtime::ssa;

/// The reason of the Event saying which objects a reconcile created, changed or deleted.
pub const OBJECTS_WRITTEN: &str = "ObjectsWritten";
/// How often a tenant is looked at again when nothing changed: a safety net for missed watch
/// events, not the way drift is found (watches are).
pub const RESYNC: Duration = Duration::from_secs(300);
/// How often a tenant waiting on Kubernetes (a namespace still terminating) is looked at again.
pub const WAIT: Duration = Duration::from_secs(2);
/// How often a tenant waiting for its province's backup repository is looked at again.
pub const BACKUP_WAIT: Duration = Duration::from_secs(5);
/// How often a plan refused for being below current usage is checked again (usage changes do
/// not trigger reconciles).
pub const USAGE_RECHECK: Duration = Duration::from_secs(30);

/// What every reconcile of a Municipality shares.
pub struct Context {
    pub client: Client,
    pub municipalities: Store<Municipality>,
    pub provinces: Store<Province>,
    pub plans: Store<ServicePlan>,
    /// The provinces' CA Secrets, in the operator's namespace.
    pub ca_secrets: Store<Secret>,
    /// The cluster's StorageClasses.
    pub storage_classes: Store<StorageClass>,
    /// Every managed kind's cache.
    pub caches: Caches,
    /// Backup runs, Backups and Restores.
    pub runs: backup::Caches,
    /// The provinces' backup repositories and the escrowed keys.
    pub repository: crate::controllers::province::backup::Caches,
    pub index: Arc<Index>,
    /// The operator's namespace (CA Secrets).
    pub namespace: String,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
    /// Consecutive failures per Municipality, for backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// When an audit event of the API server last reached concejo (ConfigMap `concejo-audit`,
    /// read once a minute for every tenant: op.exp.8).
    pub audit_seen: Arc<Mutex<Option<Timestamp>>>,
}

impl Context {
    async fn publish(&self, municipality: &Municipality, normal: bool, reason: &str, note: String) {
        self.events.publish(&self.metrics, &municipality.object_ref(&()), normal, reason, note).await
    }
}

/// The reconcile entry: times the pipeline, counts its outcome, and publishes what it wrote
/// (also when it failed half-way: what was written stays written).
pub async fn reconcile(municipality: Arc<Municipality>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let (writes, said) = (Writes::default(), Said::default());
    let result = pipeline(&municipality, &ctx, &writes, &said).await;
    let written = writes.note(&domain::namespace_name(&municipality.spec.ine_code));
    for event in said.events(!status::provisioned(&municipality), written) {
        ctx.publish(&municipality, event.normal, &event.reason, event.note).await;
    }
    let outcome = match &result {
        Ok((_, true)) => metrics::Outcome::Invalid,
        Ok((_, false)) => metrics::Outcome::Success,
        Err(_) => metrics::Outcome::Error,
    };
    ctx.metrics.reconciled(outcome, started.elapsed());
    if result.is_ok() {
        ctx.failures.lock().expect("poisoned").remove(&municipality.name_any());
    }
    result.map(|(action, _)| action)
}

/// Returns the next action and whether the spec was invalid.
async fn pipeline(
    municipality: &Municipality,
    ctx: &Context,
    writes: &Writes,
    said: &Said,
) -> Result<(Action, bool), Error> {
    let api = Api::<Municipality>::all(ctx.client.clone());
    if municipality.meta().deletion_timestamp.is_some() {
        return finalize::run(municipality, ctx, &api, said).await.map(|a| (a, false));
    }
    if !municipality.finalizers().iter().any(|f| f == labels::FINALIZER) {
        // Held from here on: the tenant is provisioned in this same reconcile.
        finalize::add(municipality, ctx, &api).await?;
    }

    let inputs = dereference::read(municipality, ctx);
    let rivals: Vec<&Municipality> = inputs.rivals.iter().map(|r| &**r).collect();
    let verdict = domain::validate(municipality, inputs.validation(&rivals));
    let invalid = verdict.as_ref().err().cloned();
    // While the spec is invalid the last valid tenant stays enforced; a conflict touches nothing.
    let enforced = match verdict {
        Ok(tenant) => Some(tenant),
        Err(invalid) if invalid.is_conflict() => None,
        Err(_) => inputs.enforced(),
    };
    let outcome = match enforced {
        None => Outcome::Refused(invalid.clone().expect("nothing is enforced only for an invalid spec")),
        Some(tenant) => provision(municipality, tenant, invalid.clone(), &inputs, ctx, writes, said).await?,
    };
    write_status(municipality, &outcome, ctx, &api, said).await?;

    let failed: Vec<String> = match &outcome {
        Outcome::Enforced { isolation, certificate, storage, collaboration, backup, .. } => [isolation, certificate]
            .into_iter()
            .chain(storage.iter())
            .chain(collaboration.iter())
            .chain(backup.as_ref().map(|b| &b.ready))
            .filter_map(|p| match p {
                Part::Failed { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    };
    if !failed.is_empty() {
        return Err(Error::Parts(failed.join("; ")));
    }
    let action = match &outcome {
        Outcome::Enforced { isolation: Part::Waiting { .. }, .. }
        | Outcome::Enforced { certificate: Part::Waiting { .. }, .. }
        | Outcome::Terminating { .. } => Action::requeue(WAIT),
        // The key and the province's repository are made by other steps and controllers.
        Outcome::Enforced {
            backup:
                Some(backup::Outcome {
                    ready: Part::Waiting { reason: "WaitingForRepository" | "WaitingForKey", .. }, ..
                }),
            ..
        } => Action::requeue(BACKUP_WAIT),
        Outcome::Enforced { certificate_status: Some(certificate), .. } => {
            let renewal = certificate.renewal_time.parse::<Timestamp>().map(|t| t.as_second()).unwrap_or(i64::MAX);
            let until = (renewal - Timestamp::now().as_second()).max(1) as u64;
            Action::requeue(RESYNC.min(Duration::from_secs(until)))
        }
        _ if matches!(invalid, Some(Invalid::QuotaBelowUsage { .. })) => Action::requeue(USAGE_RECHECK),
        _ => Action::requeue(RESYNC),
    };
    Ok((action, invalid.is_some()))
}

/// Brings every part of an enforced tenant to its desired state.
async fn provision(
    municipality: &Municipality,
    tenant: domain::ValidTenant,
    invalid: Option<Invalid>,
    inputs: &dereference::Inputs,
    ctx: &Context,
    writes: &Writes,
    said: &Said,
) -> Result<Outcome, Error> {
    let name = tenant.namespace();
    // What is there before anything is put back: the compliance verdicts are judged from it
    // (a first provisioning's, from what it put in place: see `compliance`).
    let first = !status::provisioned(municipality);
    let found = compliance::observe(&tenant, &compliance::Seen::found(inputs, ctx));
    if inputs.namespace.as_ref().is_some_and(|ns| ns.metadata.deletion_timestamp.is_some()) {
        let message = format!("namespace {name} is still being deleted; it is created again once it is gone");
        let waiting = Part::Waiting { reason: "NamespaceTerminating", message };
        return Ok(Outcome::Enforced {
            storage: tenant.storage.as_ref().map(|_| waiting.clone()),
            collaboration: tenant.collaboration.as_ref().map(|_| waiting.clone()),
            backup: tenant.backup.as_ref().map(|_| backup::Outcome {
                ready: waiting.clone(),
                verified: None,
                status: None,
            }),
            compliance: compliance::assess(
                found,
                municipality.status.as_ref().and_then(|s| s.backup.as_ref()),
                Timestamp::now(),
            ),
            tenant: Box::new(tenant),
            invalid,
            isolation: waiting.clone(),
            certificate: waiting,
            certificate_status: None,
        });
    }
    let prepared = certificate::prepare(&tenant, inputs).await;
    let credentials = suite::credentials(&tenant, ctx).await;
    let expandable = suite::expandable(&tenant, ctx);
    let key = backup::key::resolve(&tenant, ctx, writes).await;
    let context = resources::Context {
        certificate: prepared.certificate(),
        credentials: credentials.as_ref().ok().and_then(Option::as_ref),
        volumes: &inputs.volumes,
        expandable,
        backup_key: key.as_ref().ok().and_then(Option::as_ref),
    };
    let desired = resources::build(&tenant, &context)?;
    let isolation = apply::part(ctx, writes, &desired, resources::Part::Isolation, status::isolated(&tenant)).await;
    // What every later part says while the isolation it needs failed.
    let blocked = isolation.failed().then(|| {
        let message = format!("waiting for namespace {name} and its isolation objects");
        Part::Waiting { reason: "WaitingForIsolation", message }
    });
    let certificate = match (&blocked, prepared.waiting()) {
        (Some(waiting), _) => waiting.clone(),
        (_, Some(waiting)) => waiting,
        _ => {
            let ready = prepared.status().map(status::certified).unwrap_or_default();
            apply::part(ctx, writes, &desired, resources::Part::Certificate, ready).await
        }
    };
    if certificate.is_ready() {
        prepared.announce(&tenant, ctx, said);
    }
    let storage = match &tenant.storage {
        None => None,
        Some(_) => Some(match &blocked {
            Some(waiting) => waiting.clone(),
            None => match suite::credentials_first(ctx, writes, &desired).await {
                Err(message) => Part::Failed { reason: "ApplyFailed", message },
                Ok(()) => match apply::part(ctx, writes, &desired, resources::Part::Storage, String::new()).await {
                    Part::Ready(_) => suite::storage(&tenant, ctx, &inputs.volumes, expandable),
                    failed => failed,
                },
            },
        }),
    };
    // Applied when enabled and when disabled (then its workloads are removed; volumes stay).
    let suite_part = match (blocked.clone(), credentials) {
        (Some(waiting), _) => waiting,
        (None, Err(e)) => Part::Failed { reason: "CredentialsUnreadable", message: e.to_string() },
        (None, Ok(_)) if storage.as_ref().is_some_and(Part::failed) => {
            let message = "waiting for the tenant's volumes (see StorageReady)".to_owned();
            Part::Waiting { reason: "WaitingForStorage", message }
        }
        (None, Ok(_)) => {
            match apply::part(ctx, writes, &desired, resources::Part::Collaboration, String::new()).await {
                // Readiness only of a suite that is wanted; without one, the apply only pruned.
                Part::Ready(_) if tenant.collaboration.is_some() => suite::collaboration(&tenant, ctx),
                other => other,
            }
        }
    };
    let backup = backup::reconcile(municipality, &tenant, &key, &desired, blocked.as_ref(), ctx, writes).await;
    let recorded = backup.as_ref().and_then(|b| b.status.as_ref());
    let recorded = recorded.or(municipality.status.as_ref().and_then(|s| s.backup.as_ref()));
    let evidence = match first {
        false => found,
        true => {
            let parts = [
                (resources::Part::Isolation, Some(&isolation)),
                (resources::Part::Certificate, Some(&certificate)),
                (resources::Part::Storage, storage.as_ref()),
                (resources::Part::Collaboration, Some(&suite_part)),
                (resources::Part::Backup, backup.as_ref().map(|b| &b.ready)),
            ];
            let applied: Vec<resources::Part> =
                parts.into_iter().filter(|(_, p)| p.is_some_and(Part::is_ready)).map(|(part, _)| part).collect();
            compliance::observe(&tenant, &compliance::Seen::provisioned(inputs, ctx, &desired, &applied))
        }
    };
    let compliance = compliance::assess(evidence, recorded, Timestamp::now());
    Ok(Outcome::Enforced {
        compliance,
        certificate_status: prepared.status().cloned(),
        collaboration: tenant.collaboration.as_ref().map(|_| suite_part),
        backup,
        storage,
        tenant: Box::new(tenant),
        invalid,
        isolation,
        certificate,
    })
}

/// Writes the status only when what concejo owns of it differs, and publishes an Event for every
/// condition that changed.
async fn write_status(
    municipality: &Municipality,
    outcome: &Outcome,
    ctx: &Context,
    api: &Api<Municipality>,
    said: &Said,
) -> Result<(), Error> {
    let desired = status::compute(municipality, outcome, Timestamp::now());
    let current = municipality.status.clone().unwrap_or_default();
    if current == desired {
        return Ok(());
    }
    let mut ours = desired.clone();
    ours.conditions = conditions::only(&desired.conditions, status::OWNED);
    if !ssa::status(api, &municipality.name_any(), &ours, &ctx.metrics).await? {
        return Ok(()); // gone since the cache saw it (its finalizer was just removed)
    }
    activity::record_verdicts(municipality, &current.compliance, &desired.compliance);
    // One Event per (status, reason) that changed, saying every condition that turned so. A
    // change of Compliant's message is a change of verdict too (another measure met or not met).
    let mut events: Vec<(bool, &str, Vec<String>)> = vec![];
    for c in desired.conditions.iter().filter(|c| status::OWNED.contains(&c.type_.as_str())) {
        let verdict = c.type_ == conditions::COMPLIANT;
        if current.conditions.iter().any(|p| {
            p.type_ == c.type_ && p.status == c.status && p.reason == c.reason && (!verdict || p.message == c.message)
        }) {
            continue;
        }
        let (normal, note) = (c.status == "True", format!("{}: {}", c.type_, c.message));
        match events.iter_mut().find(|(n, r, _)| *n == normal && *r == c.reason) {
            Some((_, _, notes)) => notes.push(note),
            None => events.push((normal, &c.reason, vec![note])),
        }
    }
    for (normal, reason, notes) in events {
        said.conditions(normal, reason, notes.join("; "));
    }
    if let Some(ready) = desired.conditions.iter().find(|c| c.type_ == conditions::READY && c.status == "True") {
        said.ready(&ready.message);
    }
    Ok(())
}

/// Retries with backoff per Municipality (1 s doubling up to 5 minutes, spread), and says so in
/// a Warning Event.
pub fn error_policy(municipality: Arc<Municipality>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    let failures = {
        let mut failures = ctx.failures.lock().expect("poisoned");
        let n = failures.entry(municipality.name_any()).or_default();
        *n = n.saturating_add(1);
        *n
    };
    let delay = errors::backoff(failures, rand::random::<f64>());
    warn!(municipality = %municipality.name_any(), %error, retry_in = ?delay, "reconcile failed");
    let note = format!("{error}; retrying in {}s", delay.as_secs().max(1));
    let reason = format!("ReconcileFailed{}", error.category());
    tokio::spawn(async move { ctx.publish(&municipality, false, &reason, note).await });
    Action::requeue(delay)
}

/// Sets the finalizer list; the resourceVersion makes it fail (and retry) if someone else changed
/// the object meanwhile, so no other controller's finalizer is lost.
async fn patch_finalizers(
    municipality: &Municipality,
    finalizers: Vec<String>,
    ctx: &Context,
    api: &Api<Municipality>,
) -> Result<(), Error> {
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": municipality.resource_version()}});
    // Already gone (the cache was behind): nothing left to hold.
    if ssa::unless_gone(api.patch(&municipality.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await)?
        .is_some()
    {
        ctx.metrics.wrote("Municipality", "patch");
    }
    Ok(())
}
