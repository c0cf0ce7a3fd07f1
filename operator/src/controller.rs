//! The reconcile loops. Municipality: read (watch caches) -> validate -> build -> apply -> status.
//! Province: count its tenants.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Future, Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{info, warn};

use crate::api::v1alpha1::{
    DeletionPolicy, Municipality, MunicipalityStatus, Phase, Province, ProvinceStatus, ServicePlan,
};
use crate::ca::{self, CaState};
use crate::conditions::{self, CA_READY, Desired, TENANTS_READY};
use crate::error::Error;
use crate::labels::{self, FIELD_MANAGER, FINALIZER};
use crate::metrics::{self, Metrics};
use crate::objects::{self, TenantObjects};
use crate::pki::Authority;
use crate::status::{self, Outcome};
use crate::tenant::{self, Inputs, ValidTenant};
use crate::tls;
use crate::{apply, resource_quota};

/// How often a tenant is looked at again even when nothing changed: a safety net for missed
/// watch events, not the way drift is found (watches are).
const RESYNC: Duration = Duration::from_secs(300);
/// How often a tenant waiting on Kubernetes (a namespace still terminating) is looked at again.
const WAIT: Duration = Duration::from_secs(2);

/// The watch caches every reconcile reads from instead of asking the API server.
#[derive(Clone)]
pub struct Stores {
    pub municipalities: Store<Municipality>,
    pub provinces: Store<Province>,
    pub plans: Store<ServicePlan>,
    pub namespaces: Store<Namespace>,
    pub quotas: Store<ResourceQuota>,
    pub limit_ranges: Store<LimitRange>,
    pub network_policies: Store<NetworkPolicy>,
    pub roles: Store<Role>,
    pub role_bindings: Store<RoleBinding>,
    /// Tenant TLS Secrets and the provinces' CA Secrets.
    pub secrets: Store<Secret>,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub stores: Stores,
    /// The operator's namespace (CA Secrets).
    pub namespace: String,
    pub metrics: Arc<Metrics>,
    reporter: Reporter,
    /// Consecutive failures per Municipality, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// Settings of the controller.
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

type Trigger<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// A watch cache of one kind, filtered by `config`, and the stream of its changes (deletions
/// included) that keeps it filled once polled.
fn cached<K>(client: &Client, config: watcher::Config) -> (Store<K>, Trigger<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector(writer, watcher(Api::<K>::all(client.clone()), config)).default_backoff().touched_objects();
    (store, Box::pin(stream))
}

/// The Municipality a managed object belongs to, by its `app.kubernetes.io/instance` label.
fn owner<K: Resource>(object: K) -> Option<ObjectRef<Municipality>> {
    object.labels().get(labels::INSTANCE).map(|name| ObjectRef::new(name))
}

/// Every Municipality of a province, to re-render when something province-wide changes.
fn of_province(municipalities: &Store<Municipality>, province: &str) -> Vec<ObjectRef<Municipality>> {
    municipalities.state().iter().filter(|m| m.spec.province == province).map(|m| ObjectRef::from(&**m)).collect()
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
    let managed = || watcher::Config::default().labels(&labels::managed_selector());
    let (provinces, province_events) = cached::<Province>(&client, watcher::Config::default());
    let (plans, plan_events) = cached::<ServicePlan>(&client, watcher::Config::default());
    let (namespaces, namespace_events) = cached::<Namespace>(&client, managed());
    let (quotas, quota_events) = cached::<ResourceQuota>(&client, managed());
    let (limit_ranges, limit_range_events) = cached::<LimitRange>(&client, managed());
    let (network_policies, network_policy_events) = cached::<NetworkPolicy>(&client, managed());
    let (roles, role_events) = cached::<Role>(&client, managed());
    let (role_bindings, role_binding_events) = cached::<RoleBinding>(&client, managed());
    let (secrets, secret_events) = cached::<Secret>(&client, managed());

    let controller = Controller::new(Api::<Municipality>::all(client.clone()), watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(settings.concurrency));
    let stores = Stores {
        municipalities: controller.store(),
        provinces,
        plans,
        namespaces,
        quotas,
        limit_ranges,
        network_policies,
        roles,
        role_bindings,
        secrets,
    };
    metrics.observe_tenants(stores.municipalities.clone());

    // The Province controller counts tenants from a watch of its own, so that the count it reads
    // is never older than the event that triggered it.
    let (province_munis, province_muni_events) = cached::<Municipality>(&client, watcher::Config::default());
    let caches = (stores.clone(), province_munis.clone());
    tokio::spawn(async move {
        let (s, pm) = caches;
        let all = synced(&s.municipalities).await
            && synced(&s.provinces).await
            && synced(&s.plans).await
            && synced(&s.namespaces).await
            && synced(&s.quotas).await
            && synced(&s.limit_ranges).await
            && synced(&s.network_policies).await
            && synced(&s.roles).await
            && synced(&s.role_bindings).await
            && synced(&s.secrets).await
            && synced(&pm).await;
        if all {
            info!("watch caches synced");
            on_synced();
        }
    });

    let reporter = Reporter { controller: "concejo".into(), instance: settings.instance.clone() };
    let context = Arc::new(Context {
        client: client.clone(),
        stores: stores.clone(),
        namespace: settings.namespace.clone(),
        metrics: metrics.clone(),
        reporter: reporter.clone(),
        failures: Mutex::default(),
    });
    let (by_province, by_plan, by_ca) =
        (stores.municipalities.clone(), stores.municipalities.clone(), stores.municipalities.clone());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tenants = controller
        // A Province change re-renders every tenant of that province.
        .watches_stream(province_events, move |province: Province| of_province(&by_province, &province.name_any()))
        // A ServicePlan change re-sizes every tenant that may be on it.
        .watches_stream(plan_events, move |plan: ServicePlan| {
            let name = plan.name_any();
            by_plan
                .state()
                .iter()
                .filter(|m| m.spec.plan.as_ref().is_none_or(|p| *p == name))
                .map(|m| ObjectRef::from(&**m))
                .collect::<Vec<_>>()
        })
        // An edited or deleted tenant object is put back.
        .watches_stream(namespace_events, owner)
        .watches_stream(quota_events, owner)
        .watches_stream(limit_range_events, owner)
        .watches_stream(network_policy_events, owner)
        .watches_stream(role_events, owner)
        .watches_stream(role_binding_events, owner)
        // A tenant's TLS Secret is put back; a province's new CA re-issues or re-trusts its tenants.
        .watches_stream(secret_events, move |secret: Secret| {
            let labels = secret.labels();
            if labels.get(labels::COMPONENT).map(String::as_str) == Some("ca") {
                of_province(&by_ca, labels.get(labels::PROVINCE).map(String::as_str).unwrap_or_default())
            } else {
                owner(secret).into_iter().collect::<Vec<_>>()
            }
        })
        .graceful_shutdown_on(stopped(shutdown_rx.clone()))
        .run(reconcile, error_policy, context)
        .for_each(|_| std::future::ready(()));

    let province_context = Arc::new(ProvinceContext {
        client: client.clone(),
        municipalities: province_munis,
        metrics,
        namespace: settings.namespace.clone(),
        reporter,
    });
    let provinces = Controller::new(Api::<Province>::all(client.clone()), watcher::Config::default())
        .with_config(ControllerConfig::default().debounce(Duration::from_millis(500)))
        .watches_stream(province_muni_events, |m: Municipality| Some(ObjectRef::<Province>::new(&m.spec.province)))
        .graceful_shutdown_on(stopped(shutdown_rx))
        .run(reconcile_province, province_error_policy, province_context)
        .for_each(|_| std::future::ready(()));

    tokio::spawn(async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    });
    futures::join!(tenants, provinces);
}

