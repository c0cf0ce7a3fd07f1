//! A watch cache that keeps each object as its JSON text, for the managed kinds: about ten objects
//! per tenant, read only when that tenant is reconciled. A typed object (k8s-openapi structs,
//! maps of labels, optional fields) takes several times the memory of its JSON; kept as text,
//! 8,131 tenants' objects fit where 2,248 did before (docs/benchmarks.md). An object is decoded
//! when it is read: a tenant's reconcile decodes its dozen, microseconds each.

use std::collections::HashMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::warn;

use super::watches::Retry;

/// Namespace and name.
type Key = (Option<String>, String);

struct Entry {
    json: Box<[u8]>,
    deleting: bool,
}

#[derive(Default)]
struct Objects {
    current: HashMap<Key, Entry>,
    /// A full list being received (the watch started or restarted): it replaces `current` when done.
    relist: Option<HashMap<Key, Entry>>,
}

/// One kind's objects, shared by the watch that fills it and every reader.
pub struct Packed<K> {
    objects: Arc<RwLock<Objects>>,
    synced: tokio::sync::watch::Receiver<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Packed<K> {
    fn clone(&self) -> Self {
        Self { objects: self.objects.clone(), synced: self.synced.clone(), kind: PhantomData }
    }
}

fn key_of<K: Resource>(object: &K) -> Key {
    (object.meta().namespace.clone(), object.meta().name.clone().unwrap_or_default())
}

fn entry<K: Resource + Serialize>(object: &K) -> Option<Entry> {
    let json = serde_json::to_vec(object).ok()?.into_boxed_slice();
    Some(Entry { json, deleting: object.meta().deletion_timestamp.is_some() })
}

impl<K> Packed<K>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Starts watching `api` with `config` (as `watches::spawn`: managedFields stripped, objects
    /// for which `keep` is false never stored nor passed on, each change passed to `on_event`).
    pub fn spawn(
        api: Api<K>,
        config: watcher::Config,
        keep: impl Fn(&K) -> bool + Send + 'static,
        mut on_event: impl FnMut(&Event<K>) + Send + 'static,
    ) -> Self {
        let (synced_tx, synced) = tokio::sync::watch::channel(false);
        let packed = Self { objects: Arc::default(), synced, kind: PhantomData };
        let kind = K::kind(&());
        let stream = watch(api, config).backoff(Retry::default()).modify(|o| o.managed_fields_mut().clear());
        let writer = packed.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => {
                        let kept = match &event {
                            Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => keep(o),
                            Event::Init | Event::InitDone => true,
                        };
                        if kept {
                            writer.apply(&event);
                            on_event(&event);
                        }
                        if matches!(event, Event::InitDone) {
                            let _ = synced_tx.send(true);
                        }
                    }
                    Err(err) => warn!(%err, %kind, "watch failed; retrying"),
                }
            }
        });
        packed
    }

    /// A cache holding `objects`, already synced (tests).
    pub fn of(objects: impl IntoIterator<Item = K>) -> Self {
        let (_, synced) = tokio::sync::watch::channel(true);
        let packed = Self { objects: Arc::default(), synced, kind: PhantomData };
        for object in objects {
            packed.apply(&Event::Apply(object));
        }
        packed
    }

    fn apply(&self, event: &Event<K>) {
        let mut objects = self.objects.write().expect("poisoned");
        match event {
            Event::Init => objects.relist = Some(HashMap::new()),
            Event::InitApply(o) => {
                if let Some(entry) = entry(o) {
                    match objects.relist.as_mut() {
                        Some(relist) => relist.insert(key_of(o), entry),
                        None => objects.current.insert(key_of(o), entry),
                    };
                }
            }
            Event::InitDone => {
                if let Some(relist) = objects.relist.take() {
                    objects.current = relist;
                }
            }
            Event::Apply(o) => {
                if let Some(entry) = entry(o) {
                    objects.current.insert(key_of(o), entry);
                }
            }
            Event::Delete(o) => {
                objects.current.remove(&key_of(o));
            }
        }
    }

    fn with<T>(&self, namespace: Option<&str>, name: &str, f: impl FnOnce(&Entry) -> T) -> Option<T> {
        let objects = self.objects.read().expect("poisoned");
        objects.current.get(&(namespace.map(str::to_owned), name.to_owned())).map(f)
    }

    /// The object, decoded.
    pub fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.with(key.namespace.as_deref(), &key.name, |e| serde_json::from_slice(&e.json).ok())?.map(Arc::new)
    }

    /// The object as JSON.
    pub fn live(&self, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.with(namespace, name, |e| serde_json::from_slice(&e.json).ok())?
    }

    /// Whether the object is cached and not being deleted.
    pub fn present(&self, namespace: Option<&str>, name: &str) -> bool {
        self.with(namespace, name, |e| !e.deleting).unwrap_or(false)
    }

    pub fn len(&self) -> usize {
        self.objects.read().expect("poisoned").current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the watch has its first full list.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|s| *s).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn policy(namespace: &str, name: &str) -> NetworkPolicy {
        let mut p = NetworkPolicy::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some(namespace.into());
        p.metadata.labels = Some([("app.kubernetes.io/managed-by".to_owned(), "concejo".to_owned())].into());
        p
    }

    #[test]
    fn objects_come_back_as_they_went_in() {
        let packed = Packed::of([policy("muni-24115", "deny-all")]);
        let key = ObjectRef::new("deny-all").within("muni-24115");
        assert_eq!(*packed.get(&key).unwrap(), policy("muni-24115", "deny-all"));
        assert_eq!(packed.live(Some("muni-24115"), "deny-all").unwrap()["metadata"]["name"], "deny-all");
        assert!(packed.present(Some("muni-24115"), "deny-all"));
        assert!(!packed.present(Some("muni-24089"), "deny-all"), "by namespace too");
        assert!(packed.get(&ObjectRef::new("deny-all")).is_none(), "a namespaced object is not cluster-wide");
    }

    #[test]
    fn a_relist_replaces_everything_once_done_and_deletions_go() {
        let packed = Packed::of([policy("muni-24115", "deny-all"), policy("muni-24115", "allow-dns")]);
        packed.apply(&Event::Delete(policy("muni-24115", "allow-dns")));
        assert_eq!(packed.len(), 1);
        packed.apply(&Event::Init);
        packed.apply(&Event::InitApply(policy("muni-24089", "deny-all")));
        assert!(packed.present(Some("muni-24115"), "deny-all"), "kept until the list is complete");
        packed.apply(&Event::InitDone);
        assert!(!packed.present(Some("muni-24115"), "deny-all"), "gone while the watch was down");
        assert!(packed.present(Some("muni-24089"), "deny-all"));
        let mut going = policy("muni-24089", "deny-all");
        going.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        packed.apply(&Event::Apply(going));
        assert!(!packed.present(Some("muni-24089"), "deny-all"), "being deleted is not present");
        assert!(packed.live(Some("muni-24089"), "deny-all").is_some(), "but still readable");
    }
}
