//! The registry of managed kinds, derived from `resources::components`: for every kind a
//! component makes, one watch (concejo's label; its one name, when the kind has one; Secrets one
//! watch per name, so that RBAC grants them by name), a filter
//! that keeps look-alikes out of the cache, a cache-synced check, and the mapping of a changed
//! object to its tenant, found from the namespace it lives in (never from labels, which a tenant
//! admin can write).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::packed::Packed;
use super::watches::{self, Changes};
use crate::api::v1alpha1::Municipality;
use crate::domain::tenant;
use crate::index::Index;
use crate::resources::{self, Component, Kind, Registry, labels};

/// A watch cache of one kind, as the apply step sees it: objects as JSON.
trait Cached: Send + Sync {
    fn live(&self, namespace: Option<&str>, name: &str) -> Option<Value>;
    /// Whether the object is cached and not being deleted.
    fn present(&self, namespace: Option<&str>, name: &str) -> bool;
    fn synced(&self) -> BoxFuture<'static, ()>;
    fn len(&self) -> usize;
}

/// The cache of one managed kind: one watch, or one watch per name (see `watches::ByName`), each
/// keeping its objects packed ([`Packed`]).
#[derive(Clone)]
enum Kept<K: Kind> {
    One(Packed<K>),
    ByName(Arc<BTreeMap<String, Packed<K>>>),
}

impl<K: Kind> Kept<K> {
    fn cache(&self, name: &str) -> Option<&Packed<K>> {
        match self {
            Kept::One(packed) => Some(packed),
            Kept::ByName(by_name) => by_name.get(name),
        }
    }

    fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.cache(&key.name)?.get(key)
    }
}

impl<K: Kind> Cached for Kept<K> {
    fn live(&self, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.cache(name)?.live(namespace, name)
    }

    fn present(&self, namespace: Option<&str>, name: &str) -> bool {
        self.cache(name).is_some_and(|c| c.present(namespace, name))
    }

    fn synced(&self) -> BoxFuture<'static, ()> {
        let kept = self.clone();
        Box::pin(async move {
            match kept {
                Kept::One(packed) => packed.synced().await,
                Kept::ByName(by_name) => {
                    for packed in by_name.values() {
                        packed.synced().await;
                    }
                }
            }
        })
    }

    fn len(&self) -> usize {
        match self {
            Kept::One(packed) => packed.len(),
            Kept::ByName(by_name) => by_name.values().map(Packed::len).sum(),
        }
    }
}

/// Whether a kind is watched name by name (see [`ByName`]): Secrets, so that concejo's RBAC
/// grants list and watch only of the names it gives its own Secrets.
fn watched_by_name<K: Kind>() -> bool {
    TypeId::of::<K>() == TypeId::of::<Secret>()
}

/// The caches of every managed kind.
#[derive(Clone, Default)]
pub struct Caches {
    by_kind: HashMap<String, Arc<dyn Cached>>,
    typed: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Caches {
    /// The cached object a manifest describes, as JSON.
    pub fn live(&self, resource: &ApiResource, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.by_kind.get(&key(resource))?.live(namespace, name)
    }

    /// Whether the object is cached and not being deleted.
    pub fn present(&self, resource: &ApiResource, namespace: Option<&str>, name: &str) -> bool {
        self.by_kind.get(&key(resource)).is_some_and(|c| c.present(namespace, name))
    }

    /// The cache of a kind (for steps that read objects, like the certificate decision); none
    /// for a kind watched name by name (read those with [`Caches::get`]).
    pub fn store<K: Kind>(&self) -> Option<&Packed<K>> {
        match self.typed.get(&TypeId::of::<K>())?.downcast_ref::<Kept<K>>()? {
            Kept::One(packed) => Some(packed),
            Kept::ByName(_) => None,
        }
    }

    /// One cached object of any managed kind.
    pub fn get<K: Kind>(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.typed.get(&TypeId::of::<K>())?.downcast_ref::<Kept<K>>()?.get(key)
    }

    /// Resolves once every cache has its first full list.
    pub async fn synced(&self) {
        for cache in self.by_kind.values() {
            cache.synced().await;
        }
    }

    /// Adds the cache of one kind (start-up does it for every registered kind; tests fill their own).
    pub fn insert<K: Kind>(&mut self, packed: Packed<K>) {
        self.add(Kept::One(packed));
    }

    fn add<K: Kind>(&mut self, kept: Kept<K>) {
        self.by_kind.insert(key(&ApiResource::erase::<K>(&())), Arc::new(kept.clone()));
        self.typed.insert(TypeId::of::<K>(), Arc::new(kept));
    }

    /// Objects cached, over every kind.
    pub fn objects(&self) -> usize {
        self.by_kind.values().map(|c| c.len()).sum()
    }
}

fn key(resource: &ApiResource) -> String {
    format!("{}/{}", resource.group, resource.kind)
}

/// How objects of a kind are recognised: each component of that kind adds its test.
type Owns = fn(&str, Option<&str>) -> bool;

/// Where the changes of every managed kind go: the tenants to reconcile.
type Triggers = UnboundedSender<ObjectRef<Municipality>>;

/// What every kind's watch shares.
struct Wiring<'a> {
    client: &'a Client,
    index: Arc<Index>,
    triggers: Triggers,
}