/// Waits until a watch cache has its first full list (false if its writer is gone).
///
/// `Store::wait_until_ready` wakes only the most recent waiter, and the controller waits on its
/// own store too, so this polls it again every 100 ms instead of waiting once.
async fn synced<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await {
            Ok(result) => return result.is_ok(),
            Err(_elapsed) => continue,
        }
    }
}

async fn reconcile(municipality: Arc<Municipality>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_municipality(&municipality, &ctx).await;
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
async fn reconcile_municipality(municipality: &Municipality, ctx: &Context) -> Result<(Action, bool), Error> {
    let api = Api::<Municipality>::all(ctx.client.clone());
    if municipality.meta().deletion_timestamp.is_some() {
        return finalize(municipality, ctx, &api).await.map(|a| (a, false));
    }
    if !municipality.finalizers().iter().any(|f| f == FINALIZER) {
        // The patch triggers the next reconcile, which provisions.
        add_finalizer(municipality, ctx, &api).await?;
        return Ok((Action::await_change(), false));
    }

    let stores = &ctx.stores;
    let province = stores.provinces.get(&ObjectRef::new(&municipality.spec.province));
    let plans = stores.plans.state();
    let plans: Vec<&ServicePlan> = plans.iter().map(|p| &**p).collect();
    let all = stores.municipalities.state();
    let others: Vec<&Municipality> = all.iter().map(|m| &**m).collect();
    let ns = tenant::namespace_name(&municipality.spec.ine_code);
    let quota = stores.quotas.get(&ObjectRef::new(resource_quota::NAME).within(&ns));
    let quota_used = quota.as_ref().and_then(|q| q.status.as_ref()).and_then(|s| s.used.as_ref());
    let inputs = Inputs { province: province.as_deref(), plans: &plans, others: &others, quota_used };

    let outcome = match tenant::validate(municipality, inputs) {
        Err(invalid) => Outcome::Invalid(invalid),
        Ok(tenant) => provision(municipality, tenant, ctx).await?,
    };
    write_status(municipality, &outcome, ctx, &api).await?;
    let action = match &outcome {
        Outcome::Ready { certificate, .. } => {
            let renewal = certificate.renewal_time.parse::<Timestamp>().map(|t| t.as_second()).unwrap_or(i64::MAX);
            let until = (renewal - Timestamp::now().as_second()).max(1) as u64;
            Action::requeue(RESYNC.min(Duration::from_secs(until)))
        }
        Outcome::Invalid(_) => Action::requeue(RESYNC),
        Outcome::Waiting { .. } | Outcome::Terminating { .. } => Action::requeue(WAIT),
    };
    Ok((action, matches!(outcome, Outcome::Invalid(_))))
}

/// Brings every object of the tenant to its desired state, in dependency order, and removes the
/// ones it no longer needs.
async fn provision(municipality: &Municipality, tenant: ValidTenant, ctx: &Context) -> Result<Outcome, Error> {
    let name = tenant.namespace();
    let s = &ctx.stores;
    let live = s.namespaces.get(&ObjectRef::new(&name));
    if live.as_ref().is_some_and(|ns| ns.metadata.deletion_timestamp.is_some()) {
        let message = format!("namespace {name} is still being deleted; it is created again once it is gone");
        return Ok(Outcome::Waiting {
            tenant: Box::new(tenant),
            isolated: false,
            reason: "NamespaceTerminating",
            message,
        });
    }
    let TenantObjects { namespace, resource_quota, limit_range, network_policies, roles, role_bindings } =
        objects::build(&tenant);
    apply::ensure(&Api::<Namespace>::all(ctx.client.clone()), live.as_deref(), &namespace, &ctx.metrics).await?;
    apply_set(ctx, &s.quotas, &tenant, vec![resource_quota]).await?;
    apply_set(ctx, &s.limit_ranges, &tenant, vec![limit_range]).await?;
    apply_set(ctx, &s.network_policies, &tenant, network_policies).await?;
    apply_set(ctx, &s.roles, &tenant, roles).await?;
    apply_set(ctx, &s.role_bindings, &tenant, role_bindings).await?;
    certificate(municipality, tenant, ctx).await
}

/// Issues, renews or re-trusts the tenant's TLS certificate, signed by its province's intermediate.
async fn certificate(municipality: &Municipality, tenant: ValidTenant, ctx: &Context) -> Result<Outcome, Error> {
    let s = &ctx.stores;
    let ca_secret = s.secrets.get(&ObjectRef::new(&ca::secret_name(&tenant.province)).within(&ctx.namespace));
    let Some(ca) = ca_secret.as_deref().and_then(|secret| CaState::from_secret(secret, None)) else {
        let message = format!("waiting for the CA of Province {}", tenant.province);
        return Ok(Outcome::Waiting { tenant: Box::new(tenant), isolated: true, reason: "WaitingForCA", message });
    };
    let covered =
        crate::pki::inspect(&ca.intermediate.cert_pem).is_ok_and(|i| tenant.hosts.iter().all(|h| i.permits(h)));
    if !covered {
        let message =
            format!("waiting for the intermediate CA of Province {} to cover {:?}", tenant.province, tenant.hosts);
        return Ok(Outcome::Waiting { tenant: Box::new(tenant), isolated: true, reason: "WaitingForCA", message });
    }
    let pki = &tenant.pki;
    let lifetime = ca::Settings::of(pki).leaf_lifetime;
    let jitter = crate::pki::jitter(&tenant.ine_code);
    let now = Timestamp::now().as_second();
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &tenant.namespace());
    let live = s.secrets.get(&ObjectRef::new(tls::SECRET_NAME).within(&tenant.namespace()));
    let trust = ca.trust_bundle();
    let (desired, info, issued) = match tls::decide(live.as_deref(), &tenant.hosts, &ca, pki.key_algorithm, jitter, now)
    {
        tls::Decision::Issue(reason) => {
            // Key generation is CPU work (about a second for RSA 3072): keep it off the async workers.
            let (t, c, algorithm) = (tenant.clone(), ca.clone(), pki.key_algorithm);
            let leaf = tokio::task::spawn_blocking(move || tls::issue(&t, &c, algorithm, lifetime, now))
                .await
                .map_err(|e| Error::Pki(crate::pki::PkiError::Task(e.to_string())))??;
            (tls::build(&tenant, &leaf.cert_pem, &leaf.key_pem, &trust, &leaf.info, jitter), leaf.info, Some(reason))
        }
        tls::Decision::RefreshTrust(info) | tls::Decision::Keep(info) => {
            let live = live.as_deref().expect("a kept certificate has a Secret");
            match tls::with_trust(live, &tenant, &trust, &info, jitter) {
                Some(secret) => (secret, info, None),
                None => return Err(Error::Pki(crate::pki::PkiError::Parse("tenant-tls lost its data".into()))),
            }
        }
    };
    apply::ensure(&api, live.as_deref(), &desired, &ctx.metrics).await?;
    ctx.metrics.certificate_expires(&tenant.ine_code, Some(info.not_after));
    let certificate = tls::status(&info, jitter);
    if let Some(reason) = issued {
        let note = format!(
            "certificate {} for {} issued by the intermediate of Province {}, valid until {}",
            info.serial,
            info.dns_names.join(", "),
            tenant.province,
            certificate.not_after
        );
        publish(ctx, municipality, EventType::Normal, &format!("Certificate{reason}"), note).await;
    }
    Ok(Outcome::Ready { certificate, tenant: Box::new(tenant) })
}

