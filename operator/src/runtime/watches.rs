//! Watch caches and what their changes trigger. Every watch runs as one task that keeps a cache
//! (managedFields stripped: concejo never reads them and they are a large part of each object)
//! and passes each change to a callback, which maps it to the objects to reconcile.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::domain::hash;

/// How a failed watch is retried: 0.5 s, doubling up to [`RETRY_MAX`], each wait spread by up to a
/// fifth either way; back to 0.5 s once it works again. kube's default waits up to 30 s, so after
/// an outage of the API server (or its etcd) of half a minute a watch could come back 30 s after
/// the API server did, and a change made meanwhile waited as long (seen in e2e/tests/faults.rs).
#[derive(Debug)]
pub(super) struct Retry {
    next: Duration,
}

/// The longest wait between two tries of a failed watch.
const RETRY_MAX: Duration = Duration::from_secs(4);
const RETRY_FIRST: Duration = Duration::from_millis(500);

impl Default for Retry {
    fn default() -> Self {
        Self { next: RETRY_FIRST }
    }
}

impl Iterator for Retry {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (self.next * 2).min(RETRY_MAX);
        Some(wait.mul_f64(0.8 + 0.4 * rand::random::<f64>()))
    }
}

impl kube::runtime::utils::Backoff for Retry {
    fn reset(&mut self) {
        self.next = RETRY_FIRST;
    }
}

/// Starts watching `api` with `config`; objects for which `keep` is false never enter the cache
/// or reach `on_event` (so objects made to look like concejo's cost nothing). Returns the cache.
pub fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    keep: impl Fn(&K) -> bool + Send + 'static,
    mut on_event: impl FnMut(&Event<K>) + Send + 'static,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let kind = K::kind(&());
    let stream = watch(api, config)
        .backoff(Retry::default())
        .modify(|o| {
            o.managed_fields_mut().clear();
        })
        .filter(move |event| {
            let keep = match event {
                Ok(Event::Apply(o) | Event::InitApply(o) | Event::Delete(o)) => keep(o),
                _ => true,
            };
            std::future::ready(keep)
        })
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => on_event(&event),
                // The backoff has already waited; the watcher starts again by itself.
                Err(err) => warn!(%err, %kind, "watch failed; retrying"),
            }
        }
    });
    store
}

/// The caches of one kind watched name by name: one watch per name, each with the field selector
/// `metadata.name=<name>`. RBAC can grant list and watch by `resourceNames` only to such requests,
/// so this is how concejo reads its Secrets across namespaces without being able to list anyone
/// else's (a label selector cannot be authorized: it would need list on every Secret).
#[derive(Clone)]
pub struct ByName<K: Resource<DynamicType = ()> + Clone + 'static> {
    stores: Arc<BTreeMap<String, Store<K>>>,
}

/// No names watched (tests whose tenants have none of these objects).
impl<K: Resource<DynamicType = ()> + Clone + 'static> Default for ByName<K> {
    fn default() -> Self {
        Self { stores: Arc::default() }
    }
}

impl<K> ByName<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Starts one watch of `api` per name (`config` plus that name's field selector); `keep` and
    /// `on_event` as in [`spawn`], one copy of each per watch.
    pub fn spawn<'n>(
        api: Api<K>,
        config: watcher::Config,
        names: impl IntoIterator<Item = &'n str>,
        keep: impl Fn(&K) -> bool + Clone + Send + 'static,
        on_event: impl FnMut(&Event<K>) + Clone + Send + 'static,
    ) -> Self {
        let stores = names
            .into_iter()
            .map(|name| {
                let config = config.clone().fields(&format!("metadata.name={name}"));
                (name.to_owned(), spawn(api.clone(), config, keep.clone(), on_event.clone()))
            })
            .collect();
        Self { stores: Arc::new(stores) }
    }

    /// The cached object, if its name is one of those watched and it is there.
    pub fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.stores.get(&key.name)?.get(key)
    }

    /// Objects cached, over every name.
    pub fn objects(&self) -> usize {
        self.stores.values().map(|s| s.state().len()).sum()
    }

    /// Resolves once every name's watch has its first full list.
    pub async fn synced(&self) {
        for store in self.stores.values() {
            synced(store).await;
        }
    }
}

/// A cache an object can be looked up in: one watch's, or a kind's watched name by name.
pub trait Lookup<K: Resource<DynamicType = ()> + Clone + 'static> {
    fn lookup(&self, key: &ObjectRef<K>) -> Option<Arc<K>>;
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Lookup<K> for Store<K> {
    fn lookup(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.get(key)
    }
}

impl<K> Lookup<K> for ByName<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn lookup(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.get(key)
    }
}

/// Waits until a watch cache has its first full list.
///
/// `Store::wait_until_ready` wakes only the most recent waiter, and the controller may wait on
/// the same store, so this polls it again every 100 ms instead of waiting once.
pub async fn synced<K>(store: &Store<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    while tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await.is_err() {}
}

