//! The province's office pool against the API server: who it serves and its size
//! (`resources::office::pool`, pure), its certificate (decided like a tenant's, `pki::tls`), its
//! objects built (`resources::office`, pure) and applied where they differ from what is live,
//! its readiness ([`readiness`], pure). Disabled: its namespace, and everything in it, goes.
//!
//! The pool's objects are watched ([`watch`]); a change is mapped back to its Province by the
//! namespace it lives in (`concejo-office-<INE code>` -> the Province of that code), never by
//! labels.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tracing::info;

use super::Context;
use crate::api::v1alpha1::{Municipality, OfficeStatus, Province};
use crate::controllers::conditions::{Desired, OFFICE_READY};
use crate::domain::office_namespace;
use crate::pki::ca::{CaState, Settings};
use crate::pki::{self, Leaf, PkiError, tls as decision};
use crate::resources::office::{self, Objects, Pool, namespace, network_policies, pool, tls};
use crate::resources::{Kind, Manifest, Part, labels};
use crate::runtime::errors::Error;
use crate::runtime::ssa;
use crate::runtime::watches::{self, Changes, Lookup};

/// How often a pool waiting for its old namespace to go is looked at again.
const WAIT: Duration = Duration::from_secs(2);

/// The watch caches of every kind a pool has.
#[derive(Clone)]
pub struct Caches {
    pub namespaces: Store<Namespace>,
    pub network_policies: Store<NetworkPolicy>,
    pub secrets: Store<Secret>,
    pub services: Store<Service>,
    pub deployments: Store<Deployment>,
    pub ingresses: Store<Ingress>,
}

impl Caches {
    /// Resolves once every cache has its first full list.
    pub async fn synced(&self) {
        watches::synced(&self.namespaces).await;
        watches::synced(&self.network_policies).await;
        watches::synced(&self.secrets).await;
        watches::synced(&self.services).await;
        watches::synced(&self.deployments).await;
        watches::synced(&self.ingresses).await;
    }
}

/// The province INE code of the namespace an object is (or lives in), if `code_of_namespace`
/// recognises it.
pub(super) fn code_of<K: Kind>(object: &K, code_of_namespace: fn(&str) -> Option<&str>) -> Option<String> {
    let namespace = object.namespace().unwrap_or_else(|| object.name_any());
    code_of_namespace(&namespace).map(str::to_owned)
}

/// Starts one watch per kind of the pool (concejo's office objects only); each significant
/// change is sent to `queue` as the Province(s) with the INE code of the object's namespace.
pub fn watch(client: &Client, provinces: Store<Province>, queue: UnboundedSender<ObjectRef<Province>>) -> Caches {
    let config = || watcher::Config::default().labels(&office::selector());
    let start = |config| (client, provinces.clone(), queue.clone(), config);
    let of = namespace::ine_code_of;
    Caches {
        namespaces: watch_kind(start(config()), of, watches::content::<Namespace>),
        network_policies: watch_kind(start(config()), of, watches::content::<NetworkPolicy>),
        secrets: watch_kind(
            start(config().fields(&format!("metadata.name={}", tls::SECRET_NAME))),
            of,
            watches::content::<Secret>,
        ),
        services: watch_kind(start(config()), of, watches::content::<Service>),
        // Its availability is the pool's condition: status changes count too.
        deployments: watch_kind(start(config()), of, watches::content_and_status::<Deployment>),
        ingresses: watch_kind(start(config()), of, watches::content::<Ingress>),
    }
}

pub type Wiring<'a> = (&'a Client, Store<Province>, UnboundedSender<ObjectRef<Province>>, watcher::Config);

/// One watch of a kind of a province's namespace (`code_of_namespace` says which are and of
/// what province); a significant change sends the Province(s) of that INE code to the queue.
pub fn watch_kind<K: Kind>(
    wiring: Wiring<'_>,
    code_of_namespace: fn(&str) -> Option<&str>,
    significant: fn(&K) -> u64,
) -> Store<K> {
    let (client, provinces, queue, config) = wiring;
    let keep = move |o: &K| code_of(o, code_of_namespace).is_some();
    let on_event = to_provinces(provinces, queue, code_of_namespace, significant);
    watches::spawn(Api::<K>::all(client.clone()), config, keep, on_event)
}