/// Applies every desired object of one kind in the tenant namespace, then deletes the objects of
/// that kind the tenant has and no longer wants.
async fn apply_set<K>(ctx: &Context, store: &Store<K>, tenant: &ValidTenant, desired: Vec<K>) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Serialize + DeserializeOwned + Debug,
{
    let ns = tenant.namespace();
    let api = Api::<K>::namespaced(ctx.client.clone(), &ns);
    let wanted: HashSet<String> = desired.iter().map(|o| o.name_any()).collect();
    for object in &desired {
        let live = store.get(&ObjectRef::new(&object.name_any()).within(&ns));
        apply::ensure(&api, live.as_deref(), object, &ctx.metrics).await?;
    }
    let stale = store.state().into_iter().filter(|o| {
        o.namespace().as_deref() == Some(ns.as_str())
            && o.labels().get(labels::INSTANCE) == Some(&tenant.name)
            && !wanted.contains(&o.name_any())
            && o.meta().deletion_timestamp.is_none()
    });
    for object in stale {
        info!(namespace = %ns, name = %object.name_any(), kind = %K::kind(&()), "removing an object the tenant no longer needs");
        if apply::unless_gone(api.delete(&object.name_any(), &DeleteParams::default()).await)?.is_some() {
            ctx.metrics.wrote(&K::kind(&()), "delete");
        }
    }
    Ok(())
}

