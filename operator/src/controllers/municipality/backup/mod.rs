//! The backup steps of a tenant's reconcile (docs/backups.md):
//! - before building, its key ([`key`]): read from the escrow, or generated and escrowed once;
//! - after applying, its runs ([`runs`]): what finished Jobs reported, read into
//!   `status.backup` (`domain::runs`, pure), and the retention and drill Jobs that are due;
//! - the Backup and Restore objects of its namespace ([`requests`]): their Jobs and statuses.
//!
//! Runs are watched here ([`watch`]): Jobs and pods with the run label, Backups and Restores. An
//! object in a tenant namespace maps to the tenant of that namespace (never by labels, which a
//! tenant admin can write); one in a province's backup namespace, which no tenant can write, maps
//! by its INE code label.

pub mod key;
pub mod requests;
pub mod runs;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use tracing::warn;

use super::status::Part;
use super::{Context, apply};
use crate::api::v1alpha1::{Backup, BackupStatus, DrillResult, Municipality, Restore};
use crate::domain::{ValidTenant, tenant};
use crate::index::Index;
use crate::resources::backup::{Key, RUN_LABEL};
use crate::resources::{self, Desired, Kind, labels};
use crate::runtime::activity::Writes;
use crate::runtime::watches::{self, Changes};

/// How a tenant's backups stand after a reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `BackupReady`.
    pub ready: Part,
    /// `RestoreVerified`, for tenants that get drills (ENS Media and Alta).
    pub verified: Option<Part>,
    /// `status.backup`, when read this time.
    pub status: Option<BackupStatus>,
}

/// Applies the tenant's backup objects, reads its runs, starts what is due, serves its Backups and
/// Restores. `key`: the escrowed key, or why it is not available. `blocked`: what this part says
/// while the isolation it needs failed.
pub async fn reconcile(
    municipality: &Municipality,
    tenant: &ValidTenant,
    key: &Result<Option<Key>, String>,
    desired: &Desired,
    blocked: Option<&Part>,
    ctx: &Context,
    writes: &Writes,
) -> Option<Outcome> {
    let Some(backup) = tenant.backup.as_ref() else {
        // Backups and Restores asked of a tenant without backups are answered: refused, saying why.
        if blocked.is_none()
            && let Err(e) = refuse_requests(tenant, ctx, writes).await
        {
            warn!(municipality = %tenant.name, error = %e, "could not answer its Backups and Restores");
        }
        return None;
    };
    let previous = municipality.status.as_ref().and_then(|s| s.backup.clone()).unwrap_or_default();
    let verified = |status: &BackupStatus| backup.drill_days.map(|days| verified(status, days));
    let waiting = |part: Part| Some(Outcome { ready: part, verified: verified(&previous), status: None });
    if let Some(part) = blocked {
        return waiting(part.clone());
    }
    let key = match key {
        Ok(key) => key.as_ref(),
        Err(why) => return waiting(Part::Failed { reason: "KeyUnavailable", message: why.clone() }),
    };
    let applied = apply::part(ctx, writes, desired, resources::Part::Backup, String::new()).await;
    if applied.failed() {
        return waiting(applied);
    }
    if let Some(missing) = &backup.missing {
        let part = match refuse_requests(tenant, ctx, writes).await {
            Ok(()) => Part::Waiting { reason: "TargetMissing", message: missing.clone() },
            Err(e) => Part::Failed { reason: "RunsFailed", message: e.to_string() },
        };
        return waiting(part);
    }
    let Some(key) = key else {
        let message = "the tenant's backup key is being made".to_owned();
        return waiting(Part::Waiting { reason: "WaitingForKey", message });
    };
    let failed = |e: crate::runtime::errors::Error| Part::Failed { reason: "RunsFailed", message: e.to_string() };
    let copied = key::in_repository(tenant, key, ctx);
    let seen = runs::observe(tenant, backup, &previous, ctx);
    for (normal, reason, note) in &seen.news {
        ctx.publish(municipality, *normal, reason, note.clone()).await;
    }
    let started = match copied {
        true => runs::start_due(tenant, backup, &seen.status, ctx, writes, Timestamp::now()).await,
        false => Ok(()),
    };
    let served = match requests::backups(tenant, Some(key), ctx, writes).await {
        Ok(()) => requests::restores(tenant, Some(key), seen.status.last_snapshot.as_deref(), ctx, writes).await,
        Err(e) => Err(e),
    };
    let ready = match (started.and(served), copied) {
        (Err(e), _) => failed(e),
        (Ok(()), false) => Part::Waiting {
            reason: "WaitingForRepository",
            message: format!(
                "the province's repository (namespace {}) does not hold this tenant's key yet (see BackupTargetReady \
                 on Province {})",
                backup.namespace, tenant.province
            ),
        },
        (Ok(()), true) => ready(tenant, &seen.status),
    };
    Some(Outcome { ready, verified: verified(&seen.status), status: Some(seen.status) })
}