/// How the components of one kind recognise their objects.
#[derive(Default)]
struct Recognise {
    owns: Vec<Owns>,
    names: BTreeSet<&'static str>,
    /// Whether a status change of an object is a change (some component reports from it).
    status_matters: bool,
}

/// A kind seen in the registry, before its watch starts.
struct Pending {
    recognise: Recognise,
    start: fn(&Wiring<'_>, Recognise, &mut Caches),
}

/// Starts one watch per managed kind; their changes are sent, as the tenants to reconcile, to `triggers`.
pub fn start(client: &Client, index: Arc<Index>, triggers: Triggers) -> Caches {
    struct Collect(Vec<(TypeId, Pending)>);
    impl Registry for Collect {
        fn add<C: Component>(&mut self) {
            let id = TypeId::of::<C::Kind>();
            let i = match self.0.iter().position(|(t, _)| *t == id) {
                Some(i) => i,
                None => {
                    let pending = Pending { recognise: Recognise::default(), start: start_kind::<C::Kind> };
                    self.0.push((id, pending));
                    self.0.len() - 1
                }
            };
            self.0[i].1.recognise.owns.push(C::owns);
            self.0[i].1.recognise.names.extend(C::NAMES);
            self.0[i].1.recognise.status_matters |= C::STATUS_MATTERS;
        }
    }
    let mut collect = Collect(vec![]);
    resources::components(&mut collect);
    let wiring = Wiring { client, index, triggers };
    let mut caches = Caches::default();
    for (_, pending) in collect.0 {
        (pending.start)(&wiring, pending.recognise, &mut caches);
    }
    caches
}

fn start_kind<K: Kind>(wiring: &Wiring<'_>, recognise: Recognise, caches: &mut Caches) {
    let Recognise { owns, names, status_matters } = recognise;
    let (index, triggers) = (wiring.index.clone(), wiring.triggers.clone());
    let config = watcher::Config::default().labels(&labels::managed_selector());
    let owns = Arc::new(owns);
    let keep = move |o: &K| owns.iter().any(|owns| owns(&o.name_any(), o.namespace().as_deref()));
    let significant = if status_matters { watches::content_and_status::<K> } else { watches::content::<K> };
    let mut changes = Changes::new(significant);
    let on_event = move |event: &watcher::Event<K>| {
        if let Some(object) = changes.of(event) {
            for tenant in tenants_of(&index, object) {
                let _ = triggers.unbounded_send(tenant);
            }
        }
    };
    let api = Api::<K>::all(wiring.client.clone());
    if watched_by_name::<K>() {
        // One watch per name (field selector `metadata.name=<name>`), as `watches::ByName`.
        let by_name = names
            .iter()
            .map(|name| {
                let config = config.clone().fields(&format!("metadata.name={name}"));
                (name.to_string(), Packed::spawn(api.clone(), config, keep.clone(), on_event.clone()))
            })
            .collect();
        caches.add(Kept::ByName(Arc::new(by_name)));
        return;
    }
    // A kind with one name in every tenant: only objects of that name come.
    let config = match names.iter().collect::<Vec<_>>()[..] {
        [only] => config.fields(&format!("metadata.name={only}")),
        _ => config,
    };
    caches.insert(Packed::spawn(api, config, keep, on_event));
}

/// The tenants an object of theirs belongs to: whoever claims the INE code of its namespace.
fn tenants_of<K: Kind>(index: &Index, object: &K) -> Vec<ObjectRef<Municipality>> {
    let namespace = object.namespace().unwrap_or_else(|| object.name_any());
    let Some(code) = tenant::ine_code_of_namespace(&namespace) else { return vec![] };
    index.claimants_of_code(code).iter().map(|name| ObjectRef::new(name)).collect()
}