/// Retains or removes the tenant according to `deletionPolicy`, then lets the Municipality go.
async fn finalize(municipality: &Municipality, ctx: &Context, api: &Api<Municipality>) -> Result<Action, Error> {
    if !municipality.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = tenant::namespace_name(&municipality.spec.ine_code);
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let ours = |ns: &Namespace| ns.labels().get(labels::INSTANCE) == Some(&municipality.name_any());
    // Only the namespace this Municipality provisioned: never one of another tenant (a Conflict).
    if let Some(ns) = namespaces.get_opt(&name).await?.filter(ours) {
        match municipality.spec.deletion_policy {
            DeletionPolicy::Retain => {
                let note = format!(
                    "Municipality {} was deleted at {} with deletionPolicy Retain: this namespace and its contents \
                     are kept and no longer managed by concejo",
                    municipality.name_any(),
                    Timestamp::now()
                );
                let patch = json!({"metadata": {
                    "labels": {labels::MANAGED_BY: null, labels::INSTANCE: null},
                    "annotations": {labels::RETAINED_ANNOTATION: note},
                }});
                namespaces.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                ctx.metrics.wrote("Namespace", "patch");
                let message =
                    format!("namespace {name} and its contents are kept (deletionPolicy Retain) and no longer managed");
                publish(ctx, municipality, EventType::Normal, "Retained", message).await;
            }
            DeletionPolicy::Delete => {
                if ns.metadata.deletion_timestamp.is_none() {
                    namespaces.delete(&name, &DeleteParams::background()).await?;
                    ctx.metrics.wrote("Namespace", "delete");
                    let message = format!("deleting namespace {name} and everything in it (deletionPolicy Delete)");
                    publish(ctx, municipality, EventType::Normal, "Deleting", message).await;
                }
                let outcome = Outcome::Terminating { message: format!("waiting for namespace {name} to be deleted") };
                write_status(municipality, &outcome, ctx, api).await?;
                return Ok(Action::requeue(WAIT));
            }
        }
    }
    let finalizers: Vec<_> = municipality.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    patch_finalizers(municipality, finalizers, ctx, api).await?;
    ctx.metrics.certificate_expires(&municipality.spec.ine_code, None);
    info!(municipality = %municipality.name_any(), "tenant released");
    Ok(Action::await_change())
}

