//! The controllers and their wiring. Every watch is started once and shared: one Municipality
//! cache (with the [`Index`] kept from the same events) serves both controllers; each managed
//! kind has one cache (`runtime::kinds`). Watches map their significant changes to the objects to
//! reconcile and send them to the controllers' queues.

pub mod conditions;
pub mod municipality;
pub mod province;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::v1alpha1::{Municipality, Province, ServicePlan};
use crate::index::Index;
use crate::resources::{Kind, admission, ca_secret, labels};
use crate::runtime::coalesce;
use crate::runtime::events::Events;
use crate::runtime::kinds;
use crate::runtime::metrics::Metrics;
use crate::runtime::ssa;
use crate::runtime::watches::{self, Changes};

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many Municipalities are reconciled at once.
    pub concurrency: u16,
    /// Names this replica in Events (`reportingInstance`).
    pub instance: Option<String>,
    /// The operator's own namespace: the provinces' CA Secrets live there, and nowhere else.
    pub namespace: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self { concurrency: 16, instance: None, namespace: "default".into() }
    }
}

/// How long a change waits for more changes of the same object before its reconcile starts: the
/// burst of watch events one apply causes becomes one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// How often, at most, a Province's roll-up of its tenants (counts, compliance, office hosts,
/// backup users) is brought up to date while they change: its own changes are seen at once.
pub const ROLL_UP: Duration = Duration::from_secs(5);
/// How often the evidence that the API server's auditing is in force is read (op.exp.8), and how
/// often while it is not: right after a first install the evidence appears within seconds, and
/// every tenant judged before it is judged (and its status written) again.
const AUDIT_EVIDENCE_EVERY: Duration = Duration::from_secs(10);
const AUDIT_EVIDENCE_AWAITED: Duration = Duration::from_secs(2);

fn send<K: Resource<DynamicType = ()>>(queue: &UnboundedSender<ObjectRef<K>>, name: &str) {
    // Only fails when the controller has stopped (shutting down).
    let _ = queue.unbounded_send(ObjectRef::new(name));
}

/// `queue`'s items, none before `synced` turns true.
fn held_until_synced<S: futures::Stream>(
    mut synced: tokio::sync::watch::Receiver<bool>,
    queue: S,
) -> impl futures::Stream<Item = S::Item> {
    futures::stream::once(async move {
        let _ = synced.wait_for(|s| *s).await;
        queue
    })
    .flatten()
}

/// A province changed (its spec, its CA): it is looked at again, and so is every tenant of it.
fn province_and_tenants(
    index: &Index,
    provinces: &UnboundedSender<ObjectRef<Province>>,
    tenants: &UnboundedSender<ObjectRef<Municipality>>,
    province: &str,
) {
    send(provinces, province);
    tenants_of(index, tenants, province);
}

/// Every tenant of a province is looked at again.
fn tenants_of(index: &Index, tenants: &UnboundedSender<ObjectRef<Municipality>>, province: &str) {
    for tenant in index.of_province(province) {
        send(tenants, &tenant);
    }
}