/// What a watch of a province's objects does with a change: sends the Province(s) with the INE
/// code of the object's namespace to `queue`, if the change is significant.
pub fn to_provinces<K: Kind>(
    provinces: Store<Province>,
    queue: UnboundedSender<ObjectRef<Province>>,
    code_of_namespace: fn(&str) -> Option<&str>,
    significant: fn(&K) -> u64,
) -> impl FnMut(&watcher::Event<K>) + Clone + Send + 'static {
    let mut changes = Changes::new(significant);
    move |event| {
        let Some(code) = changes.of(event).and_then(|o| code_of(o, code_of_namespace)) else { return };
        for province in provinces.state().iter().filter(|p| p.spec.ine_code == code) {
            let _ = queue.unbounded_send(ObjectRef::from_obj(&**province));
        }
    }
}

/// What one reconcile of the pool found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub status: OfficeStatus,
    pub condition: Desired,
    /// When to look again at the latest (the certificate's renewal, a namespace still going).
    pub next: Option<Duration>,
    /// What could not be applied (retried with backoff once the status is written).
    pub failed: Option<String>,
}

/// Brings the pool to what the Province and its tenants ask for; `None` when the Province runs
/// none (then its objects are removed). `ca`: the province's CA, when it is in place.
pub async fn reconcile(
    province: &Province,
    tenants: &[Arc<Municipality>],
    ca: Option<&CaState>,
    ctx: &Context,
) -> Result<Option<Report>, Error> {
    if !province.spec.office.enabled {
        remove(province, ctx).await?;
        return Ok(None);
    }
    let members = pool::members(tenants, |plan| {
        ctx.plans.get(&ObjectRef::new(plan)).and_then(|p| p.spec.collaboration.as_ref().map(|c| c.users))
    });
    let pool = Pool::new(province, members);
    let ns = pool.namespace();
    let live = ctx.office.deployments.get(&ObjectRef::new(office::NAME).within(&ns));
    let status = OfficeStatus {
        hosts: pool.hosts() as i32,
        replicas: pool.replicas,
        available_replicas: live.as_ref().and_then(|d| d.status.as_ref()?.available_replicas).unwrap_or(0),
        url: Some(pool.url()),
    };
    let report = |condition, next, failed| Ok(Some(Report { status: status.clone(), condition, next, failed }));
    if ctx.office.namespaces.get(&ObjectRef::new(&ns)).is_some_and(|n| n.metadata.deletion_timestamp.is_some()) {
        let message = format!("namespace {ns} is still being deleted; the pool is created again once it is gone");
        return report(Desired::new(OFFICE_READY, false, "NamespaceTerminating", message), Some(WAIT), None);
    }
    let Some(ca) = ca else {
        let message = "waiting for the province's CA, which signs the pool's certificate; nothing of the pool changes \
                       until it is in place";
        return report(Desired::new(OFFICE_READY, false, "WaitingForCA", message), None, None);
    };
    let (leaf, issued) = match certificate(province, &pool, ca, ctx).await {
        Ok(certificate) => certificate,
        Err(e) => {
            let message = format!("the pool's certificate could not be issued: {e}");
            return report(Desired::new(OFFICE_READY, false, "IssueFailed", message.clone()), None, Some(message));
        }
    };
    let renewal = leaf.info.renewal_time(tls::jitter(&pool));
    let next = Some(Duration::from_secs((renewal - Timestamp::now().as_second()).max(1) as u64));
    if let Err(message) = apply(ctx, office::build(&pool, &leaf, &ca.trust_bundle())).await {
        return report(Desired::new(OFFICE_READY, false, "ApplyFailed", message.clone()), next, Some(message));
    }
    if let Some(reason) = issued {
        let note = format!(
            "certificate {} for {} of the office pool, valid until {}",
            leaf.info.serial,
            pool.host(),
            pki::rfc3339(leaf.info.not_after)
        );
        ctx.events
            .publish(&ctx.metrics, &province.object_ref(&()), true, &format!("OfficeCertificate{reason}"), note)
            .await;
    }
    report(readiness(&pool, live.as_deref()), next, None)
}