async fn add_finalizer(municipality: &Municipality, ctx: &Context, api: &Api<Municipality>) -> Result<(), Error> {
    let mut finalizers = municipality.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    patch_finalizers(municipality, finalizers, ctx, api).await
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
    if apply::unless_gone(api.patch(&municipality.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await)?
        .is_some()
    {
        ctx.metrics.wrote("Municipality", "patch");
    }
    Ok(())
}

/// Writes the status only when it differs from what the object already has, and publishes an
/// Event for every condition that changed.
async fn write_status(
    municipality: &Municipality,
    outcome: &Outcome,
    ctx: &Context,
    api: &Api<Municipality>,
) -> Result<(), Error> {
    let desired = status::compute(municipality, outcome, Timestamp::now());
    let current = municipality.status.clone().unwrap_or_default();
    if current == desired {
        return Ok(());
    }
    if !apply::status(api, &municipality.name_any(), &desired, &ctx.metrics).await? {
        return Ok(()); // gone since the cache saw it (its finalizer was just removed)
    }
    for (type_, reason, message, ok) in changed_conditions(&current, &desired) {
        let kind = if ok { EventType::Normal } else { EventType::Warning };
        publish(ctx, municipality, kind, &reason, format!("{type_}: {message}")).await;
    }
    Ok(())
}

/// Conditions whose status or reason changed: (type, reason, message, status).
fn changed_conditions(
    current: &MunicipalityStatus,
    desired: &MunicipalityStatus,
) -> Vec<(String, String, String, bool)> {
    desired
        .conditions
        .iter()
        .filter(|d| {
            !current.conditions.iter().any(|c| c.type_ == d.type_ && c.status == d.status && c.reason == d.reason)
        })
        .map(|d| (d.type_.clone(), d.reason.clone(), d.message.clone(), d.status == "True"))
        .collect()
}

/// Events are best effort: a failure to record one is logged, never fails the reconcile.
async fn publish(ctx: &Context, municipality: &Municipality, type_: EventType, reason: &str, note: String) {
    record(&ctx.client, &ctx.reporter, &ctx.metrics, &municipality.object_ref(&()), type_, reason, note).await
}

/// Records one Event on any object (a Municipality, a Province).
async fn record(
    client: &Client,
    reporter: &Reporter,
    metrics: &Metrics,
    regarding: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let recorder = Recorder::new(client.clone(), reporter.clone());
    let event =
        Event { type_, reason: reason.to_owned(), note: Some(note), action: "Reconcile".into(), secondary: None };
    match recorder.publish(&event, regarding).await {
        Ok(()) => metrics.wrote("Event", "create"),
        Err(err) => warn!(%err, "could not record an Event"),
    }
}

/// Retries with exponential backoff per Municipality: 1 s, 2 s, 4 s ... up to 5 minutes, and
/// says so in a Warning Event.
fn error_policy(municipality: Arc<Municipality>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    let delay = {
        let mut failures = ctx.failures.lock().expect("poisoned");
        let n = failures.entry(municipality.name_any()).or_default();
        *n = n.saturating_add(1);
        Duration::from_secs(1u64 << (*n - 1).min(8)).min(RESYNC)
    };
    warn!(municipality = %municipality.name_any(), %error, retry_in = ?delay, "reconcile failed");
    let note = format!("{error}; retrying in {}s", delay.as_secs());
    let reason = format!("ReconcileFailed{}", error.category());
    tokio::spawn(async move { publish(&ctx, &municipality, EventType::Warning, &reason, note).await });
    Action::requeue(delay)
}

/// What the Province controller needs: its own cache of Municipalities.
struct ProvinceContext {
    client: Client,
    municipalities: Store<Municipality>,
    metrics: Arc<Metrics>,
    /// The operator's namespace, where CA Secrets live.
    namespace: String,
    reporter: Reporter,
}

/// Keeps the province's CA in place and counts its Municipalities; writes the status if it changed.
async fn reconcile_province(province: Arc<Province>, ctx: Arc<ProvinceContext>) -> Result<Action, Error> {
    let name = province.name_any();
    let munis = ctx.municipalities.state();
    let mine: Vec<_> = munis.iter().filter(|m| m.spec.province == name).collect();
    let (ca_condition, next) = match ensure_ca(&province, &mine, &ctx).await {
        Ok(next) => (Desired::new(CA_READY, true, "Ready", "root and intermediate CA in place"), next),
        Err(CaProblem::Invalid(reason, message)) => (Desired::new(CA_READY, false, reason, message), RESYNC),
        Err(CaProblem::Failed(e)) => return Err(e),
    };
    let total = mine.len() as i32;
    let ready = mine.iter().filter(|m| m.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready)).count() as i32;
    let previous = province.status.clone().unwrap_or_default();
    let all_ready = Desired::new(
        TENANTS_READY,
        ready == total,
        if ready == total { "AllReady" } else { "NotAllReady" },
        format!("{ready} of {total} municipalities are Ready"),
    );
    let generation = province.metadata.generation;
    let desired = ProvinceStatus {
        observed_generation: generation,
        municipalities: total,
        ready,
        conditions: conditions::merge(&previous.conditions, &[ca_condition, all_ready], generation, Timestamp::now()),
    };
    if desired != previous {
        apply::status(&Api::<Province>::all(ctx.client.clone()), &name, &desired, &ctx.metrics).await?;
    }
    Ok(Action::requeue(next))
}