/// Answers the tenant's pending Backups and Restores when it cannot have backups (none wanted, no
/// volumes, no target): each is refused with the reason, instead of waiting for ever.
async fn refuse_requests(
    tenant: &ValidTenant,
    ctx: &Context,
    writes: &Writes,
) -> Result<(), crate::runtime::errors::Error> {
    requests::backups(tenant, None, ctx, writes).await?;
    requests::restores(tenant, None, None, ctx, writes).await
}

/// `BackupReady` from the status: paused while suspended, failing while the last backup failed.
fn ready(tenant: &ValidTenant, status: &BackupStatus) -> Part {
    let schedule = format!("scheduled at \"{}\" (Europe/Madrid)", status.schedule.clone().unwrap_or_default());
    if tenant.suspend {
        let message = format!("suspended: scheduled backups are paused; {schedule} once resumed");
        return Part::Waiting { reason: "Suspended", message };
    }
    if let (Some(at), Some(why)) = (&status.last_failure_time, &status.last_failure) {
        return Part::Waiting { reason: "BackupFailed", message: format!("the backup of {at} failed: {why}") };
    }
    match (&status.last_success_time, &status.last_snapshot) {
        (Some(at), Some(id)) => Part::Ready(format!(
            "last backup {at}: snapshot {} ({} files, {} bytes); {schedule}",
            crate::domain::runs::short(id),
            status.last_files.unwrap_or(0),
            status.last_bytes.unwrap_or(0)
        )),
        _ => Part::Ready(format!("{schedule}; no backup yet")),
    }
}

/// `RestoreVerified` from the last drill.
fn verified(status: &BackupStatus, days: i32) -> Part {
    let (at, message) = (status.last_drill_time.clone().unwrap_or_default(), status.last_drill_message.clone());
    match status.last_drill_result {
        Some(DrillResult::Passed) => Part::Ready(format!("drill of {at}: {}", message.unwrap_or_default())),
        Some(DrillResult::Failed) => Part::Waiting {
            reason: "DrillFailed",
            message: format!("drill of {at} failed: {}", message.unwrap_or_default()),
        },
        None => Part::Waiting {
            reason: "NoDrillYet",
            message: format!("the first restore drill runs after the first backup, then every {days} days"),
        },
    }
}

/// The watch cache of one kind, with the names of its objects per namespace: the stores have no
/// such index, and every reconcile looks up its tenant's runs.
#[derive(Clone)]
pub struct Cache<K: Kind> {
    pub store: Store<K>,
    names: Names,
}

/// Names of objects by namespace, kept from the watch's events.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<HashMap<String, BTreeSet<String>>>>);

impl Names {
    fn apply<K: Kind>(&self, event: &Event<K>) {
        let mut names = self.0.lock().expect("poisoned");
        let key = |o: &K| (o.namespace().unwrap_or_default(), o.name_any());
        match event {
            Event::Apply(o) | Event::InitApply(o) => {
                let (ns, name) = key(o);
                names.entry(ns).or_default().insert(name);
            }
            Event::Delete(o) => {
                let (ns, name) = key(o);
                if let Some(set) = names.get_mut(&ns) {
                    set.remove(&name);
                    if set.is_empty() {
                        names.remove(&ns);
                    }
                }
            }
            // A new list follows: every object comes again.
            Event::Init => names.clear(),
            Event::InitDone => {}
        }
    }
}

impl<K: Kind> Cache<K> {
    /// A cache whose store is filled by someone else (tests): lookups by name only.
    pub fn of(store: Store<K>) -> Self {
        Cache { store, names: Names::default() }
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.store.get(&ObjectRef::new(name).within(namespace))
    }

    /// Every cached object of a namespace.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let names = self.names.0.lock().expect("poisoned").get(namespace).cloned().unwrap_or_default();
        names.iter().filter_map(|name| self.get(namespace, name)).collect()
    }
}