/// Runs the Municipality and Province controllers until `shutdown` resolves. `on_synced` is
/// called once every watch cache has its first full list.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    on_synced: impl FnOnce() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let index = Arc::new(Index::default());
    let (tenant_queue, tenants_due) = unbounded::<ObjectRef<Municipality>>();
    let (province_queue, provinces_due) = unbounded::<ObjectRef<Province>>();
    let all = watcher::Config::default;

    // Municipalities: the index first, then the tenants whose claims it says were affected,
    // the Municipality itself when its spec, labels, annotations or deletion changed, and its
    // Province (which counts it) on any change, at most once per ROLL_UP.
    let municipalities = {
        let provinces = coalesce::every(ROLL_UP, province_queue.clone());
        let (index, tenants) = (index.clone(), tenant_queue.clone());
        let mut changed = Changes::new(watches::generation::<Municipality>);
        watches::spawn(
            Api::<Municipality>::all(client.clone()),
            all(),
            |_| true,
            move |event| {
                for rival in index.apply(event) {
                    send(&tenants, &rival);
                }
                if let Some(m) = changed.of(event) {
                    send(&tenants, &m.name_any());
                }
                if let Event::Apply(m) | Event::InitApply(m) | Event::Delete(m) = event {
                    let _ = provinces.unbounded_send(m.spec.province.clone());
                }
            },
        )
    };
    metrics.observe_tenants(municipalities.clone());

    // A Province's spec re-renders its tenants; its status does not.
    let provinces = {
        let (index, tenants, provinces) = (index.clone(), tenant_queue.clone(), province_queue.clone());
        let mut changed = Changes::new(watches::generation::<Province>);
        watches::spawn(
            Api::<Province>::all(client.clone()),
            all(),
            |_| true,
            move |event| {
                if let Some(p) = changed.of(event) {
                    province_and_tenants(&index, &provinces, &tenants, &p.name_any());
                }
            },
        )
    };

    // A ServicePlan re-sizes the tenants on it, and the office pools sized from their users.
    let plans = {
        let (index, tenants, provinces) = (index.clone(), tenant_queue.clone(), provinces.clone());
        let office_provinces = province_queue.clone();
        let mut changed = Changes::new(watches::content::<ServicePlan>);
        watches::spawn(
            Api::<ServicePlan>::all(client.clone()),
            all(),
            |_| true,
            move |event| {
                if let Some(plan) = changed.of(event) {
                    let name = plan.name_any();
                    let defaulting: Vec<String> = provinces
                        .state()
                        .iter()
                        .filter(|p| p.spec.default_plan.as_deref() == Some(name.as_str()))
                        .map(|p| p.name_any())
                        .collect();
                    for tenant in index.on_plan(&name, &defaulting) {
                        send(&tenants, &tenant);
                    }
                    // Office pools are sized from their tenants' plans: few provinces, rare changes.
                    for p in provinces.state().iter().filter(|p| p.spec.office.enabled) {
                        send(&office_provinces, &p.name_any());
                    }
                }
            },
        )
    };

    // A province's CA Secret: the province keeps it in place; its tenants are re-issued or re-trusted.
    let ca_secrets = {
        let (index, tenants, provinces) = (index.clone(), tenant_queue.clone(), province_queue.clone());
        let mut changed = Changes::new(watches::content::<Secret>);
        let selector = format!("{},{}={}", labels::managed_selector(), labels::COMPONENT, ca_secret::COMPONENT);
        let is_ca = |s: &Secret| s.labels().get(labels::PROVINCE).is_some_and(|p| s.name_any() == ca_secret::name(p));
        let api = Api::<Secret>::namespaced(client.clone(), &settings.namespace);
        watches::spawn(api, all().labels(&selector), is_ca, move |event| {
            if let Some(province) = changed.of(event).and_then(|s| s.labels().get(labels::PROVINCE)) {
                province_and_tenants(&index, &provinces, &tenants, province);
            }
        })
    };

    // StorageClasses (not concejo's; few and rarely changed): the tenants of every province that
    // offers a class are checked again when it appears, changes or goes.
    let storage_classes = {
        let (index, tenants, provinces) = (index.clone(), tenant_queue.clone(), provinces.clone());
        let mut changed = Changes::new(watches::content::<StorageClass>);
        watches::spawn(
            Api::<StorageClass>::all(client.clone()),
            all(),
            |_| true,
            move |event| {
                if let Some(class) = changed.of(event) {
                    let name = class.name_any();
                    for province in
                        provinces.state().iter().filter(|p| p.spec.storage.classes.iter().any(|c| c.name == name))
                    {
                        tenants_of(&index, &tenants, &province.name_any());
                    }
                }
            },
        )
    };

    // Every managed kind, derived from the components.
    let caches = kinds::start(&client, index.clone(), tenant_queue.clone());

    // Office pools: their objects, mapped back to their Province by namespace name.
    let office = province::office::watch(&client, provinces.clone(), province_queue.clone());
    // Backup repositories and escrowed keys (to their Province), backup runs, Backups and Restores
    // (to their tenant).
    let repository = province::backup::watch(&client, &settings.namespace, provinces.clone(), province_queue.clone());
    let runs = municipality::backup::watch(&client, index.clone(), tenant_queue.clone());

    // What the API server enforces in every tenant namespace.
    match admission::policies() {
        Ok(policies) => {
            for (policy, binding) in policies {
                keep_in_place(&client, policy, metrics.clone());
                keep_in_place(&client, binding, metrics.clone());
            }
        }
        Err(e) => warn!(%e, "the tenant admission policies could not be built"),
    }

    let synced_caches = (
        municipalities.clone(),
        provinces.clone(),
        plans.clone(),
        ca_secrets.clone(),
        storage_classes.clone(),
        caches.clone(),
        office.clone(),
        repository.clone(),
        runs.clone(),
    );
    // Nothing is reconciled before every cache has its first full list: a reconcile on a partial
    // cache would put back objects that exist, and judge compliance from what it cannot see.
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let (m, p, s, c, sc, k, o, r, b) = synced_caches;
        watches::synced(&m).await;
        watches::synced(&p).await;
        watches::synced(&s).await;
        watches::synced(&c).await;
        watches::synced(&sc).await;
        k.synced().await;
        o.synced().await;
        r.synced().await;
        b.synced().await;
        info!(tenants = m.state().len(), objects = k.objects(), "watch caches synced");
        let _ = synced_tx.send(true);
        on_synced();
    });
    // The queues, held until then (what was sent meanwhile waits in them).
    let tenants_due = held_until_synced(synced_rx.clone(), tenants_due);
    let provinces_due = held_until_synced(synced_rx, provinces_due);

    let events = Arc::new(Events::new(client.clone(), settings.instance.clone()));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // op.exp.8's evidence, read every few seconds (not once per tenant): when an audit event last
    // reached concejo. When the verdict changes, every tenant is judged again.
    let audit_seen = Arc::new(Mutex::new(None));
    tokio::spawn({
        let (client, namespace, seen) = (client.clone(), settings.namespace.clone(), audit_seen.clone());
        let (queue, municipalities) = (tenant_queue.clone(), municipalities.clone());
        async move {
            let mut was = None;
            loop {
                let last = crate::runtime::audit::last_event(&client, &namespace).await;
                *seen.lock().expect("poisoned") = last;
                let now = crate::domain::audit::in_force(last, Timestamp::now()).is_ok();
                if was.is_some_and(|w| w != now) {
                    for m in municipalities.state() {
                        send(&queue, &m.name_any());
                    }
                }
                was = Some(now);
                tokio::time::sleep(if now { AUDIT_EVIDENCE_EVERY } else { AUDIT_EVIDENCE_AWAITED }).await;
            }
        }
    });
    let tenant_context = Arc::new(municipality::Context {
        client: client.clone(),
        municipalities: municipalities.clone(),
        provinces: provinces.clone(),
        plans: plans.clone(),
        ca_secrets,
        storage_classes,
        caches,
        runs,
        repository: repository.clone(),
        index: index.clone(),
        namespace: settings.namespace.clone(),
        metrics: metrics.clone(),
        events: events.clone(),
        failures: Mutex::new(HashMap::new()),
        audit_seen: audit_seen.clone(),
    });
    let tenants = Controller::for_stream(
        futures::stream::pending::<Result<Municipality, watcher::Error>>(),
        municipalities.clone(),
    )
    .with_config(ControllerConfig::default().concurrency(settings.concurrency).debounce(DEBOUNCE))
    .reconcile_on(tenants_due)
    .graceful_shutdown_on(stopped(shutdown_rx.clone()))
    .run(municipality::reconcile, municipality::error_policy, tenant_context)
    .for_each(|_| std::future::ready(()));

    let province_context = Arc::new(province::Context {
        client: client.clone(),
        municipalities,
        index,
        metrics,
        events,
        namespace: settings.namespace.clone(),
        plans,
        office,
        backup: repository,
    });
    let provinces = Controller::for_stream(futures::stream::pending::<Result<Province, watcher::Error>>(), provinces)
        .with_config(ControllerConfig::default().debounce(DEBOUNCE))
        .reconcile_on(provinces_due)
        .graceful_shutdown_on(stopped(shutdown_rx))
        .run(province::reconcile, province::error_policy, province_context)
        .for_each(|_| std::future::ready(()));

    tokio::spawn(async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    });
    futures::join!(tenants, provinces);
}

/// Keeps one cluster-scoped object as declared: applied when missing or changed by anyone else.
fn keep_in_place<K: Kind>(client: &Client, desired: K, metrics: Arc<Metrics>) {
    let name = desired.name_any();
    let api = Api::<K>::all(client.clone());
    let (due, mut check) = unbounded::<()>();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let store: Store<K> = watches::spawn(
        api.clone(),
        config,
        |_| true,
        move |event| {
            if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitDone) {
                let _ = due.unbounded_send(());
            }
        },
    );
    tokio::spawn(async move {
        while check.next().await.is_some() {
            let live = store.get(&ObjectRef::new(&name)).and_then(|o| serde_json::to_value(&*o).ok());
            let declared = serde_json::to_value(&desired).unwrap_or_default();
            if live.is_some_and(|l| ssa::contains(&l, &declared)) {
                continue;
            }
            if let Err(e) = ssa::apply(&api, &desired, &metrics).await {
                warn!(%e, kind = %K::kind(&()), %name, "could not apply; tried again at its next change");
            }
        }
    });
}