enum CaProblem {
    /// The Province asks for something that is not there (e.g. its root Secret).
    Invalid(&'static str, String),
    Failed(Error),
}

impl From<kube::Error> for CaProblem {
    fn from(e: kube::Error) -> Self {
        CaProblem::Failed(e.into())
    }
}

/// Creates or rotates the province's root and intermediate as due; returns when to look again.
async fn ensure_ca(
    province: &Province,
    munis: &[&Arc<Municipality>],
    ctx: &ProvinceContext,
) -> Result<Duration, CaProblem> {
    let name = province.name_any();
    let pki = &province.spec.pki;
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), &ctx.namespace);
    let byo = match &pki.root_secret {
        None => None,
        Some(root) => {
            let Some(secret) = secrets.get_opt(root).await? else {
                return Err(CaProblem::Invalid(
                    "RootSecretNotFound",
                    format!("pki.rootSecret {root:?} does not exist in namespace {}", ctx.namespace),
                ));
            };
            let text =
                |k: &str| secret.data.as_ref().and_then(|d| d.get(k)).and_then(|v| String::from_utf8(v.0.clone()).ok());
            match (text("tls.crt"), text("tls.key")) {
                (Some(cert_pem), Some(key_pem)) => Some(Authority { cert_pem, key_pem }),
                _ => {
                    return Err(CaProblem::Invalid(
                        "RootSecretInvalid",
                        format!("pki.rootSecret {root:?} must hold tls.crt and tls.key"),
                    ));
                }
            }
        }
    };
    let settings = ca::Settings::of(pki);
    // The intermediate may sign for the province's domain and the extra hostnames its tenants declare.
    let mut permitted = vec![province.spec.base_domain.clone()];
    for m in munis {
        permitted.extend(
            m.spec.domains.iter().filter(|d| !d.ends_with(&format!(".{}", province.spec.base_domain))).cloned(),
        );
    }
    let secret_name = ca::secret_name(&name);
    let current = secrets.get_opt(&secret_name).await?.and_then(|s| CaState::from_secret(&s, byo.as_ref()));
    let token = province.annotations().get(ca::ROTATE_ROOT_ANNOTATION).map(String::as_str);
    let now = Timestamp::now().as_second();
    let (cur, brought, province_name, token) = (current.clone(), byo.clone(), name.clone(), token.map(str::to_owned));
    let (state, changes) = tokio::task::spawn_blocking(move || {
        ca::reconcile(cur, brought.as_ref(), &province_name, &permitted, settings, token.as_deref(), now)
    })
    .await
    .map_err(|e| CaProblem::Failed(Error::Pki(crate::pki::PkiError::Task(e.to_string()))))?
    .map_err(|e| CaProblem::Failed(e.into()))?;
    if current.as_ref() != Some(&state) {
        let secret = state.to_secret(&name, &province.spec.ine_code, &ctx.namespace);
        secrets
            .patch(&secret_name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&secret))
            .await
            .map_err(|e| CaProblem::Failed(e.into()))?;
        ctx.metrics.wrote("Secret", "apply");
        let regarding = province.object_ref(&());
        for change in changes {
            let (reason, note) = match change {
                ca::Change::RootCreated => ("RootCACreated", "generated a new root CA".to_owned()),
                ca::Change::RootRotated(why) => (
                    "RootCARotated",
                    format!("introduced a new root CA ({why}); the old one stays trusted for a certificate lifetime"),
                ),
                ca::Change::IntermediateIssued(why) => {
                    ("IntermediateCAIssued", format!("issued a new intermediate CA ({why})"))
                }
                ca::Change::RetiredRootDropped => {
                    ("RetiredRootCADropped", "an old root CA is no longer trusted".to_owned())
                }
            };
            record(&ctx.client, &ctx.reporter, &ctx.metrics, &regarding, EventType::Normal, reason, note).await;
        }
    }
    // Look again when the next renewal or retirement is due.
    let mut due: Vec<i64> = state.retired.iter().map(|r| r.until).collect();
    for pem in [&state.intermediate.cert_pem, &state.root.cert_pem] {
        if let Ok(info) = crate::pki::inspect(pem) {
            due.push(info.renewal_time(0.0));
        }
    }
    let next = due.into_iter().min().map(|t| (t - now).max(1) as u64).unwrap_or(RESYNC.as_secs());
    Ok(RESYNC.min(Duration::from_secs(next)))
}

fn province_error_policy(province: Arc<Province>, error: &Error, ctx: Arc<ProvinceContext>) -> Action {
    ctx.metrics.failed(error.category());
    warn!(province = %province.name_any(), %error, "province status not written; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