/// The watch caches of runs and of what asks for them.
#[derive(Clone)]
pub struct Caches {
    pub jobs: Cache<Job>,
    pub pods: Cache<Pod>,
    pub backups: Cache<Backup>,
    pub restores: Cache<Restore>,
}

impl Caches {
    pub async fn synced(&self) {
        watches::synced(&self.jobs.store).await;
        watches::synced(&self.pods.store).await;
        watches::synced(&self.backups.store).await;
        watches::synced(&self.restores.store).await;
    }
}

/// The tenants an object belongs to: by the namespace of a tenant, or by the INE code label of
/// an object in a province's backup namespace.
fn tenants_of<K: Kind>(index: &Index, object: &K) -> Vec<ObjectRef<Municipality>> {
    let namespace = object.namespace().unwrap_or_default();
    let code = match tenant::ine_code_of_namespace(&namespace) {
        Some(code) => Some(code.to_owned()),
        None if namespace.starts_with("concejo-backup-") => object.labels().get(labels::INE_CODE).cloned(),
        None => None,
    };
    code.map(|c| index.claimants_of_code(&c).iter().map(|n| ObjectRef::new(n)).collect()).unwrap_or_default()
}

fn watch_kind<K: Kind>(
    client: &Client,
    config: watcher::Config,
    index: Arc<Index>,
    triggers: UnboundedSender<ObjectRef<Municipality>>,
    significant: fn(&K) -> u64,
) -> Cache<K> {
    let mut changes = Changes::new(significant);
    let keep = |o: &K| {
        let ns = o.namespace().unwrap_or_default();
        tenant::ine_code_of_namespace(&ns).is_some() || ns.starts_with("concejo-backup-")
    };
    let names = Names::default();
    let kept = names.clone();
    let store = watches::spawn(Api::<K>::all(client.clone()), config, keep, move |event| {
        kept.apply(event);
        if let Some(object) = changes.of(event) {
            for tenant in tenants_of(&index, object) {
                let _ = triggers.unbounded_send(tenant);
            }
        }
    });
    Cache { store, names }
}

/// Starts the watches; a change is sent to `triggers` as the tenant it belongs to.
pub fn watch(client: &Client, index: Arc<Index>, triggers: UnboundedSender<ObjectRef<Municipality>>) -> Caches {
    let runs = || watcher::Config::default().labels(&format!("{},{RUN_LABEL}", labels::managed_selector()));
    let all = watcher::Config::default;
    Caches {
        jobs: watch_kind(client, runs(), index.clone(), triggers.clone(), watches::content_and_status::<Job>),
        pods: watch_kind(client, runs(), index.clone(), triggers.clone(), watches::content_and_status::<Pod>),
        backups: watch_kind(client, all(), index.clone(), triggers.clone(), watches::content::<Backup>),
        restores: watch_kind(client, all(), index, triggers, watches::content::<Restore>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn job(namespace: &str, ine_code: &str) -> Job {
        let labels = labels::for_tenant("x", ine_code, "leon", "backup");
        Job {
            metadata: ObjectMeta {
                name: Some("j".into()),
                namespace: Some(namespace.into()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn runs_map_to_their_tenant_by_namespace_or_by_label_only_in_a_backup_namespace() {
        let index = Index::default();
        for (name, code) in [("leon", "24089"), ("ponferrada", "24115")] {
            let m = crate::testing::municipality(name, code);
            index.apply(&Event::Apply(m));
        }
        let names = |j: &Job| tenants_of(&index, j).into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(&job("muni-24089", "24089")), ["leon"]);
        // A tenant's own Job claiming another tenant's code still maps to the namespace's tenant.
        assert_eq!(names(&job("muni-24089", "24115")), ["leon"]);
        assert_eq!(names(&job("concejo-backup-24", "24115")), ["ponferrada"]);
        assert!(names(&job("default", "24115")).is_empty());
    }

    #[test]
    fn names_follow_the_events_per_namespace() {
        let names = Names::default();
        let (a, b) = (job("muni-24089", "24089"), job("concejo-backup-24", "24089"));
        names.apply(&Event::Apply(a.clone()));
        names.apply(&Event::Apply(b));
        let of = |ns: &str| names.0.lock().unwrap().get(ns).cloned().unwrap_or_default();
        assert_eq!(of("muni-24089").len(), 1);
        names.apply(&Event::Delete(a));
        assert!(of("muni-24089").is_empty() && of("concejo-backup-24").len() == 1);
        names.apply(&Event::<Job>::Init);
        assert!(of("concejo-backup-24").is_empty());
    }
}