/// `OfficeReady`: every replica the pool should have is up to date and available.
pub fn readiness(pool: &Pool, live: Option<&Deployment>) -> Desired {
    let (wanted, url) = (pool.replicas, pool.url());
    let serving = format!("{} for {}", count(pool.hosts(), "host"), count(pool.members.len(), "municipality"));
    let Some(live) = live else {
        let message = format!("Deployment {}/{} is being created", pool.namespace(), office::NAME);
        return Desired::new(OFFICE_READY, false, "Provisioning", message);
    };
    let status = live.status.clone().unwrap_or_default();
    let current = status.observed_generation >= live.metadata.generation && live.spec.replicas == Some(wanted);
    let (available, updated) = (status.available_replicas.unwrap_or(0), status.updated_replicas.unwrap_or(0));
    if wanted == 0 && current {
        let message = format!(
            "no municipality of Province {} has collaboration enabled: {url} runs no replica until one has",
            pool.province
        );
        return Desired::new(OFFICE_READY, true, "NoTenants", message);
    }
    if current && available >= wanted && updated >= wanted {
        let message = format!("{available} of {wanted} replicas available at {url}, {serving}");
        Desired::new(OFFICE_READY, true, "Available", message)
    } else {
        let message = format!("{available} of {wanted} replicas available, {updated} up to date, at {url}, {serving}");
        Desired::new(OFFICE_READY, false, "Provisioning", message)
    }
}