/// Tells the changes that matter from those that do not (a status update, a new resourceVersion):
/// an object counts as changed when its [`significant`] hash changes; created and deleted objects
/// always count. Keeps one hash per object.
#[derive(Clone)]
pub struct Changes<K> {
    hashes: HashMap<(Option<String>, String), u64>,
    significant: fn(&K) -> u64,
}

impl<K: Resource> Changes<K> {
    pub fn new(significant: fn(&K) -> u64) -> Self {
        Self { hashes: HashMap::new(), significant }
    }

    /// The object of `event` if it changed significantly (every object of a fresh list does).
    pub fn of<'e>(&mut self, event: &'e Event<K>) -> Option<&'e K> {
        let key = |o: &K| (o.meta().namespace.clone(), o.meta().name.clone().unwrap_or_default());
        match event {
            Event::Apply(o) | Event::InitApply(o) => {
                let h = (self.significant)(o);
                (self.hashes.insert(key(o), h) != Some(h) || matches!(event, Event::InitApply(_))).then_some(o)
            }
            Event::Delete(o) => {
                self.hashes.remove(&key(o));
                Some(o)
            }
            Event::Init | Event::InitDone => None,
        }
    }
}

/// What a managed object says, without what changes on its own: status, resourceVersion,
/// timestamps, managedFields.
pub fn content<K: Resource + Serialize>(object: &K) -> u64 {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(o) = value.as_object_mut() {
        o.remove("status");
        o.remove("metadata");
    }
    let m = object.meta();
    let metadata = (&m.labels, &m.annotations, &m.deletion_timestamp, &m.finalizers, &m.owner_references);
    let text = format!("{value}{}", serde_json::to_string(&metadata).unwrap_or_default());
    hash::fnv1a(text.as_bytes())
}

/// [`content`] and the status too: for the kinds whose status a tenant's conditions report (a
/// Deployment becoming available, a claim bound).
pub fn content_and_status<K: Resource + Serialize>(object: &K) -> u64 {
    let status = serde_json::to_value(object).ok().and_then(|mut v| v.get_mut("status").map(std::mem::take));
    let status = status.map(|mut s| {
        // Heartbeat times change without anything happening.
        if let Some(conditions) = s.get_mut("conditions").and_then(|c| c.as_array_mut()) {
            for c in conditions {
                if let Some(c) = c.as_object_mut() {
                    c.remove("lastUpdateTime");
                    c.remove("lastProbeTime");
                }
            }
        }
        s
    });
    content(object) ^ hash::fnv1a(status.unwrap_or_default().to_string().as_bytes()).rotate_left(1)
}

/// What the owner of an object with a status subresource changes: its spec (the generation),
/// labels, annotations, finalizers and deletion. Status writes do not count.
pub fn generation<K: Resource>(object: &K) -> u64 {
    let m = object.meta();
    let key = (m.generation, &m.labels, &m.annotations, &m.deletion_timestamp, &m.finalizers);
    hash::fnv1a(serde_json::to_string(&key).unwrap_or_default().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_watch_is_retried_soon_and_never_more_than_seconds_apart() {
        use kube::runtime::utils::Backoff;
        let mut retry = Retry::default();
        let waits: Vec<Duration> = retry.by_ref().take(8).collect();
        assert!(waits[0] >= Duration::from_millis(400) && waits[0] <= Duration::from_millis(600), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= RETRY_MAX.mul_f64(1.2)), "{waits:?}");
        assert!(waits[7] >= RETRY_MAX.mul_f64(0.8), "{waits:?}");
        retry.reset();
        assert!(retry.next().unwrap() <= Duration::from_millis(600));
    }
    use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn quota(used: &str, hard: &str) -> ResourceQuota {
        let mut q = ResourceQuota::default();
        q.metadata.name = Some("tenant-quota".into());
        q.metadata.namespace = Some("muni-24115".into());
        q.spec = Some(k8s_openapi::api::core::v1::ResourceQuotaSpec {
            hard: Some([("pods".to_owned(), Quantity(hard.into()))].into()),
            ..Default::default()
        });
        q.status = Some(ResourceQuotaStatus {
            used: Some([("pods".to_owned(), Quantity(used.into()))].into()),
            ..Default::default()
        });
        q
    }

    #[test]
    fn status_changes_are_not_changes() {
        let mut changes = Changes::new(content::<ResourceQuota>);
        assert!(changes.of(&Event::InitApply(quota("1", "40"))).is_some());
        let mut busier = quota("5", "40");
        busier.metadata.resource_version = Some("99".into());
        assert!(changes.of(&Event::Apply(busier)).is_none(), "usage went up: not a change of the quota");
        assert!(changes.of(&Event::Apply(quota("5", "10"))).is_some(), "someone edited the quota");
        assert!(changes.of(&Event::Apply(quota("5", "10"))).is_none());
        assert!(changes.of(&Event::Delete(quota("5", "10"))).is_some(), "a deletion always counts");
        assert!(changes.of(&Event::Apply(quota("5", "10"))).is_some(), "and so does the object coming back");
    }
}