/// "1 host", "2 hosts"; "1 municipality", "3 municipalities".
fn count(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// The certificate the pool serves: the one in `office-tls` while it is good, else a new one
/// (and the reason it was issued).
async fn certificate(
    province: &Province,
    pool: &Pool,
    ca: &CaState,
    ctx: &Context,
) -> Result<(Leaf, Option<&'static str>), PkiError> {
    let live = ctx.office.secrets.get(&ObjectRef::new(tls::SECRET_NAME).within(&pool.namespace()));
    let (algorithm, lifetime) = (province.spec.pki.key_algorithm, Settings::of(&province.spec.pki).leaf_lifetime);
    let now = Timestamp::now().as_second();
    decision::obtain(live.as_deref(), &[pool.host()], ca, algorithm, lifetime, tls::jitter(pool), now).await
}

/// Applies every object of the pool that differs from what is live, in order, and deletes the
/// NetworkPolicies it no longer wants. Says which object failed.
async fn apply(ctx: &Context, objects: Objects) -> Result<(), String> {
    let Objects { namespace, network_policies, tls, service, deployment, ingresses } = objects;
    let caches = &ctx.office;
    ensure(ctx, &caches.namespaces, &namespace).await?;
    for policy in &network_policies {
        ensure(ctx, &caches.network_policies, policy).await?;
    }
    let ns = namespace.name_any();
    for name in network_policies::NAMES {
        let wanted = network_policies.iter().any(|p| p.name_any() == *name);
        let present = caches.network_policies.get(&ObjectRef::new(name).within(&ns)).is_some();
        if !wanted && present {
            info!(namespace = %ns, %name, "removing a NetworkPolicy the office pool no longer needs");
            let resource = ApiResource::erase::<NetworkPolicy>(&());
            ssa::delete(&ctx.client, &resource, Some(&ns), name, &ctx.metrics)
                .await
                .map_err(|e| format!("NetworkPolicy {name}: {e}"))?;
        }
    }
    ensure(ctx, &caches.secrets, &tls).await?;
    ensure(ctx, &caches.services, &service).await?;
    ensure(ctx, &caches.deployments, &deployment).await?;
    for ingress in &ingresses {
        ensure(ctx, &caches.ingresses, ingress).await?;
    }
    Ok(())
}

/// Applies one object unless its cached live self already says everything it declares.
pub(super) async fn ensure<K: Kind>(ctx: &Context, cache: &impl Lookup<K>, object: &K) -> Result<(), String> {
    let name = object.name_any();
    let failed = |e: &dyn std::fmt::Display| format!("{} {name}: {e}", K::kind(&()));
    let key = match object.namespace() {
        Some(ns) => ObjectRef::new(&name).within(&ns),
        None => ObjectRef::new(&name),
    };
    let live = cache.lookup(&key).and_then(|o| serde_json::to_value(&*o).ok());
    // The part is the tenant pipeline's grouping; server-side apply does not read it.
    let manifest = Manifest::of(Part::Office, object).map_err(|e| failed(&e))?;
    ssa::ensure(&ctx.client, live.as_ref(), &manifest, &ctx.metrics).await.map_err(|e| failed(&e))?;
    Ok(())
}

/// The Province runs no pool (any more): its namespace goes, with everything in it.
async fn remove(province: &Province, ctx: &Context) -> Result<(), Error> {
    let name = office_namespace(&province.spec.ine_code);
    let Some(ns) = ctx.office.namespaces.get(&ObjectRef::new(&name)) else { return Ok(()) };
    let mine = ns.labels().get(labels::PROVINCE).is_some_and(|p| *p == province.name_any());
    if !mine || ns.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let resource = ApiResource::erase::<Namespace>(&());
    if ssa::delete(&ctx.client, &resource, None, &name, &ctx.metrics).await? {
        let note = format!("office.enabled is false: namespace {name} and the pool in it are being deleted");
        ctx.events.publish(&ctx.metrics, &province.object_ref(&()), true, "OfficePoolRemoved", note).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::{enforced, serving};
    use crate::testing::municipality;
    use k8s_openapi::api::apps::v1::DeploymentStatus;

    fn live(pool: &Pool, generation: i64, observed: i64, available: i32, updated: i32) -> Deployment {
        let mut d = office::deployment::build(pool);
        d.metadata.generation = Some(generation);
        d.status = Some(DeploymentStatus {
            observed_generation: Some(observed),
            available_replicas: Some(available),
            updated_replicas: Some(updated),
            ..Default::default()
        });
        d
    }

    #[test]
    fn ready_when_every_wanted_replica_is_up_to_date_and_available() {
        let tenants = [Arc::new(enforced(municipality("ponferrada", "24115")))];
        let pool = serving(&tenants);
        assert_eq!(pool.replicas, 2);
        let c = readiness(&pool, None);
        assert_eq!((c.status, c.reason.as_str()), (false, "Provisioning"));
        let c = readiness(&pool, Some(&live(&pool, 2, 2, 1, 2)));
        assert_eq!(
            (c.status, c.message.as_str()),
            (
                false,
                "1 of 2 replicas available, 2 up to date, at https://office.nube.dipuleon.es, 1 host for 1 municipality"
            )
        );
        // The status is of an older spec: not yet.
        assert!(!readiness(&pool, Some(&live(&pool, 3, 2, 2, 2))).status);
        let c = readiness(&pool, Some(&live(&pool, 3, 3, 2, 2)));
        assert_eq!((c.status, c.reason.as_str()), (true, "Available"));
        // A live Deployment with another number of replicas is not what is wanted yet.
        let mut fewer = serving(&tenants);
        fewer.replicas = 1;
        assert!(!readiness(&pool, Some(&live(&fewer, 1, 1, 1, 1))).status);
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count(1, "host"), "1 host");
        assert_eq!(count(4, "host"), "4 hosts");
        assert_eq!(count(0, "municipality"), "0 municipalities");
    }

    #[test]
    fn a_pool_serving_nobody_is_ready_with_no_replica() {
        let pool = serving(&[]);
        let c = readiness(&pool, Some(&live(&pool, 1, 1, 0, 0)));
        assert_eq!((c.status, c.reason.as_str()), (true, "NoTenants"));
    }

    #[test]
    fn objects_map_to_the_code_of_their_office_namespace() {
        let pool = serving(&[]);
        let (leaf, trust) = office::tls::tests::certificate(&pool);
        let objects = office::build(&pool, &leaf, &trust);
        let of = namespace::ine_code_of;
        assert_eq!(code_of(&objects.namespace, of).as_deref(), Some("24"));
        assert_eq!(code_of(&objects.deployment, of).as_deref(), Some("24"));
        let mut elsewhere = objects.service.clone();
        elsewhere.metadata.namespace = Some("muni-24089".into());
        assert_eq!(code_of(&elsewhere, of), None, "a look-alike in a tenant namespace is not the pool's");
    }

    #[test]
    fn replica_counts_of_a_deployment_are_significant_changes() {
        let pool = serving(&[]);
        let (a, b) = (live(&pool, 1, 1, 0, 1), live(&pool, 1, 1, 1, 1));
        let state = watches::content_and_status::<Deployment>;
        assert_ne!(state(&a), state(&b));
        assert_eq!(state(&a), state(&a.clone()));
    }
}
